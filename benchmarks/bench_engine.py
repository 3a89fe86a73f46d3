"""Speed of the dream engine against the tutorial approach, in the same run.

    python benchmarks/bench_engine.py            # full run (~10 minutes on 2 cores)
    python benchmarks/bench_engine.py --quick    # fewer steps and repeats
    python benchmarks/bench_engine.py --quick --before aa89631   # + that commit's engine

Uses the width-1.0 generated graph (`dream.synthetic_model`): random weights, but the
real inception5h's shapes, so a step costs what it costs on the real model.

Each measurement runs in a fresh subprocess (its own peak RSS, its own thread pools, no
state shared between variants), and the variants alternate so that machine noise hits
all of them alike. Variants:

- **baseline**: the TensorFlow deep-dream tutorials' approach, on the graph as
  published: one `tf.function` gradient call per tile (with an `input_signature`, so no
  retracing), the random roll and the tiling in NumPy, the step normalised by mean |g|;
  the same objective, tiles, jitter and step size as the engine;
- **engine, graph as published**: the engine's in-graph loop (roll, tiles and steps in
  one compiled call) without the graph rewrite;
- **engine**: what the app runs (in-graph loop + `dream.graph_rewrite`);
- **engine, bfloat16**: the same with the network in bfloat16 (what the app ran on a CPU
  with BF16 units before issue #9; `dream.model.default_precision`);
- with `--before COMMIT`: **before, float32** and **before, bfloat16**, the `dream` package
  of that commit (exported with `git archive` into a temporary folder) running the same
  worker; then both engines in *one* process, timed alternately round after round, whose
  median speed ratio is the number to read on a shared, noisy machine.

Each variant's result is measured on the published graph in float32, so the objective's
rise over the run compares the quality of the steps, not only their speed.

Then: the machine's fp32 matmul rate and each step's FLOPs (convolutions and matmuls,
forward to the objective's tensor and back to the input, counted from the graph), the
end-to-end numbers of a request at the app's defaults, and the trace count over ten
requests of different sizes.
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
# A worker for an earlier commit imports that commit's `dream` (see `--before`).
sys.path.insert(0, os.environ.get("BENCH_DREAM_ROOT", str(ROOT)))

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


def test_image(height: int, width: int | None = None):
    import numpy as np

    y, x = np.mgrid[0:height, 0:width or height]
    return np.stack([128 + 90 * np.sin(x / 37.0), 128 + 90 * np.cos(y / 23.0),
                     128 + 60 * np.sin((x + y) / 51.0)], -1).astype(np.float32)


def objective_for(model, target: str):
    from dream import objectives

    if target == "class":
        return objectives.class_logit(model.class_index("jellyfish"), name="jellyfish")
    return objectives.layer_mean(target)


# ----------------------------------------------------------------------------- workers


def value_in_float32(target: str, image) -> float:
    """The objective on `image`, measured on the graph as published, in float32."""
    import dream
    from dream.engine import Engine

    model = dream.load_model(MODEL_DIR, rewrite=False, precision="float32")
    return Engine(model).value(objective_for(model, target), image)


def work_engine(target: str, size: int, steps: int, rewrite: bool = True,
                precision: str = "float32") -> dict:
    """The engine; float32 unless asked (the app's default depends on the CPU)."""
    import dream
    from dream.engine import Engine, Schedule

    model = dream.load_model(MODEL_DIR, rewrite=rewrite, precision=precision)
    engine = Engine(model)
    objective = objective_for(model, target)
    image = test_image(size)
    schedule = Schedule(steps=steps, step_size=STEP_SIZE, octaves=1, tile_size=TILE_SIZE,
                        jitter=JITTER)
    engine.run(objective, image, Schedule(steps=1, octaves=1, tile_size=TILE_SIZE))  # warm-up
    start = time.perf_counter()
    result = engine.run(objective, image, schedule, steps_per_call=steps)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "steps": steps, "peak_rss_mb": peak_rss_mb(),
            "value_before": value_in_float32(target, image),
            "value_after": value_in_float32(target, result)}


def work_engine_published(target: str, size: int, steps: int) -> dict:
    return work_engine(target, size, steps, rewrite=False)


def work_engine_bf16(target: str, size: int, steps: int) -> dict:
    return work_engine(target, size, steps, precision="bfloat16")


def work_baseline(target: str, size: int, steps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    import dream

    model = dream.load_model(MODEL_DIR, rewrite=False, precision="float32")
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

    def shifts():
        # The engine's own sequence (seed 0, step i), so both take the same path.
        for i in range(1_000_000):
            yield tf.random.stateless_uniform([2], seed=[0, i], minval=-JITTER,
                                              maxval=JITTER + 1, dtype=tf.int32).numpy()

    shift = shifts()

    def step(image):
        height, width = image.shape[:2]
        sy, sx = next(shift)
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

    image = start_image = test_image(size)
    step(image)  # warm-up
    shift = shifts()  # the timed run starts the sequence again, as the engine's does
    start = time.perf_counter()
    for _ in range(steps):
        image = step(image)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "steps": steps, "peak_rss_mb": peak_rss_mb(),
            "value_before": value_in_float32(target, start_image),
            "value_after": value_in_float32(target, image)}


def forward_flops(graph) -> float:
    """FLOPs of one forward pass through `graph`: its convolutions and matmuls."""
    import numpy as np

    forward = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            kernel = op.inputs[1].shape
            forward += 2 * np.prod(op.outputs[0].shape.as_list()) * kernel[0] * kernel[1] * kernel[2]
        elif op.type == "MatMul":
            rows, inner = op.inputs[0].shape
            forward += 2 * rows * inner * op.inputs[1].shape[1]
    return float(forward)


def work_machine(*_) -> dict:
    """fp32 matmul rate: the best of a few 2048² products."""
    import tensorflow as tf

    n = 2048
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    matmul = tf.function(tf.linalg.matmul)
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(5):
            c = matmul(a, b)
        c.numpy()
        best = min(best, (time.perf_counter() - start) / 5)
    return {"gflops": 2 * n ** 3 / best / 1e9}


def work_flops(target: str, size: int, _steps: int) -> dict:
    """FLOPs of one step: conv/matmul forward to the tensor, and the same back to the input."""
    import tensorflow as tf

    import dream
    from dream.model import _prune

    model = dream.load_model(MODEL_DIR, rewrite=False)
    objective = objective_for(model, target)
    graph = tf.Graph()
    with graph.as_default():
        pixels = tf.compat.v1.placeholder(tf.float32, [1, size, size, 3])
        tf.graph_util.import_graph_def(_prune(model.graph_def, list(objective.model_layers)),
                                       input_map={"input:0": pixels}, name="")
    # Backward to the input only (weights are constants): one transposed conv per conv.
    return {"gflop_per_step": 2 * forward_flops(graph) / 1e9}


def work_e2e(_target: str, size: int, _steps: int) -> dict:
    """One request at the app's defaults (Deep Dream on mixed4c), then ten of other sizes."""
    import tempfile as tmp
    from dataclasses import replace

    import dream

    model = dream.load_model(MODEL_DIR)
    objective = dream.dream_objective(model, "mixed4c")
    image = test_image(size).astype("uint8")
    # Warm-up on another size: model loaded, step compiled and GIF writer imported, as in
    # a server that has answered one request.
    warm = dream.deep_dream(model, test_image(200, 300).astype("uint8"), objective, frames=1)
    with tmp.TemporaryDirectory() as folder:
        warm.save_gif(Path(folder) / "warm.gif")

    first_preview = []
    start = time.perf_counter()

    def on_progress(progress):
        if not first_preview:
            first_preview.append(time.perf_counter() - start)

    result = dream.deep_dream(model, image, objective, on_progress=on_progress)
    dreamed = time.perf_counter()
    with tmp.TemporaryDirectory() as folder:
        result.save_gif(Path(folder) / "dream.gif")
        result.save_png(Path(folder) / "dream.png")
    total = time.perf_counter() - start
    gif_seconds = time.perf_counter() - dreamed

    engine = dream.engine_for(model)
    traces_before = engine.trace_count
    sizes = [(180, 240), (256, 256), (300, 200), (333, 517), (400, 400), (512, 384),
             (517, 333), (640, 480), (700, 300), (720, 720)]
    for height, width in sizes:
        dream.deep_dream(model, test_image(height, width).astype("uint8"), objective, frames=1,
                         schedule=replace(dream.DEFAULT_SCHEDULE, steps=1, octaves=2))
    return {
        "first_preview_s": first_preview[0], "total_s": total, "gif_s": gif_seconds,
        "frames": len(result.frames), "peak_rss_mb": peak_rss_mb(),
        "traces_over_ten_sizes": engine.trace_count - traces_before,
        "traces_total": engine.trace_count,
    }


WORKERS = {"engine": work_engine, "engine_published": work_engine_published,
           "engine_bf16": work_engine_bf16,
           "baseline": work_baseline, "machine": work_machine, "flops": work_flops,
           "e2e": work_e2e,
           # The same workers on an earlier commit's `dream` (BENCH_DREAM_ROOT).
           "before": work_engine, "before_bf16": work_engine_bf16}
BEFORE_ROOT: Path | None = None  # set by --before


def export_commit(commit: str) -> Path:
    """`dream/` of `commit`, extracted into a temporary folder (nothing else is touched),
    plus a copy named `dream_before` (its imports renamed) that can be imported beside
    today's `dream` in one process."""
    import re

    folder = Path(tempfile.mkdtemp(prefix="dream-before-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "dream"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    renamed = folder / "dream_before"
    for source in (folder / "dream").rglob("*.py"):  # its subpackages too (dream.atlas, …)
        text = re.sub(r"\b(from|import) dream\b", r"\1 dream_before", source.read_text())
        # Gradients registered by name (TensorFlow refuses a name twice in one process).
        text = text.replace('"DeepDreamStudio', '"DeepDreamStudioBefore')
        target = renamed / source.relative_to(folder / "dream")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return folder


def work_paired(target: str, size: int, steps: int) -> dict:
    """Today's engine and the `--before` commit's in one process, timed alternately
    (`PAIRED_ROUNDS` rounds of `steps` steps each), so that the machine's load, which
    drifts over seconds on a shared machine, hits both alike. Per precision: the median
    seconds per step of each, and the median of the per-round speed ratios."""
    import statistics as stats
    from dataclasses import replace

    import dream
    import dream_before

    image = test_image(size)
    rounds = int(os.environ.get("PAIRED_ROUNDS", "8"))
    out = {}
    for precision in ("float32", "bfloat16") if bfloat16_runs_here() else ("float32",):
        runs = {}
        for name, package in (("now", dream), ("before", dream_before)):
            model = package.load_model(MODEL_DIR, precision=precision)
            engine = package.engine.Engine(model)
            objective = (package.objectives.class_logit(model.class_index("jellyfish"))
                         if target == "class" else package.objectives.layer_mean(target))
            schedule = package.engine.Schedule(steps=steps, step_size=STEP_SIZE, octaves=1,
                                               tile_size=TILE_SIZE, jitter=JITTER)
            engine.run(objective, image, replace(schedule, steps=1))  # compiled before timing
            runs[name] = (engine, objective, schedule)
        seconds = {"now": [], "before": []}
        for round_ in range(rounds):
            for name in (("now", "before") if round_ % 2 == 0 else ("before", "now")):
                engine, objective, schedule = runs[name]
                start = time.perf_counter()
                engine.run(objective, image, schedule, steps_per_call=steps)
                seconds[name].append((time.perf_counter() - start) / steps)
        ratios = [then / now for now, then in zip(seconds["now"], seconds["before"])]
        out[precision] = {"now": stats.median(seconds["now"]), "before": stats.median(seconds["before"]),
                          "ratio": stats.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
    return out


WORKERS["paired"] = work_paired


def run_worker(kind: str, target: str = "-", size: int = 0, steps: int = 0) -> dict:
    command = [sys.executable, __file__, "--worker", kind, target, str(size), str(steps)]
    env = dict(os.environ)
    if kind.startswith("before"):
        env["BENCH_DREAM_ROOT"] = str(BEFORE_ROOT)
    if kind == "paired":
        env["PYTHONPATH"] = os.pathsep.join([str(BEFORE_ROOT), env.get("PYTHONPATH", "")])
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


VARIANTS = ("baseline", "engine_published", "engine", "engine_bf16")
LABELS = {"baseline": "tutorial baseline", "engine_published": "engine, graph as published",
          "engine": "engine, float32", "engine_bf16": "engine, bfloat16",
          "before": "before, float32", "before_bf16": "before, bfloat16"}


# oneDNN ISA caps below which its bfloat16 kernels do not exist (a CPU without AVX-512's
# bfloat16 units runs float32 only).
NO_BF16_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                "AVX512_CORE_VNNI")


def bfloat16_runs_here() -> bool:
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() not in NO_BF16_ISAS


def compare(target: str, size: int, steps: int, repeats: int, peak_gflops: float) -> None:
    variants = VARIANTS + (("before", "before_bf16") if BEFORE_ROOT else ())
    if not bfloat16_runs_here():
        variants = tuple(kind for kind in variants if not kind.endswith("bf16"))
    results = {kind: [] for kind in variants}
    for _ in range(repeats):
        for kind in variants:
            results[kind].append(run_worker(kind, target, size, steps))
    gflop = run_worker("flops", target, size)["gflop_per_step"]
    megapixels = size * size / 1e6
    print(f"\n{target} at {size}×{size} px: {gflop:.1f} GFLOP per step "
          f"(median of {repeats} runs × {steps} steps)")
    rates = {}
    for kind in variants:
        runs = results[kind]
        seconds = statistics.median(r["seconds"] / r["steps"] for r in runs)
        rates[kind] = megapixels / seconds
        peak = max(r["peak_rss_mb"] for r in runs)
        achieved = gflop / seconds
        gain = statistics.median(r["value_after"] - r["value_before"] for r in runs)
        print(f"  {LABELS[kind]:28s} {seconds * 1000:8.1f} ms/step  {rates[kind]:6.3f} Mpx·steps/s  "
              f"{achieved:6.1f} GFLOP/s ({achieved / peak_gflops:4.0%} of matmul peak)  "
              f"peak RSS {peak:5.0f} MB  objective +{gain:.3f} in {steps} steps")
    for kind in variants[1:]:
        print(f"  ratio {LABELS[kind]} / baseline: {rates[kind] / rates['baseline']:.2f}x")
    # Issue 21's goals for float32, on any CPU: ≥ 1.4× the tutorial, ≥ 70 % of the matmul rate.
    engine_seconds = megapixels / rates["engine"]
    print(f"  float32 engine: {rates['engine'] / rates['baseline']:.2f}× the tutorial approach "
          f"(goal ≥ 1.40×), {gflop / engine_seconds / peak_gflops:.0%} of this machine's fp32 "
          f"matmul rate (goal ≥ 70 %)")
    if BEFORE_ROOT:
        for now, then in (("engine", "before"), ("engine_bf16", "before_bf16")):
            if now not in variants:
                continue
            print(f"  speed per step, {LABELS[now]} / {LABELS[then]}: {rates[now] / rates[then]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Engine vs tutorial-style baseline.")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "TARGET", "SIZE", "STEPS"))
    parser.add_argument("--only", choices=("steps", "e2e"), help="run one part")
    parser.add_argument("--before", metavar="COMMIT",
                        help="also run this commit's engine (e.g. the one before a change)")
    args = parser.parse_args()
    if args.worker:
        kind, target, size, steps = args.worker
        print(json.dumps(WORKERS[kind](target, int(size), int(steps))))
        return
    global BEFORE_ROOT
    if args.before:
        BEFORE_ROOT = export_commit(args.before)

    ensure_model()
    steps, repeats = (3, 1) if args.quick else (8, 3)
    peak = max(run_worker("machine")["gflops"] for _ in range(2))
    from dream.model import default_precision

    from benchmarks.machine import describe

    print(describe())
    print(f"width-1.0 generated inception5h; tile {TILE_SIZE}; machine fp32 matmul: {peak:.0f} GFLOP/s; "
          f"the app's precision here: {default_precision()}")
    if args.only != "e2e":
        for target, size in (("mixed4c", 512), ("mixed4c", 1024), ("class", 512)):
            compare(target, size, steps if size <= 512 else max(2, steps // 2), repeats, peak)
    if BEFORE_ROOT and args.only != "e2e":
        os.environ["PAIRED_ROUNDS"] = "6" if args.quick else "12"
        print(f"\nToday's engine against {args.before}'s, in one process, timed alternately "
              f"({os.environ['PAIRED_ROUNDS']} rounds; speed = before's time per step / today's):")
        for target, size in (("mixed4c", 512), ("mixed4c", 1024), ("class", 512)):
            paired = run_worker("paired", target, size, 3 if size <= 512 else 2)
            for precision, row in paired.items():
                print(f"  {target} {size} px {precision:8s}: today {row['now'] * 1000:6.1f} ms/step, "
                      f"before {row['before'] * 1000:6.1f} ms/step, speed ratio {row['ratio']:.3f} "
                      f"(rounds {row['ratio_min']:.2f}–{row['ratio_max']:.2f})")
    if args.only != "steps":
        for size in (512, 1024):
            e2e = run_worker("e2e", "-", size)
            print(f"\nEnd to end, Deep Dream at the defaults (mixed4c, {e2e['frames'] - 1} frames), "
                  f"{size}×{size} px:")
            print(f"  first preview after {e2e['first_preview_s']:.2f} s; request {e2e['total_s']:.2f} s, "
                  f"of which GIF+PNG encoding {e2e['gif_s']:.2f} s ({e2e['gif_s'] / e2e['total_s']:.0%}); "
                  f"peak RSS {e2e['peak_rss_mb']:.0f} MB")
            print(f"  traces across ten requests of ten new sizes: {e2e['traces_over_ten_sizes']} "
                  f"(total in the process: {e2e['traces_total']})")


if __name__ == "__main__":
    main()
