"""Fractal Zoom's loops: zoom, turn and slide between frames (`dream.loops.frame_transform`),
and closing the animation into a seamless loop (`dream.loops.seamless_loop`)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import dream
from dream import LimitError, Limits, Schedule
from dream.deepdream import zoom_in as deepdream_zoom_in
from dream.loops import check_loop_frames, frame_transform, loop_overlap, seamless_loop, zoom_in

FAST = Schedule(steps=3, octaves=2, octave_scale=1.4, seed=0)
STILL = Schedule(steps=0, octaves=1)  # no dreaming: a frame is only the move


@pytest.fixture(scope="module")
def objective():
    return dream.layer_mean("mixed4c")


def marker(height: int = 60, width: int = 80, y: int = 20, x: int = 30) -> np.ndarray:
    image = np.zeros((height, width, 3), np.float32)
    image[y:y + 4, x:x + 4] = 255.0
    return image


def marker_corner(image: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(image[..., 0] > 128)
    return int(ys.min()), int(xs.min())


def mean_step(frames) -> float:
    return float(np.mean([np.abs(b.astype(float) - a).mean() for a, b in pairwise(frames)]))


# ----------------------------------------------------------------------------- frame_transform


@pytest.mark.parametrize("zoom", [0.005, 0.015, 0.05, 0.25])
def test_zoom_only_is_the_zoom_as_it_was(picture, zoom):
    image = picture.astype(np.float32)
    np.testing.assert_array_equal(frame_transform(image, zoom), zoom_in(image, zoom))
    np.testing.assert_array_equal(frame_transform(image, zoom, 0.0, (0.0, 0.0)), zoom_in(image, zoom))
    assert deepdream_zoom_in is zoom_in  # still importable where it was


def test_the_one_warp_zooms_by_the_same_amount_as_the_crop(picture):
    # A turn too small to see takes the affine path: its zoom matches the crop-and-rescale.
    image = picture.astype(np.float32)
    warped = frame_transform(image, 0.05, 1e-6)
    assert np.abs(warped - zoom_in(image, 0.05))[8:-8, 8:-8].mean() < 0.05


def test_translation_moves_a_marker_by_the_shift():
    image = marker()
    for dx, dy in [(5, -3), (-7, 4), (0, 10)]:
        moved = frame_transform(image, 0.0, 0.0, (dx, dy))
        assert marker_corner(moved) == (20 + dy, 30 + dx)
        assert moved.dtype == np.float32 and moved.shape == image.shape


def test_rotation_turns_about_the_centre_counter_clockwise():
    image = np.zeros((61, 61, 3), np.float32)
    image[30, 50] = 255.0  # 20 px right of the centre (30, 30)
    turned = frame_transform(image, 0.0, 90.0)
    assert np.unravel_index(np.argmax(turned[..., 0]), turned.shape[:2]) == (10, 30)  # above it


def test_turning_there_and_back_comes_back_in_the_centre(picture):
    image = picture.astype(np.float32)
    back = frame_transform(frame_transform(image, 0.0, 10.0), 0.0, -10.0)
    # Corners were filled by reflection, so only the centre returns; bilinear twice blurs a little.
    centre = (slice(40, -40), slice(50, -50))
    assert np.abs(back - image)[centre].mean() < 1.0
    assert np.abs(frame_transform(image, 0.0, 10.0) - image)[centre].mean() > 5.0


def test_uncovered_corners_are_reflected_not_black(picture):
    turned = frame_transform(picture.astype(np.float32), 0.02, 15.0, (20.0, 10.0))
    assert turned.min() > 20  # the test picture has no dark pixels; a constant border would


# ----------------------------------------------------------------------------- seamless_loop


def test_seamless_loop_crossfades_the_extra_frames_into_the_first():
    count, overlap = 8, 2
    recorded = [np.full((4, 4, 3), 10 * k, np.uint8) for k in range(count + 1 + overlap)]
    looped = seamless_loop(recorded, overlap)
    assert len(looped) == count + 1 and all(frame.dtype == np.uint8 for frame in looped)
    levels = [int(frame[0, 0, 0]) for frame in looped]
    # out_0 = r_9, out_1 = ½ r_1 + ½ r_10, then r_2 … r_8: r_8 → r_9 is the natural step.
    assert levels == [90, 55, 20, 30, 40, 50, 60, 70, 80]
    with pytest.raises(ValueError, match="overlap of at least 1"):
        seamless_loop(recorded, 0)
    with pytest.raises(ValueError, match="at least"):
        seamless_loop(recorded[:3], 2)


def test_loop_overlap_is_a_quarter_at_least_one():
    assert [loop_overlap(n) for n in (1, 3, 4, 8, 12, 96)] == [1, 1, 1, 2, 3, 24]
    # check_loop_frames: what a loop of N dreams, or the most N that fits.
    assert check_loop_frames(8, 10) == 10 and check_loop_frames(96, 120) == 120
    with pytest.raises(LimitError, match="ask for at most 96 frames"):
        check_loop_frames(97, 120)


# ----------------------------------------------------------------------------- fractal_zoom


def test_a_run_without_dreaming_shows_the_photo_turned_and_moved(model, objective, picture):
    result = dream.fractal_zoom(model, picture, objective, STILL, frames=3, zoom=0.01,
                                rotate=8.0, shift=(3.0, -2.0))
    assert len(result.frames) == 3 + 1
    moved = picture.astype(np.float32)
    for frame in result.frames[1:]:  # dreamed frame k: the photo moved k times
        assert np.abs(frame.astype(np.float32) - moved).max() <= 1.0
        moved = frame_transform(moved, 0.01, 8.0, (3.0, -2.0))


@pytest.mark.parametrize("options", [dict(rotate=5.0), dict(shift=(6.0, -4.0)),
                                     dict(rotate=-3.0, shift=(2.0, 2.0), zoom=0.02)])
def test_turning_and_sliding_loops_give_the_frames_asked(model, objective, picture, options):
    result = dream.fractal_zoom(model, picture, objective, FAST, frames=3, **options)
    assert len(result.frames) == 3 + 1 and result.dreamed_frames == result.requested_frames == 3
    np.testing.assert_array_equal(result.frames[0], picture)
    settings = result.settings
    assert settings["rotate"] == options.get("rotate", 0.0)
    assert settings["shift"] == list(options.get("shift", (0.0, 0.0)))
    assert settings["seamless"] is False


@pytest.mark.parametrize("options", [dict(zoom=0.05), dict(rotate=5.0, zoom=0.01),
                                     dict(shift=(6.0, -4.0))])
def test_a_seamless_loop_closes_without_a_jump(model, objective, picture, options):
    frames = 8
    plain = dream.fractal_zoom(model, picture, objective, FAST, frames=frames, **options)
    looped = dream.fractal_zoom(model, picture, objective, FAST, frames=frames, seamless=True,
                                **options)
    assert len(looped.frames) == frames + 1 and looped.dreamed_frames == frames
    assert looped.image is looped.frames[-1] and not looped.stopped
    assert looped.settings["seamless"] is True and looped.settings["loop_overlap"] == 2
    wrap = np.abs(looped.frames[0].astype(float) - looped.frames[-1]).mean()
    assert wrap <= mean_step(looped.frames)
    # Without it, the loop jumps from the last dream back to the photo in one step; the
    # seamless loop spreads that jump out, so none of its steps is as large.
    plain_wrap = np.abs(plain.frames[0].astype(float) - plain.frames[-1]).mean()
    largest = max(np.abs(b.astype(float) - a).mean() for a, b in pairwise(looped.frames))
    assert max(largest, wrap) < plain_wrap


def test_a_seamless_loop_over_the_frame_cap_says_how_many_frames_fit(model, objective, picture):
    with pytest.raises(LimitError, match="A seamless loop dreams a quarter more frames to blend "
                                         "them: ask for at most 8 frames."):
        dream.fractal_zoom(model, picture, objective, FAST, frames=9, seamless=True,
                           limits=Limits(max_frames=10))
    with pytest.raises(ValueError, match="ask for at most 96 frames"):
        dream.fractal_zoom(model, picture, objective, FAST, frames=100, seamless=True)
    # The same frames without the loop are within the cap.
    assert dream.fractal_zoom(model, picture, objective, STILL, frames=9,
                              limits=Limits(max_frames=10)).dreamed_frames == 9


def test_a_stopped_seamless_loop_keeps_what_was_dreamed(model, objective, picture):
    steps_per_frame = FAST.steps * FAST.octaves
    result = dream.fractal_zoom(model, picture, objective, FAST, frames=8, seamless=True,
                                on_progress=lambda progress: progress.step >= 2 * steps_per_frame)
    assert result.stopped and len(result.frames) == 2 + 1
    np.testing.assert_array_equal(result.frames[0], picture)  # not crossfaded
    assert any("Stopped before the loop could be closed" in note for note in result.notes)


@pytest.mark.parametrize("options, message", [
    (dict(rotate=16.0), "rotate must be between -15 and 15"),
    (dict(shift=(65.0, 0.0)), "shift dx must be between -64 and 64"),
    (dict(shift=(0.0, -70.0)), "shift dy must be between -64 and 64"),
])
def test_turns_and_slides_out_of_range_are_refused(model, objective, picture, options, message):
    with pytest.raises(LimitError, match=message):
        dream.fractal_zoom(model, picture, objective, FAST, frames=2, **options)
