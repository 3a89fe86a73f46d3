"""Neural style transfer: the content of one image in the style of another.

Gatys, Ecker and Bethge, "A Neural Algorithm of Artistic Style" (2015): the result keeps
the content image's features at one layer and takes on the style image's feature
correlations (Gram matrices) at several layers. On this very graph Lucid's InceptionV1
style-transfer notebook takes style from `conv2d2, mixed3a, mixed4a, mixed4b, mixed4c`
and content from `mixed3b`; those are the defaults here.

Inception's strided convolutions leave checkerboard artefacts, and colour grain, when
raw pixels follow the gradient. As in Lucid's style-transfer notebook on this graph, the
optimiser moves a decorrelated-colour Fourier parametrisation of the image
(`dream.param`) with Adam, and every step sees the image (and the content image, the
same way) through Lucid's random pad, jitter, scale and rotation (`dream.transforms`).
Adam's moments run on across the frames, so the frames are snapshots of one
optimisation. A small total-variation term remains available (`tv_weight`); starting from
the content photo it smooths the *change* (what the style adds), not the image: smoothing
the image erased the photo's own fine detail (fine-detail correlation with the photo 0.13
for the content-leaning preset), smoothing the change keeps it (0.64) at a lower style
loss (docs/DEFAULTS.md).

Options people ask of style-transfer tools: blend two styles (their Gram matrices are
mixed), and keep the content's original colours (Gatys et al. 2016, "Preserving Color
in Neural Artistic Style Transfer": the style is learnt from its luminance only, and the
result's luminance is recombined with the content's chroma in YCbCr).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

import numpy as np
import tensorflow as tf

from dream import images
# Re-exported: `from dream.style import with_colours_of, luminance` keeps working.
from dream.colours import luminance, with_colours_of
from dream.engine import ProgressCallback, Schedule, engine_for, to_uint8
from dream.frames import run_frames
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import InceptionModel
from dream.param import random_image
from dream.objectives import Objective, feature_similarity, gram_matrix, style_distance, total_variation, weighted_sum
from dream.result import DreamResult

STYLE_LAYERS = ("conv2d2", "mixed3a", "mixed4a", "mixed4b", "mixed4c")
CONTENT_LAYER = "mixed3b"
# Lucid's style notebook: Adam on the Fourier parameters under its standard transforms
# (512 steps at learning rate 0.05 there; here `step_size` is Adam's step in pixels RMS,
# see dream.param). Lucid's transforms jitter by themselves, so no extra roll. The
# smoothness term is normalised apart from the network's terms ("per_term"), so
# `tv_weight` is a ratio of step strengths. Measured in docs/DEFAULTS.md: at the 48 steps
# of the earlier defaults, 10 % of the change above half-Nyquist (51 % before) and a lower
# style loss (0.014 vs 0.019). float32: bfloat16's picture stayed within a half-pixel
# nudge's difference (41.0 against 44.4 levels RMS) but ran no faster (0.95×,
# `benchmarks/precision.py`), so it would buy nothing.
STYLE_SCHEDULE = Schedule(steps=12, step_size=12.0, octaves=1, tile_size=512, jitter=0,
                          optimizer="adam", parametrization="fourier", transforms="lucid",
                          normalization="per_term", precision="float32")
INITS = ("content", "noise")


def style_grams(model: InceptionModel, style: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """The style image's Gram matrix at each layer."""
    features = model.features(layers)(tf.constant(style, tf.float32)[None])
    return {layer: gram_matrix(features[layer]).numpy() for layer in layers}


def style_objective(
    content_layer: str, grams: dict[str, np.ndarray], content_weight: float,
    style_weight: float, tv_weight: float, tv_of_change: bool = True,
) -> Objective:
    """−content_weight·content − style_weight·mean(style over layers) − tv_weight·TV, the
    TV of the change from the run's start (`tv_of_change`) or of the image."""
    terms = [(-content_weight, feature_similarity(content_layer, "l2"))] if content_weight else []
    terms += [(-style_weight / len(grams), style_distance(layer, gram)) for layer, gram in grams.items()]
    if tv_weight:
        terms.append((-tv_weight, total_variation("l2", of_change=tv_of_change)))
    return weighted_sum(terms)


def style_transfer(
    model: InceptionModel, content_image, style_image, *,
    style_layers: Sequence[str] = STYLE_LAYERS, content_layer: str = CONTENT_LAYER,
    content_weight: float = 1.0, style_weight: float = 10.0, tv_weight: float = 1.0,
    second_style_image=None, second_style_share: float = 0.5,
    preserve_colors: bool = False, init: str = "content",
    schedule: Schedule = STYLE_SCHEDULE, frames: int = 8,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DreamResult:
    """Repaints `content_image` in the style of `style_image` (optionally blended with a
    second style, `second_style_share` of it); `frames` rounds of the schedule."""
    style_layers = tuple(dict.fromkeys(style_layers))
    if not style_layers:
        raise ValueError("Pick at least one style layer.")
    for layer in (*style_layers, content_layer):
        model.layer(layer)
    for name, weight in (("content_weight", content_weight), ("style_weight", style_weight),
                         ("tv_weight", tv_weight)):
        check_range(name, weight, 0.0, 1e6)
    check_range("second_style_share", second_style_share, 0.0, 1.0)
    if init not in INITS:
        raise ValueError(f"init must be 'content' or 'noise' (got {init!r}).")

    content, notes = images.prepare(content_image, limits, max_side)
    grams = _blended_grams(model, content, style_image, second_style_image, second_style_share,
                           style_layers, preserve_colors, limits, notes)
    # From the photo, smooth what the style adds; from noise, the image itself.
    objective = style_objective(content_layer, grams, content_weight, style_weight, tv_weight,
                                tv_of_change=init == "content")

    if init == "noise":
        start = random_image((1, *content.shape), schedule.seed, schedule.parametrization)[0]
    else:
        start = content.astype(np.float32)
    record = (lambda image: with_colours_of(image, content)) if preserve_colors else to_uint8
    run = run_frames(model, start, objective, schedule, frames, limits=limits,
                     on_progress=on_progress, target_image=content.astype(np.float32),
                     record=record, first_frame=content if init == "content" else start,
                     start_image=content.astype(np.float32) if init == "content" else None)
    settings = {
        "technique": "style_transfer", "style_layers": list(style_layers),
        "content_layer": content_layer, "content_weight": content_weight,
        "style_weight": style_weight, "tv_weight": tv_weight,
        "second_style_share": second_style_share if second_style_image is not None else 0.0,
        "preserve_colors": preserve_colors, "init": init, "frames": frames,
        "size": [int(content.shape[1]), int(content.shape[0])], **asdict(schedule),
        "precision": engine_for(model).precision_of(schedule),
    }
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)


def _blended_grams(model, content, style_image, second_style_image, second_share,
                   layers, preserve_colors, limits, notes) -> dict[str, np.ndarray]:
    """Gram matrices of the style (or of the blend of two), seen at the content's scale."""
    sources = [(1.0 - second_share if second_style_image is not None else 1.0, style_image)]
    if second_style_image is not None:
        sources.append((second_share, second_style_image))
    blended: dict[str, np.ndarray] = {}
    for share, source in sources:
        # The style's brush strokes are learnt at the size they will be painted at.
        style, style_notes = images.prepare(source, limits, max(content.shape[:2]))
        notes += [f"Style: {note}" for note in style_notes]
        if preserve_colors:
            style = luminance(style)
        for layer, gram in style_grams(model, style, layers).items():
            blended[layer] = blended.get(layer, 0.0) + share * gram
    return blended
