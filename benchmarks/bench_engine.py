"""Speed of the dream engine against the tutorial approach, in the same run.

    python benchmarks/bench_engine.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_engine.py --quick    # fewer steps and repeats

Uses the width-1.0 generated graph (`dream.synthetic_model`): random weights, but the
real inception5h's shapes, so a step costs what it costs on the real model.

Each measurement runs in a fresh subprocess (its own peak RSS, its own thread pools, no
state shared between engine and baseline), and engine and baseline alternate so that
machine noise hits both. The baseline is the TensorFlow deep-dream tutorials' approach:
one `tf.function` gradient call per tile (with an `input_signature`), the random roll
and the tiling in NumPy, the step normalised by mean |g| — the same objective,
normalisation, tiles and step size as the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL_DIR = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "dream-bench-width1"))
TILE_SIZE = 512
STEP_SIZE = 1.5
JITTER = 32


def ensure_model() -> Path:
    from dream import synthetic_model

    if not (MODEL_DIR / synthetic_model.GRAPH_FILE).is_file():
        synthetic_model.write_model_dir(MODEL_DIR, width=1.0, seed=0)
    return MODEL_DIR


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def test_image(size: int):
    import numpy as np

    y, x = np.mgrid[0:size, 0:size]
    return np.stack([128 + 90 * np.sin(x / 37.0), 128 + 90 * np.cos(y / 23.0),
                     128 + 60 * np.sin((x + y) / 51.0)], -1).astype(np.float32)


def objective_for(model, target: str):
    from dream import objectives

    if target == "class":
        return objectives.class_logit(model.class_index("jellyfish"), name="jellyfish")
    return objectives.layer_mean(target)


# ----------------------------------------------------------------------------- workers


def work_engine(target: str, size: int, steps: int) -> dict:
    import dream
    from dream.engine import Schedule

    model = dream.load_model(MODEL_DIR)
    engine = dream.engine_for(model)
    objective = objective_for(model, target)
    image = test_image(size)
    schedule = Schedule(steps=steps, step_size=STEP_SIZE, octaves=1, tile_size=TILE_SIZE,
                        jitter=JITTER)
    engine.run(objective, image, Schedule(steps=2, octaves=1, tile_size=TILE_SIZE))  # warm-up
    start = time.perf_counter()
    engine.run(objective, image, schedule, steps_per_call=steps)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "steps": steps, "peak_rss_mb": peak_rss_mb()}


def work_baseline(target: str, size: int, steps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    import dream

    model = dream.load_model(MODEL_DIR)
    objective = objective_for(model, target)
    features = model.features(objective.model_layers)
    params = {name: tf.constant(value) for name, value in objective.params.items()}

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def tile_gradient(tile):
        with tf.GradientTape() as tape:
            tape.watch(tile)
            # Tiles here are ≥ 224 px, so the classifier needs no upsampling.
            loss = objective.fn(features(tile[None]), {}, params)
        return tape.gradient(loss, tile)

    rng = np.random.default_rng(0)

    def step(image):
        height, width = image.shape[:2]
        sy, sx = rng.integers(-JITTER, JITTER + 1, 2)
        rolled = np.roll(np.roll(image, sx, 1), sy, 0)
        grad = np.zeros_like(image)
        ny, nx = -(-height // TILE_SIZE), -(-width // TILE_SIZE)
        ys = [i * height // ny for i in range(ny + 1)]
        xs = [i * width // nx for i in range(nx + 1)]
        for y0, y1 in zip(ys, ys[1:]):
            for x0, x1 in zip(xs, xs[1:]):
                grad[y0:y1, x0:x1] = tile_gradient(tf.constant(rolled[y0:y1, x0:x1])).numpy()
        grad = np.roll(np.roll(grad, -sx, 1), -sy, 0)
        image = image + grad * (STEP_SIZE / (np.abs(grad).mean() + 1e-8))
        return np.clip(image, 0, 255)

    image = test_image(size)
    step(step(image))  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        image = step(image)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "steps": steps, "peak_rss_mb": peak_rss_mb()}


WORKERS = {"engine": work_engine, "baseline": work_baseline}


def run_worker(kind: str, target: str, size: int, steps: int) -> dict:
    command = [sys.executable, __file__, "--worker", kind, target, str(size), str(steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def compare(target: str, size: int, steps: int, repeats: int) -> None:
    results = {"engine": [], "baseline": []}
    for _ in range(repeats):
        for kind in ("baseline", "engine"):
            results[kind].append(run_worker(kind, target, size, steps))
    megapixels = size * size / 1e6
    rates = {}
    for kind, runs in results.items():
        ms = statistics.median(r["seconds"] / r["steps"] * 1000 for r in runs)
        rates[kind] = megapixels / (ms / 1000)
        peak = max(r["peak_rss_mb"] for r in runs)
        print(f"  {kind:9s} {target:8s} {size:5d}px  {ms:8.1f} ms/step  "
              f"{rates[kind]:6.3f} Mpx·steps/s  peak RSS {peak:6.0f} MB")
    print(f"  ratio engine/baseline: {rates['engine'] / rates['baseline']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="Engine vs tutorial-style baseline.")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "TARGET", "SIZE", "STEPS"))
    args = parser.parse_args()
    if args.worker:
        kind, target, size, steps = args.worker
        print(json.dumps(WORKERS[kind](target, int(size), int(steps))))
        return

    ensure_model()
    steps, repeats = (4, 1) if args.quick else (10, 3)
    print(f"width-1.0 generated inception5h, tile {TILE_SIZE}, {steps} steps × {repeats} repeats")
    for target, size in (("mixed4c", 512), ("mixed4c", 1024), ("class", 512)):
        compare(target, size, steps if size <= 512 else max(2, steps // 2), repeats)


if __name__ == "__main__":
    main()
