"""Guided hallucination: dream an image toward (or away from) what a guide image shows.

Instead of amplifying whatever a layer already sees, the dream's features at one layer
are compared with a guide's, and the image follows the gradient of that comparison
(Mordvintsev et al.'s "controlling dreams" with a guide image, 2015; the per-position
"best match" is the form used in Google's DeepDream notebook). Compared position by
position ("dot", "l1", "l2"), the guide is resized to the dream and travels with it
through octaves, jitter and tiles; as a bag of features ("best_match") it may have any
size. A total-variation term, always minimised, keeps the pixels smooth.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import tensorflow as tf

from dream import images
from dream.engine import ProgressCallback, Schedule
from dream.frames import run_frames
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import InceptionModel
from dream.objectives import Objective, best_match, feature_similarity, total_variation
from dream.result import DreamResult

SIMILARITIES = ("dot", "l1", "l2", "best_match")
DIRECTIONS = ("toward", "away")
SMOOTHNESS_NORMS = ("l1", "l2", "course")
# Pixel differences are ~0.05 in 0..1 units, so the L2 form (d²) has a gradient about ten
# times smaller than L1's or the course form's; scaled, one smoothness value means a
# similar strength whatever the norm (checked on the generated model's dreams).
SMOOTHNESS_SCALE = {"l1": 1.0, "l2": 10.0, "course": 1.0}
GUIDED_SCHEDULE = Schedule(steps=5, step_size=1.5, octaves=3, octave_scale=1.4, laplacian_levels=4)
# A bag of guide features larger than this is subsampled; the best-match search costs
# positions × bag size per step.
MAX_GUIDE_VECTORS = 4096
# The guide is seen at this size for best match (Google's notebook used ~224 px).
GUIDE_SIDE = 384


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
    guide: np.ndarray | None = None, smoothness: float = 0.0, smoothness_norm: str = "l2",
    guide_weight: float = 1.0,
) -> Objective:
    """guide_weight·(±similarity to the guide) − smoothness·total_variation.

    Toward the guide means ascending the dot product or descending a distance; away,
    the reverse. `guide` (an RGB array) is needed only for best match.
    """
    model.layer(layer)
    if similarity not in SIMILARITIES:
        raise ValueError(f"Unknown similarity {similarity!r}: use {', '.join(SIMILARITIES)}.")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'toward' or 'away' (got {direction!r}).")
    if smoothness_norm not in SMOOTHNESS_NORMS:
        raise ValueError(f"smoothness_norm must be one of {', '.join(SMOOTHNESS_NORMS)}.")
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
        objective = objective - (smoothness * SMOOTHNESS_SCALE[smoothness_norm]) * total_variation(smoothness_norm)
    return objective


def guided_dream(
    model: InceptionModel, dream_image, guide_image, *, layer: str = "mixed4c",
    similarity: str = "dot", direction: str = "toward", smoothness: float = 1.0,
    smoothness_norm: str = "l2", guide_weight: float = 1.0,
    schedule: Schedule = GUIDED_SCHEDULE, frames: int = 6,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DreamResult:
    """Dreams `dream_image` toward/away from `guide_image`; `frames` rounds of the schedule.

    Pass the same image twice to use the guide as its own dream.
    """
    picture, notes = images.prepare(dream_image, limits, max_side)
    guide, guide_notes = images.prepare(guide_image, limits, max_side)
    notes += [f"Guide: {note}" for note in guide_notes]

    if similarity == "best_match":
        target = None
        guide, _ = images.fit_to_limits(guide, limits, max_side=GUIDE_SIDE)
    else:
        # Compared position by position, the guide must cover the dream exactly.
        target = images.resize_to(guide, picture.shape[:2]).astype(np.float32)
    objective = guided_objective(model, layer, similarity, direction, guide, smoothness,
                                 smoothness_norm, guide_weight)
    run = run_frames(model, picture, objective, schedule, frames, limits=limits,
                     on_progress=on_progress, target_image=target)
    settings = {
        "technique": "guided", "layer": layer, "similarity": similarity,
        "direction": direction, "smoothness": smoothness, "smoothness_norm": smoothness_norm,
        "guide_weight": guide_weight, "frames": frames, "precision": model.precision,
        "size": [int(picture.shape[1]), int(picture.shape[0])], **asdict(schedule),
    }
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)

