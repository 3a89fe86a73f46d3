"""Dreaming a video clip: decoding, resampling, rotation, audio, flicker, caps, bad input.

Every clip is generated here (imageio or PyAV writes a tiny MP4, WebM, MOV or GIF), and
dreamed with the small generated model and a one- or two-step schedule, so each test
takes well under a second or two.
"""

from __future__ import annotations

import time
from fractions import Fraction

import av
import imageio.v3 as iio
import numpy as np
import pytest

import dream
import dream.video as video
from dream import LimitError, Schedule
from dream.video import (DEFAULT_VIDEO_LIMITS, VideoError, VideoLimits, dream_video, flicker,
                         probe_video, read_video)
from tests.conftest import smooth_picture

QUICK = Schedule(steps=1, octaves=1, jitter=8)
SIZE = (64, 96)  # height, width of most test clips


# ----------------------------------------------------------------------------- clips


def levels_clip(count: int, size=SIZE) -> np.ndarray:
    """Frame k is a flat gray of level 10 + 8k (up to 30 frames): which source frame was
    kept is readable."""
    return np.stack([np.full(size + (3,), (10 + 8 * k) % 256, np.uint8) for k in range(count)])


def textured_scene(height: int, width: int) -> np.ndarray:
    """The smooth test picture plus a fixed fine texture, so motion is visible to a flow."""
    noise = np.random.default_rng(0).normal(0, 30, (height, width, 1))
    noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))) / 2
    return np.clip(smooth_picture(height, width) + noise, 0, 255).astype(np.uint8)


def moving_clip(count: int, size=SIZE, speed: int = 3) -> np.ndarray:
    """A textured picture panning left, with a bright square moving the other way."""
    height, width = size
    scene = textured_scene(height + 20, width + speed * count + 20)
    frames = []
    for k in range(count):
        frame = scene[10:10 + height, speed * k:speed * k + width].copy()
        x = width - 30 - 2 * speed * k
        frame[20:36, max(0, x):max(0, x + 16)] = (250, 240, 40)
        frames.append(frame)
    return np.stack(frames)


def write_clip(path, frames, fps=10, *, codec="libx264", pix_fmt="yuv420p", rotation=0,
               audio_hz: float | None = None, audio_rate: int = 44100):
    """A clip written with PyAV: optional display rotation and sine-wave audio track."""
    frames = np.asarray(frames)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        audio = None
        if audio_hz:
            audio = container.add_stream("aac", rate=audio_rate, layout="stereo")
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
        if audio is not None:
            seconds = len(frames) / fps
            t = np.arange(int(seconds * audio_rate)) / audio_rate
            sine = (0.3 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
            samples = av.AudioFrame.from_ndarray(np.stack([sine, sine]), format="fltp",
                                                 layout="stereo")
            samples.sample_rate = audio_rate
            container.mux(audio.encode(samples))
            container.mux(audio.encode(None))
    return path


def write_clip_with_long_audio(path, video_s: float = 1.0, audio_s: float = 1800.0, fps: int = 10):
    """A short clip with a long, small Opus track (6 kb/s mono): one second of quiet noise
    is encoded once and its packets repeated, so 30 minutes of sound take a second to write
    and about a megabyte, yet decode to over a gigabyte of samples."""
    with av.open(str(path), mode="w") as container:
        video_stream = container.add_stream("libx264", rate=fps)
        video_stream.width, video_stream.height, video_stream.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("libopus", rate=48000, layout="mono")
        audio.bit_rate = 6000
        noise = (np.random.default_rng(0).standard_normal((1, 48000)) * 0.01).astype(np.float32)
        second = av.AudioFrame.from_ndarray(noise, format="flt", layout="mono")
        second.sample_rate, second.pts = 48000, 0
        payloads = [bytes(packet) for packet in [*audio.encode(second), *audio.encode(None)]]
        for k in range(int(video_s * fps)):
            picture = np.full((48, 64, 3), 20 * k % 255, np.uint8)
            container.mux(video_stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(video_stream.encode(None))
        pts, step = 0, 960  # Opus packets of 20 ms
        while pts < audio_s * 48000:
            for payload in filter(None, payloads):
                packet = av.Packet(payload)
                packet.stream, packet.time_base = audio, Fraction(1, 48000)
                packet.pts = packet.dts = pts
                packet.duration = step
                container.mux(packet)
                pts += step
    return path


class PeakRss:
    """The process's largest resident size while the block runs, sampled every 20 ms."""

    def __enter__(self):
        import threading

        self.start = self.peak = self.now()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 1e6  # MB

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())

    @property
    def growth_mb(self) -> float:
        return self.peak - self.start


def decode(path):
    """(frames, video stream facts, audio samples or None) of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                 "width": stream.codec_context.width, "height": stream.codec_context.height,
                 "rate": stream.guessed_rate, "average_rate": stream.average_rate,
                 "audio_streams": len(container.streams.audio)}
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    audio = None
    if facts["audio_streams"]:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            facts["sample_rate"] = stream.codec_context.sample_rate
            audio = np.concatenate([f.to_ndarray().reshape(stream.codec_context.channels, -1)
                                    for f in container.decode(stream)], axis=1)
    return frames, facts, audio


@pytest.fixture
def objective(model):
    return dream.dream_objective(model, "mixed4c")


# ----------------------------------------------------------------------------- round trip


def test_clip_comes_back_as_mp4_with_its_frames_size_and_rate(tmp_path, model, objective):
    source = tmp_path / "clip.mp4"
    iio.imwrite(source, moving_clip(10), plugin="pyav", codec="libx264", fps=10)
    result = dream_video(model, source, objective, QUICK)
    assert len(result.frames) == 10 and result.fps == 10
    assert result.frames[0].shape == SIZE + (3,) and result.image is result.frames[-1]
    path = result.save_mp4(tmp_path / "dream.mp4")
    frames, facts, audio = decode(path)
    assert len(frames) == 10
    assert (facts["width"], facts["height"]) == (96, 64)
    assert facts["rate"] == 10 and facts["average_rate"] == 10
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert audio is None
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # index first: plays while downloading
    # The dream changed the picture, and the MP4 holds the dreamed frames.
    assert np.mean(np.abs(result.frames[5].astype(float) - moving_clip(10)[5])) > 1.0
    assert np.mean(np.abs(frames[5].astype(float) - result.frames[5])) < 6.0
    settings = result.settings
    assert settings["technique"] == "video" and settings["frames"] == 10
    assert settings["fps"] == 10.0 and settings["size"] == [96, 64]
    assert settings["blend"] == video.DEFAULT_BLEND and settings["flow"] is video.DEFAULT_FLOW
    assert settings["source"]["duration_s"] == pytest.approx(1.0)
    assert settings["steps"] == 1 and settings["objective"] == objective.description
    gif = result.save_gif(tmp_path / "preview.gif")
    assert iio.imread(gif, index=None).shape[0] == 10


def test_frame_rate_is_resampled_down_evenly(tmp_path):
    source = write_clip(tmp_path / "fast.mp4", levels_clip(24), fps=24)
    clip = read_video(source, video_limits=VideoLimits(max_fps=8))
    assert clip.fps == 8 and len(clip.frames) == 8
    kept = [int(round((frame[0, 0, 0] - 10) / 8)) for frame in clip.frames]
    assert kept == list(range(0, 24, 3))  # every third frame
    assert any("frame rate was reduced from 24 to 8" in note for note in clip.notes)
    # 30 fps asked for 12 becomes 10 (every third frame), not an uneven 12.
    source = write_clip(tmp_path / "thirty.mp4", levels_clip(30), fps=30)
    assert read_video(source, fps=12).fps == 10
    # A slow clip keeps its own rate, exactly.
    source = write_clip(tmp_path / "ntsc.mp4", levels_clip(6), fps=Fraction(30000, 1001))
    clip = read_video(source, video_limits=VideoLimits(max_fps=30))
    assert clip.fps == Fraction(30000, 1001) and len(clip.frames) == 6


def test_large_frames_are_downscaled_with_even_sides(tmp_path):
    source = write_clip(tmp_path / "wide.mp4", moving_clip(3, size=(120, 250)))
    clip = read_video(source, max_side=101)
    assert clip.frames[0].shape == (48, 100, 3)
    assert any("downscaled from 250×120 to 100×48" in note for note in clip.notes)


# ----------------------------------------------------------------------------- audio


def test_audio_in_audio_out(tmp_path, model, objective):
    source = write_clip(tmp_path / "talk.mp4", moving_clip(10), fps=10, audio_hz=440)
    assert probe_video(source).has_audio
    result = dream_video(model, source, objective, QUICK)
    assert result.audio is not None and result.audio.duration_s == pytest.approx(1.0, abs=0.03)
    assert any("audio" in note for note in result.notes) and result.settings["source"]["audio"]
    frames, facts, audio = decode(result.save_mp4(tmp_path / "dream.mp4"))
    assert len(frames) == 10 and facts["audio_streams"] == 1
    assert audio.shape[1] / facts["sample_rate"] == pytest.approx(1.0, abs=0.05)
    # Still the 440 Hz tone.
    middle = audio[0, 2000:2000 + 16384]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    assert np.fft.rfftfreq(middle.size, 1 / facts["sample_rate"])[spectrum.argmax()] == \
        pytest.approx(440, abs=5)
    _, facts, audio = decode(result.save_mp4(tmp_path / "mute.mp4", keep_audio=False))
    assert facts["audio_streams"] == 0 and audio is None


def test_stop_returns_the_clip_so_far_with_audio_cut_to_it(tmp_path, model, objective):
    source = write_clip(tmp_path / "talk.mp4", moving_clip(10), fps=10, audio_hz=300)
    previews = []

    def on_progress(progress):
        previews.append(progress)
        return progress.step >= 4  # four one-step frames, then stop

    result = dream_video(model, source, objective, QUICK, on_progress=on_progress)
    assert result.stopped and len(result.frames) == 4
    assert (result.dreamed_frames, result.requested_frames) == (4, 10)
    # The preview is the frame being dreamed, at the clip's working size.
    assert previews[0].preview.shape == SIZE + (3,) and previews[0].total == 10
    frames, facts, audio = decode(result.save_mp4(tmp_path / "partial.mp4"))
    assert len(frames) == 4
    assert audio.shape[1] / facts["sample_rate"] == pytest.approx(0.4, abs=0.05)


# Decoding the whole track would take 1.1 GB more (measured on the code before the cap).
LONG_AUDIO_RSS_BOUND_MB = 150


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_short_clip_with_a_long_sound_track_is_a_short_clip(tmp_path, suffix):
    """A 1 s clip with 30 minutes of sound: accepted from its metadata (the video's own
    length counts, also in an MKV whose container reports the longest track), its audio cut
    to the video with a note, and only that much of the track is ever decoded."""
    source = write_clip_with_long_audio(tmp_path / f"long-audio{suffix}")
    info = video.check_video(source)
    assert info.duration_s == pytest.approx(1.0, abs=0.15) and info.has_audio
    with PeakRss() as memory:
        clip = read_video(source)
    assert len(clip.frames) == 10
    assert clip.audio is not None and clip.audio.duration_s == pytest.approx(1.0, abs=0.05)
    assert any("audio track is longer than the video" in note for note in clip.notes), clip.notes
    assert memory.growth_mb < LONG_AUDIO_RSS_BOUND_MB


# ----------------------------------------------------------------------------- coherence


def test_blending_and_flow_flicker_less_than_frame_by_frame(tmp_path, model, objective):
    source = tmp_path / "pan.mp4"
    iio.imwrite(source, moving_clip(8, size=(96, 128)), plugin="pyav", codec="libx264", fps=10)
    schedule = Schedule(steps=3, octaves=2, jitter=16)
    measured = {}
    for name, blend, flow in [("none", 0.0, False), ("blend", 0.5, False), ("flow", 0.5, True)]:
        result = dream_video(model, source, objective, schedule, blend=blend, flow=flow)
        measured[name] = result.settings["flicker"]
    # The measure, output change over input change: blending lowers it (partly
    # by lagging behind the motion: its output changes less than the source does).
    assert measured["blend"]["ratio"] < 0.8 * measured["none"]["ratio"]
    assert measured["blend"]["ratio"] < 1.0 < measured["none"]["ratio"]
    # Net of the motion (frame k−1 moved along the source's flow first), flow is the
    # steadiest by far, and blending alone is worse than nothing: its trails.
    compensated = {name: numbers["motion_compensated_ratio"] for name, numbers in measured.items()}
    assert compensated["flow"] < 0.8 * compensated["none"]
    assert compensated["flow"] < 0.8 * compensated["blend"]
    assert measured["flow"]["ratio"] < measured["none"]["ratio"] * 1.02


def test_flicker_measure():
    clip = list(moving_clip(5))
    same = flicker(clip, clip)
    assert same["ratio"] == pytest.approx(1.0) and same["motion_compensated_ratio"] == pytest.approx(1.0)
    noisy = [np.clip(frame + np.random.default_rng(k).normal(0, 20, frame.shape), 0, 255)
             for k, frame in enumerate(clip)]
    numbers = flicker(noisy, clip)
    # The texture's own motion dominates the plain ratio; net of motion the noise shows.
    assert numbers["ratio"] > 1.1 and numbers["motion_compensated_ratio"] > 3
    still = [clip[0]] * 4
    assert flicker(still, still)["ratio"] == 0.0  # no division by zero


def test_flow_follows_the_motion():
    clip = moving_clip(2, size=(96, 128))
    motion = video.optical_flow(clip[0], clip[1])
    moved = video.warp(clip[0], motion)
    plain = np.abs(clip[1].astype(float) - clip[0]).mean()
    assert np.abs(clip[1].astype(float) - moved)[8:-8, 8:-8].mean() < 0.5 * plain
    # The background pans left by 3 px: frame 1 at p is frame 0 at p + 3 px.
    assert np.median(motion[40:90, :40, 0]) == pytest.approx(3, abs=0.5)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("suffix, codec", [("webm", "libvpx-vp9"), ("mov", "libx264"),
                                           ("mkv", "libx264")])
def test_other_containers(tmp_path, suffix, codec):
    source = tmp_path / f"clip.{suffix}"
    iio.imwrite(source, levels_clip(6), plugin="pyav", codec=codec, fps=6)
    clip = read_video(source)
    assert len(clip.frames) == 6 and clip.fps == 6 and clip.frames[0].shape == SIZE + (3,)


def test_animated_gif_input(tmp_path, model, objective):
    source = tmp_path / "anim.gif"
    iio.imwrite(source, levels_clip(5), extension=".gif", duration=100, loop=0)
    result = dream_video(model, source, objective, QUICK)
    assert len(result.frames) == 5 and result.fps == 10
    assert any("animated GIF" in note for note in result.notes)
    frames, facts, _ = decode(result.save_mp4(tmp_path / "gif.mp4"))
    assert len(frames) == 5 and facts["rate"] == 10


def test_gif_with_a_held_frame_keeps_its_timing(tmp_path):
    source = tmp_path / "held.gif"
    iio.imwrite(source, levels_clip(3), extension=".gif", duration=[100, 300, 100], loop=0)
    clip = read_video(source)
    assert clip.fps == 10
    kept = [int(round((frame[0, 0, 0] - 10) / 8)) for frame in clip.frames]
    assert kept == [0, 1, 1, 1, 2]  # the 300 ms frame shown for three 100 ms slots


@pytest.mark.parametrize("rotation, upright_shape, marker_at", [
    (90, (96, 64), (95, 0)), (-90, (96, 64), (0, 63)), (180, (64, 96), (63, 95))])
def test_rotated_phone_video_is_turned_upright(tmp_path, rotation, upright_shape, marker_at):
    frames = np.full((3,) + SIZE + (3,), 60, np.uint8)
    frames[:, :12, :12] = (250, 30, 30)  # a red mark at the stored frame's top left
    source = write_clip(tmp_path / "phone.mp4", frames, rotation=rotation)
    clip = read_video(source)
    assert clip.frames[0].shape == upright_shape + (3,)
    assert clip.rotation == rotation % 360
    y, x = marker_at
    assert clip.frames[0][y, x, 0] > 200 and clip.frames[0][y, x, 1] < 80
    assert any("turned upright" in note for note in clip.notes)


def test_rotated_clip_dreams_and_encodes_upright(tmp_path, model, objective):
    source = write_clip(tmp_path / "phone.mp4", moving_clip(3), rotation=90)
    result = dream_video(model, source, objective, QUICK)
    assert result.settings["size"] == [64, 96] and result.settings["source"]["rotation"] == 90
    frames, facts, _ = decode(result.save_mp4(tmp_path / "upright.mp4"))
    assert (facts["width"], facts["height"]) == (64, 96) and len(frames) == 3


def test_odd_dimensions_become_even(tmp_path, model, objective):
    source = write_clip(tmp_path / "odd.mp4", moving_clip(4, size=(65, 97)), pix_fmt="yuv444p")
    # Cropped, not resampled: the kept pixels are the decoded ones.
    with av.open(str(source)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    np.testing.assert_array_equal(read_video(source).frames[0], first[:64, :96])
    result = dream_video(model, source, objective, QUICK)
    assert result.frames[0].shape == (64, 96, 3)
    assert any("even sides" in note for note in result.notes)
    frames, facts, _ = decode(result.save_mp4(tmp_path / "even.mp4"))
    assert (facts["width"], facts["height"]) == (96, 64) and len(frames) == 4


def test_not_a_video(tmp_path, model, objective):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(VideoError, match="Could not read this file as a video"):
        dream_video(model, text, objective, QUICK)
    with pytest.raises(VideoError, match="No video file at"):
        dream_video(model, tmp_path / "missing.mp4", objective, QUICK)
    picture = tmp_path / "photo.png"
    iio.imwrite(picture, smooth_picture(64, 64))
    with pytest.raises(VideoError, match="still image"):
        dream_video(model, picture, objective, QUICK)
    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), mode="w") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp",
                                             layout="mono")
        samples.sample_rate = 8000
        container.mux(stream.encode(samples))
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match="no video track"):
        dream_video(model, sound, objective, QUICK)
    # The next request works.
    good = write_clip(tmp_path / "good.mp4", moving_clip(2))
    assert len(dream_video(model, good, objective, QUICK).frames) == 2


@pytest.mark.parametrize("suffix, codec, message", [
    ("avi", "mpeg4", "This video has no frames"),    # a video track with nothing in it
    ("mp4", "libx264", "This file has no video track"),  # MP4 drops an empty track
])
def test_zero_frames(tmp_path, model, objective, suffix, codec, message):
    source = tmp_path / f"empty.{suffix}"
    container = av.open(str(source), mode="w")
    stream = container.add_stream(codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    container.start_encoding()
    container.close()
    with pytest.raises(VideoError, match=message):
        dream_video(model, source, objective, QUICK)
    good = write_clip(tmp_path / "good.mp4", moving_clip(2))
    assert len(dream_video(model, good, objective, QUICK).frames) == 2


def test_damaged_file_keeps_what_decodes(tmp_path):
    source = tmp_path / "clip.webm"
    iio.imwrite(source, moving_clip(24), plugin="pyav", codec="libvpx-vp9", fps=12)
    cut = tmp_path / "cut.webm"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size * 6 // 10])
    clip = read_video(cut)
    assert 1 <= len(clip.frames) < 24 and clip.frames[0].shape == SIZE + (3,)


def test_too_small(tmp_path, model, objective):
    source = write_clip(tmp_path / "tiny.mp4", levels_clip(2, size=(8, 12)))
    with pytest.raises(VideoError, match="at least 16 pixels"):
        dream_video(model, source, objective, QUICK)


# ----------------------------------------------------------------------------- caps


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any frame is decoded: the refusal must come from metadata."""
    def refuse(*args, **kwargs):
        raise AssertionError("decoded although the metadata was enough to refuse")

    monkeypatch.setattr(video, "_decode", refuse)


def test_long_clip_refused_from_metadata_quickly(tmp_path, model, objective, no_decoding):
    source = write_clip(tmp_path / "long.mp4", levels_clip(40, size=(32, 32)), fps=1)
    started = time.perf_counter()
    with pytest.raises(LimitError, match=r"The clip is 40\.0 s long; the limit is 30 s"):
        dream_video(model, source, objective, QUICK)
    assert time.perf_counter() - started < 0.5


def test_duration_cap_holds_when_the_file_does_not_say(tmp_path, model, objective, monkeypatch):
    source = write_clip(tmp_path / "long.mp4", levels_clip(12, size=(32, 32)), fps=1)
    real = video.probe_video

    def without_duration(path):
        info = real(path)
        return type(info)(**{**info.__dict__, "duration_s": None, "frame_count": None})

    monkeypatch.setattr(video, "probe_video", without_duration)
    with pytest.raises(LimitError, match="longer than 8 s"):
        dream_video(model, source, objective, QUICK, video_limits=VideoLimits(max_duration_s=8))


@pytest.mark.parametrize("limits, kwargs, message", [
    (VideoLimits(max_frames=5), {}, r"makes 10 frames at 10 fps; the limit is 5 frames"),
    (VideoLimits(max_megapixel_steps=0.01), {}, r"megapixel-steps"),
    (VideoLimits(max_decode_megapixels=0.01), {}, r"96×64 at 10 fps for 1\.0 s"),
    (DEFAULT_VIDEO_LIMITS, {"fps": 30}, r"fps must be between 0\.5 and 12"),
    (DEFAULT_VIDEO_LIMITS, {"blend": 1.0}, r"blend must be between 0 and 0\.95"),
])
def test_caps_refused_before_decoding(tmp_path, model, objective, no_decoding, limits, kwargs,
                                      message):
    source = write_clip(tmp_path / "clip.mp4", levels_clip(10))
    with pytest.raises(LimitError, match=message):
        dream_video(model, source, objective, QUICK, video_limits=limits, **kwargs)


def test_gif_preview_is_short_and_real_time(tmp_path):
    result = video.VideoResult(np.zeros((32, 48, 3), np.uint8),
                               [np.full((32, 48, 3), k, np.uint8) for k in range(120)], {},
                               fps=Fraction(12))
    path = result.save_gif(tmp_path / "preview.gif")
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == video.PREVIEW_GIF_FRAMES
    # 10 s of video in 48 frames: each shown ~208 ms, stored in 10 ms units.
    assert iio.immeta(path, index=0)["duration"] == 210
