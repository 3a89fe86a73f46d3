"""Keeping a photo's colours: a result's luminance on the photo's chroma.

A dream or a style repaints luminance and colour alike; often only its light and shade
are wanted, on the photo's own colours. As neural-dream's `-original_colors` option
(ProGamerGov/neural-dream, after neural-style's) and Gatys et al. 2016, "Preserving Color
in Neural Artistic Style Transfer" (luminance-only transfer), the result is converted to
YCbCr and its Y is recombined with the Cb and Cr of the colour source. Used by every
technique's `preserve_colors` option; the working image is never corrected, only what is
shown and recorded, so the optimisation itself is the same with or without it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dream import images
from dream.engine import to_uint8


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB array (any range, rounded to uint8 levels first), as
    float32 replicated into three channels (a grey image the network can read)."""
    y = np.asarray(Image.fromarray(to_uint8(image)).convert("L"), np.float32)
    return np.repeat(y[:, :, None], 3, axis=2)


def with_colours_of(result: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """`result`'s luminance with the chroma (Cb, Cr) of `colours`, as uint8 RGB.

    `colours` is resized to `result`'s size when they differ. The round trip through
    8-bit YCbCr costs about a level of rounding in each channel.
    """
    colours = images.resize_to(to_uint8(colours), result.shape[:2])
    y = Image.fromarray(to_uint8(result)).convert("YCbCr").getchannel("Y")
    _, cb, cr = Image.fromarray(colours).convert("YCbCr").split()
    return np.asarray(Image.merge("YCbCr", (y, cb, cr)).convert("RGB"))
