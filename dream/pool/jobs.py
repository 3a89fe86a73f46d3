"""What a worker is asked to do, as plain data that crosses processes and machines, and
`execute`, the one function that does it (in a worker, or here in a test).

A job never carries a path on the front's disk: images travel as the fitted arrays the
front process checked, a clip as its bytes, the model as its files' bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dream.engine import Progress

# Return True to stop (the job then ends with what it has, like every technique).
Report = Callable[[Progress], "bool | None"]


@dataclass(frozen=True)
class EndpointJob:
    """One request of a technique endpoint, checked by the front process: `values` are
    the checked parameters with the endpoint's images as their fitted arrays (and a clip
    as its bytes), so `prepare` on the worker gives the same work (`Plan.inputs`)."""

    endpoint: str
    values: Mapping[str, Any]

    @classmethod
    def from_plan(cls, endpoint: str, values: Mapping[str, Any], inputs: Mapping[str, Any]) -> "EndpointJob":
        portable = {name: Path(value).read_bytes() if isinstance(value, (str, Path)) else value
                    for name, value in inputs.items()}
        return cls(endpoint, {**values, **portable})

    def run(self, models: Mapping[str, Any], report: Report):
        from dream.endpoints import ENDPOINTS

        endpoint = ENDPOINTS[self.endpoint]
        model = models.get(endpoint.model)
        if model is None:
            from dream.model import ModelUnavailable

            raise ModelUnavailable(f"This worker has no {endpoint.model} model.")
        return endpoint.prepare(model, dict(self.values)).run(report)


@dataclass(frozen=True)
class TilesJob:
    """One batch of atlas tiles: channels of `layer` (classes for the class layer)."""

    layer: str
    batch: tuple[int, ...]
    settings: Any = None  # dream.atlas.AtlasSettings; None: the defaults

    def run(self, models: Mapping[str, Any], report: Report) -> np.ndarray | None:
        from dream import atlas

        book = atlas.Atlas(models["inception"], self.settings or atlas.DEFAULT_SETTINGS, cache=False)
        steps = book.settings.steps

        def on_fraction(fraction: float) -> bool:
            return bool(report(Progress(round(fraction * steps), steps, None)))

        return book.render_batch(self.layer, self.batch, on_fraction)


@dataclass(frozen=True)
class FramesJob:
    """A piece of a clip dreamed frame after frame (`dream.video.dream_frames`) with the
    video endpoint's checked `values`; its first `lead_in` frames are also the end of
    the piece before it (`dream.pool.video_pieces` fades one into the other there)."""

    frames: tuple[np.ndarray, ...]
    values: Mapping[str, Any]
    lead_in: int = 0

    def run(self, models: Mapping[str, Any], report: Report) -> "FramesDone":
        from dream import video
        from dream.endpoints import SERVER_LIMITS, SERVER_VIDEO_LIMITS, dream_target, video_schedule
        from dream.engine import ProgressTracker, total_octave_steps

        model = models["inception"]
        schedule = video_schedule(self.values)
        steps = total_octave_steps(*self.frames[0].shape[:2], schedule)
        tracker = ProgressTracker(steps * len(self.frames), report)
        dreamed = video.dream_frames(
            model, self.frames, dream_target(model, self.values), schedule,
            blend=self.values["blend"], flow=self.values["flow"], tracker=tracker,
            limits=video.engine_limits(SERVER_LIMITS, SERVER_VIDEO_LIMITS),
            # .get: values checked by an endpoint without the option keep the colours off.
            preserve_colors=bool(self.values.get("preserve_colors", False)))
        return FramesDone(dreamed, self.lead_in, tracker.stopped)


@dataclass(frozen=True)
class FramesDone:
    frames: list[np.ndarray]   # every frame dreamed, the lead-in first
    lead_in: int
    stopped: bool


Job = EndpointJob | TilesJob | FramesJob


class LocalRunner:
    """Runs jobs in this process, one at a time: a pool's `run` without a pool (the
    command-line tools use it when no workers are asked for)."""

    size = 1

    def __init__(self, models: Mapping[str, Any]) -> None:
        import threading

        self.models = models
        self._lock = threading.Lock()

    def run(self, job: Job, on_progress: Report | None = None, on_wait=None):
        with self._lock:
            return execute(self.models, job, on_progress or (lambda progress: None))

    def describe(self) -> str:
        return "this process"

    def close(self) -> None:
        pass


def execute(models: Mapping[str, Any], job: Job, report: Report):
    """Does `job` with `models` ({"inception": …, "style": … or None}); `report` hears its
    progress and stops it by returning True."""
    return job.run(models, report)
