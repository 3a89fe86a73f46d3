"""Frames to a looping animated GIF (imageio's Pillow writer) and to an MP4 (PyAV).

GIF encoding cost grows with frames × pixels, and a web page shows the GIF at a few
hundred pixels anyway, so frames are evenly subsampled to `max_frames` and downscaled to
`max_side` before encoding. Each frame gets its own adaptive 256-colour palette, which
follows frames that drift in colour better than one shared palette. The palette is
chosen by Pillow's fast octree before imageio writes the frames: left to itself, the
writer's median cut took 1.05 s for nine detailed 512 px frames (9 % of a request at the
app's defaults), the octree 0.02 s, with no visible difference.

The MP4 is H.264 in yuv420p with even sides, BT.709-tagged, the index (`moov`) at the
front so a browser starts playing before the download ends, written with PyAV (`av`),
whose wheels ship FFmpeg and libx264: nothing is downloaded or spawned at run time.
PyAV rather than imageio's pyav plugin (which wraps the same library) because the plugin
can neither move the index to the front, nor mux an audio track, nor set per-frame
durations; rather than imageio-ffmpeg because that pipes frames to a separate ffmpeg
process. The stream has no B-frames: every frame is presented at its decode time, so
there is no edit list and no start delay (a `<video loop>` restarts cleanly on frame
0), and the last frame's duration can be stretched exactly (`hold_last_ms`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import imageio.v3 as iio
import numpy as np
from PIL import Image

from dream.images import resize_to

DEFAULT_FRAME_DURATION_MS = 120
# x264's constant-rate factor: 0 is lossless, 51 the worst; 20 keeps dreamed textures
# crisp at a few hundred kB per second of 512 px video.
DEFAULT_CRF = 20
# x264's speed/size trade-off. On dreamed frames (dense, noise-like texture) "veryfast"
# took 40 % of "medium"'s time (0.18 s vs 0.45 s, median of three, for a default
# request's 9 frames of 512 px: 1.6 % vs 3.9 % of the request) and made a smaller file at
# the same CRF (340 vs 384 kB): benchmarks/bench_video.py --only encoding.
DEFAULT_PRESET = "veryfast"
AUDIO_BIT_RATE = 160_000  # AAC, stereo


def select_frames(frames: Sequence[np.ndarray], max_frames: int) -> list[np.ndarray]:
    """At most `max_frames`, evenly spaced, always keeping the first and the last."""
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1.")
    if len(frames) <= max_frames:
        return list(frames)
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, max_frames)).astype(int))
    return [frames[i] for i in picks]


def gif_frames(
    frames: Sequence[np.ndarray], *, pingpong: bool = False, max_frames: int = 60,
    max_side: int = 512,
) -> list[np.ndarray]:
    """The frames that will be encoded: subsampled, downscaled, optionally bounced."""
    if not frames:
        raise ValueError("An animation needs at least one frame.")
    chosen = select_frames(frames, max_frames)
    height, width = chosen[0].shape[:2]
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    chosen = [resize_to(np.ascontiguousarray(frame, dtype=np.uint8), size) for frame in chosen]
    if pingpong and len(chosen) > 2:
        # Forward then backward without repeating the two end frames: a seamless loop.
        chosen = chosen + chosen[-2:0:-1]
    return chosen


def write_gif(
    frames: Sequence[np.ndarray], path: str | os.PathLike, *,
    frame_duration_ms: int = DEFAULT_FRAME_DURATION_MS, pingpong: bool = False,
    max_frames: int = 60, max_side: int = 512, hold_last_ms: int = 0,
) -> Path:
    """Writes a GIF that loops forever; returns its path.

    `hold_last_ms` keeps the final frame on screen longer, so the result can be seen
    before the loop restarts.
    """
    if not 20 <= frame_duration_ms <= 10_000:
        raise ValueError("frame_duration_ms must be between 20 and 10000.")
    encoded = gif_frames(frames, pingpong=pingpong, max_frames=max_frames, max_side=max_side)
    durations = [int(frame_duration_ms)] * len(encoded)
    if hold_last_ms and not pingpong:
        durations[-1] = int(frame_duration_ms + hold_last_ms)
    path = Path(path)
    # Each frame now has ≤ 256 colours, so the writer's own palette step is exact and fast.
    paletted = [np.asarray(Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE)
                           .convert("RGB")) for frame in encoded]
    # Pillow (12.3) takes a list of durations only for several frames; one frame gets a number.
    duration = durations if len(durations) > 1 else durations[0]
    iio.imwrite(path, np.stack(paletted), extension=".gif", duration=duration, loop=0)
    return path


# ----------------------------------------------------------------------------- MP4


@dataclass(frozen=True)
class AudioTrack:
    """Decoded audio to put beside the frames: float32 samples in −1..1."""

    samples: np.ndarray  # (channels, samples), float32; 1 or 2 channels
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def mp4_frames(
    frames: Sequence[np.ndarray], *, pingpong: bool = False, max_frames: int | None = None,
    max_side: int | None = 1024,
) -> list[np.ndarray]:
    """The frames that will be encoded: subsampled (when `max_frames` is given),
    downscaled to `max_side`, cropped to even sides (yuv420p stores colour per 2×2
    block, so odd sides are refused by the encoder and by some players), optionally
    bounced."""
    if not frames:
        raise ValueError("An animation needs at least one frame.")
    chosen = select_frames(frames, max_frames) if max_frames else list(frames)
    height, width = chosen[0].shape[:2]
    scale = min(1.0, max_side / max(height, width)) if max_side else 1.0
    height, width = max(2, round(height * scale)), max(2, round(width * scale))
    even = (height - height % 2, width - width % 2)
    encoded = []
    for frame in chosen:
        frame = np.ascontiguousarray(np.clip(np.rint(frame), 0, 255), dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"Frames must be H×W×3 RGB; got shape {frame.shape}.")
        # Dropping the odd last row or column keeps the rest pixel-exact; a resize would blur.
        encoded.append(np.ascontiguousarray(resize_to(frame, (height, width))[:even[0], :even[1]]))
    if pingpong and len(encoded) > 2:
        encoded = encoded + encoded[-2:0:-1]
    return encoded


def _frame_rate(fps: float | Fraction | None, frame_duration_ms: float) -> Fraction:
    if fps is None:
        if not 20 <= frame_duration_ms <= 10_000:
            raise ValueError("frame_duration_ms must be between 20 and 10000.")
        return Fraction(1000) / Fraction(frame_duration_ms).limit_denominator(1000)
    if not 0.1 <= float(fps) <= 120:
        raise ValueError(f"fps must be between 0.1 and 120 (got {float(fps):g}).")
    # NTSC rates such as 30000/1001 stay exact; a float like 29.97 becomes 2997/100.
    return Fraction(fps).limit_denominator(1001)


def _add_audio_stream(container, audio: AudioTrack):
    channels = audio.samples.shape[0]
    if audio.samples.ndim != 2 or channels not in (1, 2):
        raise ValueError(f"Audio must be (channels, samples) with 1 or 2 channels; got "
                         f"shape {audio.samples.shape}.")
    stream = container.add_stream("aac", rate=int(audio.sample_rate),
                                  layout="mono" if channels == 1 else "stereo")
    stream.bit_rate = AUDIO_BIT_RATE
    return stream


def _encode_audio(container, stream, audio: AudioTrack, duration_s: float) -> None:
    """Encodes `audio` into `stream`, cut (or padded with silence) to `duration_s`."""
    channels = audio.samples.shape[0]
    layout = "mono" if channels == 1 else "stereo"
    wanted = int(round(duration_s * audio.sample_rate))
    samples = np.zeros((channels, wanted), np.float32)
    have = min(wanted, audio.samples.shape[1])
    samples[:, :have] = audio.samples[:, :have]
    time_base = Fraction(1, int(audio.sample_rate))
    chunk = 4096  # PyAV re-buffers to the encoder's 1024-sample frames
    for start in range(0, wanted, chunk):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start:start + chunk]), format="fltp", layout=layout)
        frame.sample_rate = int(audio.sample_rate)
        frame.pts, frame.time_base = start, time_base
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_mp4(
    frames: Sequence[np.ndarray], path: str | os.PathLike, *,
    frame_duration_ms: float = DEFAULT_FRAME_DURATION_MS, fps: float | Fraction | None = None,
    pingpong: bool = False, hold_last_ms: int = 0, max_frames: int | None = None,
    max_side: int | None = 1024, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
    audio: AudioTrack | None = None,
) -> Path:
    """Writes an H.264 MP4 that browsers play (and loop with `<video loop>`); returns its path.

    The options mirror `write_gif`: each frame lasts `frame_duration_ms`, or 1/`fps` s
    when `fps` is given (videos: e.g. `Fraction(30000, 1001)`); `hold_last_ms` keeps the
    last frame longer (rounded to whole frame durations; ignored with `pingpong`);
    `max_frames` subsamples (default: every frame), `max_side` downscales (default 1024,
    `None`: keep the size). `audio` is muxed as AAC, cut to the video's length; it cannot
    be combined with `pingpong`.
    """
    rate = _frame_rate(fps, frame_duration_ms)
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be between 0 and 51 (got {crf}).")
    if hold_last_ms < 0:
        raise ValueError("hold_last_ms must not be negative.")
    if audio is not None and pingpong:
        raise ValueError("A ping-pong video plays its frames backwards; it cannot keep the audio.")
    encoded = mp4_frames(frames, pingpong=pingpong, max_frames=max_frames, max_side=max_side)
    height, width = encoded[0].shape[:2]
    # Durations in frame periods (the stream's time base is 1/rate).
    durations = [1] * len(encoded)
    if hold_last_ms and not pingpong:
        durations[-1] += round(hold_last_ms * rate / 1000)
    path = Path(path)
    # "+faststart" writes the index before the media data, so playback starts at once.
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(
            "libx264", rate=rate,
            options={"crf": str(int(crf)), "preset": preset, "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        context = stream.codec_context
        # Tagged BT.709 (and converted with that matrix): untagged video is shown with
        # either matrix depending on the browser, shifting colours.
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        context.color_range = 1  # limited ("TV") range, what players expect
        # Every stream must exist before the first packet is written.
        audio_stream = _add_audio_stream(container, audio) if audio is not None else None
        period = Fraction(1) / rate
        starts = np.concatenate([[0], np.cumsum(durations)])
        duration_at = dict(zip(starts[:-1].tolist(), durations))

        def mux(packets) -> None:
            # The muxer takes the last packet's duration as the last frame's display
            # time: that is how `hold_last_ms` reaches the file.
            for packet in packets:
                packet.duration = duration_at.get(packet.pts, 1)
                container.mux(packet)

        for start, frame in zip(starts.tolist(), encoded):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709")
            picture.pts, picture.time_base = start, period
            mux(stream.encode(picture))
        mux(stream.encode(None))
        if audio_stream is not None:
            _encode_audio(container, audio_stream, audio, float(int(starts[-1]) * period))
    return path
