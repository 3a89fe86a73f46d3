"""What every technique returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dream.animation import write_gif, write_mp4
from dream.images import save_png


@dataclass
class DreamResult:
    image: np.ndarray                     # final image, uint8 H×W×3
    frames: list[np.ndarray]              # animation frames, uint8, first = the input
    settings: dict[str, Any]              # everything needed to reproduce the result
    notes: list[str] = field(default_factory=list)  # e.g. "downscaled from …"
    stopped: bool = False                 # the progress callback asked to stop early

    @property
    def dreamed_frames(self) -> int:
        """Frames the technique dreamed (the animation also opens with the input)."""
        return len(self.frames) - 1

    @property
    def requested_frames(self) -> int:
        return int(self.settings.get("frames", self.dreamed_frames))

    def save_png(self, path: str | os.PathLike) -> Path:
        return save_png(self.image, path)

    def save_gif(self, path: str | os.PathLike, **options: Any) -> Path:
        """See `dream.animation.write_gif` for the options (duration, ping-pong…)."""
        return write_gif(self.frames, path, **options)

    def save_mp4(self, path: str | os.PathLike, **options: Any) -> Path:
        """An H.264 MP4 of the same frames as the GIF (same frame duration by default);
        see `dream.animation.write_mp4` for the options."""
        return write_mp4(self.frames, path, **options)
