"""Does the server's memory stay flat whatever in-range settings callers send?

    python benchmarks/memory.py                   # the full-size generated model (~6 minutes)
    python benchmarks/memory.py --width 0.25      # a smaller one (quicker, same shape of curve)
    python benchmarks/memory.py --root /tmp/head  # the app of another checkout (e.g. a commit's
                                                  # `git archive`), for a before/after comparison

Starts `python app.py` on the generated model (`dream.synthetic_model`) and warms it up as a
busy Space is warm: the app's own start-up warm-up, then each tab's default request (Deep
Dream, fractal zoom, guided, style transfer, video: their compiled steps are the working
set that must stay compiled). It then sends 40 small requests cycling through 20 in-range
combinations of (technique, layer, Laplacian levels) — each one a step function of its own
to compile, so every request of the first cycle compiles something new — and prints the
server's resident memory (RSS, from /proc) after the warm-up and every 10 requests.

The warm-up deliberately does *not* send the 20 combinations: with an unbounded cache that
would compile them all before the measurement and hide the growth.

Results (width 1.0, 2 shared cores; RSS in MB; "before" is commit 8ba702c exported with
`git archive 8ba702c | tar -x -C /tmp/head` and run with `--root /tmp/head`, "after" is
`python benchmarks/memory.py` on commit 73d390b):

| code | start-up + app warm-up | + one default per tab | after 40 requests | growth |
| --- | --- | --- | --- | --- |
| before: each setting's step kept forever, with its own copy of the weights | 1614 | 1673 | 4063 | **+2390** |
| after: one `FunctionCache` of 12 per model, weights shared | 1123 | 1186 | 1265 | **+79** |
| after, with the warm-up pinned (`FunctionCache.pinning()` in `ui/model_holder.py`) | 1130 | 1187 | 1356 | **+169** |

Before, the growth came in steps of 74 MB (mixed3a) to 400 MB (mixed5a) per new setting.
After, the cache holds 12 entries besides the pinned ones (a step costs 11–28 MB, a feature
function 1–5 MB), so what the 40 requests add is bounded by the cache, not by the requests:
after the first cycle of 20 the curve moves within ±60 MB. Without pinning, the defaults are evicted in
favour of the flood's settings (hence the smaller growth); with it, they stay compiled and
the growth is the 12 other entries.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import cycle, islice
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

LAYERS = ("mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a")
# (technique, the values that differ from the tab's defaults): 20 distinct compiled steps.
COMBINATIONS = [("deep_dream", {"layer": layer, "laplacian_levels": levels})
                for layer in LAYERS for levels in (0, 4)]
COMBINATIONS += [("guided", {"layer": "mixed4b"}), ("guided", {"layer": "mixed4d"}),
                 ("style_transfer", {"content_layer": "mixed4a"}),
                 ("fractal_zoom", {"laplacian_levels": 2})]
assert len(COMBINATIONS) == 20
WARM_UP = ("deep_dream", "fractal_zoom", "guided", "style_transfer", "dream_video")
# Every request is this small (and one frame of one step), so what differs between them is
# only what they compile, and the benchmark is quick.
SMALL = {"frames": 1, "steps": 1, "max_side": 128, "octaves": 1}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(server: subprocess.Popen) -> None:
    """Terminates a server, killing it if it does not stop within 30 s."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now ("VmRSS") or at its peak ("VmHWM"), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, quiet_s: float = 4.0, timeout_s: float = 600.0) -> None:
    """Waits until the server has used (almost) no CPU for `quiet_s` (its warm-up is over)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(quiet_s)
        if cpu_seconds(pid) - before < 0.1 * quiet_s:
            return
    raise TimeoutError("the server never became idle")


def request(client, endpoints, files: dict, technique: str, changes: dict) -> None:
    from gradio_client import handle_file

    endpoint = endpoints[technique]
    values = {**endpoint.defaults(), **{k: v for k, v in SMALL.items() if k in endpoint.params}}
    values.update(changes)
    for image in endpoint.images:
        if image.required:
            values[image.name] = handle_file(files["video" if image.name == "video" else "photo"])
    client.predict(**values, api_name=f"/{technique}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0, help="generated model width")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose app.py runs (default: this one)")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))

    from gradio_client import Client

    from dream import synthetic_model
    from dream.endpoints import ENDPOINTS

    work = Path(tempfile.mkdtemp(prefix="dream-memory-"))
    model_dir = synthetic_model.write_model_dir(work / "model", width=args.width, seed=0)
    photo = work / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)).save(photo)
    files = {"photo": str(photo), "video": str(ROOT / "assets" / "pan.mp4")}
    port = free_port()
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(work / "server.log", "w")
    server = subprocess.Popen([sys.executable, str(root / "app.py")], env=env, cwd=work,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "config", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        wait_until_idle(server.pid)  # the app's own warm-up
        print(f"app: {root}; model width {args.width}; RSS after start-up and the app's "
              f"warm-up: {rss_mb(server.pid):.0f} MB", flush=True)
        for technique in WARM_UP:  # each tab's default request, as users send them
            request(client, ENDPOINTS, files, technique, {})
        warm = rss_mb(server.pid)
        print(f"after one default request per tab ({', '.join(WARM_UP)}): {warm:.0f} MB", flush=True)
        started = time.monotonic()
        peak = warm
        for k, (technique, changes) in enumerate(islice(cycle(COMBINATIONS), args.requests), 1):
            request(client, ENDPOINTS, files, technique, changes)
            peak = max(peak, rss_mb(server.pid))
            if k % 10 == 0:
                print(f"  after {k} requests: {rss_mb(server.pid):.0f} MB", flush=True)
        after = rss_mb(server.pid)
        print(f"after {args.requests} requests cycling {len(COMBINATIONS)} combinations "
              f"({time.monotonic() - started:.0f} s): {after:.0f} MB; growth {after - warm:+.0f} MB "
              f"(peak {peak:.0f} MB)")
    finally:
        stop(server)
        log.close()


if __name__ == "__main__":
    main()
