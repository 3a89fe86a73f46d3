"""Frames → looping GIF and MP4: subsampling, ping-pong, size cap, durations, audio."""

from __future__ import annotations

from fractions import Fraction

import av
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import dream
from dream import write_gif
from dream.animation import AudioTrack, gif_frames, select_frames, write_mp4


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


def test_one_frame_gif_holds_it(tmp_path):
    """A run stopped after its first frame still gets its GIF (Pillow 12.3 refuses a list of
    durations for a single frame)."""
    path = write_gif(_frames(1), tmp_path / "one.gif", frame_duration_ms=100, hold_last_ms=900)
    assert iio.imread(path).shape[0] == 1
    assert iio.immeta(path)["duration"] == 1000


@pytest.mark.parametrize("duration", [5, 20_000])
def test_frame_duration_out_of_range(tmp_path, duration):
    with pytest.raises(ValueError, match="frame_duration_ms must be between 20 and 10000"):
        write_gif(_frames(2), tmp_path / "x.gif", frame_duration_ms=duration)
    assert not (tmp_path / "x.gif").exists()


def test_float_frames_are_accepted(tmp_path):
    frames = [frame.astype(np.float32) for frame in _frames(3)]
    path = write_gif(frames, tmp_path / "float.gif")
    assert iio.imread(path, index=None).shape[0] == 3


# ----------------------------------------------------------------------------- the MP4 file


def _decode_mp4(path):
    """(frames, stream facts, container duration in s) of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                 "size": (stream.codec_context.width, stream.codec_context.height),
                 "rate": stream.guessed_rate, "colorspace": stream.codec_context.colorspace,
                 "audio": [(s.codec_context.name, float(s.duration * s.time_base))
                           for s in container.streams.audio]}
        duration = container.duration / av.time_base
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return frames, facts, duration


def test_mp4_has_the_frames_rate_and_format_browsers_play(tmp_path):
    frames = _frames(6)
    path = write_mp4(frames, tmp_path / "anim.mp4", frame_duration_ms=80)
    decoded, facts, duration = _decode_mp4(path)
    assert len(decoded) == 6 and decoded[0].shape == (30, 40, 3)
    assert _levels(decoded) == pytest.approx(_levels(frames), abs=3)
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert facts["rate"] == Fraction(1000, 80) and duration == pytest.approx(0.48)
    assert facts["colorspace"] == 1  # tagged BT.709
    data = path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # faststart: the index comes first
    assert facts["audio"] == []


def test_mp4_colours_survive(tmp_path):
    colours = [(200, 50, 30), (20, 180, 90), (250, 250, 10), (128, 128, 128)]
    frames = [np.full((32, 32, 3), colour, np.uint8) for colour in colours]
    decoded, _, _ = _decode_mp4(write_mp4(frames, tmp_path / "colours.mp4"))
    for frame, colour in zip(decoded, colours):
        assert frame[16, 16].tolist() == pytest.approx(list(colour), abs=4)


def test_mp4_sides_become_even(tmp_path):
    decoded, facts, _ = _decode_mp4(write_mp4(_frames(3, height=31, width=41), tmp_path / "odd.mp4"))
    assert facts["size"] == (40, 30) and len(decoded) == 3
    _, facts, _ = _decode_mp4(write_mp4(_frames(2, height=300, width=501), tmp_path / "big.mp4",
                                        max_side=101))
    assert facts["size"] == (100, 60)


def test_mp4_subsampled_bounced_and_held(tmp_path):
    frames = _frames(20, height=40, width=60)
    decoded, _, duration = _decode_mp4(write_mp4(frames, tmp_path / "bounce.mp4", pingpong=True,
                                                 max_frames=5, frame_duration_ms=100))
    assert len(decoded) == 2 * 5 - 2 and duration == pytest.approx(0.8)
    assert _levels(decoded)[4] == pytest.approx(_levels(frames)[-1], abs=3)
    # Holding the last frame stretches its display time, not the frame count.
    decoded, _, duration = _decode_mp4(write_mp4(_frames(4), tmp_path / "hold.mp4",
                                                 frame_duration_ms=100, hold_last_ms=900))
    assert len(decoded) == 4 and duration == pytest.approx(1.3)


def test_mp4_audio_is_cut_to_the_video(tmp_path):
    rate = 16000
    tone = (0.2 * np.sin(np.arange(rate * 3) * 2 * np.pi * 300 / rate)).astype(np.float32)
    path = write_mp4(_frames(5), tmp_path / "sound.mp4", fps=10, audio=AudioTrack(tone[None], rate))
    decoded, facts, _ = _decode_mp4(path)
    assert len(decoded) == 5
    [(codec, seconds)] = facts["audio"]
    assert codec == "aac" and seconds == pytest.approx(0.5, abs=0.07)


@pytest.mark.parametrize("options, message", [
    ({"frame_duration_ms": 5}, "frame_duration_ms must be between 20 and 10000"),
    ({"fps": 500}, "fps must be between 0.1 and 120"),
    ({"crf": 60}, "crf must be between 0 and 51"),
    ({"pingpong": True, "audio": "see below"}, "cannot keep the audio"),
])
def test_mp4_bad_options(tmp_path, options, message):
    if "audio" in options:
        options["audio"] = AudioTrack(np.zeros((1, 800), np.float32), 8000)
    with pytest.raises(ValueError, match=message):
        write_mp4(_frames(3), tmp_path / "x.mp4", **options)
    with pytest.raises(ValueError, match="at least one frame"):
        write_mp4([], tmp_path / "y.mp4")


def test_dream_result_mp4_has_the_gifs_frames(tmp_path, model, picture):
    objective = dream.dream_objective(model, "mixed4c")
    result = dream.deep_dream(model, picture, objective, dream.Schedule(steps=1, octaves=1),
                              frames=4)
    gif = iio.imread(result.save_gif(tmp_path / "dream.gif"), index=None)
    decoded, facts, duration = _decode_mp4(result.save_mp4(tmp_path / "dream.mp4"))
    assert len(decoded) == gif.shape[0] == 5
    assert facts["size"] == (picture.shape[1], picture.shape[0])
    assert duration == pytest.approx(5 * 0.12)
    # Same options, same frames: ping-pong and the GIF's size cap.
    gif = iio.imread(result.save_gif(tmp_path / "b.gif", pingpong=True, max_side=100), index=None)
    decoded, facts, _ = _decode_mp4(result.save_mp4(tmp_path / "b.mp4", pingpong=True, max_side=100))
    assert len(decoded) == gif.shape[0] == 8 and facts["size"][0] == gif.shape[2]
