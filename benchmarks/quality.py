"""Quality proxies of every technique: today's defaults ("after") against the earlier ones
("before"), in the same run, plus a contact sheet of every preset.

    python benchmarks/quality.py                      # everything (~10 minutes on 2 cores)
    python benchmarks/quality.py --only style guided  # some sections
    python benchmarks/quality.py --sheet sheet.png    # where the contact sheet goes

Uses the width-1.0 generated graph (`dream.synthetic_model`, the real inception5h's shapes
and cost, random weights) and the app's tab defaults (`dream.presets.technique_defaults`)
at 512 px. "before" reproduces the defaults of the commit before issue #9 with the
engine's options (`BEFORE` below): mean (not squared) layer objective, 3 octaves, tiles
rolled by ±jitter only, guided on the summed gradient through a 4-level Laplacian pyramid
with a stretched guide, style on raw pixels with Adam restarted every frame, bfloat16.
The engine's random rolls are drawn differently from that commit's, so single images
differ; the proxies are statistics of the whole picture.

Proxies (issue #9):
- style: share of the change's energy above half-Nyquist (radial frequency > 0.25
  cycles/px; DC excluded) and the style loss (mean relative Gram distance over the style
  layers, float32) at equal compute (the same number of network steps);
- guided: share of the change's energy in structures larger than 32 px (0 < f < 1/32)
  and the fine-detail correlation with the photo after 3 frames (Pearson correlation of
  the grey images' high-pass, image − Gaussian blur σ=2 px);
- zoom: fine-detail energy (mean square of that high-pass) of the last frame over the
  first dreamed frame;
- tiles: detail of the change (its high-pass energy) within 32 px of the tile borders
  over elsewhere, Deep Dream at 1024 px (2×2 tiles of 512 px);
- bf16 vs fp32: cosine between the input gradients computed in bfloat16 and in float32,
  per technique's default objective, on the whole 512 px image.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_engine import MODEL_DIR, ensure_model  # noqa: E402

ASSETS = ROOT / "assets"
SIZE = 512
SECTIONS = ("style", "guided", "zoom", "tiles", "bf16", "requests", "sheet")


# ----------------------------------------------------------------------------- images


def load(name: str, side: int = SIZE) -> np.ndarray:
    """An example asset scaled so its longer side is `side` (uint8 RGB)."""
    from PIL import Image

    image = Image.open(ASSETS / f"{name}.jpg").convert("RGB")
    scale = side / max(image.size)
    size = (round(image.size[0] * scale), round(image.size[1] * scale))
    return np.asarray(image.resize(size, Image.LANCZOS))


def grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    return image @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array, edges reflected."""
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.pad(image, radius, mode="reflect")
    out = sum(w * out[i:i + out.shape[0] - 2 * radius] for i, w in enumerate(taps))
    out = sum(w * out[:, i:i + out.shape[1] - 2 * radius] for i, w in enumerate(taps))
    return out


def high_pass(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Fine detail: the grey image minus its Gaussian blur (σ in pixels)."""
    g = grey(image)
    return g - gaussian_blur(g, sigma)


def spectrum_shares(change: np.ndarray) -> tuple[float, float]:
    """(share above half-Nyquist, share in structures > 32 px) of the change's energy,
    DC excluded, summed over colour channels."""
    change = np.asarray(change, np.float64)
    energy = sum(np.abs(np.fft.fft2(change[..., c])) ** 2 for c in range(change.shape[2]))
    fy = np.fft.fftfreq(change.shape[0])[:, None]
    fx = np.fft.fftfreq(change.shape[1])[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    total = energy[radius > 0].sum()
    return float(energy[radius > 0.25].sum() / total), float(energy[(radius > 0) & (radius < 1 / 32)].sum() / total)


def detail_correlation(photo: np.ndarray, result: np.ndarray) -> float:
    a, b = high_pass(photo).ravel(), high_pass(result).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def detail_energy(image: np.ndarray) -> float:
    return float(np.mean(high_pass(image) ** 2))


def seam_ratio(photo: np.ndarray, result: np.ndarray, tile_size: int = 512, band: int = 32) -> float:
    """Detail of the change near the tile borders over elsewhere (image edges left out)."""
    detail = high_pass(np.asarray(result, np.float64) - np.asarray(photo, np.float64)) ** 2
    height, width = detail.shape
    mask = np.zeros_like(detail, bool)
    for length, axis in ((height, 0), (width, 1)):
        count = -(-length // tile_size)
        for k in range(1, count):
            edge = k * length // count
            if axis == 0:
                mask[max(0, edge - band):edge + band] = True
            else:
                mask[:, max(0, edge - band):edge + band] = True
    inner = np.zeros_like(mask)
    inner[band:-band, band:-band] = True
    return float(detail[mask & inner].mean() / detail[~mask & inner].mean())


# ----------------------------------------------------------------------------- configurations
#
# "before": the defaults of the commit before issue #9, as settings of today's engine.

# Every schedule field is given, so a default changed later cannot leak into "before".
_BEFORE_ENGINE = dict(tile_size=512, seed=0, parametrization="pixels", transforms="roll",
                      normalization="sum", tile_roll=False, precision="auto")
BEFORE = {
    "deep_dream": dict(_BEFORE_ENGINE, frames=8, steps=4, octaves=3, octave_scale=1.4, step_size=1.5,
                       jitter=32, laplacian_levels=0, optimizer="ascent", squared=False),
    "fractal_zoom": dict(_BEFORE_ENGINE, frames=12, steps=3, octaves=2, octave_scale=1.4, step_size=1.5,
                         jitter=32, laplacian_levels=0, optimizer="ascent", zoom=0.04, squared=False),
    # smoothness 1.0 × the old per-norm scale 10 for L2, on the summed gradient.
    "guided": dict(_BEFORE_ENGINE, frames=5, steps=5, octaves=3, octave_scale=1.4, step_size=1.5,
                   jitter=32, laplacian_levels=4, optimizer="ascent", tv_weight=10.0,
                   smoothness_norm="l2", stretch_guide=True),
    "style_transfer": dict(_BEFORE_ENGINE, frames=6, steps=8, octaves=1, octave_scale=1.4, step_size=4.0,
                           jitter=4, laplacian_levels=0, optimizer="adam", keep_optimizer_state=False,
                           tv_weight=10.0, tv_of_change=False),
}


def schedule_from(technique: str, values: dict):
    from dream.presets import BASE_SCHEDULES, SCHEDULE_FIELDS

    return replace(BASE_SCHEDULES[technique], **{k: v for k, v in values.items() if k in SCHEDULE_FIELDS})


def after(technique: str) -> dict:
    from dream.presets import technique_defaults

    return technique_defaults(technique)


# ----------------------------------------------------------------------------- runs


def run_style(model, content, style, values: dict, total_steps: int | None = None):
    """Style transfer from `values` (tab defaults or BEFORE); `total_steps` rescales the
    schedule to that many network steps (equal compute)."""
    import dream
    from dream import frames as frames_module
    from dream.style import _blended_grams, style_objective

    values = dict(values)
    if total_steps is not None:
        values["steps"] = max(1, total_steps // values["frames"])
    schedule = schedule_from("style_transfer", values)
    defaults = after("style_transfer")
    layers = tuple(values.get("style_layers", defaults["style_layers"]))
    content_layer = values.get("content_layer", defaults["content_layer"])
    grams = _blended_grams(model, content, style, None, 0.0, layers, False, dream.Limits(), [])
    tv_weight = values.get("tv_weight", defaults["tv_weight"])
    objective = style_objective(content_layer, grams, values.get("content_weight", 1.0),
                                values.get("style_weight", 10.0), tv_weight,
                                tv_of_change=values.get("tv_of_change", True))
    start = time.perf_counter()
    run = frames_module.run_frames(model, content.astype(np.float32), objective, schedule,
                                   values["frames"], limits=dream.Limits(),
                                   target_image=content.astype(np.float32),
                                   keep_optimizer_state=values.get("keep_optimizer_state", True),
                                   start_image=content.astype(np.float32))
    seconds = time.perf_counter() - start
    return run.frames[-1], seconds, schedule.steps * values["frames"], grams, layers


def style_loss(model, image, grams, layers) -> float:
    import dream
    from dream.objectives import style_distance

    engine = dream.engine_for(model)
    return float(np.mean([engine.value(style_distance(layer, grams[layer]), image.astype(np.float32))
                          for layer in layers]))


def run_guided(model, photo, guide, values: dict, frames: int = 3):
    import dream
    from dream import frames as frames_module
    from dream import images
    from dream.guided import fit_guide, guided_objective

    defaults = after("guided")
    schedule = schedule_from("guided", values)
    if values.get("stretch_guide"):
        target = images.resize_to(guide, photo.shape[:2])
    else:
        target = fit_guide(guide, photo.shape[:2])
    smoothness = values.get("tv_weight", values.get("smoothness", defaults["smoothness"]))
    objective = guided_objective(model, defaults["layer"], defaults["similarity"], defaults["direction"],
                                 None, smoothness, values.get("smoothness_norm", defaults["smoothness_norm"]),
                                 defaults["guide_weight"])
    start = time.perf_counter()
    run = frames_module.run_frames(model, photo.astype(np.float32), objective, schedule, frames,
                                   limits=dream.Limits(), target_image=target.astype(np.float32),
                                   start_image=photo.astype(np.float32))
    return run.frames[-1], time.perf_counter() - start


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def run_dream(model, photo, technique: str, values: dict, **overrides):
    import dream

    defaults = after(technique)
    values = {**values, **overrides}
    objective = dream.dream_objective(model, defaults["layer"] if "layer" in defaults else "mixed4c",
                                      squared=values.get("squared", True))
    schedule = schedule_from(technique, values)
    limits = dream.Limits(max_megapixel_steps=1000)
    start = time.perf_counter()
    if technique == "deep_dream":
        result = dream.deep_dream(model, photo, objective, schedule, frames=values["frames"], limits=limits)
    else:
        result = dream.fractal_zoom(model, photo, objective, schedule, frames=values["frames"],
                                    zoom=values["zoom"], limits=limits)
    return result, time.perf_counter() - start


# ----------------------------------------------------------------------------- sections


def section_style(model, report) -> None:
    content, style = load("cat"), load("painting")
    before_values, after_values = BEFORE["style_transfer"], after("style_transfer")
    budget = before_values["frames"] * before_values["steps"]
    rows = []
    for label, values, steps in (("before", before_values, None),
                                 ("after, equal compute", after_values, budget),
                                 ("after, tab defaults", after_values, None)):
        image, seconds, total, grams, layers = run_style(model, content, style, values, steps)
        high, _ = spectrum_shares(image.astype(np.float64) - content)
        rows.append((label, total, high, style_loss(model, image, grams, layers), seconds))
    before_loss = style_loss(model, content, grams, layers)
    report("\nStyle transfer (cat in the style of painting.jpg, 512 px):")
    report(f"  style loss of the content itself: {before_loss:.4f}")
    for label, total, high, loss, seconds in rows:
        report(f"  {label:24s} {total:4d} steps  high-frequency share {high:6.1%}  style loss "
               f"{loss:.4f}  {seconds:5.1f} s")


def section_guided(model, report) -> None:
    photo, guide = load("cat"), load("abstract")
    report("\nGuided (cat toward abstract.jpg, dot at mixed4c, 3 frames, 512 px):")
    report("  fine-detail correlation of the photo with itself: 1.000")
    for label, values in (("before", BEFORE["guided"]), ("after", after("guided")),
                          ("after, no smoothness", {**after("guided"), "smoothness": 0.0})):
        image, seconds = run_guided(model, photo, guide, values)
        _, coarse = spectrum_shares(image.astype(np.float64) - photo)
        report(f"  {label:24s} share > 32 px {coarse:6.1%}  fine-detail correlation "
               f"{detail_correlation(photo, image):.3f}  {seconds:5.1f} s")
    section_guide_influence(model, report)


def section_guide_influence(model, report) -> None:
    """How much the guide decides: the cosine between the changes two guides make, against
    the cosine between the network's features of the two guides (tab defaults, 5 frames).
    A dream that shows all the difference the network sees has the lower cosine."""
    import tensorflow as tf

    from dream.guided import fit_guide

    photo = load("cat")
    features_of = model.features([after("guided")["layer"]])
    changes, features = {}, {}
    for name in ("abstract", "painting", "landscape"):
        guide = load(name)
        image, _ = run_guided(model, photo, guide, after("guided"), frames=after("guided")["frames"])
        changes[name] = image.astype(np.float64) - photo
        fitted = fit_guide(guide, photo.shape[:2]).astype(np.float32)[None]
        features[name] = features_of(tf.constant(fitted))[after("guided")["layer"]].numpy()
    report("  guide influence (cat; cosine of the two results' changes vs of the guides' features):")
    names = list(changes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            report(f"    {a} / {b}: changes {cosine(changes[a], changes[b]):.3f}, "
                   f"guides {cosine(features[a], features[b]):.3f}")


def section_zoom(model, report) -> None:
    from dream.engine import octave_sizes

    photo = load("landscape")
    report("\nFractal zoom (landscape, mixed4c, 512 px):")
    for label, values in (("before", BEFORE["fractal_zoom"]), ("after", after("fractal_zoom"))):
        result, seconds = run_dream(model, photo, "fractal_zoom", values)
        ratio = detail_energy(result.frames[-1]) / detail_energy(result.frames[1])
        per_step = values["zoom"] / (values["steps"] * len(octave_sizes(
            *photo.shape[:2], values["octaves"], values["octave_scale"])))
        report(f"  {label:24s} zoom {values['zoom']:.3f}/side/frame = {per_step:.3%}/step  "
               f"last/first fine detail {ratio:.2f}  {seconds:5.1f} s ({values['frames']} frames)")


def section_tiles(model, report) -> None:
    """How much less detail the dream makes next to the tile borders. A photo has more
    detail in some places than in others, so each ratio is divided by the same ratio of
    an untiled run (one 1024 px tile) with the same settings."""
    photo = load("landscape", 1024)
    report(f"\nTile seams (Deep Dream, landscape at {photo.shape[1]}×{photo.shape[0]}, 512 px tiles, 4 frames;"
           f" band ratio over an untiled run's):")
    for label, values in (("before", BEFORE["deep_dream"]), ("after", after("deep_dream"))):
        tiled, seconds = run_dream(model, photo, "deep_dream", values, frames=4)
        untiled, _ = run_dream(model, photo, "deep_dream", values, frames=4, tile_size=1024)
        ratio = seam_ratio(photo, tiled.image) / seam_ratio(photo, untiled.image)
        report(f"  {label:24s} detail within 32 px of a seam / elsewhere {ratio:.3f}  "
               f"(tiled {seam_ratio(photo, tiled.image):.3f}, untiled {seam_ratio(photo, untiled.image):.3f})"
               f"  {seconds:5.1f} s")


def section_bf16(model, report) -> None:
    import dream
    from dream.guided import fit_guide, guided_objective
    from dream.style import STYLE_LAYERS, CONTENT_LAYER, style_grams, style_objective

    engine = dream.engine_for(model)
    photo = load("cat").astype(np.float32)
    guide = fit_guide(load("abstract"), photo.shape[:2]).astype(np.float32)
    cases = {
        "deep dream, mixed4c (mean square)": (dream.dream_objective(model, "mixed4c"), None, "deep_dream"),
        "deep dream, mixed4c (mean; before)": (dream.dream_objective(model, "mixed4c", squared=False), None, "deep_dream"),
        "deep dream, class jellyfish": (dream.dream_objective(model, class_name="jellyfish"), None, "deep_dream"),
        "deep dream, channel 139 of mixed4d_3x3_bottleneck": (
            dream.dream_objective(model, "mixed4d_3x3_bottleneck", channel_index=139), None, "deep_dream"),
        "guided, dot at mixed4c": (guided_objective(model, "mixed4c", "dot", "toward"), guide, "guided"),
        "style transfer, Lucid layers": (style_objective(
            CONTENT_LAYER, style_grams(model, load("painting").astype(np.float32), STYLE_LAYERS), 1.0, 10.0, 0.0),
            photo, "style_transfer"),
    }
    report("\nbfloat16 vs float32, cosine of the input gradients (cat, 512 px):")
    for label, (objective, target, technique) in cases.items():
        exact = engine.gradient(objective, photo, target, "float32")
        half = engine.gradient(objective, photo, target, "bfloat16")
        cosine = float(np.sum(exact * half) / np.linalg.norm(exact) / np.linalg.norm(half))
        chosen = engine.precision_of(schedule_from(technique, after(technique)))
        report(f"  {label:52s} {cosine:.4f}  (before: {model.precision}; after: {chosen})")


def section_requests(model, report) -> None:
    """Seconds of one request per tab at its defaults, 512 px, as the app calls the package
    (the second of two, so the step is compiled, as in a server that has answered one)."""
    import dream
    from dream.presets import SCHEDULE_FIELDS, technique_defaults

    photo, other = load("cat"), load("abstract")
    report("\nOne request at each tab's defaults (512 px, cat; second of two runs):")
    for technique in ("deep_dream", "fractal_zoom", "guided", "style_transfer"):
        values = technique_defaults(technique)
        schedule = schedule_from(technique, values)
        options = {k: v for k, v in values.items() if k not in SCHEDULE_FIELDS and k != "max_side"}
        for attempt in range(2):
            start = time.perf_counter()
            if technique in ("deep_dream", "fractal_zoom"):
                objective = dream.dream_objective(model, values["layer"], squared=values["squared"],
                                                  pre_relu=values["pre_relu"])
                kwargs = {k: v for k, v in options.items() if k in ("frames", "zoom")}
                function = dream.deep_dream if technique == "deep_dream" else dream.fractal_zoom
                result = function(model, photo, objective, schedule, **kwargs)
            elif technique == "guided":
                result = dream.guided_dream(model, photo, other, schedule=schedule, **options)
            else:
                result = dream.style_transfer(model, photo, load("painting"), schedule=schedule,
                                              **options)
            seconds = time.perf_counter() - start
        report(f"  {technique:16s} {seconds:5.1f} s  ({values['frames']} frames × {schedule.steps} steps × "
               f"{schedule.octaves} octaves, {result.settings['precision']})")


def section_sheet(model, report, path: Path, side: int = 384) -> None:
    """Every preset's final frame, labelled, in one PNG."""
    from PIL import Image, ImageDraw, ImageFont

    import dream
    from dream.presets import PRESETS

    photo, guide, style = load("cat", side), load("abstract", side), load("painting", side)
    tiles = [("Input: the photo (cat.jpg)", photo), ("Input: the guide (abstract.jpg)", guide),
             ("Input: the style (painting.jpg)", style)]
    start = time.perf_counter()
    for preset in PRESETS:
        overrides = {}
        channel = preset.settings.get("channel_index")
        if channel is not None and channel >= model.layer(preset.settings["layer"]).channels:
            overrides["channel_index"] = model.layer(preset.settings["layer"]).channels - 1
        if preset.technique in ("deep_dream", "fractal_zoom"):
            result = dream.run_preset(model, preset.name, photo, **overrides)
        elif preset.technique == "guided":
            result = dream.run_preset(model, preset.name, guide, photo)
        else:
            result = dream.run_preset(model, preset.name, photo, style)
        tiles.append((preset.name, result.image))
    report(f"\nContact sheet: {len(tiles) - 3} presets at {side} px in {time.perf_counter() - start:.0f} s → {path}")
    columns = 4
    try:
        font = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    label_h = 24
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    heights = [max(image.shape[0] for _, image in row) + label_h for row in rows]
    sheet = Image.new("RGB", (columns * side, sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for row, height in zip(rows, heights):
        for k, (name, image) in enumerate(row):
            x = k * side
            sheet.paste(Image.fromarray(image), (x, y + label_h))
            draw.text((x + 4, y + 4), name if len(name) <= 46 else name[:45] + "…", fill="black", font=font)
        y += height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description="Quality proxies, before and after issue #9.")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--sheet", type=Path,
                        default=Path(tempfile.gettempdir()) / "dream-quality" / "contact_sheet.png")
    args = parser.parse_args()

    ensure_model()
    import dream

    model = dream.load_model(MODEL_DIR)
    print(f"width-1.0 generated inception5h; the model's default precision: {model.precision}")
    report = lambda line: print(line, flush=True)  # noqa: E731
    sections = {"style": section_style, "guided": section_guided, "zoom": section_zoom,
                "tiles": section_tiles, "bf16": section_bf16, "requests": section_requests,
                "sheet": lambda m, r: section_sheet(m, r, args.sheet)}
    for name in SECTIONS:
        if name in args.only:
            sections[name](model, report)


if __name__ == "__main__":
    main()
