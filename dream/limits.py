"""Hard caps on the work one request may ask for.

Every technique checks its arguments against a `Limits` before doing any work, so a
caller that bypasses the UI (the HTTP API, a script) cannot ask for an hour of compute.
Images larger than `max_side` are downscaled (and the result says so); counts above
their cap are refused with a message that names the cap.
"""

from __future__ import annotations

from dataclasses import dataclass


class LimitError(ValueError):
    """A request asked for more work than the limits allow."""


@dataclass(frozen=True)
class Limits:
    max_side: int = 1024          # longest image side; larger inputs are downscaled
    min_side: int = 16            # shorter images carry too little to dream on
    max_steps: int = 200          # optimisation steps per octave (per frame)
    max_octaves: int = 8
    max_frames: int = 120
    max_total_steps: int = 4000   # frames × octaves × steps, summed over the request
    max_gif_side: int = 640       # GIF frames are downscaled to this
    max_tile_size: int = 1024     # bounds the memory one gradient evaluation needs


DEFAULT_LIMITS = Limits()


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Refuses `value` outside [low, high] with a message naming the bound."""
    if not low <= value <= high:
        raise LimitError(f"{name} must be between {low:g} and {high:g} (got {value:g}).")


def check_total_steps(total: int, limits: Limits) -> None:
    if total > limits.max_total_steps:
        raise LimitError(
            f"This request needs {total} optimisation steps; the limit is "
            f"{limits.max_total_steps}. Use fewer frames, octaves or steps."
        )
