"""Random rolls and Lucid's transforms (dream.transforms)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dream import transforms


@tf.function
def _rolls(count, height, width, tile_size, jitter, whole_tile):
    return tf.map_fn(lambda i: transforms.random_roll(tf.stack([7, i]), height, width, tile_size,
                                                      jitter, whole_tile),
                     tf.range(count), fn_output_signature=tf.int32)


def test_a_roll_can_reach_any_offset_within_a_tile():
    # Two tiles across 1024 px: over many steps the tile borders land on every pixel of a
    # tile (the notebook's calc_grad_tiled rolls by up to a whole tile).
    shifts = _rolls(6000, 640, 1024, 512, 0, True).numpy()
    assert set(np.mod(shifts[:, 1], 512)) == set(range(512))
    assert set(np.mod(shifts[:, 0], 320)) == set(range(320))  # 640 px: two tiles of 320


def test_without_whole_tile_rolls_stay_within_the_jitter():
    shifts = _rolls(2000, 640, 1024, 512, 32, False).numpy()
    assert shifts.min() == -32 and shifts.max() == 32


def test_an_axis_with_one_tile_only_gets_the_jitter():
    # jitter=0 on an image that fits one tile means no roll at all (what tests rely on).
    assert not _rolls(200, 300, 400, 512, 0, True).numpy().any()
    shifts = _rolls(500, 300, 400, 512, 8, True).numpy()
    assert np.abs(shifts).max() == 8


def test_lucid_transforms_treat_aligned_images_alike_and_follow_the_seed():
    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(0, 255, (1, 64, 80, 3)).astype(np.float32))
    a, b = transforms.lucid_transforms([image, image], tf.constant([1, 2]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    again, = transforms.lucid_transforms([image], tf.constant([1, 2]))
    np.testing.assert_array_equal(again.numpy(), a.numpy())
    other, = transforms.lucid_transforms([image], tf.constant([1, 3]))
    assert other.shape != a.shape or not np.array_equal(other.numpy(), a.numpy())
    # 64 px: pad 12 (88), crop 8 (80), scale 0.9–1.1 (72–88), crop 4 (68–84).
    heights = set()
    for seed in range(20):
        out, = transforms.lucid_transforms([image], tf.constant([seed, 0]))
        assert 68 <= out.shape[1] <= 84 and out.shape[3] == 3
        heights.add(out.shape[1])
    assert len(heights) > 3  # the scale does vary


def test_rotation_turns_about_the_centre_and_pads_with_grey():
    image = np.full((1, 21, 21, 3), 0.0, np.float32)
    image[0, 10, 15] = 255.0  # a dot right of the centre
    rotated = transforms.random_rotate([tf.constant(image)], tf.constant([0, 0]), angles=(90,))[0]
    rotated = rotated.numpy()[0, :, :, 0]
    y, x = np.unravel_index(np.argmax(rotated), rotated.shape)
    assert (abs(y - 10), x) == (5, 10)  # a quarter turn about (10, 10)
    assert rotated[0, 0] == 0.0  # inside the image after a quarter turn of a square


def test_transforms_pass_gradients_back():
    image = tf.constant(np.random.default_rng(1).uniform(0, 255, (1, 40, 40, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(image)
        out, = transforms.apply("lucid", [image], tf.constant([5, 5]))
        loss = tf.reduce_sum(tf.square(out))
    grad = tape.gradient(loss, image).numpy()
    assert np.abs(grad).sum() > 0
    with pytest.raises(ValueError, match="roll, lucid"):
        transforms.apply("warp", [image], tf.constant([0, 0]))
