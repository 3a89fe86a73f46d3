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
    # frames × steps × Σ octave megapixels: the work itself. One step at 512² (0.26 MP)
    # on mixed4c takes ~0.17 s on two CPU cores, so 400 is at most ~5 minutes there.
    max_megapixel_steps: float = 400.0
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


def check_work(megapixel_steps: float, limits: Limits, what: str = "") -> None:
    """Refuses requests whose pixel-steps exceed the budget; `what` explains the sum."""
    if megapixel_steps > limits.max_megapixel_steps:
        detail = f" ({what})" if what else ""
        raise LimitError(
            f"This request needs about {megapixel_steps:.0f} megapixel-steps of work{detail}; "
            f"the limit is {limits.max_megapixel_steps:.0f}. Use a smaller image, or fewer "
            f"frames, steps or octaves."
        )
