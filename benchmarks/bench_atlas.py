"""Speed of the neuron atlas (issue #11): batched against one by one, cold and cached pages.

    python benchmarks/bench_atlas.py            # ~6 minutes on 2 cores
    python benchmarks/bench_atlas.py --quick    # fewer steps and tiles (~1.5 minutes)
    python benchmarks/bench_atlas.py --study    # + the steps study (~5 more minutes)
    python benchmarks/bench_atlas.py --study-only   # the steps study alone (~4 minutes)
    python benchmarks/bench_atlas.py --sheet docs/atlas.png   # + the README's picture

Uses the width-1.0 generated graph (`dream.synthetic_model`, `$BENCH_MODEL_DIR` or a
temporary folder, generated if missing): random weights, but the real inception5h's shapes,
so a step costs what it costs on the real model. The tiles go to a fresh temporary cache.

1. **Per tile-step, by batch size**: one engine call of a few steps on B tiles at 128 px,
   the batch sizes taking turns round after round (the machine is shared: medians).
2. **A page of 24 tiles** at the atlas's default settings, batched (cold, written to the
   cache) and one by one (no cache), alternating batch by batch; how alike both renders
   are (pixel correlation, the channel's activation).
3. **The same page again** through the cache: the time and the counters (nothing computed).
4. **Class tiles** (the whole network at 224 px) per tile, batched.
5. **Cache size**: bytes per tile on disk, and per layer (channels × bytes per tile).
6. With `--study`: how far a tile's channel has risen after n steps, as a share of where
   it is after 512 steps at 4 px per step (≈ Lucid's `render_vis`: 512 steps of Adam at
   lr 0.05, which moves a 128 px sigmoid-squashed Fourier image by ~3.6 px RMS per step at
   mid-grey), for 4 and 8 px, with the atlas's sigmoid and redirected-ReLU warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

MODEL_DIR = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "dream-bench-width1"))


def ensure_model(folder: Path) -> Path:
    from dream import synthetic_model

    if not (folder / synthetic_model.GRAPH_FILE).is_file():
        print(f"generating the width-1.0 graph in {folder} …", flush=True)
        synthetic_model.write_model_dir(folder, width=1.0)
    return folder


def gflop_per_tile_step(model, tensor: str, size: int) -> float:
    """Convolution and matmul FLOPs of one tile-step: forward to `tensor` and back to the
    input, at the size the network sees (Lucid's transforms: +2·12 pad, −8 and −4 jitter)."""
    import tensorflow as tf

    from dream.model import _prune
    from dream.transforms import FIRST_JITTER, LAST_JITTER, PAD

    seen = size + 2 * PAD - FIRST_JITTER - LAST_JITTER
    graph = tf.Graph()
    with graph.as_default():
        pixels = tf.compat.v1.placeholder(tf.float32, [1, seen, seen, 3])
        parts = list(model._built.get(tensor, (tensor,)))  # a block's pre-ReLU tap: its branches
        tf.graph_util.import_graph_def(_prune(model.graph_def, parts), input_map={"input:0": pixels},
                                       name="")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import forward_flops

    return 2 * forward_flops(graph) / 1e9  # the backward pass to the input costs about the forward


def matmul_gflops() -> float:
    """The machine's fp32 rate, measured as bench_engine.py measures it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import work_machine

    return work_machine()["gflops"]


def time_page(atlas, layer, channels) -> tuple[float, list]:
    started = time.perf_counter()
    tiles = list(atlas.tiles(layer, channels))
    return time.perf_counter() - started, tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--layer", default="mixed4c")
    parser.add_argument("--steps", type=int, help="steps per tile (default: the atlas's)")
    parser.add_argument("--study", action="store_true", help="also the steps study (section 6)")
    parser.add_argument("--study-only", action="store_true", help="only the steps study")
    parser.add_argument("--study-sizes", default="4,8",
                        help="step sizes (px) of the study's curves; the first 4 px one is the reference")
    parser.add_argument("--study-checkpoints", default="16,32,64,96,128,192,256,512",
                        help="steps at which the study measures (the last is the reference's)")
    parser.add_argument("--sheet", help="write the cold page as a labelled grid to this PNG, "
                                        "with what fires on assets/cat.jpg")
    args = parser.parse_args()

    import dream
    from dream import atlas as atlas_module
    from dream import objectives

    model = dream.load_model(ensure_model(MODEL_DIR), precision="float32")
    engine = dream.engine_for(model)
    defaults = atlas_module.DEFAULT_SETTINGS
    steps = args.steps or (24 if args.quick else defaults.steps)
    page_size = 12 if args.quick else 24
    settings = replace(defaults, steps=steps)
    layer = args.layer
    tensor = model.pre_relu_of(layer) or layer
    cache_dir = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    print(f"model {MODEL_DIR} (width 1.0), layer {layer} (rendered on {tensor}), "
          f"{settings.size} px, {steps} steps of {settings.step_size} px (Adam), "
          f"default batch {settings.batch}; cache {cache_dir}", flush=True)

    def study():
        steps_study(model, engine, tensor, settings, [float(v) for v in args.study_sizes.split(",")],
                    [int(v) for v in args.study_checkpoints.split(",")])

    if args.study_only:
        study()
        return

    # 1. Per tile-step by batch size (traced first; the trace is not timed).
    probe_steps, rounds = (4, 2) if args.quick else (8, 3)
    batch_sizes = (1, 2, 4, 6, 8, 12)
    schedule = replace(settings.schedule(), steps=probe_steps)
    for b in batch_sizes:
        indices = list(range(b))
        engine.run(objectives.channels(tensor, indices), atlas_module.start_images(indices, settings),
                   replace(schedule, steps=1))
    per_tile_step = {b: [] for b in batch_sizes}
    for _ in range(rounds):
        for b in batch_sizes:
            indices = list(range(b))
            images = atlas_module.start_images(indices, settings)
            started = time.perf_counter()
            engine.run(objectives.channels(tensor, indices), images, schedule)
            per_tile_step[b].append((time.perf_counter() - started) / probe_steps / b)
    gflop = gflop_per_tile_step(model, tensor, settings.size)
    peak = matmul_gflops()
    print(f"\n1. ms per tile-step at 128 px (median of rounds; speed-up over one by one; the "
          f"network's {gflop:.2f} GFLOP per tile-step as a share of the machine's {peak:.0f} "
          f"GFLOP/s fp32 matmul)")
    one = statistics.median(per_tile_step[1])
    for b in batch_sizes:
        median = statistics.median(per_tile_step[b])
        print(f"   batch {b:2d}: {median * 1000:6.1f} ms  ×{one / median:4.2f}  "
              f"{gflop / median:5.0f} GFLOP/s ({gflop / median / peak:4.0%})")

    # 2. A page, batched (cold, into the cache) and one by one (no cache), same run: batch
    # by batch, each batch's channels then rendered one by one, so that the machine's
    # load changes hit both alike.
    channels = list(range(page_size))
    cached_atlas = atlas_module.Atlas(model, settings, cache_dir=cache_dir)
    single_atlas = atlas_module.Atlas(model, replace(settings, batch=1), cache=False)
    cold = alone = 0.0
    batched_tiles, single_tiles = [], []
    for start in range(0, page_size, settings.batch):
        group = channels[start:start + settings.batch]
        seconds, tiles = time_page(cached_atlas, layer, group)
        cold += seconds
        batched_tiles += tiles
        seconds, tiles = time_page(single_atlas, layer, group)
        alone += seconds
        single_tiles += tiles
    same = sameness(model, tensor, batched_tiles, single_tiles)
    print(f"\n2. page of {page_size} ({steps} steps per tile)")
    print(f"   batched ({settings.batch} per call), cold: {cold:6.1f} s per page, "
          f"{cold / page_size:5.2f} s per tile")
    print(f"   one by one:              {alone:6.1f} s per page, {alone / page_size:5.2f} s per tile")
    print(f"   batching is ×{alone / cold:.2f} faster per tile")
    print(f"   batched vs one by one, per tile: pixel correlation {same['correlation']}, "
          f"mean |difference| {same['difference']:.1f} levels; own channel batched/alone "
          f"{same['ratio']}; tiles of different channels correlate at {same['others']}")
    if page_size != 24:
        print(f"   (a page of 24 would take ~{cold / page_size * 24:.0f} s batched)")

    # 3. The same page again: from the cache.
    before = (cached_atlas.stats.rendered, cached_atlas.stats.from_cache)
    warm, _ = time_page(cached_atlas, layer, channels)
    rendered = cached_atlas.stats.rendered - before[0]
    from_cache = cached_atlas.stats.from_cache - before[1]
    print(f"\n3. the same page again: {warm * 1000:.0f} ms ({rendered} tiles rendered, "
          f"{from_cache} from the cache); cold/cached ×{cold / warm:.0f}")

    # 4. Class tiles.
    class_count = 4 if args.quick else settings.batch
    class_atlas = atlas_module.Atlas(model, settings, cache=False)
    list(class_atlas.class_tiles([1]))  # traces the class step (not timed)
    started = time.perf_counter()
    list(class_atlas.class_tiles(range(1, 1 + class_count)))
    class_seconds = (time.perf_counter() - started) / class_count
    print(f"\n4. class tiles (the classifier sees them at 224 px): {class_seconds:.2f} s per tile "
          f"batched; a page of 24 ~{class_seconds * 24:.0f} s")

    # 5. Cache size.
    files = list(cache_dir.rglob("*.png"))
    per_tile = sum(f.stat().st_size for f in files) / max(1, len(files))
    print(f"\n5. cache: {len(files)} tiles, {per_tile / 1024:.1f} KB per tile (PNG, {settings.size} px)")
    blocks = [layer_ for layer_ in model.layers if layer_.kind == "block"]
    total = 0
    for layer_ in blocks:
        total += layer_.channels
        print(f"   {layer_.name:9s} {layer_.channels:5d} channels ≈ {layer_.channels * per_tile / 2**20:6.1f} MB")
    print(f"   all {len(blocks)} block layers: {total} tiles ≈ {total * per_tile / 2**20:.0f} MB; "
          f"{model.num_classes} classes ≈ {model.num_classes * per_tile / 2**20:.0f} MB; "
          f"bound {atlas_module.DEFAULT_CACHE_BYTES / 2**20:.0f} MB (DREAM_ATLAS_CACHE_MB)")

    if args.sheet:
        write_sheet(model, layer, batched_tiles, Path(args.sheet), steps)
    if args.study:
        study()


def sameness(model, tensor, first, second) -> dict:
    """How alike two renders of the same channels are (see dream.atlas.AtlasSettings)."""
    def correlation(a, b):
        a, b = a.astype(float) - a.mean(), b.astype(float) - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    features = model.features([tensor], "float32")

    def own(tiles):
        images = np.stack([t.image for t in tiles]).astype(np.float32)
        means = features(images)[tensor].numpy().mean(axis=(1, 2))
        return means[np.arange(len(tiles)), [t.index for t in tiles]]

    correlations = [correlation(a.image, b.image) for a, b in zip(first, second)]
    others = [correlation(a.image, b.image) for a, b in zip(first, first[1:])]
    mine, theirs = own(first), own(second)
    live = theirs > 0
    ratios = mine[live] / theirs[live]
    return {"correlation": f"{min(correlations):.2f}–{max(correlations):.2f} (median {np.median(correlations):.2f})",
            "difference": float(np.mean([np.abs(a.image.astype(float) - b.image).mean()
                                         for a, b in zip(first, second)])),
            "ratio": f"{ratios.min():.2f}–{ratios.max():.2f} (median {np.median(ratios):.2f}, "
                     f"{live.sum()} live channels)",
            "others": f"{min(others):.2f}–{max(others):.2f}"}


def write_sheet(model, layer, tiles, path: Path, steps: int) -> None:
    """The page as a labelled grid, and below it what fires on a photo (the README's)."""
    from PIL import Image, ImageDraw, ImageFont

    from dream import atlas as atlas_module

    grid = atlas_module.contact_sheet(
        tiles, columns=8, title=f"Neuron atlas: {layer} channels {tiles[0].index}-{tiles[-1].index}, {steps} steps "
                                f"at 128 px (the generated graph: random weights)")
    photo_path = ROOT / "assets" / "cat.jpg"
    ranking = atlas_module.rank_channels(model, photo_path, layer, top=5)
    height = 118
    scaled = [Image.fromarray(ranking.image)] + [Image.fromarray(c.overlay) for c in ranking.channels]
    scaled = [image.resize((round(image.width * height / image.height), height)) for image in scaled]
    labels = ["assets/cat.jpg"] + [f"{layer}:{c.channel}  mean {c.mean_activation:.0f}"
                                   for c in ranking.channels]
    pad = 6
    width = max(grid.shape[1], pad + sum(image.width + pad for image in scaled))
    strip = Image.new("RGB", (width, 24 + height + 20 + pad), (250, 250, 250))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    draw.text((pad, 6), f"What fires on my photo: rank_channels(model, photo, {layer!r}, top=5)",
              fill=(20, 20, 20), font=font)
    x = pad
    for image, label in zip(scaled, labels):
        strip.paste(image, (x, 24))
        draw.text((x + 2, 24 + height + 3), label, fill=(20, 20, 20), font=font)
        x += image.width + pad
    sheet = Image.new("RGB", (width, grid.shape[0] + strip.height), (250, 250, 250))
    sheet.paste(Image.fromarray(grid), (0, 0))
    sheet.paste(strip, (0, grid.shape[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    print(f"\nwrote {path} ({sheet.width}×{sheet.height})")


def steps_study(model, engine, tensor, settings, step_sizes=(4.0, 8.0),
                checkpoints=(16, 32, 64, 96, 128, 192, 256, 512)) -> None:
    import tensorflow as tf

    from dream import atlas as atlas_module
    from dream import objectives
    from dream.engine import OptimizerState
    from dream.limits import Limits

    channels = [3, 40, 97, 150, 222, 301, 405, 480]
    features = model.features([tensor], "float32")

    def own(images):
        means = features(tf.constant(np.rint(np.clip(images, 0, 255))))[tensor].numpy().mean(axis=(1, 2))
        return means[np.arange(len(channels)), channels]

    start = atlas_module.start_images(channels, settings)
    objective = objectives.channels(tensor, channels)
    curves = {}
    started = time.perf_counter()
    for step_size in step_sizes:
        # The atlas's own phases (warm-up, then the rest) cut at the checkpoints.
        phases = replace(settings, steps=checkpoints[-1], step_size=step_size).phases()
        state, images, done, curve = OptimizerState(), start, 0, {}
        for checkpoint in checkpoints:
            for first, schedule in phases:
                begin, end = max(done, first), min(checkpoint, first + schedule.steps)
                if begin < end:
                    images = engine.run(objective, images, replace(schedule, steps=end - begin),
                                        optimizer_state=state, step_offset=begin,
                                        limits=Limits(max_steps=checkpoints[-1]))
            done = checkpoint
            curve[checkpoint] = own(images)
        curves[step_size] = curve
    seconds = time.perf_counter() - started
    reference_size = 4.0 if 4.0 in curves else step_sizes[0]
    reference = curves[reference_size][checkpoints[-1]]
    live = reference > 0
    print(f"\n6. channel value after n steps / after {checkpoints[-1]} steps at {reference_size:g} px "
          f"(4 px: Lucid's rate); mean over "
          f"{live.sum()} of {len(channels)} channels of {tensor} (the others stay negative); "
          f"sigmoid {settings.sigmoid}, ReLU warm-up {settings.relu_warmup} steps")
    print("   steps " + " ".join(f"{c:6d}" for c in checkpoints))
    for step_size, curve in curves.items():
        shares = [float(np.mean(curve[c][live] / reference[live])) for c in checkpoints]
        print(f"   {step_size:3.0f} px " + " ".join(f"{share:6.2f}" for share in shares))
    for step_size, curve in curves.items():
        own_end = curve[checkpoints[-1]]
        shares = [float(np.mean(curve[c][live] / own_end[live])) for c in checkpoints]
        print(f"   {step_size:3.0f} px, / its own {checkpoints[-1]}: " + " ".join(f"{share:5.2f}" for share in shares))
    tile_steps = len(curves) * len(channels) * checkpoints[-1]
    print(f"   {seconds:.0f} s for {tile_steps} tile-steps ({seconds / tile_steps * 1000:.1f} ms each, "
          f"batch {len(channels)}, checkpoint measurements included)")


if __name__ == "__main__":
    main()
