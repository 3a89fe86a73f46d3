"""Dreaming on a pool of worker processes: one machine's cores or a Ray cluster.

Without a pool everything runs in the app's own process, one request at a time, and Ray
is never imported. With one (`python app.py --workers N`, or `DREAM_RAY_ADDRESS` to join a
running cluster), the app's process still checks every request (same parameters, same
limits, same messages) and then hands the checked request to a worker:

- `jobs`: what a worker is asked to do, as plain data (a technique's request with its
  images already fitted, a batch of atlas tiles, a run of video frames) and `execute`,
  the one function that does it, here or in a worker;
- `worker`: `DreamWorker`, a process that loads the model once, warms up, sets
  TensorFlow's threads to the cores it was given, and runs jobs, streaming progress and
  previews, stoppable at any step;
- `slots`: a first-come-first-served wait for a free worker that tells each waiting request
  how many are ahead of it;
- `ray_pool`: `RayPool`, the workers as Ray actors (imported only when a pool is asked for).

Why Ray actors rather than Ray Serve replicas: Stop must reach the very process running a
request and get its partial result back (an actor accepts a `stop` call while it runs a
job; a Serve request can only be cancelled, which loses the result, and a second call
may reach another replica); a waiting request is told its place in the line, which needs
the line to be ours; and nothing here needs Serve's HTTP ingress or autoscaling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class PoolUnavailable(RuntimeError):
    """The pool could not be started or reached; the message says where and why."""


class WorkerLost(RuntimeError):
    """The worker running a request died (killed, out of memory); the request is lost."""


class StoppedWhileWaiting(RuntimeError):
    """Stop was pressed (or the page closed) before a worker was free: nothing was made."""


@dataclass(frozen=True)
class Waiting:
    """A request waiting for a free worker: `ahead` requests will be served before it."""

    ahead: int
    workers: int


@dataclass(frozen=True)
class PoolSettings:
    """Where the workers run: `workers` processes on this machine (a local Ray), or on the
    Ray cluster at `address` (`auto`, or `ray://host:10001`)."""

    workers: int = 0
    address: str | None = None
    cpus_per_worker: float | None = None  # None: this machine's cores shared out; 1 on a cluster

    @classmethod
    def from_environment(cls, workers: int | None = None) -> "PoolSettings":
        """`--workers N` (or `DREAM_WORKERS`) and `DREAM_RAY_ADDRESS`, `DREAM_WORKER_CPUS`."""
        address = os.environ.get("DREAM_RAY_ADDRESS") or None
        count = workers if workers is not None else int(os.environ.get("DREAM_WORKERS") or 0)
        if address and not count:
            count = 2  # joining a cluster without a count: two workers
        cpus = os.environ.get("DREAM_WORKER_CPUS")
        return cls(count, address, float(cpus) if cpus else None)

    @property
    def enabled(self) -> bool:
        return self.workers > 0


def start_pool(settings: PoolSettings, **options):
    """A running `RayPool` for `settings` (Ray is imported here, not before)."""
    from dream.pool.ray_pool import RayPool

    return RayPool(settings, **options)


__all__ = ["PoolSettings", "PoolUnavailable", "StoppedWhileWaiting", "Waiting", "WorkerLost",
           "start_pool"]
