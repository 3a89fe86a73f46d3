"""Guided hallucination: dream an image toward (or away from) what a guide image shows.

Instead of amplifying whatever a layer already sees, the dream's features at one layer
are compared with a guide's, and the image follows the gradient of that comparison
(Parag Mital's CADL course, session 4, "Guided Hallucinations": the dot product of the
dream's and the guide's features, plus a total-variation smoothness loss; Google's
DeepDream notebook matches each position to its best guide feature instead). Compared
position by position ("dot", "l1", "l2"), the guide is centre-cropped to the dream's
aspect ratio (as CADL crops) and resized to it, and travels with it through octaves,
rolls and tiles; as a bag of features ("best_match") it may have any size.

The smoothness term is always minimised, and it smooths the dream's *change* (the image
minus the photo it started from), not the image: CADL's loss smoothed the whole image,
but at a strength that left it inert (its summed gradient, normalised by its maximum,
gave the smoothing 3e-6–5e-4 of the feature gradient). At a strength that acts, smoothing
the image would blur the photo's own edges (5.7 px on average, up to 81 px at edges, at
a tenth of the step); smoothing the change keeps the photo and makes what the guide adds
smooth. Each term's gradient is normalised on its own before the weights apply
(`normalization="per_term"`), so `smoothness` is the strength of the smoothing step
relative to the guide's step: the same value means the same on the real network and on
any other, instead of a constant tuned to one network's gradient scale. (Hvass-Labs'
style transfer normalises each loss separately, which is the idea used here.)
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import tensorflow as tf

from dream import images
from dream.engine import ProgressCallback, Schedule, engine_for
from dream.frames import run_frames
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import InceptionModel
from dream.objectives import (TV_NORM_ALIASES, TV_NORMS, Objective, best_match, feature_similarity,
                              total_variation)
from dream.result import DreamResult

SIMILARITIES = ("dot", "l1", "l2", "best_match")
DIRECTIONS = ("toward", "away")
SMOOTHNESS_NORMS = TV_NORMS                  # "l1", "l2", "cadl"
SMOOTHNESS_NORM_ALIASES = TV_NORM_ALIASES    # "course" (the earlier name) → "cadl"
# CADL's guided dream steps 100 times on one scale; here 3 octaves of 5 steps per frame,
# the gradient of each term normalised on its own (see the module docstring), no
# Laplacian pyramid (it forced every frequency band to equal strength: two thirds of the
# change landed in structures larger than 32 px). Steps of 0.75 px: the dream's own fine
# grain is what lowers the photo's fine-detail correlation (docs/DEFAULTS.md). "auto"
# precision (bfloat16 on CPUs with bfloat16 units): its picture differed from float32's by
# 7.2 levels RMS, less than a half-pixel nudge of the photo does (7.6), and ran 1.89× faster
# (`benchmarks/precision.py`).
GUIDED_SCHEDULE = Schedule(steps=5, step_size=0.75, octaves=3, octave_scale=1.4,
                           laplacian_levels=0, normalization="per_term", precision="auto")
# A bag of guide features larger than this is subsampled; the best-match search costs
# positions × bag size per step.
MAX_GUIDE_VECTORS = 4096
# Best match as Google's notebook ran it (google/deepdream `dream.ipynb`, "Controlling
# dreams"): the guide's features at `inception_3b/output` (mixed3b here), the guide being
# the repository's flowers.jpg of 224×224 px. The guide is fitted into this many px, so
# its bag holds the features of the scale Google matched against.
GUIDE_SIDE = 224
BEST_MATCH_LAYER = "mixed3b"


def centre_crop_to_aspect(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The largest centred crop of `image` with the aspect ratio of `size` (height, width).

    CADL's `inception.preprocess` centre-crops before resizing; stretching instead would
    distort the guide's shapes wherever the two images differ in aspect ratio.
    """
    height, width = image.shape[:2]
    want_h, want_w = size
    if height * want_w > width * want_h:  # too tall
        crop_h = max(1, round(width * want_h / want_w))
        top = (height - crop_h) // 2
        return image[top:top + crop_h]
    crop_w = max(1, round(height * want_w / want_h))
    left = (width - crop_w) // 2
    return image[:, left:left + crop_w]


def fit_guide(guide: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The guide centre-cropped to the dream's aspect ratio, then resized to its size."""
    return images.resize_to(centre_crop_to_aspect(guide, size), size)


def guide_features(model: InceptionModel, guide: np.ndarray, layer: str, seed: int = 0) -> np.ndarray:
    """The guide's [n, channels] feature vectors at `layer` (for best match)."""
    features = model.features([layer])(tf.constant(guide, tf.float32)[None])[layer]
    bag = features.numpy().reshape(-1, features.shape[-1])
    if len(bag) > MAX_GUIDE_VECTORS:
        rng = np.random.default_rng(seed)
        bag = bag[rng.choice(len(bag), MAX_GUIDE_VECTORS, replace=False)]
    return bag


def guided_objective(
    model: InceptionModel, layer: str, similarity: str, direction: str,
    guide: np.ndarray | None = None, smoothness: float = 0.0, smoothness_norm: str = "cadl",
    guide_weight: float = 1.0,
) -> Objective:
    """guide_weight·(±similarity to the guide) − smoothness·total_variation(change).

    Toward the guide means ascending the dot product or descending a distance; away,
    the reverse. `guide` (an RGB array) is needed only for best match. With the engine's
    per-term normalisation only the ratio smoothness / guide_weight matters.
    """
    model.layer(layer)
    if similarity not in SIMILARITIES:
        raise ValueError(f"Unknown similarity {similarity!r}: use {', '.join(SIMILARITIES)}.")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'toward' or 'away' (got {direction!r}).")
    smoothness_norm = SMOOTHNESS_NORM_ALIASES.get(smoothness_norm, smoothness_norm)
    if smoothness_norm not in SMOOTHNESS_NORMS:
        raise ValueError(f"smoothness_norm must be one of {', '.join(SMOOTHNESS_NORMS)} "
                         f"(got {smoothness_norm!r}).")
    check_range("smoothness", smoothness, 0.0, 1e6)
    check_range("guide_weight", guide_weight, 0.0, 1e6)

    if similarity == "best_match":
        if guide is None:
            raise ValueError("Best match needs the guide image.")
        term = best_match(layer, guide_features(model, guide, layer))
    else:
        term = feature_similarity(layer, similarity)
    # A similarity (dot, best match) is ascended toward the guide; a distance descended.
    ascends_toward = similarity in ("dot", "best_match")
    sign = 1.0 if (direction == "toward") == ascends_toward else -1.0
    objective = (sign * guide_weight) * term
    if smoothness > 0:
        objective = objective - smoothness * total_variation(smoothness_norm, of_change=True)
    return objective


def guided_dream(
    model: InceptionModel, dream_image, guide_image, *, layer: str = "mixed4c",
    similarity: str = "dot", direction: str = "toward", smoothness: float = 0.05,
    smoothness_norm: str = "cadl", guide_weight: float = 1.0,
    schedule: Schedule = GUIDED_SCHEDULE, frames: int = 6, preserve_colors: bool = False,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DreamResult:
    """Dreams `dream_image` toward/away from `guide_image`; `frames` rounds of the schedule.

    Pass the same image twice to use the guide as its own dream. `smoothness` is the
    smoothing step's strength relative to the guide's (0: none, 1: equal).
    `preserve_colors` keeps the colours of the image dreamed on (the guide's, when it is
    its own dream): the guide's shapes arrive, its colours do not (`dream.colours`).
    """
    picture, notes = images.prepare(dream_image, limits, max_side)
    guide, guide_notes = images.prepare(guide_image, limits, max_side)
    notes += [f"Guide: {note}" for note in guide_notes]

    if similarity == "best_match":
        target = None
        guide, _ = images.fit_to_limits(guide, limits, max_side=GUIDE_SIDE)
    else:
        # Compared position by position, the guide must cover the dream exactly.
        target = fit_guide(guide, picture.shape[:2]).astype(np.float32)
    objective = guided_objective(model, layer, similarity, direction, guide, smoothness,
                                 smoothness_norm, guide_weight)
    run = run_frames(model, picture, objective, schedule, frames, limits=limits,
                     on_progress=on_progress, target_image=target,
                     start_image=picture.astype(np.float32),
                     colours=picture if preserve_colors else None)
    settings = {
        "technique": "guided", "layer": layer, "similarity": similarity,
        "direction": direction, "smoothness": smoothness,
        "smoothness_norm": SMOOTHNESS_NORM_ALIASES.get(smoothness_norm, smoothness_norm),
        "guide_weight": guide_weight, "frames": frames, "preserve_colors": bool(preserve_colors),
        "size": [int(picture.shape[1]), int(picture.shape[0])], **asdict(schedule),
        "precision": engine_for(model).precision_of(schedule),
    }
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)
