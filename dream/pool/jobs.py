"""What a worker is asked to do, as plain data that crosses processes and machines, and
`execute`, the one function that does it (in a worker, or here in a test).

A job never carries a path on the front's disk: images travel as the fitted arrays the
front process checked, a clip as its bytes, the model as its files' bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    """A run of video frames dreamed one after another (`dream.video.dream_frames`): the
    first `warm_up` of them only lead in (dreamed, blended, then dropped), so the run
    joins the previous one without a jump."""

    frames: tuple[np.ndarray, ...]
    values: Mapping[str, Any]           # the video endpoint's checked parameters
    warm_up: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, models: Mapping[str, Any], report: Report):
        from dream.video import dream_frames_for

        return dream_frames_for(models["inception"], self, report)


Job = EndpointJob | TilesJob | FramesJob


def execute(models: Mapping[str, Any], job: Job, report: Report):
    """Does `job` with `models` ({"inception": …, "style": … or None}); `report` hears its
    progress and stops it by returning True."""
    return job.run(models, report)
