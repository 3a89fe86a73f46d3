"""How long the app takes to start and to answer, as a visitor and an agent meet it.

    python benchmarks/bench_endpoints.py              # the full-size generated model
    python benchmarks/bench_endpoints.py --width 0.25 # a quicker, smaller one

Starts `python app.py` on the generated full-size model (`dream.synthetic_model`, the real
graph's shapes and cost) and the generated fast style network, and prints:

- start-up: seconds until the page is served, until the model is ready, and until the
  warm-up (compiling each tab's default steps) is done;
- the first request a visitor makes (Deep Dream at the tab's defaults on assets/cat.jpg,
  fitted into 512 px): seconds to the first preview and to the result;
- every endpoint once at its defaults (the figure the MCP tool descriptions quote:
  `Endpoint.seconds_at_defaults`, `ui.atlas.PAGE_SECONDS` / `RANK_SECONDS`).

Everything runs one request at a time, with the machine's description (CPU flags, load).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import machine  # noqa: E402
from memory import free_port, stop, wait_until_idle  # noqa: E402

ASSETS = ROOT / "assets"
# The images each endpoint gets (the page's first example of each tab).
INPUTS = {"image": "cat.jpg", "dream_image": "cat.jpg", "guide_image": "abstract.jpg",
          "content_image": "cat.jpg", "style_image": "painting.jpg", "video": "pan.mp4"}


def status_text(client) -> str:
    return client.predict(api_name="/model_status")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0, help="generated model width")
    parser.add_argument("--skip", nargs="*", default=(), help="endpoints to leave out")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    from dream import synthetic_model, synthetic_style_model
    from dream.endpoints import ENDPOINTS

    print(machine.describe(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="dream-endpoints-"))
    model_dir = synthetic_model.write_model_dir(work / "model", width=args.width, seed=0)
    style_dir = synthetic_style_model.write_saved_model(work / "style", width=args.width)
    port = free_port()
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "DREAM_STYLE_MODEL_DIR": str(style_dir),
           "DREAM_CACHE_DIR": str(work / "cache"), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(work / "server.log", "w")
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=work,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "config", timeout=30)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the app exited; see {work / 'server.log'}")
                time.sleep(0.2)
        served = time.monotonic() - started
        client = Client(url, verbose=False)
        while "Model ready" not in status_text(client):
            time.sleep(0.2)
        ready = time.monotonic() - started
        while "Warming up" in status_text(client):
            time.sleep(0.2)
        warm = time.monotonic() - started
        print(f"start-up: page served after {served:.1f} s, model ready after {ready:.1f} s, "
              f"warm-up done after {warm:.1f} s", flush=True)
        wait_until_idle(server.pid, quiet_s=2.0)

        def values_for(endpoint) -> dict:
            values = endpoint.defaults()
            for image in endpoint.images:
                if image.required:
                    values[image.name] = handle_file(str(ASSETS / INPUTS[image.name]))
            return values

        # The first request, as a visitor's: the time to the first preview and to the end.
        job = client.submit(**values_for(ENDPOINTS["deep_dream"]), api_name="/deep_dream")
        asked = time.monotonic()
        first_preview = None
        while not job.done():
            if first_preview is None and len(job.outputs()) > 1:
                first_preview = time.monotonic() - asked
            time.sleep(0.02)
        job.result()
        print(f"first request (deep_dream at the defaults, cat.jpg at 512 px): first preview "
              f"after {first_preview or float('nan'):.1f} s, result after "
              f"{time.monotonic() - asked:.1f} s", flush=True)

        print("\nendpoint at its defaults | seconds", flush=True)
        for name, endpoint in ENDPOINTS.items():
            if name in args.skip:
                continue
            began = time.monotonic()
            client.predict(**values_for(endpoint), api_name=f"/{name}")
            print(f"{name} | {time.monotonic() - began:.1f}", flush=True)
        began = time.monotonic()
        client.predict("channels", "mixed4c", 1, "", api_name="/atlas_page")
        print(f"atlas_page (24 channels of mixed4c, not cached) | {time.monotonic() - began:.1f}")
        began = time.monotonic()
        client.predict(handle_file(str(ASSETS / "cat.jpg")), "mixed4b", api_name="/rank_channels")
        print(f"rank_channels (mixed4b, tiles not cached) | {time.monotonic() - began:.1f}")
    finally:
        stop(server)
        log.close()
    print(machine.describe())


if __name__ == "__main__":
    main()
