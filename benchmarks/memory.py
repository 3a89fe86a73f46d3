"""Does the server's memory stay flat whatever in-range settings callers send?

    python benchmarks/memory.py                 # the full-size generated model (~5 minutes)
    python benchmarks/memory.py --width 0.25    # a smaller one (quicker, same shape of curve)

Starts `python app.py` on the generated model (`dream.synthetic_model`), warms it up with
one request per combination, then sends 40 small requests cycling through 20 in-range
combinations of (layer, Laplacian levels, technique) — each one a step function of its own
to compile — and prints the server's resident memory (RSS, from /proc) after the warm-up
and after the 40 requests. Before the compiled-step cache was bounded, 34 such requests
took a server from 3.0 to 6.4 GB.
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
sys.path.insert(0, str(ROOT))

LAYERS = ("mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a")
COMBINATIONS = [("deep_dream", layer, levels) for layer in LAYERS for levels in (0, 4)]
COMBINATIONS += [("guided", "mixed4c", 0), ("guided", "mixed4d", 0), ("style_transfer", "", 0),
                 ("fractal_zoom", "mixed4c", 2)]
assert len(COMBINATIONS) == 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def request(client, photo: str, technique: str, layer: str, levels: int) -> None:
    from gradio_client import handle_file

    tiny = dict(steps=1, max_side=128, step_size=1.5, octaves=2, octave_scale=1.4, tile_size=512,
                jitter=8, seed=0)
    gif = dict(frame_duration_ms=100, hold_last_ms=0, pingpong=False)
    if technique in ("deep_dream", "fractal_zoom"):
        client.predict(image=handle_file(photo), objective="layer", layer=layer, channel=0,
                       class_name="jellyfish", frames=1, laplacian_levels=levels, **tiny, **gif,
                       **({"zoom": 0.05} if technique == "fractal_zoom" else {}),
                       api_name=f"/{technique}")
    elif technique == "guided":
        client.predict(dream_image=handle_file(photo), guide_image=handle_file(photo),
                       guide_is_dream=False, layer=layer, similarity="dot", direction="toward",
                       smoothness=1.0, smoothness_norm="l2", guide_weight=1.0, frames=1,
                       laplacian_levels=levels, **tiny, **gif, api_name="/guided")
    else:
        client.predict(content_image=handle_file(photo), style_image=handle_file(photo),
                       frames=1, **tiny, **gif, api_name="/style_transfer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0, help="generated model width")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()

    from gradio_client import Client

    from dream import synthetic_model

    work = Path(tempfile.mkdtemp(prefix="dream-memory-"))
    model_dir = synthetic_model.write_model_dir(work / "model", width=args.width, seed=0)
    photo = work / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)).save(photo)
    port = free_port()
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "config", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        print(f"model width {args.width}; {len(COMBINATIONS)} combinations; RSS after start-up: "
              f"{rss_mb(server.pid):.0f} MB")
        for combination in COMBINATIONS:  # warm-up: each combination compiled once
            request(client, str(photo), *combination)
        warm = rss_mb(server.pid)
        print(f"after the warm-up ({len(COMBINATIONS)} requests): {warm:.0f} MB")
        started = time.monotonic()
        for k, combination in enumerate(islice(cycle(COMBINATIONS), args.requests), 1):
            request(client, str(photo), *combination)
            if k % 10 == 0:
                print(f"  after {k} more requests: {rss_mb(server.pid):.0f} MB")
        after = rss_mb(server.pid)
        print(f"after {args.requests} requests ({time.monotonic() - started:.0f} s): {after:.0f} MB; "
              f"growth {after - warm:+.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
