"""A worker process: loads the model once, warms up, and runs jobs (`dream.pool.jobs`)
whose progress its caller polls; a job stops at its next step when asked.

`DreamWorker` is a plain class; `dream.pool.ray_pool` makes it a Ray actor that serves
several calls at once (a job's start, its polls, its stop). Polling rather than a Ray
streaming call: Ray Client (a `ray://` address) cannot carry streams.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOG = logging.getLogger("deep-dream-studio.worker")
# At most this often does a preview travel to the front (it shows two a second).
PREVIEW_INTERVAL_S = 0.4
# A poll waits this long for news (the front asks again at once): progress arrives within
# a fraction of a second without a stream, which Ray Client (ray://) cannot carry.
POLL_WAIT_S = 0.25
ABANDONED_AFTER_S = 120.0


def set_threads(cores: float) -> int:
    """TensorFlow's threads for the cores this worker was given (before its first op)."""
    import tensorflow as tf

    threads = max(1, int(cores))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already running: leave TensorFlow's own choice
        LOG.warning("TensorFlow was already running; its thread count is unchanged.")
    return threads


def unpack_model(files: Mapping[str, bytes]) -> Path:
    """The model's files (name → bytes, as the front read them) in a folder of this
    worker's own."""
    folder = Path(tempfile.mkdtemp(prefix="dream-worker-model-"))
    for name, data in files.items():
        (folder / Path(name).name).write_bytes(data)
    return folder


class DreamWorker:
    """One worker: its models, its threads, and the stop flags of the jobs it runs."""

    def __init__(self, model_files: Mapping[str, bytes], style_model_dir: str | None = None,
                 cores: float = 1.0, warm_up: bool = True) -> None:
        self.threads = set_threads(cores)
        import dream
        from dream.endpoints import warm_up as warm_up_endpoints

        model = dream.load_model(unpack_model(model_files))
        style = None
        if style_model_dir:
            try:
                style = dream.load_style_model(style_model_dir)
            except Exception as error:  # noqa: BLE001 - fast style stays unavailable
                LOG.warning("No fast style model on this worker: %s", error)
        self.models = {"inception": model, "style": style}
        if warm_up:
            with model.function_cache.pinning():
                warm_up_endpoints(model, "inception")
        self._jobs: dict[str, RunningJob] = {}
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """Who this worker is (for the status line and tests)."""
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "threads": self.threads,
                "fast_style": self.models["style"] is not None}

    def start(self, job_id: str, job) -> None:
        """Starts `job` in a thread of this process; `poll` fetches its progress and its
        end, `stop` ends it at its next step."""
        from dream.pool import jobs

        running = RunningJob()
        with self._lock:
            self._forget_abandoned()
            self._jobs[job_id] = running

        def report(progress) -> bool:
            preview = None
            if (progress.preview is not None
                    and time.monotonic() - running.last_preview >= PREVIEW_INTERVAL_S):
                preview, running.last_preview = progress.preview, time.monotonic()
            running.updates.put(("progress", progress.step, progress.total, preview))
            return running.stop.is_set()

        def work() -> None:
            try:
                running.updates.put(("result", jobs.execute(self.models, job, report)))
            except BaseException as error:  # noqa: BLE001 - the caller gets it from poll
                running.updates.put(("error", error))

        threading.Thread(target=work, name=f"job-{job_id}", daemon=True).start()

    def poll(self, job_id: str, wait_s: float = POLL_WAIT_S) -> list[tuple]:
        """What happened since the last poll (waiting up to `wait_s` for something): a list
        of ("progress", step, total, preview or None), ending with ("result", result) or
        ("error", exception) when the job is over."""
        with self._lock:
            running = self._jobs.get(job_id)
        if running is None:
            return [("error", RuntimeError(f"This worker has no job {job_id}."))]
        running.polled = time.monotonic()
        updates = []
        try:
            updates.append(running.updates.get(timeout=wait_s))
            while True:
                updates.append(running.updates.get_nowait())
        except queue.Empty:
            pass
        if updates and updates[-1][0] in ("result", "error"):
            with self._lock:
                self._jobs.pop(job_id, None)
        return updates

    def _forget_abandoned(self) -> None:
        """Stops and drops jobs nobody has asked about for a while (their caller is gone)."""
        now = time.monotonic()
        for job_id, running in list(self._jobs.items()):
            if now - running.polled > ABANDONED_AFTER_S:
                running.stop.set()
                del self._jobs[job_id]

    def stop(self, job_id: str) -> None:
        with self._lock:
            running = self._jobs.get(job_id)
        if running is not None:
            running.stop.set()


class RunningJob:
    """A job's stop flag and the updates its caller has not fetched yet."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.updates: queue.Queue = queue.Queue()
        self.last_preview = 0.0
        self.polled = time.monotonic()
