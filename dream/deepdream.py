"""Deep Dream: amplify what a layer, a channel or a class neuron sees in a picture.

After Mordvintsev, Olah and Tyka, "Inceptionism: Going Deeper into Neural Networks"
(Google Research blog, 2015) and the DeepDream notebook that came with it. Two ways of
making an animation from it:

- **feedback loop**: each frame dreams a little more on the previous frame, so the GIF
  shows the patterns growing out of the photo;
- **fractal zoom**: each frame crops a margin on every side, scales back up and dreams
  again, so the GIF zooms forever into an ever-dreaming landscape.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import tensorflow as tf

from dream import images
from dream.engine import ProgressCallback, Schedule, engine_for, resize
from dream.frames import run_frames
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import CLASS_LOGITS, InceptionModel
from dream.objectives import Objective, channel, class_logit, layer_mean
from dream.result import DreamResult

# The notebook's `render_deepdream` octaves (4 × 1.4: the smallest is 187 px on a 512 px
# photo, so motifs come out large enough to read) and step (1.5 px normalised by mean|g|).
# 4 steps per octave and frame instead of its 10: a GIF frame shows a little more dreaming
# each time (8 frames ≈ 3 of the notebook's renders). float32: a bfloat16 request's picture
# differed from float32's by more than a half-pixel nudge of the photo changes it (RMS 24.9
# against 22.3 levels; the jellyfish class 22.8 against 16.1; `benchmarks/precision.py`).
DEFAULT_SCHEDULE = Schedule(steps=4, step_size=1.5, octaves=4, octave_scale=1.4,
                            precision="float32")
# The zoom's picture in bfloat16 stayed within the nudge's difference (19.5 against 21.8
# levels) and ran 1.23× faster: "auto", bfloat16 on CPUs with bfloat16 units.
ZOOM_SCHEDULE = replace(DEFAULT_SCHEDULE, precision="auto")


def dream_objective(
    model: InceptionModel, layer: str = "mixed4c", channel_index: int | None = None,
    class_name: str | None = None, squared: bool = True, class_tensor: str = CLASS_LOGITS,
    pre_relu: bool = True,
) -> Objective:
    """The objective a Deep Dream user picks: a class neuron, else a channel, else a layer.

    A whole layer is dreamed on its mean square by default (`squared`: the notebook's
    `tf.square(T('mixed4c'))`, Google's `objective_L2`). A channel is read before its ReLU
    when the layer has a pre-ReLU tensor (`pre_relu`; the notebook's `*_pre_relu`
    channels; a block's is built from its branches), so a channel that is dead on the
    photo still has a gradient.
    """
    if class_name:
        index = model.class_index(class_name)
        # Named as the label file spells it, so settings read the same however it was typed.
        return class_logit(index, tensor=class_tensor, name=model.labels[index])
    info = model.layer(layer)
    if channel_index is not None:
        if not 0 <= channel_index < info.channels:
            raise ValueError(f"{layer} has channels 0 to {info.channels - 1}; got {channel_index}.")
        tensor = (model.pre_relu_of(layer) or layer) if pre_relu else layer
        return channel(tensor, int(channel_index))
    return layer_mean(layer, squared=squared)


def _settings(technique: str, model: InceptionModel, objective: Objective, schedule: Schedule,
              frames: int, picture: np.ndarray, **extra) -> dict:
    return {
        "technique": technique,
        "objective": objective.description,
        "size": [int(picture.shape[1]), int(picture.shape[0])],
        "frames": frames,
        **extra,
        **asdict(schedule),
        "precision": engine_for(model).precision_of(schedule),
    }


def deep_dream(
    model: InceptionModel, image, objective: Objective, schedule: Schedule = DEFAULT_SCHEDULE,
    *, frames: int = 8, on_progress: ProgressCallback | None = None,
    limits: Limits = DEFAULT_LIMITS, max_side: int | None = None,
) -> DreamResult:
    """Feedback-loop Deep Dream: `frames` rounds of the octave schedule, each on the last."""
    picture, notes = images.prepare(image, limits, max_side)
    run = run_frames(model, picture, objective, schedule, frames, limits=limits,
                     on_progress=on_progress)
    settings = _settings("deep_dream", model, objective, schedule, frames, picture)
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)


def zoom_in(image: np.ndarray, margin: float) -> np.ndarray:
    """Crops `margin` (a fraction of each side) from every edge and scales back up."""
    height, width = image.shape[:2]
    dy, dx = max(1, round(height * margin)), max(1, round(width * margin))
    cropped = tf.constant(image[dy:height - dy, dx:width - dx], tf.float32)
    return resize(cropped, (height, width)).numpy()


def fractal_zoom(
    model: InceptionModel, image, objective: Objective, schedule: Schedule = ZOOM_SCHEDULE,
    *, frames: int = 12, zoom: float = 0.015, on_progress: ProgressCallback | None = None,
    limits: Limits = DEFAULT_LIMITS, max_side: int | None = None,
) -> DreamResult:
    """Dream, zoom in by `zoom` of each side, dream again: `frames` times."""
    check_range("zoom", zoom, 0.005, 0.25)
    picture, notes = images.prepare(image, limits, max_side)
    run = run_frames(model, picture, objective, schedule, frames, limits=limits,
                     on_progress=on_progress, between_frames=lambda frame: zoom_in(frame, zoom))
    settings = _settings("fractal_zoom", model, objective, schedule, frames, picture, zoom=zoom)
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)
