"""A classroom pressing Dream at once: the app in its own process against a worker pool.

    python benchmarks/bench_pool.py                          # 8 requests, full-size model
    python benchmarks/bench_pool.py --requests 8 --pools 0,1,2 --width 0.5

Starts `python app.py` on the generated model once per pool size (0: in its own process,
no Ray; N: `--workers N`), sends `--requests` Deep Dream requests at the same moment (each
a photo of 384 px with the tab's settings but 2 frames), and prints, for each size, the
time until the last result, requests per minute, the median wait, and each worker's peak
resident memory (VmHWM of the `ray::DreamWorker` processes). The ratio of one worker to
the app alone is the pool's overhead (the same two cores, plus sending images and
polling previews). The machine's description goes with the numbers: a pool only pays
where there are more cores (or machines) than one process uses well.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import machine  # noqa: E402
from memory import free_port, rss_mb, stop  # noqa: E402


def serve(model_dir: Path, work: Path, workers: int | None):
    port = free_port()
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2", "DREAM_WORKERS": "", "DREAM_RAY_ADDRESS": ""}
    command = [sys.executable, str(ROOT / "app.py")] + (["--workers", str(workers)] if workers else [])
    log = open(work / f"server-{workers or 0}.log", "w")
    server = subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            urllib.request.urlopen(url + "config", timeout=30)
            return server, url, log
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the app exited; see {log.name}")
            time.sleep(0.5)


def worker_peak_rss_mb() -> list[float]:
    """Peak resident memory of each Ray worker process holding a DreamWorker."""
    peaks = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"DreamWorker" in cmdline.read_bytes():
                peaks.append(rss_mb(int(cmdline.parent.name), "VmHWM"))
        except (OSError, RuntimeError):  # the process ended meanwhile
            continue
    return sorted(peaks)


def pool_name(workers: int) -> str:
    return "the app alone" if workers == 0 else f"{workers} worker{'s' * (workers > 1)}"


def classroom(url: str, requests: int) -> list[float]:
    """Seconds each of `requests` simultaneous requests waited for its result."""
    from gradio_client import Client, handle_file

    from dream.endpoints import ENDPOINTS

    client = Client(url, verbose=False)
    while "Model ready" not in client.predict(api_name="/model_status")[0] or \
            "Warming up" in client.predict(api_name="/model_status")[0]:
        time.sleep(0.5)
    values = {**ENDPOINTS["deep_dream"].defaults(), "frames": 2, "max_side": 384,
              "image": handle_file(str(ROOT / "assets" / "cat.jpg"))}
    client.predict(**{**values, "frames": 1, "steps": 1}, api_name="/deep_dream")  # warm
    waits: list[float] = []
    started = time.monotonic()

    def one() -> None:
        Client(url, verbose=False).predict(**values, api_name="/deep_dream")
        waits.append(time.monotonic() - started)

    threads = [threading.Thread(target=one) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--pools", default="0,1,2", help="pool sizes; 0 is the app alone")
    args = parser.parse_args()
    pools = [int(size) for size in args.pools.split(",")]

    from dream import synthetic_model

    print(machine.describe(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="dream-pool-bench-"))
    model_dir = synthetic_model.write_model_dir(work / "model", width=args.width, seed=0)
    took = {}
    for workers in pools:
        server, url, log = serve(model_dir, work, workers or None)
        try:
            waits = classroom(url, args.requests)
            peaks = worker_peak_rss_mb()
        finally:
            stop(server)
            log.close()
            if workers:
                subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"],
                               check=False, capture_output=True)
        name = pool_name(workers)
        took[workers] = max(waits)
        memory = (f"; workers' peak RSS {', '.join(f'{mb:.0f}' for mb in peaks)} MB"
                  if peaks else "")
        print(f"{name}: {args.requests} requests done after {max(waits):.1f} s = "
              f"{60 * args.requests / max(waits):.1f} requests/minute "
              f"(median wait {statistics.median(waits):.1f} s){memory}", flush=True)
    if 0 in took:
        for workers, seconds in took.items():
            if workers:
                print(f"{pool_name(workers)}: {seconds / took[0]:.2f}× the "
                      f"time of the app alone" + (" (the pool's overhead)" if workers == 1 else ""))
    print(machine.describe())


if __name__ == "__main__":
    main()
