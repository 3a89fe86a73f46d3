"""What every "Inside my photo" view shares: fitting the photo, checking counts, reading a
layer's activations, and bringing a map at a layer's grid up to the photo's size."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dream.images import fit_to_limits, load_rgb
from dream.limits import Limits
from dream.model import InceptionModel

# A photo is analysed at most this large (as `dream.atlas.rank_channels`): at 512 px mixed4c
# has a 32×32 grid, enough positions to read and a forward pass of well under a second.
MAX_SIDE = 512
# The smallest `max_side` a caller may ask for (the network's first layers need a few
# dozen pixels to have any grid at all).
MIN_SIDE = 32


def check_whole(name: str, value, low: int, high: int) -> int:
    """`value` as an int in [low, high], or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number from {low} to {high} (got {value!r}).")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high} (got {value}).")
    return int(value)


def check_number(name: str, value, low: float, high: float) -> float:
    """`value` as a float in [low, high], or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g} (got {value!r}).")
    return float(value)


def fit_photo(photo, max_side: int = MAX_SIDE, min_side: int = 0) -> tuple[np.ndarray, list[str]]:
    """(uint8 [H, W, 3] photo as analysed, notes): `photo` (an array, path, bytes or PIL
    image) downscaled so its longest side is ≤ `max_side`, then, if `min_side` is given,
    upscaled so its shortest side is ≥ `min_side` (the classifier needs 224 px)."""
    max_side = check_whole("max_side", max_side, MIN_SIDE, MAX_SIDE)
    image, notes = load_rgb(photo)
    image, fit_notes = fit_to_limits(image, Limits(max_side=max_side), max_side)
    notes = notes + fit_notes
    height, width = image.shape[:2]
    if min_side and min(height, width) < min_side:
        scale = min_side / min(height, width)
        size = (int(np.ceil(height * scale)), int(np.ceil(width * scale)))
        if max(size) > max_side:
            raise ValueError(
                f"The photo is {width}×{height}: with its short side at {min_side} px (the "
                f"classifier's need) its long side would exceed max_side={max_side}. Crop it "
                f"to a less extreme aspect ratio.")
        image = tf.image.resize(image[None].astype(np.float32), size, method="bicubic",
                                antialias=False)[0].numpy()
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        notes.append(f"The photo was upscaled from {width}×{height} to {size[1]}×{size[0]} "
                     f"(the classifier needs {min_side} px on each side).")
    return image, notes


def activations(model: InceptionModel, image: np.ndarray, layer: str) -> np.ndarray:
    """float32 [h, w, C]: `layer` on the uint8 photo (float32 arithmetic, no ReLU added)."""
    model.layer(layer)  # "Unknown layer …" with suggestions
    features = model.features([layer], "float32")
    return features(tf.constant(image[None].astype(np.float32)))[layer].numpy()[0]


def upsample(grid_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A [h, w] (or [h, w, k]) map at a layer's grid, bilinearly resized to (H, W)."""
    values = np.asarray(grid_map, np.float32)
    stacked = values[..., None] if values.ndim == 2 else values
    resized = tf.image.resize(stacked[None], size, method="bilinear")[0].numpy()
    return resized[..., 0] if values.ndim == 2 else resized


def unit_heat(grid_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The map's positive part at the photo's size, divided by its maximum (0..1), as
    `dream.atlas.heat_overlay` takes it."""
    heat = np.maximum(upsample(grid_map, size), 0.0)
    peak = heat.max() if heat.size else 0.0
    return (heat / peak if peak > 0 else np.zeros_like(heat)).astype(np.float32)
