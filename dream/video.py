"""Deep Dream on a whole video clip, with the dream following the clip from frame to frame.

After graphific's DeepDreamVideo (2015): dreaming each frame on its own makes the
patterns jump about at every frame, so each frame is dreamed starting from the source
frame *blended with the previous dreamed frame*; the patterns carry over and grow
instead of flickering. Optionally (after samim23's DeepDreamAnim) the previous dreamed
frame is first moved along the optical flow between the two source frames, so the
patterns follow the motion instead of smearing behind it. The flow is OpenCV's
Farnebäck method, which those tools use too.

1. **Probe** the container's metadata: a clip over the duration, frame-rate × size or
   work caps is refused before a single frame is decoded.
2. **Read**: decode, turn upright (phone videos store a rotation), resample the frame
   rate down by dropping frames evenly, downscale to `max_side` with even sides. The
   first audio track is decoded into memory only as far as the duration cap (~8 MB;
   a short clip with an hour of sound is a short clip: the rest of the track is
   demuxed, never decoded) and written again as AAC: one path for AAC, Opus, Vorbis
   or MP3 sources, cut exactly to the frames dreamed (a stop keeps the audio of the
   frames so far), and independent of the uploaded file's lifetime. Other tracks
   (more audio, subtitles, data) are never decoded.
3. **Dream** frame after frame with the engine (progress, preview and stop as in every
   technique; a stop returns the clip so far).
4. **Measure** flicker: the output's mean frame-to-frame change relative to the input's,
   plain and net of the motion (`FlickerMeter`).

Measured on a 24-frame 512×288 pan with a moving object, width-1.0 graph
(benchmarks/bench_video.py), flicker plain / motion-compensated:
frame by frame 1.56 / 3.08, blend 0.5 0.86 / 2.77, blend 0.5 + flow 1.35 / 1.96.
Blending alone scores lowest on the plain measure because its output lags behind the
motion (it changes less than the source itself: moving objects leave trails, visible
in the frames); net of the motion, flow is clearly the steadiest, and its patterns
move with the picture. So blend 0.5 + flow is the default.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import av
import cv2
import numpy as np

from dream.animation import AudioTrack, write_gif, write_mp4
from dream.colours import with_colours_of
from dream.engine import ProgressCallback, ProgressTracker, Schedule, engine_for, to_uint8
from dream.engine import total_octave_steps
from dream.frames import check_request
from dream.limits import DEFAULT_LIMITS, LimitError, Limits, check_range
from dream.model import InceptionModel
from dream.objectives import Objective
from dream.result import DreamResult

# Lighter than a still image's schedule: with blending each frame starts from the last
# dream, so the patterns build up over frames instead of within one.
# float32 like every technique: bfloat16's input gradient agreed with float32's at cosine
# 0.92–0.95 only (docs/DEFAULTS.md), below the 0.98 the app asks of it.
DEFAULT_VIDEO_SCHEDULE = Schedule(steps=3, step_size=1.5, octaves=2, octave_scale=1.4,
                                  precision="float32")
DEFAULT_BLEND = 0.5        # share of the previous dreamed frame in each frame's start
DEFAULT_FLOW = True        # warp the previous dream along the optical flow (less flicker)
DEFAULT_VIDEO_SIDE = 384   # longest side dreamed on unless the caller asks otherwise
PREVIEW_GIF_FRAMES = 48    # the GIF preview is a subsampled overview of the clip
PREVIEW_GIF_SIDE = 320
TIME_TOLERANCE_S = 0.002   # container timestamps are often rounded to 1 ms
AUDIO_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # AAC's


class VideoError(ValueError):
    """The input is not a video we can use; the message says why."""


@dataclass(frozen=True)
class VideoLimits:
    """Caps on one video request, on top of `dream.Limits` (which still bounds steps,
    octaves, tiles and the smallest side). Checked from the container's metadata
    before decoding; a clip whose metadata lacks a duration is cut off while decoding."""

    max_duration_s: float = 30.0     # longer clips are refused
    max_fps: float = 12.0            # higher frame rates are resampled down (frames dropped)
    max_side: int = 512              # frames are downscaled to this before dreaming
    max_frames: int = 360            # frames dreamed (30 s at 12 fps)
    # Decoding cost: duration × source fps × source megapixels. 10 000 is 30 s of 4K at
    # 30 fps, or of 1080p at 60 fps with room to spare (1080p H.264 decoded at 1000–2700
    # megapixels a second on 2 cores here, so at most ~10 s).
    max_decode_megapixels: float = 10_000.0
    # Σ over frames of steps × octave megapixels, as `Limits.max_megapixel_steps`; ~0.75 s
    # each on two CPU cores at full model size (0.5 s a frame at 512×288 with the default
    # schedule, 0.67 megapixel-steps), so 600 is at most ~7.5 minutes.
    max_megapixel_steps: float = 600.0
    max_total_steps: int = 12_000    # frames × octaves × steps (per-step overhead)


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a clip, read without decoding it."""

    container: str                 # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str                     # e.g. "h264", "vp9", "gif"
    width: int                     # coded size (a rotated clip is shown transposed)
    height: int
    fps: Fraction | None           # the stream's nominal frame rate
    duration_s: float | None       # None when the container does not say
    frame_count: int | None        # None when the container does not say
    has_audio: bool


@dataclass
class Clip:
    """Decoded frames ready to dream on."""

    frames: list[np.ndarray]       # uint8 H×W×3, upright, even sides
    fps: Fraction
    audio: AudioTrack | None
    info: VideoInfo
    rotation: int                  # degrees counter-clockwise applied to stand it upright
    notes: list[str] = field(default_factory=list)


@dataclass
class VideoResult(DreamResult):
    """A dreamed clip: `frames` are the dreamed frames (not the input first, as in the
    other techniques' animations); `image` is the last one."""

    fps: Fraction = Fraction(DEFAULT_VIDEO_LIMITS.max_fps)
    audio: AudioTrack | None = None  # the source's audio, cut to the clip's length

    @property
    def dreamed_frames(self) -> int:
        return len(self.frames)  # no input frame first: the clip is the dream

    @property
    def requested_frames(self) -> int:
        return int(self.settings.get("clip_frames", len(self.frames)))

    @property
    def duration_s(self) -> float:
        return len(self.frames) / float(self.fps)

    def save_mp4(self, path: str | os.PathLike, *, keep_audio: bool = True,
                 **options: Any) -> Path:
        """The dreamed clip at its own frame rate and size, with the source's audio
        (re-encoded as AAC) unless `keep_audio=False` or `pingpong=True`. Options as
        `dream.animation.write_mp4`."""
        options.setdefault("fps", self.fps)
        options.setdefault("max_side", None)
        audio = self.audio if keep_audio and not options.get("pingpong") else None
        return write_mp4(self.frames, path, audio=audio, **options)

    def save_gif(self, path: str | os.PathLike, **options: Any) -> Path:
        """A short GIF preview: at most 48 frames of at most 320 px spread over the
        whole clip, playing in real time. Options as `dream.animation.write_gif`."""
        options.setdefault("max_frames", PREVIEW_GIF_FRAMES)
        options.setdefault("max_side", PREVIEW_GIF_SIDE)
        shown = min(len(self.frames), options["max_frames"])
        real_time_ms = 1000.0 * self.duration_s / max(1, shown)
        # GIF delays are stored in 10 ms units.
        options.setdefault("frame_duration_ms", int(min(10_000, max(20, round(real_time_ms, -1)))))
        return write_gif(self.frames, path, **options)


# ----------------------------------------------------------------------------- probe


def _open(source):
    if isinstance(source, (bytes, bytearray)):
        import io

        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise VideoError(f"No video file at {source}.")
        source = str(source)
    try:
        return av.open(source, mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoError(
            "Could not read this file as a video (it may be corrupt or in an unsupported "
            "format). Try an MP4, WebM, MOV or animated GIF."
        ) from error


def _is_still_image(container) -> bool:
    # FFmpeg opens PNG, JPEG, WebP… as one-frame "videos" through its image demuxers.
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


def _info(container) -> VideoInfo:
    if _is_still_image(container):
        raise VideoError("This is a still image, not a video: dream it in the Deep Dream tab, "
                         "or upload an MP4, WebM, MOV or animated GIF.")
    if not container.streams.video:
        raise VideoError("This file has no video track.")
    stream = container.streams.video[0]
    rate = stream.guessed_rate or stream.average_rate or stream.base_rate
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
        if len(container.streams) > 1:
            # The container's duration is its longest track's (e.g. an hour of sound
            # beside a second of video in an MKV): the video's own is in its packets.
            duration = _video_packets_duration(container, stream) or duration
    return VideoInfo(
        container=container.format.name, codec=stream.codec_context.name,
        width=int(stream.codec_context.width or 0), height=int(stream.codec_context.height or 0),
        fps=Fraction(rate) if rate else None, duration_s=duration,
        frame_count=int(stream.frames) or None, has_audio=bool(container.streams.audio))


def _video_packets_duration(container, stream) -> float | None:
    """The video track's duration from its packets' timestamps (demuxed, not decoded:
    about a second for the largest upload)."""
    start = end = None
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        begin = float(packet.pts * packet.time_base)
        finish = begin + float((packet.duration or 0) * packet.time_base)
        start = begin if start is None else min(start, begin)
        end = finish if end is None else max(end, finish)
    container.seek(0)
    return None if start is None else end - start


def probe_video(source) -> VideoInfo:
    """The clip's container metadata (nothing decoded); `VideoError` if it is not a video."""
    with _open(source) as container:
        return _info(container)


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Plan:
    fps: Fraction                  # output frame rate
    size: tuple[int, int]          # (height, width) in the coded orientation, even
    max_frames: int                # decoding stops after this many output frames
    source_period_s: float         # a source frame's duration when a frame does not say
    expected_frames: int | None    # from the metadata; None when it has no duration


def _output_fps(source_fps: Fraction | None, wanted: float) -> Fraction:
    """The source rate divided by the smallest whole number that brings it to at most
    `wanted`, so frames are dropped evenly (30 → 10, 24 → 12, 60 → 12 for 12 fps)."""
    if not source_fps or source_fps <= 0:
        return Fraction(wanted).limit_denominator(1001)
    if source_fps <= Fraction(wanted).limit_denominator(1001) * Fraction(1_000_001, 1_000_000):
        return source_fps
    return source_fps / math.ceil(source_fps / Fraction(wanted).limit_denominator(1001))


def _working_size(width: int, height: int, max_side: int) -> tuple[tuple[int, int], bool]:
    """((height, width) with even sides fitted into max_side, whether it was downscaled)."""
    scale = min(1.0, max_side / max(width, height))
    new_h, new_w = max(2, round(height * scale)), max(2, round(width * scale))
    return (new_h - new_h % 2, new_w - new_w % 2), scale < 1.0


def _plan(info: VideoInfo, *, fps: float | None, max_side: int, limits: Limits,
          video_limits: VideoLimits) -> _Plan:
    """Refuses a clip over any cap, from its metadata alone."""
    if info.width <= 0 or info.height <= 0:
        raise VideoError("The video track has no picture size; the file may be damaged.")
    if min(info.width, info.height) < limits.min_side:
        raise VideoError(f"The video is {info.width}×{info.height} pixels; it needs at least "
                         f"{limits.min_side} pixels on each side.")
    if fps is not None:
        check_range("fps", fps, 0.5, video_limits.max_fps)
    out_fps = _output_fps(info.fps, fps or video_limits.max_fps)
    duration = info.duration_s
    if duration is not None and duration > video_limits.max_duration_s + 1e-3:
        raise LimitError(
            f"The clip is {duration:.1f} s long; the limit is {video_limits.max_duration_s:g} s. "
            f"Trim it to a shorter part.")
    if duration is not None and info.fps:
        decode = duration * float(info.fps) * info.width * info.height / 1e6
        if decode > video_limits.max_decode_megapixels:
            raise LimitError(
                f"The clip is {info.width}×{info.height} at {float(info.fps):.3g} fps for "
                f"{duration:.1f} s: about {decode:,.0f} megapixels to decode; the limit is "
                f"{video_limits.max_decode_megapixels:,.0f}. Upload a smaller, shorter or "
                f"lower-frame-rate version.")
    size, _ = _working_size(info.width, info.height, max_side)
    if min(size) < limits.min_side:
        raise VideoError(f"The video is {info.width}×{info.height}; fitted into {max_side} px "
                         f"its short side would be under {limits.min_side} px.")
    cap = video_limits.max_frames
    expected = None
    if duration is not None:
        expected = max(1, math.ceil(duration * out_fps - 1e-6))
        if expected > cap:
            raise LimitError(
                f"The clip makes {expected} frames at {float(out_fps):.3g} fps; the limit is "
                f"{cap} frames. Use a lower frame rate or a shorter clip.")
    source_period = 1.0 / float(info.fps) if info.fps else 1.0 / float(out_fps)
    return _Plan(out_fps, size, cap, source_period, expected)


def engine_limits(limits: Limits, video_limits: VideoLimits) -> Limits:
    """The image limits with the video's caps on frames and total work."""
    return replace(limits, max_frames=video_limits.max_frames,
                   max_total_steps=video_limits.max_total_steps,
                   max_megapixel_steps=video_limits.max_megapixel_steps)


# ----------------------------------------------------------------------------- decode


def _to_rgb(frame, size: tuple[int, int], rotation: int) -> np.ndarray:
    """A decoded frame as upright uint8 RGB; `size` is (height, width) before turning."""
    height, width = size
    if frame.height - height in (0, 1) and frame.width - width in (0, 1):
        decode_height, decode_width = frame.height, frame.width  # at most an odd row to crop
    else:
        decode_height, decode_width = height, width              # downscaled by FFmpeg
    # Pixel formats with alpha: GIF frames decode as BGRA, WebM may carry yuva420p.
    has_alpha = len(frame.format.components) in (2, 4)
    picture = frame.to_ndarray(format="rgba" if has_alpha else "rgb24", width=decode_width,
                               height=decode_height, interpolation="AREA")[:height, :width]
    if has_alpha:
        alpha = picture[:, :, 3:].astype(np.float32) / 255.0
        # Transparent pixels over white, as still images are (dream.images).
        picture = np.rint(picture[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if rotation:
        picture = np.rot90(picture, k=rotation // 90)
    return np.ascontiguousarray(picture)


def _audio_layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


class _AudioCollector:
    """Decoded audio resampled to float planar mono/stereo at an AAC-friendly rate, at
    most `max_s` seconds of it: past that, `full` is set and nothing more is decoded."""

    def __init__(self, stream, max_s: float) -> None:
        rate = int(stream.codec_context.sample_rate or 48000)
        self.rate = rate if rate in AUDIO_RATES else 48000
        channels = stream.codec_context.channels or 2
        self.channels = 1 if channels == 1 else 2
        self.resampler = av.AudioResampler(format="fltp", layout=_audio_layout(self.channels),
                                           rate=self.rate)
        self.chunks: list[np.ndarray] = []
        self.start_s: float | None = None
        self.max_samples = int(max_s * self.rate)
        self.samples = 0
        self.full = False

    def wants(self, packet) -> bool:
        """Whether the packet is worth decoding (it starts before the cap)."""
        if self.full:
            return False
        if self.start_s is not None and packet.pts is not None and packet.time_base is not None:
            if float(packet.pts * packet.time_base) - self.start_s > self.max_samples / self.rate:
                self.full = True
        return not self.full

    def add(self, frame) -> None:
        if self.start_s is None and frame.time is not None:
            self.start_s = frame.time
        for resampled in self.resampler.resample(frame):
            self.chunks.append(resampled.to_ndarray().reshape(self.channels, -1))
            self.samples += self.chunks[-1].shape[1]
        if self.samples >= self.max_samples:
            self.full = True

    def track(self, video_start_s: float, duration_s: float) -> AudioTrack | None:
        for resampled in self.resampler.resample(None):
            self.chunks.append(resampled.to_ndarray().reshape(self.channels, -1))
        if not self.chunks:
            return None
        samples = np.concatenate(self.chunks, axis=1).astype(np.float32)
        # Line the audio up with the first video frame: drop what came before it, or
        # pad with silence when the audio starts later.
        offset = round(((self.start_s or 0.0) - video_start_s) * self.rate)
        if offset < 0:
            samples = samples[:, -offset:]
        elif offset > 0:
            samples = np.concatenate([np.zeros((self.channels, offset), np.float32), samples], 1)
        return AudioTrack(samples[:, :int(math.ceil(duration_s * self.rate))], self.rate)


def _decode(source, plan: _Plan, video_limits: VideoLimits) -> tuple[list, int, AudioTrack | None, int, list[str]]:
    """(frames, rotation, audio, source frames decoded, notes), resampled to plan.fps."""
    notes: list[str] = []
    frames: list[np.ndarray] = []
    rotation = 0
    decoded = 0
    audio = None
    slot_s = 1.0 / float(plan.fps)
    with _open(source) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        streams = [video]
        if container.streams.audio:
            # The clip's cap plus a second: the audio is cut to the frames afterwards.
            audio = _AudioCollector(container.streams.audio[0], video_limits.max_duration_s + 1.0)
            streams.append(container.streams.audio[0])
        budget_pixels = video_limits.max_decode_megapixels * 1e6
        first_s = None
        previous = None      # the last decoded frame, not yet placed in an output slot
        end_s = 0.0
        damaged = False
        try:
            for packet in container.demux(streams):
                if packet.stream.type == "audio":
                    if audio is None or not audio.wants(packet):
                        continue
                    try:
                        for frame in packet.decode():
                            audio.add(frame)
                    except av.error.FFmpegError:
                        # A broken audio track costs the audio, not the video.
                        audio = None
                        notes.append("The audio track could not be decoded; the video is silent.")
                    continue
                for frame in packet.decode():
                    decoded += 1
                    budget_pixels -= frame.width * frame.height
                    if budget_pixels < 0:
                        raise LimitError(
                            f"The clip needs more than {video_limits.max_decode_megapixels:,.0f} "
                            f"megapixels of decoding (its frames are denser than its file "
                            f"says). Upload a smaller, shorter or lower-frame-rate version.")
                    if first_s is None:
                        first_s = frame.time or 0.0
                        rotation = int(round((frame.rotation or 0) / 90.0)) % 4 * 90
                    time_s = (frame.time - first_s) if frame.time is not None else (decoded - 1) * slot_s
                    if time_s > video_limits.max_duration_s + 1e-3:
                        raise LimitError(
                            f"The clip is longer than {video_limits.max_duration_s:g} s (its "
                            f"file did not say how long). Trim it to a shorter part.")
                    # Output slot k shows the source frame on screen at its time (the
                    # last one starting by then): frames are dropped evenly, held frames
                    # repeated. The tolerance absorbs timestamps rounded to milliseconds.
                    while previous is not None and len(frames) * slot_s < time_s - TIME_TOLERANCE_S:
                        frames.append(_to_rgb(previous, plan.size, rotation))
                        if len(frames) > plan.max_frames:
                            raise LimitError(
                                f"The clip makes more than {plan.max_frames} frames at "
                                f"{float(plan.fps):.3g} fps. Use a lower frame rate or a "
                                f"shorter clip.")
                    previous = frame
                    period = float(frame.duration * frame.time_base) if (
                        frame.duration and frame.time_base) else plan.source_period_s
                    end_s = time_s + period
        except av.error.FFmpegError:
            damaged = True
        if previous is not None:
            while len(frames) * slot_s < end_s - TIME_TOLERANCE_S or not frames:
                frames.append(_to_rgb(previous, plan.size, rotation))
            frames = frames[:plan.max_frames]
        if damaged:
            if not frames:
                raise VideoError("Could not decode any frame of this video; the file may be damaged.")
            notes.append(f"The file is damaged after {len(frames) / float(plan.fps):.1f} s; "
                         f"the part before that was used.")
    if not frames:
        raise VideoError("This video has no frames.")
    track = audio.track(first_s or 0.0, len(frames) * slot_s) if audio is not None else None
    if track is not None and (audio.full or audio.samples > track.samples.shape[1] + audio.rate):
        notes.append("The audio track is longer than the video: only the part under the video "
                     "is kept.")
    return frames, rotation, track, decoded, notes


def read_video(source, *, fps: float | None = None, max_side: int | None = None,
               limits: Limits = DEFAULT_LIMITS,
               video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> Clip:
    """Decodes a clip for dreaming: upright, at most `fps` frames per second (the
    video limit by default) and `max_side` pixels (`DEFAULT_VIDEO_SIDE` by default),
    even sides, plus its audio. Refuses a clip over a cap from its metadata first."""
    info = probe_video(source)
    side = _max_side(max_side, limits, video_limits)
    plan = _plan(info, fps=fps, max_side=side, limits=limits, video_limits=video_limits)
    return _read(source, info, plan, video_limits)


def first_frame(source, max_side: int = DEFAULT_VIDEO_SIDE) -> np.ndarray | None:
    """The clip's first picture, upright and at most `max_side` (a stand-in preview while
    the clip is read); None if it does not decode."""
    try:
        with _open(source) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                scale = min(1.0, max_side / max(frame.width, frame.height))
                size = (max(1, round(frame.height * scale)), max(1, round(frame.width * scale)))
                rotation = int(round((frame.rotation or 0) / 90.0)) % 4 * 90
                return _to_rgb(frame, size, rotation)
    except (VideoError, IndexError, av.error.FFmpegError):
        return None
    return None


def check_video(source, schedule: Schedule = DEFAULT_VIDEO_SCHEDULE, *, fps: float | None = None,
                max_side: int | None = None, limits: Limits = DEFAULT_LIMITS,
                video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> VideoInfo:
    """Refuses a clip that is not a video or is over any cap, from its metadata alone
    (nothing is decoded), as `dream_video` will; returns the metadata."""
    info = probe_video(source)
    plan = _plan(info, fps=fps, max_side=_max_side(max_side, limits, video_limits),
                 limits=limits, video_limits=video_limits)
    check_request(plan.size, schedule, plan.expected_frames or 1, engine_limits(limits, video_limits))
    return info


def _max_side(max_side: int | None, limits: Limits, video_limits: VideoLimits) -> int:
    if max_side is not None:
        check_range("max_side", max_side, limits.min_side, 10**6)
    return min(max_side or DEFAULT_VIDEO_SIDE, video_limits.max_side, limits.max_side)


def _read(source, info: VideoInfo, plan: _Plan, video_limits: VideoLimits) -> Clip:
    frames, rotation, audio, decoded, notes = _decode(source, plan, video_limits)
    height, width = frames[0].shape[:2]
    shown_w, shown_h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    if rotation:
        notes.append(f"The video is stored turned by {rotation}°; it was turned upright.")
    if (width, height) != (shown_w, shown_h):
        if max(width, height) < max(shown_w, shown_h) - 1:
            notes.append(f"The video was downscaled from {shown_w}×{shown_h} to {width}×{height}.")
        else:
            notes.append(f"The video is {shown_w}×{shown_h}; video needs even sides, so it was "
                         f"cropped to {width}×{height}.")
    if info.fps and plan.fps < info.fps:
        notes.append(f"The frame rate was reduced from {float(info.fps):.3g} to "
                     f"{float(plan.fps):.3g} fps ({decoded} frames decoded, {len(frames)} kept).")
    if info.codec == "gif":
        notes.append("The animated GIF was read as a video.")
    if info.has_audio and audio is not None:
        notes.append("The audio track is kept (re-encoded as AAC).")
    return Clip(frames, plan.fps, audio, info, rotation, notes)


# ----------------------------------------------------------------------------- flow


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dense flow (H×W×2, x then y, in pixels) such that target(p) ≈ source(p + flow(p)).

    Farnebäck's polynomial-expansion method with the parameters DeepDreamVideo and
    DeepDreamAnim use (3 pyramid levels, 15 px windows).
    """
    return cv2.calcOpticalFlowFarneback(
        _gray(target), _gray(source), None, pyr_scale=0.5, levels=3, winsize=15,
        iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` moved along `flow` (from `optical_flow(image's frame, next frame)`)."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                 np.arange(height, dtype=np.float32))
    return cv2.remap(np.asarray(image, np.float32), grid_x + flow[..., 0], grid_y + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------- flicker


class FlickerMeter:
    """Frame-to-frame change of a dreamed clip relative to its source's, two ways:

    - `ratio`: mean |out_k − out_k−1| over mean |src_k − src_k−1| (1: the output
      changes as much as the source). Blending without flow scores low here partly
      because the output lags behind the motion (moving objects leave trails).
    - `motion_compensated_ratio`: the same after moving frame k−1 along the source's
      optical flow onto frame k (the "warping error" of video-consistency papers, e.g.
      Lai et al., ECCV 2018): what changes beyond the motion, i.e. flicker proper.

    Denominators are floored at 0.5 levels so a still clip does not divide by zero.
    """

    def __init__(self) -> None:
        self.totals = np.zeros(4)  # output change, source change, and both compensated
        self.pairs = 0

    def add(self, source: tuple[np.ndarray, np.ndarray], output: tuple[np.ndarray, np.ndarray],
            flow: np.ndarray) -> None:
        """One pair of consecutive frames, (previous, current) each, and the source's
        flow from previous to current (`optical_flow`)."""
        (source_prev, source_now), (output_prev, output_now) = (
            [np.asarray(frame, np.float32) for frame in pair] for pair in (source, output))
        self.totals += [
            np.mean(np.abs(output_now - output_prev)), np.mean(np.abs(source_now - source_prev)),
            np.mean(np.abs(output_now - warp(output_prev, flow))),
            np.mean(np.abs(source_now - warp(source_prev, flow))),
        ]
        self.pairs += 1

    def result(self) -> dict[str, float]:
        means = self.totals / max(1, self.pairs)
        return {
            "ratio": float(means[0] / max(means[1], 0.5)),
            "motion_compensated_ratio": float(means[2] / max(means[3], 0.5)),
            "output_change": float(means[0]), "source_change": float(means[1]),
        }


def flicker(output: list[np.ndarray], source: list[np.ndarray],
            pairs: Sequence[int] | None = None) -> dict[str, float]:
    """`FlickerMeter`'s numbers for a dreamed clip and its source frames (same size), over
    the pairs (k − 1, k) for k in `pairs` (default: every pair)."""
    meter = FlickerMeter()
    count = min(len(output), len(source))
    for k in (range(1, count) if pairs is None else [k for k in pairs if 0 < k < count]):
        meter.add((source[k - 1], source[k]), (output[k - 1], output[k]),
                  optical_flow(source[k - 1], source[k]))
    return meter.result()


# ----------------------------------------------------------------------------- dream


def _start_image(source: np.ndarray, previous_dream: np.ndarray | None, blend: float,
                 motion: np.ndarray | None) -> np.ndarray:
    """Where a frame's dream starts: its source blended with the previous dreamed frame
    (DeepDreamVideo), that frame first moved along `motion` (the flow between the two
    source frames) when given."""
    source = source.astype(np.float32)
    if previous_dream is None or blend == 0:
        return source
    carried = previous_dream.astype(np.float32)
    if motion is not None:
        carried = warp(carried, motion)
    return (1.0 - blend) * source + blend * carried


# (frames, schedule, on_progress) → (dreamed frames, stopped, indices where a piece starts)
FrameRuns = Callable[[Sequence[np.ndarray], Schedule, "ProgressCallback | None"],
                     tuple[list[np.ndarray], bool, list[int]]]


def dream_frames(model: InceptionModel, frames: Sequence[np.ndarray], objective: Objective,
                 schedule: Schedule, *, blend: float, flow: bool, tracker: ProgressTracker,
                 limits: Limits, lead_in: int = 0, preserve_colors: bool = False) -> list[np.ndarray]:
    """Dreams `frames` one after another, each starting from its source blended with the
    previous dream (moved along the motion when `flow`); returns the dreamed frames but
    the first `lead_in`, which only lead in: a run of a clip cut into pieces starts a few
    frames before its piece, so that its first kept frame already carries a dream and the
    pieces join without a jump. Ends early, with what it has, when `tracker` is stopped.
    `preserve_colors` gives each dreamed frame (and the preview) its own source frame's
    colours (`dream.colours`); the dream carried to the next frame is the uncorrected one,
    as the working image of the other techniques."""
    engine = engine_for(model)
    dreamed: list[np.ndarray] = []
    shown: list[np.ndarray] = []
    plain_render = tracker.render
    try:
        for index, frame in enumerate(frames):
            motion = optical_flow(frames[index - 1], frame) if index and flow else None
            start = _start_image(frame, dreamed[-1] if dreamed else None, blend, motion)
            if preserve_colors:
                tracker.render = lambda image, source=frame: with_colours_of(image, source)
            # Every frame gets the same random shifts, so what differs between two frames'
            # dreams comes from the pictures, not from the jitter (measured: less flicker
            # than fresh shifts each frame, with and without blending).
            current = engine.run(objective, start, schedule, tracker=tracker, step_offset=0,
                                 limits=limits)
            dreamed.append(to_uint8(current))
            shown.append(with_colours_of(current, frame) if preserve_colors else dreamed[-1])
            if tracker.stopped:
                break
    finally:
        tracker.render = plain_render
    return shown[lead_in:]


def dream_video(
    model: InceptionModel, source, objective: Objective,
    schedule: Schedule = DEFAULT_VIDEO_SCHEDULE, *, blend: float = DEFAULT_BLEND,
    flow: bool = DEFAULT_FLOW, fps: float | None = None, max_side: int | None = None,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS, runs: "FrameRuns | None" = None,
    preserve_colors: bool = False,
) -> VideoResult:
    """Dreams every frame of a clip (a path or bytes: MP4, WebM, MOV, animated GIF…).

    `blend` (0..0.95) is the previous dreamed frame's share in where each frame starts:
    0 dreams every frame on its own. `flow` moves that frame along the motion first.
    `fps` lowers the frame rate further than the limit; `max_side` the size
    (`DEFAULT_VIDEO_SIDE` by default, at most `video_limits.max_side`). Progress previews
    are the frame being dreamed; returning True from `on_progress` stops and returns the
    frames dreamed so far. Refuses clips over `video_limits` before decoding them.
    `runs` dreams the decoded frames elsewhere (`dream.pool.video_pieces`: the clip cut
    into pieces dreamed on a pool's workers); the settings then also give the flicker at
    the pieces' joins and inside them. `preserve_colors` keeps each frame's own colours
    (`dream.colours`); `runs` must then keep them too (the pool's jobs read it from the
    endpoint's values).
    """
    check_range("blend", blend, 0.0, 0.95)
    info = probe_video(source)
    side = _max_side(max_side, limits, video_limits)
    plan = _plan(info, fps=fps, max_side=side, limits=limits, video_limits=video_limits)
    frame_limits = engine_limits(limits, video_limits)
    # Work caps from the metadata's frame count, before decoding; again after.
    check_request(plan.size, schedule, plan.expected_frames or 1, frame_limits)
    clip = _read(source, info, plan, video_limits)
    size = clip.frames[0].shape[:2]
    schedule = check_request(size, schedule, len(clip.frames), frame_limits)

    joins: list[int] = []
    if runs is None:
        steps_per_frame = total_octave_steps(*size, schedule)
        tracker = ProgressTracker(steps_per_frame * len(clip.frames), on_progress)
        dreamed = dream_frames(model, clip.frames, objective, schedule, blend=blend, flow=flow,
                               tracker=tracker, limits=frame_limits,
                               preserve_colors=preserve_colors)
        stopped = tracker.stopped
    else:
        dreamed, stopped, joins = runs(clip.frames, schedule, on_progress)
    # Measured once the clip is dreamed (the flow again: a few per cent of the work).
    measured = {"flicker": flicker(dreamed, clip.frames)}
    if joins:
        measured["flicker_at_joins"] = flicker(dreamed, clip.frames, joins)
        measured["flicker_inside_pieces"] = flicker(
            dreamed, clip.frames, [k for k in range(1, len(dreamed)) if k not in set(joins)])

    notes = list(clip.notes)  # a stop is told by `stopped` and the frame counts, as elsewhere
    settings = {
        "technique": "video",
        "objective": objective.description,
        "size": [int(size[1]), int(size[0])],
        "frames": len(dreamed),
        "clip_frames": len(clip.frames),
        "fps": float(clip.fps),
        "blend": float(blend),
        "flow": bool(flow),
        "preserve_colors": bool(preserve_colors),
        "max_side": side,
        "source": {
            "container": info.container, "codec": info.codec,
            "size": [info.width, info.height] if clip.rotation in (0, 180) else [info.height, info.width],
            "fps": float(info.fps) if info.fps else None, "duration_s": info.duration_s,
            "rotation": clip.rotation, "audio": clip.audio is not None,
        },
        **measured,
        **asdict(schedule),
        "precision": engine_for(model).precision_of(schedule),
    }
    if not dreamed:  # stopped before its first frame was done
        dreamed = [clip.frames[0]]
    return VideoResult(dreamed[-1], dreamed, settings, notes, stopped, fps=clip.fps,
                       audio=clip.audio)
