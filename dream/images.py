"""Turning whatever a user uploads into an RGB array the engine can dream on.

Handles the inputs people actually send: EXIF-rotated phone photos, grayscale, palette
and transparent images (composited on white), CMYK, 16-bit and float data, animated
GIFs (the first frame is used), enormous images (refused before decoding when they are
decompression bombs, otherwise downscaled) and tiny ones (refused). Anything PIL cannot
read becomes an `ImageError` with a message a user can act on.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dream.limits import DEFAULT_LIMITS, Limits

# Inputs may have at most half this many pixels (75 MP: an 8000×9000 photo is fine, a
# 50000² bomb is not).
MAX_DECODED_PIXELS = 150_000_000



class ImageError(ValueError):
    """The input is not an image we can use; the message says why."""


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise ImageError(f"No image file at {source}.")
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
    try:
        # `open` reads only the header, so the size is checked before any pixel is decoded.
        # Pillow's own limit (a process-wide setting) is left alone: it refuses far larger
        # bombs by itself, and changing it per call would race with other requests.
        image = Image.open(source)
        too_big = image.width * image.height > MAX_DECODED_PIXELS // 2
        if not too_big:
            image.load()
    except Image.DecompressionBombError:
        too_big = True
    except unreadable as error:
        raise ImageError(
            "Could not read this file as an image (it may be corrupt or in an unsupported "
            "format). Try a JPEG or PNG."
        ) from error
    if too_big:
        raise ImageError(
            f"This image has too many pixels to process safely (more than "
            f"{MAX_DECODED_PIXELS // 2:,}). Please upload a smaller version."
        )
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composites transparent images over white, the colour they are usually shown on."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and float modes ("I;16", "I", "F") scaled to 8 bits rather than clipped."""
    data = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and data.max() > 255):
        data = data / 65535.0 * 255.0
    elif image.mode == "F" and data.max() <= 1.0:
        data = data * 255.0
    gray = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, "L").convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """An upright RGB version of any PIL image (first frame of an animation)."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return _flatten_alpha(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    return image.convert("RGB")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f"Expected an H×W, H×W×3 or H×W×4 image, got shape {array.shape}.")
    if array.dtype == np.uint16:
        array = array / 257.0
    elif np.issubdtype(array.dtype, np.floating) and array.size and np.nanmax(array) <= 1.0:
        array = array * 255.0
    array = np.clip(np.nan_to_num(np.asarray(array, np.float64)), 0, 255)
    if array.shape[2] == 4:
        alpha = array[:, :, 3:] / 255.0
        array = array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.rint(array).astype(np.uint8)


TRANSPARENCY_NOTE = "Its transparent areas were put on a white background."


def _has_transparency(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getchannel("A").getextrema()[0] < 255
    return image.mode == "P" and "transparency" in image.info


def load_rgb(source) -> tuple[np.ndarray, list[str]]:
    """(uint8 H×W×3 array, notes for the user) from a path, bytes, PIL image or array."""
    notes: list[str] = []
    if isinstance(source, np.ndarray):
        if source.ndim == 3 and source.shape[2] == 4 and np.min(source[:, :, 3]) < (
                1.0 if np.issubdtype(source.dtype, np.floating) else 255):
            notes.append(TRANSPARENCY_NOTE)
        return _array_to_rgb(source), notes
    image = _open(source)
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"The input is animated ({image.n_frames} frames); its first frame was used.")
    if _has_transparency(image):
        notes.append(TRANSPARENCY_NOTE)
    return np.asarray(to_rgb(image)), notes


def load_rgba(source) -> np.ndarray:
    """uint8 H×W×4 from a path, bytes, PIL image or array (opaque when it has no alpha),
    checked like `load_rgb` (size before decoding, unreadable files named): a painting
    whose transparent parts mean "nothing painted here"."""
    if isinstance(source, np.ndarray):
        array = np.asarray(source)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ImageError(f"An image must be H×W×3 or H×W×4; got shape {array.shape}.")
        if array.shape[2] == 3:
            array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, array.dtype)], 2)
        return np.clip(array, 0, 255).astype(np.uint8)
    return np.asarray(_open(source).convert("RGBA"))


def fit_to_limits(image: np.ndarray, limits: Limits = DEFAULT_LIMITS,
                  max_side: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Downscales so the longest side is ≤ max_side; refuses images that are too small."""
    max_side = min(max_side or limits.max_side, limits.max_side)
    height, width = image.shape[:2]
    if min(height, width) < limits.min_side:
        raise ImageError(
            f"The image is {width}×{height} pixels; it needs at least {limits.min_side} "
            f"pixels on each side."
        )
    if max(height, width) <= max_side:
        return image, []
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    if min(resized.shape[:2]) < limits.min_side:
        raise ImageError(
            f"The image is {width}×{height}; fitted into {max_side} px its short side would "
            f"be under {limits.min_side} px. Crop it to a less extreme aspect ratio."
        )
    return resized, [f"The image was downscaled from {width}×{height} to {size[0]}×{size[1]} "
                     f"(the limit is {max_side} px on the longest side)."]


def prepare(source, limits: Limits = DEFAULT_LIMITS,
            max_side: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Load, normalise and fit an input image; returns (uint8 RGB array, notes)."""
    image, notes = load_rgb(source)
    image, fit_notes = fit_to_limits(image, limits, max_side)
    return image, notes + fit_notes


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes a uint8 RGB array to (height, width) with a high-quality filter."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Writes a lossless PNG of a uint8 RGB array."""
    path = Path(path)
    Image.fromarray(image).save(path, format="PNG")
    return path
