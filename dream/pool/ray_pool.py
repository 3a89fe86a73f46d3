"""The worker pool on Ray: N `DreamWorker` actors, here or on a cluster.

Imported only when a pool is asked for (`dream.pool.start_pool`); the app without a pool
never imports Ray.

- **Start**: `--workers N` starts a local Ray with this machine's cores shared out among N
  workers; `DREAM_RAY_ADDRESS` (`auto`, `ray://host:10001`) joins a running cluster and
  places N workers of `DREAM_WORKER_CPUS` cores there (the code travels with them; the
  model's files go once through Ray's object store, so every worker dreams with the very
  model the front process checks requests against).
- **A request** waits for a free worker in line (`Slots`), then runs on that worker,
  which the front polls: progress and previews arrive within a fraction of a second; a
  Stop (or the page going away) sends `stop` to that same worker, which ends the job at
  its next step and returns what it has.
- **Faults**: a worker that dies mid-request (killed, out of memory) ends that request
  with `WorkerLost` within seconds; Ray starts the worker again (`max_restarts=-1`), and
  the next request it takes waits for it to be back.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray

from dream.engine import Progress
from dream.pool import PoolSettings, PoolUnavailable, Waiting, WorkerLost
from dream.pool.jobs import TilesJob
from dream.pool.slots import Slots
from dream.pool.worker import DreamWorker

LOG = logging.getLogger("deep-dream-studio.pool")
ROOT = Path(__file__).resolve().parents[2]
# What a cluster does not need of the repository (the code it needs travels with the job).
NOT_SHIPPED = [".git", ".venv*", "artifacts", "tests", "docs", "benchmarks", "*.mp4"]
LOST = ("The worker running this request stopped unexpectedly (it may have run out of memory "
        "or been shut down), so the request was not finished. The pool is starting it "
        "again: please run your request once more.")


def read_model_files(graph_file: Path, labels_file: Path) -> dict[str, bytes]:
    return {graph_file.name: graph_file.read_bytes(), labels_file.name: labels_file.read_bytes()}


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """A cluster address (host:port, or ray://host:port) that nothing answers at: Ray
    itself would retry connecting to it for minutes."""
    target = address.split("://", 1)[-1]
    if ":" not in target:
        return  # "auto": Ray looks for a local cluster and says at once if there is none
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return
    except (OSError, ValueError) as error:
        raise PoolUnavailable(
            f"Could not reach the Ray cluster at {address} ({type(error).__name__}: {error}). "
            f"Start it (`ray start --head`), check DREAM_RAY_ADDRESS, or run without a pool "
            f"(no --workers, no DREAM_RAY_ADDRESS) to dream in the app's process.") from None


def _original(error: Exception) -> BaseException:
    """The exception raised in the worker (Ray wraps it)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


class RayPool:
    """N workers and the line in front of them."""

    def __init__(self, settings: PoolSettings, *, model_files: Mapping[str, bytes],
                 style_model_dir: str | None = None, warm_up: bool = True) -> None:
        if not settings.enabled:
            raise ValueError("A pool needs at least one worker.")
        self.settings = settings
        self.local = settings.address is None
        cores = os.cpu_count() or 1
        self.cpus_per_worker = settings.cpus_per_worker or (
            max(0.01, cores / settings.workers) if self.local else 1.0)
        self._connect(cores)
        self._model = ray.put(dict(model_files))  # kept: restarted workers read it again
        actor = ray.remote(DreamWorker).options(
            max_restarts=-1, max_task_retries=0, max_concurrency=4,  # start, poll, stop at once
            num_cpus=self.cpus_per_worker)
        self.actors = [actor.remote(self._model, style_model_dir, self.cpus_per_worker, warm_up)
                       for _ in range(settings.workers)]
        self.slots = Slots(settings.workers)
        self.running: dict[int, str] = {}  # worker number → the job it runs
        self.completed: collections.Counter = collections.Counter()  # jobs done, by kind
        LOG.info("Started %d workers (%s, %.2g cores each).", settings.workers,
                 "local Ray" if self.local else f"Ray at {settings.address}", self.cpus_per_worker)

    def _connect(self, cores: int) -> None:
        env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        if not self.local:
            _check_reachable(self.settings.address)
        try:
            if self.local:
                ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.ERROR,
                         namespace="deep-dream-studio",
                         runtime_env={"env_vars": {**env, "PYTHONPATH": str(ROOT)}})
            else:
                ray.init(address=self.settings.address, logging_level=logging.ERROR,
                         namespace="deep-dream-studio",
                         runtime_env={"working_dir": str(ROOT), "excludes": NOT_SHIPPED,
                                      "env_vars": env})
        except Exception as error:  # noqa: BLE001 - every way of failing gets the address
            where = "a local Ray" if self.local else f"the Ray cluster at {self.settings.address}"
            raise PoolUnavailable(
                f"Could not start or reach {where} ({type(error).__name__}: {error}). Start the "
                f"cluster first (`ray start --head`), check DREAM_RAY_ADDRESS, or run without "
                f"a pool (no --workers, no DREAM_RAY_ADDRESS) to dream in the app's process."
            ) from None

    # --- what it is

    @property
    def size(self) -> int:
        return len(self.actors)

    def describe(self) -> str:
        where = "on this machine" if self.local else f"on the Ray cluster at {self.settings.address}"
        return (f"{self.size} worker{'s' * (self.size != 1)} {where} "
                f"({self.cpus_per_worker:.2g} core{'s' * (self.cpus_per_worker != 1)} each)")

    def workers_info(self, timeout_s: float = 600.0) -> list[dict[str, Any]]:
        """Each worker's pid, host and threads, once it has started (model loaded, warm;
        a worker being restarted is waited for)."""
        for number in range(self.size):
            self._until_alive(number, timeout_s)
        return ray.get([actor.info.remote() for actor in self.actors], timeout=timeout_s)

    # --- running

    def run(self, job, on_progress: Callable[[Progress], bool | None] | None = None,
            on_wait: Callable[[Waiting], bool | None] | None = None):
        """Runs `job` on the next free worker and returns its result. `on_wait` hears the
        place in line until a worker is free (True: give up, `StoppedWhileWaiting`);
        `on_progress` hears each step (True: stop, and get what was made so far)."""
        number = self.slots.acquire(on_wait)
        actor = self.actors[number]
        job_id = uuid.uuid4().hex
        self.running[number] = job_id
        result = None
        stopping = False
        try:
            self._until_alive(number)
            ray.get(actor.start.remote(job_id, job))
            while True:
                messages = ray.get(actor.poll.remote(job_id))
                for kind, *payload in messages:
                    if kind == "result":
                        result = payload[0]
                    elif kind == "error":
                        raise payload[0]
                    elif on_progress is not None and not stopping:
                        if on_progress(Progress(*payload)):
                            actor.stop.remote(job_id)
                            stopping = True
                if messages and messages[-1][0] == "result":
                    break
        except ray.exceptions.RayTaskError as error:
            self._release(number)
            raise _original(error) from None
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as error:
            LOG.warning("Worker %d lost during a job: %s", number, error)
            self.running.pop(number, None)
            # Lent again once it is back, so that the line goes to the living workers first.
            threading.Thread(target=self._release_when_alive, args=(number,), daemon=True).start()
            raise WorkerLost(LOST) from None
        except BaseException:
            self._release(number)
            raise
        self._release(number)
        self.completed[type(job).__name__] += 1
        return result

    def _release(self, number: int) -> None:
        self.running.pop(number, None)
        self.slots.release(number)

    def _release_when_alive(self, number: int) -> None:
        try:
            self._until_alive(number)
        finally:
            self.slots.release(number)

    def _until_alive(self, number: int, patience_s: float = 900.0) -> None:
        """Waits while worker `number` restarts (after a crash it loads the model and warms
        up again); calls sent to it meanwhile would fail at once."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                ray.get(self.actors[number].info.remote(), timeout=patience_s)
                return
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError) as error:
                if time.monotonic() > deadline:
                    raise WorkerLost(f"Worker {number} has not come back after "
                                     f"{patience_s:.0f} s: {error}") from None
                time.sleep(1.0)

    def tile_renderer(self, settings: Any = None):
        """An atlas `renderer` (`dream.atlas.Atlas.renderer`) that renders every batch of a
        page on the pool at once, yielding each as it is done."""
        def render(layer: str, batches: Sequence[Sequence[int]], should_stop, progress
                   ) -> Iterator[tuple[list[int], np.ndarray]]:
            done: queue.Queue = queue.Queue()
            fractions = [0.0] * len(batches)
            stop = threading.Event()

            def stopped(*_) -> bool:
                return stop.is_set() or bool(should_stop and should_stop())

            def one(position: int, batch: Sequence[int]) -> None:
                def on_progress(update: Progress) -> bool:
                    fractions[position] = update.step / max(1, update.total)
                    if progress is not None:
                        progress(sum(fractions) / len(fractions))
                    return stopped()

                try:
                    images = self.run(TilesJob(layer, tuple(batch), settings), on_progress, stopped)
                    done.put((list(batch), images, None))
                except BaseException as error:  # noqa: BLE001 - raised in the caller
                    done.put((list(batch), None, error))

            for position, batch in enumerate(batches):
                threading.Thread(target=one, args=(position, batch), daemon=True,
                                 name=f"tiles-{layer}-{position}").start()
            try:
                for _ in batches:
                    batch, images, error = done.get()
                    if error is not None and not stopped():
                        raise error
                    if images is not None and not stopped():
                        yield batch, images
            finally:
                stop.set()

        return render

    def close(self) -> None:
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if self.local:
            ray.shutdown()
