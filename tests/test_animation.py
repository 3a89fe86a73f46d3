"""Frames → looping GIF: subsampling, ping-pong, size cap, durations."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from dream import write_gif
from dream.animation import gif_frames, select_frames


def _frames(count: int, height: int = 30, width: int = 40) -> list[np.ndarray]:
    """Distinct frames (a GIF encoder merges identical neighbours): frame k is gray 20+k*step."""
    step = 200 // max(1, count - 1) if count > 1 else 0
    return [np.full((height, width, 3), 20 + k * step, np.uint8) for k in range(count)]


def _levels(frames) -> list[int]:
    return [int(np.asarray(frame)[0, 0, 0]) for frame in frames]


# ----------------------------------------------------------------------------- selection


@pytest.mark.parametrize("count, wanted", [(10, 4), (100, 7), (61, 60), (5, 2)])
def test_subsampling_keeps_first_and_last(count, wanted):
    frames = [np.full((2, 2, 3), k, np.uint8) for k in range(count)]
    chosen = select_frames(frames, wanted)
    assert len(chosen) == wanted
    assert chosen[0] is frames[0] and chosen[-1] is frames[-1]
    picked = [int(frame[0, 0, 0]) for frame in chosen]
    assert picked == sorted(set(picked))  # in order, no repeats
    gaps = np.diff(picked)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_subsampling_leaves_short_sequences_alone():
    frames = _frames(3)
    assert select_frames(frames, 5) == frames
    with pytest.raises(ValueError, match="max_frames must be at least 1"):
        select_frames(frames, 0)


def test_pingpong_length_and_order():
    frames = _frames(5)
    bounced = gif_frames(frames, pingpong=True)
    assert len(bounced) == 2 * 5 - 2
    assert _levels(bounced) == _levels(frames) + _levels(frames)[-2:0:-1]


def test_pingpong_of_two_frames_adds_nothing():
    assert len(gif_frames(_frames(2), pingpong=True)) == 2


def test_max_side_is_respected():
    frames = _frames(3, height=300, width=500)
    shrunk = gif_frames(frames, max_side=100)
    assert all(frame.shape == (60, 100, 3) and frame.dtype == np.uint8 for frame in shrunk)
    portrait = gif_frames(_frames(2, height=500, width=200), max_side=100)
    assert portrait[0].shape == (100, 40, 3)
    # Small frames are never enlarged.
    assert gif_frames(_frames(2), max_side=512)[0].shape == (30, 40, 3)


def test_no_frames_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        gif_frames([])


# ----------------------------------------------------------------------------- the GIF file


def test_gif_loops_with_the_asked_duration(tmp_path):
    frames = _frames(6)
    path = write_gif(frames, tmp_path / "anim.gif", frame_duration_ms=80)
    decoded = iio.imread(path, index=None)
    assert decoded.shape == (6, 30, 40, 3)
    assert _levels(decoded) == pytest.approx(_levels(frames), abs=2)
    meta = iio.immeta(path)
    assert meta["loop"] == 0
    with Image.open(path) as gif:
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    assert durations == [80] * 6


def test_gif_subsampled_bounced_and_shrunk(tmp_path):
    frames = _frames(20, height=200, width=300)
    path = write_gif(frames, tmp_path / "anim.gif", pingpong=True, max_frames=5, max_side=150)
    decoded = iio.imread(path, index=None)
    assert decoded.shape == (2 * 5 - 2, 100, 150, 3)
    levels = _levels(decoded)
    assert levels[0] == pytest.approx(_levels(frames)[0], abs=2)
    assert levels[4] == pytest.approx(_levels(frames)[-1], abs=2)
    assert iio.immeta(path)["loop"] == 0


def test_hold_last_frame(tmp_path):
    path = write_gif(_frames(4), tmp_path / "hold.gif", frame_duration_ms=100, hold_last_ms=900)
    durations = [iio.immeta(path, index=k)["duration"] for k in range(4)]
    assert durations == [100, 100, 100, 1000]


@pytest.mark.parametrize("duration", [5, 20_000])
def test_frame_duration_out_of_range(tmp_path, duration):
    with pytest.raises(ValueError, match="frame_duration_ms must be between 20 and 10000"):
        write_gif(_frames(2), tmp_path / "x.gif", frame_duration_ms=duration)
    assert not (tmp_path / "x.gif").exists()


def test_float_frames_are_accepted(tmp_path):
    frames = [frame.astype(np.float32) for frame in _frames(3)]
    path = write_gif(frames, tmp_path / "float.gif")
    assert iio.imread(path, index=None).shape[0] == 3
