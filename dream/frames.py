"""Animations: the engine's schedule run frame after frame, each frame recorded.

Every technique makes its GIF the same way: a frame is one run of the octave schedule
on the previous frame (optionally transformed first, e.g. zoomed), and the recorded
frames start with the input, so the GIF shows how the result grew out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dream.colours import with_colours_of
from dream.engine import (OptimizerState, ProgressCallback, ProgressTracker, Schedule, engine_for,
                          megapixel_steps, to_uint8, total_octave_steps)
from dream.limits import Limits, check_range, check_total_steps, check_work
from dream.model import InceptionModel
from dream.objectives import Objective


@dataclass
class FrameRun:
    frames: list[np.ndarray]  # uint8, the input first
    stopped: bool


def check_request(size: tuple[int, int], schedule: Schedule, frames: int,
                  limits: Limits) -> Schedule:
    """Refuses a request over any cap (frames, steps, pixel-steps) before work starts;
    returns the validated schedule."""
    check_range("frames", frames, 1, limits.max_frames)
    schedule = schedule.validated(limits)
    height, width = size
    check_total_steps(frames * total_octave_steps(height, width, schedule), limits)
    check_work(frames * megapixel_steps(height, width, schedule), limits,
               f"{frames} frames × {schedule.steps} steps on a {width}×{height} image with "
               f"{schedule.octaves} octaves")
    return schedule


def run_frames(
    model: InceptionModel, start: np.ndarray, objective: Objective, schedule: Schedule,
    frames: int, *, limits: Limits, on_progress: ProgressCallback | None = None,
    target_image: np.ndarray | None = None,
    between_frames: Callable[[np.ndarray], np.ndarray] | None = None,
    record: Callable[[np.ndarray], np.ndarray] = to_uint8,
    first_frame: np.ndarray | None = None,
    keep_optimizer_state: bool = True,
    start_image: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    masks: np.ndarray | None = None,
) -> FrameRun:
    """Runs the schedule `frames` times, each on the last result, recording every frame.

    `start` is the float image the optimisation begins from; `first_frame` is what the
    GIF opens with (default: `start`). `record` turns the working image into a frame
    (e.g. restoring the content's colours); `between_frames` transforms the working image
    before each frame but the first (e.g. the fractal zoom's crop and rescale). Adam's
    moments carry over from frame to frame (one optimisation, recorded as it goes) unless
    `keep_optimizer_state` is False (each frame starts the optimiser afresh, as before).
    `start_image` is what an objective reading the dream's change measures it from in
    every frame (default: each frame's own input).

    `colours` (an RGB picture, e.g. the photo) keeps its colours: every recorded frame
    after the first, and every progress preview, is shown with its chroma
    (`dream.colours.with_colours_of`), and `between_frames` moves it along with the
    working image, so the colours follow a zoom or a turn. The working image itself is
    not corrected: the dream goes on as without the option, only what is shown changes.
    `masks` ([H, W, terms], see `Engine.run`) go to every frame's run and move with the
    working image too, so a painted region stays on the part of the picture it covered.
    """
    schedule = check_request(start.shape[:2], schedule, frames, limits)
    steps_per_frame = total_octave_steps(*start.shape[:2], schedule)

    colours_now = None if colours is None else np.asarray(colours, np.float32)
    masks_now = None if masks is None else np.asarray(masks, np.float32)

    def shown(image: np.ndarray) -> np.ndarray:
        # Reads `colours_now` when called, so it is always the current frame's colours.
        frame_image = record(image)
        return frame_image if colours_now is None else with_colours_of(frame_image, colours_now)

    engine = engine_for(model)
    tracker = ProgressTracker(steps_per_frame * frames, on_progress, render=shown)
    current = np.asarray(start, np.float32)
    # The first frame is the input as it is: it already has its own colours.
    recorded = [to_uint8(first_frame if first_frame is not None else current)]
    state = OptimizerState() if keep_optimizer_state else None
    for frame in range(frames):
        if frame and between_frames is not None:
            current = between_frames(current)
            if colours_now is not None:
                colours_now = between_frames(colours_now)
            if masks_now is not None:
                masks_now = np.clip(between_frames(masks_now), 0.0, 1.0)
        # Offsetting the step index gives every frame its own random shifts.
        current = engine.run(objective, current, schedule, target_image=target_image,
                             tracker=tracker, step_offset=frame * steps_per_frame, limits=limits,
                             optimizer_state=state, start_image=start_image, masks=masks_now)
        recorded.append(shown(current))
        if tracker.stopped:
            break
    return FrameRun(recorded, tracker.stopped)
