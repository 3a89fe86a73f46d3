"""A classroom pressing Dream at once: the app in its own process against a worker pool.

    python benchmarks/bench_pool.py                       # 6 requests, full-size model
    python benchmarks/bench_pool.py --requests 8 --workers 2 --width 0.5

Starts `python app.py` twice on the generated model, in its own process and then with
`--workers N`, sends `--requests` Deep Dream requests at the same moment (each a photo of
384 px with the tab's settings but 2 frames), and prints, for each, the time until the
last result, the median and longest wait for a result, and the ratio between the two.
The machine's description goes with the numbers: a pool only pays where there are more
cores (or machines) than one process uses well.
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
from memory import free_port, stop  # noqa: E402


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
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from dream import synthetic_model

    print(machine.describe(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="dream-pool-bench-"))
    model_dir = synthetic_model.write_model_dir(work / "model", width=args.width, seed=0)
    rows = {}
    for workers in (None, args.workers):
        server, url, log = serve(model_dir, work, workers)
        try:
            waits = classroom(url, args.requests)
        finally:
            stop(server)
            log.close()
            subprocess.run(["ray", "stop", "--force"], capture_output=True)
        name = "in its own process" if workers is None else f"{workers} workers"
        rows[name] = (max(waits), statistics.median(waits))
        print(f"{name}: {args.requests} requests done after {max(waits):.1f} s "
              f"(median wait {statistics.median(waits):.1f} s)", flush=True)
    (alone, _), (pooled, _) = rows.values()
    print(f"all done: the pool takes {pooled / alone:.2f}× the time of the app alone")
    print(machine.describe())


if __name__ == "__main__":
    main()
