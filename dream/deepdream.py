"""Deep Dream: amplify what a layer, a channel or a class neuron sees in a picture.

After Mordvintsev, Olah and Tyka, "Inceptionism: Going Deeper into Neural Networks"
(Google Research blog, 2015) and the DeepDream notebook that came with it. Two ways of
making an animation from it:

- **feedback loop**: each frame dreams a little more on the previous frame, so the GIF
  shows the patterns growing out of the photo;
- **fractal zoom**: each frame crops a margin on every side, scales back up and dreams
  again, so the GIF zooms forever into an ever-dreaming landscape; it may also turn and
  slide each frame, and close into a seamless loop (`dream.loops`).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from dream import images, loops
from dream.engine import ProgressCallback, Schedule, engine_for
from dream.frames import run_frames
# Re-exported: the fractal zoom's crop-and-rescale lives with the other loop moves now.
from dream.loops import zoom_in  # noqa: F401
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
    *, frames: int = 8, preserve_colors: bool = False, masks: np.ndarray | None = None,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DreamResult:
    """Feedback-loop Deep Dream: `frames` rounds of the octave schedule, each on the last.

    `preserve_colors` shows the dream's light and shade on the photo's own colours
    (`dream.colours`, neural-dream's `-original_colors`). `masks` confine each term of
    the objective to a region (`Engine.run`).
    """
    picture, notes = images.prepare(image, limits, max_side)
    run = run_frames(model, picture, objective, schedule, frames, limits=limits,
                     on_progress=on_progress, colours=picture if preserve_colors else None,
                     masks=masks)
    settings = _settings("deep_dream", model, objective, schedule, frames, picture,
                         preserve_colors=bool(preserve_colors))
    return DreamResult(run.frames[-1], run.frames, settings, notes, run.stopped)


def fractal_zoom(
    model: InceptionModel, image, objective: Objective, schedule: Schedule = ZOOM_SCHEDULE,
    *, frames: int = 12, zoom: float = 0.015, rotate: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0), seamless: bool = False,
    preserve_colors: bool = False, masks: np.ndarray | None = None,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DreamResult:
    """Dream, move the picture, dream again: `frames` times.

    Between frames the picture zooms in by `zoom` of each side, turns `rotate` degrees
    counter-clockwise and slides by `shift` = (dx, dy) px at the working size
    (`dream.loops.frame_transform`). `seamless` dreams a quarter more frames and
    crossfades them into the first ones, so the GIF loops without a jump
    (`dream.loops.seamless_loop`; its first frame is then a dreamed one, not the photo).
    `preserve_colors` keeps the photo's colours, the photo moving along with the zoom;
    `masks` (`Engine.run`) move along with it too.
    """
    check_range("zoom", zoom, 0.005, 0.25)
    check_range("rotate", rotate, -loops.MAX_ROTATE, loops.MAX_ROTATE)
    if len(shift) != 2:
        raise ValueError(f"shift must be two numbers, (dx, dy) in pixels (got {shift!r}).")
    shift = (float(shift[0]), float(shift[1]))
    check_range("shift dx", shift[0], -loops.MAX_SHIFT, loops.MAX_SHIFT)
    check_range("shift dy", shift[1], -loops.MAX_SHIFT, loops.MAX_SHIFT)
    check_range("frames", frames, 1, limits.max_frames)
    # A seamless loop dreams `overlap` frames more, to blend into its first ones.
    overlap = loops.check_loop_frames(frames, limits.max_frames) - frames if seamless else 0

    picture, notes = images.prepare(image, limits, max_side)

    def move(frame: np.ndarray) -> np.ndarray:
        return loops.frame_transform(frame, zoom, rotate, shift)

    run = run_frames(model, picture, objective, schedule, frames + overlap, limits=limits,
                     on_progress=on_progress, colours=picture if preserve_colors else None,
                     masks=masks, between_frames=move)
    recorded = run.frames
    if seamless and run.stopped:
        recorded = recorded[:frames + 1]
        notes.append("Stopped before the loop could be closed: the frames so far are not a loop.")
    elif seamless:
        recorded = loops.seamless_loop(recorded, overlap)
    settings = _settings("fractal_zoom", model, objective, schedule, frames, picture, zoom=zoom,
                         rotate=float(rotate), shift=list(shift), seamless=bool(seamless),
                         loop_overlap=overlap, preserve_colors=bool(preserve_colors))
    return DreamResult(recorded[-1], recorded, settings, notes, run.stopped)
