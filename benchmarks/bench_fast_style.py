"""Seconds per fast stylisation (`dream.fast_style`) at 512 px, on a full-size stand-in.

    python benchmarks/bench_fast_style.py            # about a minute on 2 cores
    python benchmarks/bench_fast_style.py --quick    # fewer repeats

The real `magenta/arbitrary-image-stylization-v1-256` cannot be downloaded here, so this
measures `dream.synthetic_style_model` at width 1.0: the architecture of Ghiasi et al.
(2017) as in Magenta's code, with every convolution at its real shape (Inception-v3 to
Mixed_6e on the 256×256 style, the 100-d bottleneck, 3 conv + 5 residual + 3 upsampling
layers on the content, style normalisation), random weights. It is saved with
`tf.saved_model.save` and loaded through `hub.load`, so the SavedModel runtime is the one
the real model runs on. What it cannot reproduce: the real export is a TF1 graph wrapped
by `wrap_function` (slim ops, batch norm not folded), which may add a little per pass.

Printed: the multiply-adds of one pass, the network pass alone, whole requests as the app
makes them (image checks, pass, colour transfer, the 9-frame sweep), the GIF encoding of
that sweep, and the load time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import machine  # noqa: E402

MODEL_DIR = Path(os.environ.get("BENCH_STYLE_MODEL_DIR",
                                Path(tempfile.gettempdir()) / "dream-bench-style-width1"))


def smooth_picture(height: int, width: int):
    """A deterministic photo stand-in: smooth sinusoids (what the tests use too)."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [128 + 60 * np.sin(x / 13.0) + 20 * np.cos(y / 29.0),
                128 + 60 * np.cos(y / 17.0) + 20 * np.sin(x / 31.0),
                128 + 50 * np.sin((x + y) / 23.0)]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def timed(function, repeats: int) -> tuple[float, float]:
    """(median, min) seconds over `repeats` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    arguments = parser.parse_args()
    repeats = 3 if arguments.quick else 7

    import numpy as np
    import tensorflow as tf

    from dream import fast_style, synthetic_style_model

    load_at_start = os.getloadavg()[0]
    if not (MODEL_DIR / "saved_model.pb").is_file():
        print(f"writing the width-1.0 stand-in to {MODEL_DIR} …", flush=True)
        synthetic_style_model.write_saved_model(MODEL_DIR, width=1.0, seed=0)
    counter = synthetic_style_model.StandInStylizer(width=1.0, seed=0)
    parameters = sum(int(np.prod(v.shape)) for v in counter.variables_list)

    start = time.perf_counter()
    model = fast_style.load_style_model(MODEL_DIR)
    load_seconds = time.perf_counter() - start

    rng = np.random.default_rng(0)
    style = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    second_style = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    square, _ = fast_style.style_input(style)

    print(f"CPU: {machine.cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; "
          f"TF_NUM_INTEROP_THREADS={os.environ.get('TF_NUM_INTEROP_THREADS', 'default')}")
    print(f"stand-in: {parameters / 1e6:.1f} M parameters; load (hub.load + probe pass): "
          f"{load_seconds:.2f} s; median of {repeats} after a warm-up\n")
    print(f"{'what':58} {'median s':>9} {'min s':>7} {'GMAC':>6} {'GFLOP/s':>8}")

    def row(label, seconds, macs=None):
        median, best = seconds
        flops = f"{2 * macs / 1e9 / median:8.1f}" if macs else f"{'':8}"
        gmacs = f"{macs / 1e9:6.1f}" if macs else f"{'':6}"
        print(f"{label:58} {median:9.3f} {best:7.3f} {gmacs} {flops}", flush=True)

    for height, width in ((384, 512), (512, 512), (768, 1024)):
        content = smooth_picture(height, width)
        macs = sum(counter.multiply_adds((height, width)).values())
        row(f"network pass, {width}×{height}", timed(lambda: model.stylise(content, square), repeats), macs)

    content = smooth_picture(384, 512)
    macs = sum(counter.multiply_adds((384, 512)).values())
    parts = counter.multiply_adds((384, 512))
    request = lambda **options: fast_style.fast_style_transfer(model, content, style, **options)  # noqa: E731
    row("request 512×384: strength 1, 8-frame sweep (app default)", timed(request, repeats), macs)
    row("request 512×384: strength 0.7, colours preserved", timed(
        lambda: request(strength=0.7, preserve_colors=True), repeats), macs)
    row("request 512×384: two styles (two passes)", timed(
        lambda: request(second_style_image=second_style), repeats), 2 * macs)
    result = request()
    with tempfile.TemporaryDirectory() as folder:
        gif = Path(folder) / "sweep.gif"
        row("GIF of the 9-frame sweep (write_gif, 120 ms frames)",
            timed(lambda: result.save_gif(gif), repeats))
    print(f"\none pass at 512×384: style prediction {parts['style_prediction'] / 1e9:.2f} GMAC "
          f"(Inception-v3 to Mixed_6e on 256×256), transformer "
          f"{parts['transformer'] / 1e9:.2f} GMAC")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average at the start {load_at_start:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"(above ~1, other processes shared the cores: trust the min column)")


if __name__ == "__main__":
    main()
