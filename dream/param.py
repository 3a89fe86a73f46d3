"""Image parametrisations: what the optimiser actually moves.

After Lucid (`lucid/optvis/param/spatial.py`, `fft_image`; `param/color.py`,
`_linear_decorelate_color`) and Olah et al., "Feature Visualization" (Distill 2017,
section "Preconditioning and parametrisation"): instead of moving each pixel on its own,
the optimiser moves the coefficients of a **Fourier basis scaled by 1/frequency** in a
**decorrelated colour space**. A step of the same size on every coefficient then changes
coarse structure more than fine grain (natural images have a 1/f spectrum), and moves
colours along ImageNet's principal colour axes instead of pure R, G and B, so gradient
steps stop turning into checkerboards and colour noise.

The parametrisation is linear, so the engine keeps the *pixels* as its state and uses
the parametrisation as a preconditioner: a parameter-space update `u` becomes the pixel
change `to_pixels_linear(u)`, and a pixel gradient `g` becomes the parameter gradient
`to_parameters_gradient(g)` (the transpose). This is exactly optimising the parameters
with a projection onto valid pixels after each step, and it lets an optimisation start
from a photograph (the parameters of any image are `encode(image)`). Lucid squashes
pixels with a sigmoid instead; a projection keeps a photo's blacks and whites editable.
The neuron atlas, which starts from noise, squashes as Lucid does ("fourier_sigmoid").

Every function works on a batch: pixels are [batch, height, width, 3] in 0..255 and
Fourier parameters are [batch, 3, height, width // 2 + 1, 2] (real and imaginary
parts), so several images (e.g. one channel each) can be optimised at once.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PARAMETRIZATIONS = ("pixels", "fourier", "fourier_sigmoid")

# Square root of ImageNet's colour correlation matrix (Lucid, param/color.py), columns
# normalised to at most unit length: decorrelated colour → RGB is `t @ COLOR_MIX.T`.
COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02],
                                         [0.27, 0.00, -0.05],
                                         [0.27, -0.09, 0.03]], np.float32)
COLOR_MIX = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
COLOR_UNMIX = np.linalg.inv(COLOR_MIX).astype(np.float32)
# Lucid's mean colour (0..1), the image a zero parameter vector decodes to.
COLOR_MEAN = np.float32([0.48, 0.46, 0.41]) * 255.0
# Lucid's 1/f^decay_power spectrum; 1 is the natural-image falloff.
DECAY_POWER = 1.0
# "fourier_sigmoid": pixels = 255·σ(u / SIGMOID_SCALE), u the decorrelated Fourier image in
# pixel units. At mid-grey d pixels / d u = 255·σ'(0) / SIGMOID_SCALE = 1, so `step_size`
# keeps its meaning of "pixels per step" there; saturated pixels move less, as in Lucid.
SIGMOID_SCALE = 255.0 / 4.0
# The logit is kept within ± this: 255·σ(12) = 254.998, while float32 rounds 255·σ(17) to
# 255, whose logit is infinite. Past it σ' < 7e-6, so a pixel there is as good as frozen.
SIGMOID_LOGIT_BOUND = 12.0


def rfft2d_freqs(height: int | tf.Tensor, width: int | tf.Tensor) -> tf.Tensor:
    """|frequency| (cycles per pixel) of each bin of a real 2-D FFT: [height, width//2+1]."""
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    fy = _fftfreq(height)[:, None]
    fx = tf.cast(tf.range(width // 2 + 1), tf.float32) / tf.cast(width, tf.float32)
    return tf.sqrt(fx[None, :] ** 2 + fy ** 2)


def _fftfreq(n: tf.Tensor) -> tf.Tensor:
    """numpy.fft.fftfreq(n) for a tensor length: 0, 1, …, ⌈n/2⌉-1, -⌊n/2⌋, …, -1 over n."""
    k = tf.range(n)
    k = tf.where(k < (n + 1) // 2, k, k - n)
    return tf.cast(k, tf.float32) / tf.cast(n, tf.float32)


def spectrum_scale(height, width, decay_power: float = DECAY_POWER) -> tf.Tensor:
    """Per-bin amplitude of the basis: 1/max(f, 1/max(h, w))^decay, normalised to unit RMS.

    Lucid's `fft_image` scale (`scale = 1 / max(freqs, 1/max(w, h)) ** decay_power`),
    divided by its root mean square over the whole spectrum so that a step of ±s on every
    coefficient changes the pixels by about s (RMS) at any image size: `step_size` keeps
    its meaning of "pixels per step" in both parametrisations.
    """
    freqs = rfft2d_freqs(height, width)
    floor = 1.0 / tf.cast(tf.maximum(height, width), tf.float32)
    scale = 1.0 / tf.pow(tf.maximum(freqs, floor), decay_power)
    # The half spectrum stands for the full one: interior columns appear twice.
    width = tf.cast(width, tf.int32)
    columns = tf.shape(scale)[1]
    weight = tf.where(tf.logical_or(tf.range(columns) == 0,
                                    tf.logical_and(width % 2 == 0, tf.range(columns) == columns - 1)),
                      1.0, 2.0)
    rms = tf.sqrt(tf.reduce_sum(tf.square(scale) * weight[None, :]) /
                  tf.reduce_sum(tf.ones_like(scale) * weight[None, :]))
    return scale / rms


# ----------------------------------------------------------------------------- colour


def decorrelated_to_rgb(t: tf.Tensor) -> tf.Tensor:
    """[..., 3] decorrelated colour → [..., 3] RGB (same units)."""
    return tf.tensordot(t, tf.constant(COLOR_MIX.T), axes=1)


def rgb_to_decorrelated(rgb: tf.Tensor) -> tf.Tensor:
    return tf.tensordot(rgb, tf.constant(COLOR_UNMIX.T), axes=1)


# ----------------------------------------------------------------------------- Fourier


def _image_size(pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.shape(pixels)
    return shape[1], shape[2]


def fourier_to_pixels_linear(coefficients: tf.Tensor, height, width) -> tf.Tensor:
    """The linear part of decoding: [B, 3, h, w//2+1, 2] → [B, h, w, 3] pixel offsets."""
    scale = tf.complex(spectrum_scale(height, width), 0.0)
    spectrum = tf.complex(coefficients[..., 0], coefficients[..., 1]) * scale
    # irfft2d divides by h·w; × √(h·w) makes the transform unitary (Lucid does the same).
    size = tf.cast(height * width, tf.float32)
    planes = tf.signal.irfft2d(spectrum, fft_length=tf.stack([height, width])) * tf.sqrt(size)
    return decorrelated_to_rgb(tf.transpose(planes, [0, 2, 3, 1]))


def decode(coefficients: tf.Tensor, height, width) -> tf.Tensor:
    """Fourier parameters → pixels (0..255 for parameters that came from `encode`)."""
    return fourier_to_pixels_linear(coefficients, height, width) + COLOR_MEAN


def encode(pixels: tf.Tensor) -> tf.Tensor:
    """Pixels [B, h, w, 3] → the Fourier parameters that `decode` maps back to them."""
    height, width = _image_size(pixels)
    planes = tf.transpose(rgb_to_decorrelated(pixels - COLOR_MEAN), [0, 3, 1, 2])
    size = tf.cast(height * width, tf.float32)
    spectrum = tf.signal.rfft2d(planes) / tf.complex(tf.sqrt(size), 0.0)
    spectrum /= tf.complex(spectrum_scale(height, width), 0.0)
    return tf.stack([tf.math.real(spectrum), tf.math.imag(spectrum)], axis=-1)


# ----------------------------------------------------------------------------- the interface


class Parametrization:
    """How a parameter update maps to pixels; the engine's preconditioner.

    `zeros(pixels)`: a zero parameter vector for an image of this shape (Adam's moments);
    `to_parameters_gradient(pixels, g)`: a pixel gradient as a parameter gradient;
    `to_pixels_linear(pixels, u)`: a parameter update as a pixel change.
    """

    name = "pixels"

    def zeros(self, pixels: tf.Tensor) -> tf.Tensor:
        return tf.zeros_like(pixels)

    def to_parameters_gradient(self, pixels: tf.Tensor, gradient: tf.Tensor) -> tf.Tensor:
        return gradient

    def to_pixels_linear(self, pixels: tf.Tensor, update: tf.Tensor) -> tf.Tensor:
        return update


class FourierParametrization(Parametrization):
    """Decorrelated colour in a 1/f-scaled Fourier basis (Lucid's `param.image(fft=True,
    decorrelate=True)`)."""

    name = "fourier"

    def zeros(self, pixels):
        shape = tf.shape(pixels)
        return tf.zeros(tf.stack([shape[0], 3, shape[1], shape[2] // 2 + 1, 2]))

    def to_parameters_gradient(self, pixels, gradient):
        height, width = _image_size(pixels)
        zero = self.zeros(pixels)
        with tf.GradientTape() as tape:
            tape.watch(zero)
            image = fourier_to_pixels_linear(zero, height, width)
        return tape.gradient(image, zero, output_gradients=gradient)

    def to_pixels_linear(self, pixels, update):
        height, width = _image_size(pixels)
        return fourier_to_pixels_linear(update, height, width)


class FourierSigmoidParametrization(FourierParametrization):
    """The Fourier parametrisation squashed into valid pixels by a sigmoid, as Lucid's
    `param.image(fft=True, decorrelate=True)` does (`to_valid_rgb(..., sigmoid=True)`).

    pixels = 255·σ(u / SIGMOID_SCALE), u = the decorrelated 1/f Fourier image of the
    parameters (`fourier_to_pixels_linear`). The engine keeps pixels as its state, so each
    step goes through the logit: the parameter gradient is the pixel gradient times
    σ's slope, taken back through the Fourier basis; an update u is added to the logit and
    squashed again. That is exactly optimising the parameters (any image in (0, 255) has
    parameters: its logit, `encode`d), and the pixels stay strictly inside (0, 255), so the
    engine's clip never acts. Lucid's sigmoid has no mean colour (zero decodes to grey);
    here the start image sets the colours, zero update keeps them.

    Meant for Adam, whose update the engine passes to `to_pixels_linear` as is: plain
    ascent rescales the pixel change afterwards, which a non-linear change does not
    survive exactly (the clip then keeps the pixels in 0..255).
    """

    name = "fourier_sigmoid"

    def to_parameters_gradient(self, pixels, gradient):
        share = pixels / 255.0
        # d pixels / d u = 4·s·(1 − s), s = pixels / 255 (1 at mid-grey).
        return super().to_parameters_gradient(pixels, gradient * (4.0 * share * (1.0 - share)))

    def to_pixels_linear(self, pixels, update):
        """The exact pixel change of the parameter update `update` (not linear here)."""
        logit = pixels_to_logit(pixels)
        moved = logit + super().to_pixels_linear(pixels, update) / SIGMOID_SCALE
        moved = tf.clip_by_value(moved, -SIGMOID_LOGIT_BOUND, SIGMOID_LOGIT_BOUND)
        return 255.0 * tf.sigmoid(moved) - pixels


def pixels_to_logit(pixels: tf.Tensor) -> tf.Tensor:
    """σ⁻¹(pixels / 255), the pixels first brought within ±SIGMOID_LOGIT_BOUND."""
    edge = 1.0 / (1.0 + np.exp(SIGMOID_LOGIT_BOUND))
    share = tf.clip_by_value(pixels / 255.0, edge, 1.0 - edge)
    return tf.math.log(share) - tf.math.log1p(-share)


def parametrization(name: str) -> Parametrization:
    if name == "pixels":
        return Parametrization()
    if name == "fourier":
        return FourierParametrization()
    if name == "fourier_sigmoid":
        return FourierSigmoidParametrization()
    raise ValueError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)} (got {name!r}).")


def random_image(shape: tuple[int, ...], seed: int, name: str = "pixels", sd: float = 8.0) -> np.ndarray:
    """A starting image for an optimisation from noise, [B, h, w, 3] float32 pixels.

    Pixels: uniform noise around mid-grey. Fourier: Gaussian coefficients of RMS `sd`
    pixels around Lucid's mean colour, so the noise is "cloudy" (1/f) rather than grain.
    """
    batch, height, width, _ = shape
    rng = np.random.default_rng(seed)
    if name == "fourier":
        coefficients = rng.normal(0.0, sd, (batch, 3, height, width // 2 + 1, 2)).astype(np.float32)
        image = decode(tf.constant(coefficients), height, width).numpy()
        return np.clip(image, 0.0, 255.0).astype(np.float32)
    return rng.uniform(96.0, 160.0, shape).astype(np.float32)
