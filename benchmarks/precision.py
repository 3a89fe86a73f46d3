"""Precision decided on the result: is a bfloat16 run's picture as close to the float32
one as float32 is to itself when the photo moves by half a pixel?

    python benchmarks/precision.py                # every technique (~10 minutes on 2 cores)
    python benchmarks/precision.py --only deep_dream guided --side 384

For each technique, a request at the tab's defaults (`dream.presets.technique_defaults`)
on the width-1.0 generated graph (the real inception5h's shapes, random weights):

- **bf16 vs fp32**: the final image in bfloat16 against the same request in float32;
- **fp32, photo ±½ px**: float32 on the photo shifted by +½ px (right and down) against
  float32 on the photo shifted by −½ px, each result shifted back. Both are resampled
  alike, so what differs is how much the dream itself depends on where the pixel grid
  falls: a difference no one can call wrong.

bfloat16 is within when its distance (RMS, 0..255 levels; PSNR) is no larger than the
nudge's. Also printed: each request's seconds in both precisions (the second run of
each, after one that compiles the step), and their ratio; the CPU flags beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_engine import MODEL_DIR, ensure_model  # noqa: E402
from benchmarks.machine import describe  # noqa: E402
from benchmarks.quality import load  # noqa: E402

TECHNIQUES = ("deep_dream", "jellyfish", "fractal_zoom", "guided", "style_transfer")


def shifted(image: np.ndarray, offset: float) -> np.ndarray:
    """`image` moved by `offset` px right and down (bilinear, edges repeated)."""
    from PIL import Image

    picture = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    moved = picture.transform(picture.size, Image.AFFINE, (1, 0, -offset, 0, 1, -offset),
                              resample=Image.BILINEAR, fillcolor=None)
    array = np.asarray(moved).copy()
    # The edge row and column the shift uncovers repeat their neighbours.
    edge = int(np.ceil(abs(offset)))
    if offset > 0:
        array[:edge], array[:, :edge] = array[edge:edge + 1], array[:, edge:edge + 1]
    elif offset < 0:
        array[-edge:], array[:, -edge:] = array[-edge - 1:-edge], array[:, -edge - 1:-edge]
    return array


def request(model, technique: str, photo: np.ndarray, other: np.ndarray, precision: str):
    """The tab's default request on `photo` in `precision`: (final uint8 image, seconds)."""
    import dream
    from dream.presets import BASE_SCHEDULES, SCHEDULE_FIELDS, technique_defaults

    name = "deep_dream" if technique == "jellyfish" else technique
    values = technique_defaults(name)
    schedule = replace(BASE_SCHEDULES[name], **{k: v for k, v in values.items()
                                                if k in SCHEDULE_FIELDS and k != "precision"},
                       precision=precision)
    options = {k: v for k, v in values.items() if k not in SCHEDULE_FIELDS}
    limits = dream.Limits(max_megapixel_steps=1000)
    start = time.perf_counter()
    if name in ("deep_dream", "fractal_zoom"):
        objective = (dream.dream_objective(model, class_name="jellyfish") if technique == "jellyfish"
                     else dream.dream_objective(model, options["layer"], squared=options["squared"]))
        run = dream.deep_dream if name == "deep_dream" else dream.fractal_zoom
        extra = {"zoom": options["zoom"]} if name == "fractal_zoom" else {}
        result = run(model, photo, objective, schedule, frames=options["frames"], limits=limits, **extra)
    elif name == "guided":
        result = dream.guided_dream(model, photo, other, schedule=schedule, limits=limits,
                                    **{k: v for k, v in options.items() if k != "max_side"})
    else:
        result = dream.style_transfer(model, photo, other, schedule=schedule, limits=limits,
                                      **{k: v for k, v in options.items() if k != "max_side"})
    return np.asarray(result.image), time.perf_counter() - start


def distance(a: np.ndarray, b: np.ndarray, border: int = 2) -> tuple[float, float]:
    """(RMS difference in 0..255 levels, PSNR in dB), a few edge pixels left out."""
    a = np.asarray(a, np.float64)[border:-border, border:-border]
    b = np.asarray(b, np.float64)[border:-border, border:-border]
    rms = float(np.sqrt(np.mean((a - b) ** 2)))
    return rms, float(20 * np.log10(255.0 / max(rms, 1e-9)))


def measure(model, technique: str, side: int) -> dict:
    photo = load("cat", side)
    other = load("painting" if technique == "style_transfer" else "abstract", side)
    # One small run per precision first: the timed runs find their steps compiled.
    for precision in ("float32", "bfloat16"):
        request(model, technique, photo[:96, :96], other[:96, :96], precision)
    exact, exact_seconds = request(model, technique, photo, other, "float32")
    half, half_seconds = request(model, technique, photo, other, "bfloat16")
    plus, _ = request(model, technique, shifted(photo, 0.5), other, "float32")
    minus, _ = request(model, technique, shifted(photo, -0.5), other, "float32")
    return {"bf16": distance(half, exact),
            "nudge": distance(shifted(plus, -0.5), shifted(minus, 0.5)),
            "seconds": (exact_seconds, half_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=TECHNIQUES, default=list(TECHNIQUES))
    parser.add_argument("--side", type=int, default=512)
    args = parser.parse_args()

    import dream

    ensure_model()
    model = dream.load_model(MODEL_DIR, precision="float32")
    print(describe())
    print(f"Requests at the tab defaults, cat at {args.side} px, width-1.0 generated graph.")
    print(f"{'technique':16s} {'bf16 vs fp32':>20s} {'fp32, photo ±½ px':>20s}  within  "
          f"{'fp32 s':>7s} {'bf16 s':>7s} speed-up")
    for technique in args.only:
        row = measure(model, technique, args.side)
        (rms, psnr), (nudge_rms, nudge_psnr) = row["bf16"], row["nudge"]
        exact_s, half_s = row["seconds"]
        print(f"{technique:16s} {rms:7.2f} ({psnr:5.1f} dB) {nudge_rms:9.2f} ({nudge_psnr:5.1f} dB)  "
              f"{'yes' if rms <= nudge_rms else 'NO':6s}  {exact_s:7.1f} {half_s:7.1f} "
              f"{exact_s / half_s:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
