"""Random transforms a dream should be robust to, and the random roll that hides tile seams.

After Lucid's `lucid/optvis/transform.py` (Olah et al., "Feature Visualization", Distill
2017, "Transformation robustness"): before the network sees the image, it is padded,
jittered, scaled and rotated by small random amounts, different at every step. A pattern
that survives those survives as a picture; one that relies on the exact pixel grid (the
checkerboards of strided convolutions) does not, so the optimisation stops making them.

Every transform here is a pure function of a seed, so a seed reproduces a run exactly,
and it transforms several aligned images the same way (the image and the content or
guide image that is compared with it position by position). Images are batches
[B, h, w, 3] of pixels (0..255).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

TRANSFORMS = ("roll", "lucid")

# Lucid's `standard_transforms`: pad(12, constant 0.5), jitter(8), random_scale over
# 1 + (i - 5)/50 for i in 0..10, random_rotate over -10..10 degrees plus five extra 0s,
# jitter(4). The padding value is mid-grey in this module's 0..255 pixels.
PAD = 12
PAD_VALUE = 127.5
FIRST_JITTER = 8
SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))
ANGLES_DEGREES = tuple(range(-10, 11)) + (0,) * 5
LAST_JITTER = 4


def _uniform_int(seed: tf.Tensor, low, high_inclusive) -> tf.Tensor:
    return tf.random.stateless_uniform([], seed=seed, minval=low, maxval=high_inclusive + 1,
                                       dtype=tf.int32)


def _sub_seed(seed: tf.Tensor, k: int) -> tf.Tensor:
    """An independent seed per random draw of one step (stateless: same seed, same draw)."""
    return tf.stack([seed[0] + 7919 * (k + 1), seed[1]])


def tile_count(length, tile_size) -> tf.Tensor:
    return (length + tile_size - 1) // tile_size


def random_roll(seed: tf.Tensor, height, width, tile_size, jitter, whole_tile=True) -> tf.Tensor:
    """The [dy, dx] roll of one step.

    Google's DeepDream rolls the image by up to `jitter` pixels each step (image-space
    jitter). When the image is cut into several tiles along an axis, the notebook's
    `calc_grad_tiled` and the TF2 tutorial also roll by up to a whole tile, so the tile
    borders land anywhere and no band of the picture is always next to a seam. With
    `whole_tile` such an axis gets an extra offset uniform over its whole length; an axis
    that fits in one tile only gets the jitter (so `jitter=0` means no roll at all).
    """
    # The jitter is drawn as the engine always drew it (both axes from the step's seed), so
    # a seed gives the same jitter as before whole-tile rolls were added.
    jitter_shift = tf.random.stateless_uniform([2], seed=seed, minval=-jitter, maxval=jitter + 1,
                                               dtype=tf.int32)
    shifts = []
    for axis, length in enumerate((height, width)):
        offset = _uniform_int(_sub_seed(seed, axis + 2), 0, tf.maximum(length - 1, 0))
        several = tf.logical_and(tf.cast(whole_tile, tf.bool), tile_count(length, tile_size) > 1)
        shifts.append(jitter_shift[axis] + tf.where(several, offset, 0))
    return tf.stack(shifts)


# ----------------------------------------------------------------------------- Lucid's set


def pad(images: list[tf.Tensor], width: int = PAD, value: float = PAD_VALUE) -> list[tf.Tensor]:
    padding = [[0, 0], [width, width], [width, width], [0, 0]]
    return [tf.pad(image, padding, constant_values=value) for image in images]


def jitter(images: list[tf.Tensor], amount: int, seed: tf.Tensor) -> list[tf.Tensor]:
    """Lucid's `jitter(d)`: the same random crop, `amount` pixels smaller, of every image."""
    shape = tf.shape(images[0])
    dy = _uniform_int(_sub_seed(seed, 0), 0, amount)
    dx = _uniform_int(_sub_seed(seed, 1), 0, amount)
    return [image[:, dy:dy + shape[1] - amount, dx:dx + shape[2] - amount] for image in images]


def random_scale(images: list[tf.Tensor], seed: tf.Tensor, scales=SCALES) -> list[tf.Tensor]:
    scale = tf.gather(tf.constant(scales, tf.float32), _uniform_int(seed, 0, len(scales) - 1))
    size = tf.cast(tf.round(tf.cast(tf.shape(images[0])[1:3], tf.float32) * scale), tf.int32)
    return [tf.image.resize(image, size, method="bilinear") for image in images]


def rotation_matrix(angle: tf.Tensor, height, width) -> tf.Tensor:
    """The 8-vector `ImageProjectiveTransformV3` expects: output (x, y) → input point,
    a rotation by `angle` radians about the image centre."""
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    return tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                     sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])[None]


def random_rotate(images: list[tf.Tensor], seed: tf.Tensor, angles=ANGLES_DEGREES) -> list[tf.Tensor]:
    degrees = tf.gather(tf.constant(angles, tf.float32), _uniform_int(seed, 0, len(angles) - 1))
    shape = tf.shape(images[0])
    matrix = rotation_matrix(degrees * np.pi / 180.0, shape[1], shape[2])
    out = []
    for image in images:
        batch = tf.shape(image)[0]
        out.append(tf.raw_ops.ImageProjectiveTransformV3(
            images=image, transforms=tf.tile(matrix, [batch, 1]), output_shape=shape[1:3],
            fill_value=PAD_VALUE, interpolation="BILINEAR", fill_mode="CONSTANT"))
    return out


def lucid_transforms(images: list[tf.Tensor], seed: tf.Tensor) -> list[tf.Tensor]:
    """Lucid's `standard_transforms`, the same draw for every image in `images`."""
    images = pad(images)
    images = jitter(images, FIRST_JITTER, _sub_seed(seed, 10))
    images = random_scale(images, _sub_seed(seed, 11))
    images = random_rotate(images, _sub_seed(seed, 12))
    return jitter(images, LAST_JITTER, _sub_seed(seed, 13))


def apply(name: str, images: list[tf.Tensor], seed: tf.Tensor) -> list[tf.Tensor]:
    """The named set of transforms; "roll" leaves the images alone (the engine's roll
    happens on the whole image before tiling)."""
    if name == "roll":
        return images
    if name == "lucid":
        return lucid_transforms(images, seed)
    raise ValueError(f"transforms must be one of {', '.join(TRANSFORMS)} (got {name!r}).")
