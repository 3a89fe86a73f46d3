"""Image parametrisations (dream.param): the Fourier basis maps to pixels and back."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dream import param


@pytest.mark.parametrize("height, width", [(8, 8), (7, 9), (6, 11)])
def test_fourier_parameters_map_to_pixels_and_back(height, width):
    # Odd sizes included: the half spectrum must still hold every real image exactly.
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (2, height, width, 3)).astype(np.float32)
    coefficients = param.encode(tf.constant(pixels))
    assert coefficients.shape == (2, 3, height, width // 2 + 1, 2)
    back = param.decode(coefficients, height, width).numpy()
    np.testing.assert_allclose(back, pixels, atol=1e-3)


def test_pixels_of_a_single_coefficient_are_one_frequency_in_decorrelated_colour():
    # One coefficient at (fy, fx) = (0, 1 cycle per image) in the first colour axis is a
    # cosine along x, in the colour of COLOR_MIX's first column.
    height, width = 4, 8
    coefficients = np.zeros((1, 3, height, width // 2 + 1, 2), np.float32)
    coefficients[0, 0, 0, 1, 0] = 1.0
    image = param.fourier_to_pixels_linear(tf.constant(coefficients), height, width).numpy()[0]
    along_x = image[0, :, 0]
    expected = np.cos(2 * np.pi * np.arange(width) / width)
    np.testing.assert_allclose(along_x / along_x[0], expected, atol=1e-5)
    np.testing.assert_allclose(image[:, :, 0], np.tile(along_x, (height, 1)), atol=1e-5)
    colour = image[0, 0] / np.linalg.norm(image[0, 0])
    mix = param.COLOR_MIX[:, 0] / np.linalg.norm(param.COLOR_MIX[:, 0])
    np.testing.assert_allclose(colour, mix, atol=1e-5)


def test_low_frequencies_get_larger_steps_than_high_ones():
    # The 1/f scale (Lucid's fft_image), normalised to unit RMS over the spectrum.
    scale = param.spectrum_scale(64, 64).numpy()
    assert scale[0, 1] > 10 * scale[32, 32]
    np.testing.assert_allclose(scale[0, 1] / scale[0, 4], 4.0, rtol=1e-5)


def test_a_unit_step_on_every_coefficient_moves_pixels_by_about_one():
    # So `step_size` keeps its meaning ("pixels per step") in the Fourier parametrisation.
    rng = np.random.default_rng(1)
    for size in (64, 256):
        steps = rng.choice([-1.0, 1.0], (1, 3, size, size // 2 + 1, 2)).astype(np.float32)
        change = param.fourier_to_pixels_linear(tf.constant(steps), size, size).numpy()
        assert 0.5 < np.sqrt(np.mean(change ** 2)) < 1.5


def test_gradient_mapping_is_the_transpose_of_the_update_mapping():
    # <L u, g> = <u, Lᵀ g>: the engine's gradient and update mappings agree.
    rng = np.random.default_rng(2)
    fourier = param.parametrization("fourier")
    pixels = tf.zeros((1, 10, 12, 3))
    u = tf.constant(rng.normal(size=(1, 3, 10, 7, 2)).astype(np.float32))
    g = tf.constant(rng.normal(size=(1, 10, 12, 3)).astype(np.float32))
    lhs = float(tf.reduce_sum(fourier.to_pixels_linear(pixels, u) * g))
    rhs = float(tf.reduce_sum(u * fourier.to_parameters_gradient(pixels, g)))
    assert lhs == pytest.approx(rhs, rel=1e-4)


def test_decorrelated_colour_round_trip_and_pixels_parametrisation_is_identity():
    rgb = tf.constant(np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32))
    np.testing.assert_allclose(param.decorrelated_to_rgb(param.rgb_to_decorrelated(rgb)).numpy(),
                               rgb.numpy(), atol=1e-5)
    pixels = param.parametrization("pixels")
    g = tf.ones((1, 4, 4, 3))
    assert pixels.to_parameters_gradient(g, g) is g and pixels.to_pixels_linear(g, g) is g
    with pytest.raises(ValueError, match="pixels, fourier"):
        param.parametrization("cppn")


def test_random_fourier_image_is_cloudy_not_grainy():
    image = param.random_image((1, 64, 64, 3), seed=0, name="fourier")[0]
    grain = np.abs(np.diff(image, axis=1)).mean()
    noise = param.random_image((1, 64, 64, 3), seed=0, name="pixels")[0]
    assert image.shape == (64, 64, 3) and 0 <= image.min() and image.max() <= 255
    assert grain < 0.5 * np.abs(np.diff(noise, axis=1)).mean()
