"""The Gradio app through its HTTP API (gradio_client and raw HTTP), with the small generated model.

The app is launched once on a loopback port (`app_fixtures.app_url`); every request uses
tiny images and one or two steps, so the whole file runs in about a minute.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
import pytest
from app_fixtures import FAST, api_call, free_port, running_app, stop_process, write_picture
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from tests.conftest import PATIENCE_S

pytest_plugins = ("app_fixtures",)  # app_holder, app_url, client, small_photo

import app  # noqa: E402  (conftest puts the repository root on sys.path)
import dream  # noqa: E402
from dream.endpoints import ENDPOINTS, KEPT_BY_PRESETS, PARAMS  # noqa: E402
from ui import outputs, studio  # noqa: E402
from ui.model_holder import ModelHolder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TECHNIQUES = ("deep_dream", "fractal_zoom", "guided", "style_transfer", "dream_video",
              "fast_style_transfer")
IMAGE_TECHNIQUES = TECHNIQUES[:4]
ATLAS_TOOLS = ("atlas_page", "rank_channels", "channel_views", "channel_interpolation",
               "semantic_dictionary", "spatial_attribution", "neuron_groups", "caricature", "circuit")


def deep_dream_args(image, **overrides) -> dict:
    image = handle_file(image) if isinstance(image, str) else image
    return {"image": image, "objective": "layer", "layer": "mixed4c", "channel": 0,
            "class_name": "jellyfish", "squared": True, "pre_relu": True, **FAST,
            "preserve_colors": False, "mix": [], "mask": None, **overrides}


def check_outputs(outputs, technique: str, frames: int = FAST["frames"]) -> dict:
    """The PNG is full size (the fitted input's), the GIF and the MP4 animate with the same
    frames, the settings have the seed."""
    png, gif, mp4, files, settings, notes = outputs
    assert settings["technique"] == technique
    assert settings["seed"] == FAST["seed"] and "steps" in settings and "octaves" in settings
    with Image.open(png) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert list(image.size) == settings["size"]
    animation = iio.imread(gif, index=None)
    assert animation.shape[0] == frames + 1 > 1  # the input, then one frame per dreamed frame
    video = mp4["video"] if isinstance(mp4, dict) else mp4
    movie = iio.imread(video, index=None, plugin="pyav")
    assert movie.shape[0] == animation.shape[0] and movie.shape[1] % 2 == movie.shape[2] % 2 == 0
    assert sorted(Path(f).suffix for f in files) == [".gif", ".mp4", ".png"]
    assert notes.startswith(f"Finished: {frames} frames")
    return settings


# ----------------------------------------------------------------------------- each tab


def test_deep_dream_returns_png_gif_and_settings(client, small_photo):
    outputs = client.predict(**deep_dream_args(small_photo), api_name="/deep_dream")
    settings = check_outputs(outputs, "deep_dream")
    assert settings["size"] == [128, 96]  # 160×120 fitted into max_side=128
    assert "downscaled from 160×120 to 128×96" in outputs[5]
    assert settings["inputs"]["max_side"] == 128 and "image" not in settings["inputs"]


def test_deep_dream_channel_objective(client, small_photo):
    outputs = client.predict(**deep_dream_args(small_photo, objective="channel", layer="mixed3b",
                                               channel=3), api_name="/deep_dream")
    assert "channel 3" in check_outputs(outputs, "deep_dream")["objective"]


def test_fractal_zoom_with_a_class_neuron(client, small_photo):
    args = deep_dream_args(small_photo, objective="class", class_name="Jellyfish", zoom=0.05,
                           octaves=1, max_side=96)
    settings = check_outputs(client.predict(**args, api_name="/fractal_zoom"), "fractal_zoom")
    assert settings["zoom"] == 0.05 and "jellyfish" in settings["objective"]


def test_unknown_class_is_refused_with_suggestions(client, small_photo):
    with pytest.raises(AppError, match="Unknown class 'jellyfsh'.*jellyfish"):
        client.predict(**deep_dream_args(small_photo, objective="class", class_name="jellyfsh"),
                       api_name="/deep_dream")


def guided_args(dream_image, guide, **overrides) -> dict:
    return {"dream_image": handle_file(dream_image) if dream_image else None,
            "guide_image": handle_file(guide), "guide_is_dream": False, "layer": "mixed4c",
            "similarity": "l2", "direction": "away", "smoothness": 1.0, "smoothness_norm": "l2",
            "guide_weight": 1.0, **FAST, **overrides}


def test_guided_hallucination(client, small_photo, tmp_path, picture_factory):
    guide = write_picture(tmp_path / "guide.jpg", picture_factory(100, 100)[::-1].copy())
    settings = check_outputs(client.predict(**guided_args(small_photo, guide), api_name="/guided"),
                             "guided")
    assert (settings["similarity"], settings["direction"]) == ("l2", "away")
    # The guide alone: it is also the image dreamed on.
    outputs = client.predict(**guided_args(None, guide, guide_is_dream=True, similarity="dot",
                                           direction="toward", smoothness=0.0), api_name="/guided")
    assert check_outputs(outputs, "guided")["size"] == [100, 100]


def style_args(content, style, **overrides) -> dict:
    return {"content_image": handle_file(content), "style_image": handle_file(style),
            "style_weight": 10.0, "content_weight": 1.0, "preserve_colors": True,
            "second_style_image": None, "second_style_share": 0.5,
            "style_layers": ["conv2d2", "mixed3a"], "content_layer": "mixed3b", "tv_weight": 10.0,
            "init": "content", **{k: v for k, v in FAST.items() if k != "laplacian_levels"},
            **overrides}


def test_style_transfer(client, small_photo, tmp_path, picture_factory):
    style = write_picture(tmp_path / "style.png", np.roll(picture_factory(96, 96), 1, axis=2))
    outputs = client.predict(**style_args(small_photo, style), api_name="/style_transfer")
    settings = check_outputs(outputs, "style_transfer")
    assert settings["style_layers"] == ["conv2d2", "mixed3a"] and settings["preserve_colors"]
    # A comma-separated text is a list of layers too.
    outputs = client.predict(**style_args(small_photo, style, style_layers="conv2d2, mixed3a"),
                             api_name="/style_transfer")
    assert check_outputs(outputs, "style_transfer")["style_layers"] == ["conv2d2", "mixed3a"]


def video_args(clip, **overrides) -> dict:
    return {"video": handle_file(clip), "objective": "layer", "layer": "mixed4c", "channel": 0,
            "class_name": "jellyfish", "steps": 1, "max_side": 96, "blend": 0.5, "flow": True,
            "fps": 0, "step_size": 1.5, "octaves": 1, "octave_scale": 1.4, "tile_size": 512,
            "jitter": 8, "laplacian_levels": 0, "seed": 0, **overrides}


def write_clip(path: Path, frames: int, fps: int = 12, side: int = 64) -> str:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    clip = np.stack([np.roll(base, 2 * k, axis=1) for k in range(frames)])
    iio.imwrite(path, clip, plugin="pyav", codec="libx264", fps=fps)
    return str(path)


def test_video_comes_back_as_an_mp4_with_its_frames(client, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=12)
    png, gif, mp4, files, settings, notes = client.predict(**video_args(clip), api_name="/dream_video")
    movie = iio.imread(mp4["video"] if isinstance(mp4, dict) else mp4, index=None, plugin="pyav")
    assert movie.shape[0] == 12 and settings["frames"] == 12 and settings["fps"] == 12
    assert notes.startswith("Finished: 12 frames") and Image.open(png).size == (64, 64)
    assert sorted(Path(f).suffix for f in files) == [".gif", ".mp4", ".png"]


def test_a_short_clip_with_an_hour_of_sound_is_dreamed_as_a_short_clip(client, tmp_path):
    """Through the server: the audio is cut to the video, with a note, and the server's
    memory (this process's: the app runs in it) does not swell with the hour of sound."""
    from test_video import LONG_AUDIO_RSS_BOUND_MB, PeakRss, write_clip_with_long_audio

    clip = write_clip_with_long_audio(tmp_path / "long-audio.mp4", audio_s=3600)
    with PeakRss() as memory:
        png, gif, mp4, files, settings, notes = client.predict(**video_args(str(clip)),
                                                               api_name="/dream_video")
    assert "audio track is longer than the video" in notes, notes
    with av.open(mp4["video"] if isinstance(mp4, dict) else mp4) as container:
        audio = container.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.1)
    assert memory.growth_mb < LONG_AUDIO_RSS_BOUND_MB


def test_video_that_is_not_a_video_or_too_long_is_refused_quickly(client, tmp_path, small_photo):
    # "Quickly" against this run's own pace: a refusal that needs no decoding at all.
    started = time.monotonic()
    with pytest.raises(AppError, match="still image, not a video"):
        client.predict(**video_args(small_photo), api_name="/dream_video")
    baseline = time.monotonic() - started
    long_clip = write_clip(tmp_path / "long.mp4", frames=12 * 25, side=32)
    started = time.monotonic()
    with pytest.raises(AppError, match=r"The clip is 25.0 s long; the limit is 20 s"):
        client.predict(**video_args(long_clip), api_name="/dream_video")
    assert time.monotonic() - started < max(10, 5 * baseline)
    with pytest.raises(AppError, match="Please upload a video clip"):
        client.predict(**{**video_args(small_photo), "video": None}, api_name="/dream_video")


def fast_style_args(content, style, **overrides) -> dict:
    return {"content_image": handle_file(content), "style_image": handle_file(style),
            "second_style_image": None, "strength": 1.0, "preserve_colors": False,
            "second_style_share": 0.5, "sweep_frames": 4, "max_side": 128,
            "frame_duration_ms": 100, "hold_last_ms": 0, "pingpong": False, **overrides}


def test_fast_style_transfer(fast_app_url, small_photo, tmp_path, picture_factory):
    client = Client(fast_app_url, verbose=False)
    style = write_picture(tmp_path / "style.png", np.roll(picture_factory(96, 96), 1, axis=2))
    png, gif, mp4, files, settings, notes = client.predict(**fast_style_args(small_photo, style),
                                                           api_name="/fast_style_transfer")
    assert settings["technique"] == "fast_style_transfer" and Image.open(png).size == (128, 96)
    assert iio.imread(gif, index=None).shape[0] == 5 and notes.startswith("Finished: 4 frames")
    # Strength 0 is the content photo itself (fitted to the size asked for).
    png, *_ = client.predict(**fast_style_args(small_photo, style, strength=0.0),
                             api_name="/fast_style_transfer")
    content = np.asarray(Image.open(small_photo).resize((128, 96), Image.Resampling.LANCZOS))
    assert np.abs(np.asarray(Image.open(png)).astype(int) - content).max() <= 1
    with pytest.raises(AppError, match=r"strength must be between 0 and 1 \(got 1.5\)"):
        client.predict(**fast_style_args(small_photo, style, strength=1.5),
                       api_name="/fast_style_transfer")
    with pytest.raises(AppError, match="The style image: Could not read"):
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"not an image")
        client.predict(**fast_style_args(small_photo, str(bad)), api_name="/fast_style_transfer")


def test_without_the_fast_model_the_fast_endpoint_says_how_to_enable_it(client, small_photo):
    with pytest.raises(AppError, match="Fast mode is unavailable.*DREAM_STYLE_MODEL_DIR"):
        client.predict(**fast_style_args(small_photo, small_photo), api_name="/fast_style_transfer")
    # …and the optimisation mode still works.
    check_outputs(client.predict(**style_args(small_photo, small_photo), api_name="/style_transfer"),
                  "style_transfer")


# ----------------------------------------------------------------------------- one check for every parameter


@pytest.mark.parametrize("overrides, message", [
    ({"steps": 400}, r"steps must be between 1 and 50 \(got 400\)"),
    ({"max_side": 5000}, r"max_side must be between 64 and 1024 \(got 5000\)"),
    ({"steps": "abc"}, r"steps must be a whole number between 1 and 50 \(got 'abc'\)"),
    ({"frames": "ten"}, r"frames must be a whole number between 1 and 60 \(got 'ten'\)"),
    ({"seed": "x"}, r"seed must be a whole number"),
    ({"steps": [3]}, r"steps must be a whole number .*\(got \[3\]\)"),
    ({"frames": 2.5}, r"frames must be a whole number .*\(got 2.5\)"),
    ({"steps": 2.5}, r"steps must be a whole number .*\(got 2.5\)"),
    ({"objective": "channel", "channel": 2.5}, r"channel must be a whole number .*\(got 2.5\)"),
    ({"frames": 61}, r"frames must be between 1 and 60 \(got 61\)"),
    ({"layer": ""}, r"layer must be a non-empty text \(got ''\)"),
    ({"layer": "mixed9z"}, r"Unknown layer 'mixed9z'"),
    ({"objective": "everything"}, r"objective must be one of 'layer', 'channel', 'class' \(got 'everything'\)"),
    ({"pingpong": "yes"}, r"pingpong must be true or false \(got 'yes'\)"),
])
def test_bad_parameters_are_named(client, small_photo, overrides, message):
    with pytest.raises(AppError, match=message):
        client.predict(**deep_dream_args(small_photo, **overrides), api_name="/deep_dream")


def test_null_means_the_default(client, small_photo):
    """What an agent may send for any optional value (the API page's "int | None")."""
    outputs = client.predict(**deep_dream_args(small_photo, seed=None, layer=None, steps=None,
                                               frames=None, max_side=128), api_name="/deep_dream")
    settings = check_outputs(outputs, "deep_dream", frames=ENDPOINTS["deep_dream"].defaults()["frames"])
    assert settings["seed"] == 0 and settings["steps"] == ENDPOINTS["deep_dream"].defaults()["steps"]


def test_values_the_mode_ignores_are_not_checked(client, small_photo):
    """A hidden control never blocks a run: a whole-layer dream with a channel beyond the
    layer (the page's "Flowers preset, then Whole layer on conv2d0" sequence)."""
    outputs = client.predict(**deep_dream_args(small_photo, layer="conv2d0", channel=139,
                                               class_name=""), api_name="/deep_dream")
    check_outputs(outputs, "deep_dream")
    with pytest.raises(AppError, match=r"channel must be between 0 and \d+ for mixed4c"):
        client.predict(**deep_dream_args(small_photo, objective="channel", channel=600),
                       api_name="/deep_dream")


def test_list_parameters_refuse_other_types(client, small_photo, tmp_path, picture_factory):
    style = write_picture(tmp_path / "style.png", picture_factory(64, 64))
    with pytest.raises(AppError, match=r"style_layers must be a list of layer names.*\(got 7\)"):
        client.predict(**style_args(small_photo, style, style_layers=7), api_name="/style_transfer")
    with pytest.raises(AppError, match=r"style_layers: Unknown layer 'm'"):
        client.predict(**style_args(small_photo, style, style_layers=["m"]), api_name="/style_transfer")


@pytest.mark.parametrize("name, value", [("seed", float("nan")), ("step_size", float("inf"))])
def test_nan_and_infinity_over_raw_http_get_a_message(app_url, name, value):
    values = deep_dream_args(None, **{name: value})
    data = [values[name] for name in ENDPOINTS["deep_dream"].names]
    stream = api_call(app_url, "deep_dream", data)
    assert "event: error" in stream and f"{name} must be a finite number" in stream, stream[-500:]


@pytest.mark.parametrize("value", ["/etc/hostname", 12])
def test_an_image_that_is_not_an_uploaded_file_is_named(app_url, value):
    values = {**deep_dream_args(None), "image": value}  # sent as it is, not as a file
    stream = api_call(app_url, "deep_dream", [values[n] for n in ENDPOINTS["deep_dream"].names])
    assert "event: error" in stream and "image must be an uploaded image file" in stream, stream[-500:]


def test_errors_name_the_image(client, small_photo, tmp_path):
    corrupt = tmp_path / "style.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with pytest.raises(AppError, match="The style image: Could not read this file as an image"):
        client.predict(**style_args(small_photo, str(corrupt)), api_name="/style_transfer")
    with pytest.raises(AppError, match="Please upload the guide image"):
        client.predict(**{**guided_args(small_photo, small_photo), "guide_image": None},
                       api_name="/guided")


def test_too_many_total_steps_are_refused(client, small_photo):
    with pytest.raises(AppError, match="the limit is 1500"):
        client.predict(**deep_dream_args(small_photo, frames=60, steps=50, octaves=6),
                       api_name="/deep_dream")


def test_too_much_pixel_work_is_refused(client, tmp_path, picture_factory):
    big = write_picture(tmp_path / "big.png", picture_factory(768, 1024))
    # Refused before any dreaming: as fast as another refusal of the same upload in this run.
    started = time.monotonic()
    with pytest.raises(AppError, match="the limit is 1500"):
        client.predict(**deep_dream_args(big, frames=60, steps=50, octaves=6), api_name="/deep_dream")
    baseline = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(AppError, match=r"megapixel-steps.*the limit is 100"):
        client.predict(**deep_dream_args(big, max_side=1024, frames=30, steps=10, octaves=2),
                       api_name="/deep_dream")
    assert time.monotonic() - started < max(20, 5 * baseline)


# ----------------------------------------------------------------------------- bad images


def _png_bomb(path: Path, side: int = 20000) -> str:
    """A tiny PNG file whose header claims side×side pixels (a decompression bomb)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes of header
    ihdr[4:12] = struct.pack(">II", side, side)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return str(path)


def test_corrupt_upload_gives_a_clear_error_and_the_server_keeps_serving(client, small_photo, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with pytest.raises(AppError, match="The photo: Could not read this file as an image"):
        client.predict(**deep_dream_args(str(corrupt)), api_name="/deep_dream")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(AppError, match="Could not read this file as an image"):
        client.predict(**deep_dream_args(str(text)), api_name="/deep_dream")
    check_outputs(client.predict(**deep_dream_args(small_photo), api_name="/deep_dream"), "deep_dream")


def test_unusual_images_work_or_are_refused_clearly(client, tmp_path, picture_factory):
    rgb = picture_factory(120, 160)
    one_step = dict(frames=1, steps=1, octaves=1)
    # EXIF orientation 6: stored 160 wide × 120 high, shown rotated (120 × 160).
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = write_picture(tmp_path / "rotated.jpg", rgb, exif=exif)
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    frames = [Image.fromarray(np.roll(rgb, 20 * k, axis=1)) for k in range(3)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    cases = {
        "rotated": (rotated, [120, 160], ""),
        "grayscale": (write_picture(tmp_path / "gray.png", rgb[:, :, 0]), [160, 120], ""),
        "rgba": (write_picture(tmp_path / "rgba.png", np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])),
                 [160, 120], "transparent"),
        "cmyk": (str(tmp_path / "cmyk.jpg"), [160, 120], ""),
        "16-bit": (str(tmp_path / "gray16.png"), [160, 120], ""),
        "animated": (str(tmp_path / "animated.gif"), [160, 120], "first frame was used"),
        "large": (write_picture(tmp_path / "large.png", picture_factory(900, 1200)), [256, 192],
                  "downscaled from 1200×900 to 256×192"),
    }
    Image.fromarray(rgb).convert("CMYK").save(cases["cmyk"][0])
    for name, (path, size, note) in cases.items():
        max_side = 256 if name == "large" else 160
        png, _, _, _, settings, notes = client.predict(
            **deep_dream_args(path, max_side=max_side, **one_step), api_name="/deep_dream")
        assert settings["size"] == size, name
        assert note in notes, name
        with Image.open(png) as result:
            assert result.mode == "RGB" and list(result.size) == size, name

    with pytest.raises(AppError, match="at least 16 pixels"):
        client.predict(**deep_dream_args(write_picture(tmp_path / "tiny.png", rgb[:8, :8]), **one_step),
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="at least 16 pixels"):
        client.predict(**deep_dream_args(write_picture(tmp_path / "thin.png", rgb[:, :1]), **one_step),
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="too many pixels"):
        client.predict(**deep_dream_args(_png_bomb(tmp_path / "bomb.png"), **one_step),
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="Please upload the photo"):
        client.predict(**deep_dream_args(None), api_name="/deep_dream")


def test_uploads_over_the_cap_are_refused(app_url, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (51 * 1024 * 1024))
    with pytest.raises(Exception, match="exceeds the maximum file size of 52428800 bytes"):
        Client(app_url, verbose=False).predict(**deep_dream_args(str(big)), api_name="/deep_dream")
    # A raw upload (no client-side check) is refused by the server itself.
    boundary = "dream-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"huge.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{app_url}gradio_api/upload", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413 and b"52428800 bytes" in refused.value.read()


# ----------------------------------------------------------------------------- stop, cancel, previews


def _wait_for_progress(job, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(job.outputs()) > 1:
            return
        time.sleep(0.05)
    raise AssertionError("the job never reported progress")


def _dream_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dream-worker" and t.is_alive()]


def test_stop_ends_the_run_early_with_what_was_dreamed(app_url, small_photo):
    client = Client(app_url, verbose=False)
    job = client.submit(**deep_dream_args(small_photo, frames=40, steps=4, octaves=1),
                        api_name="/deep_dream")
    _wait_for_progress(job)
    client.predict(api_name="/stop_deep_dream")
    png, gif, mp4, files, settings, notes = job.result(timeout=PATIENCE_S)
    assert settings["stopped_early"] is True and notes.startswith("Stopped after")
    assert 1 < iio.imread(gif, index=None).shape[0] < 41 and Path(png).is_file()
    # The next run works.
    check_outputs(client.predict(**deep_dream_args(small_photo), api_name="/deep_dream"), "deep_dream")


def test_cancelling_a_job_stops_the_engine(app_url, small_photo):
    client = Client(app_url, verbose=False)
    job = client.submit(**deep_dream_args(small_photo, frames=60, steps=8, octaves=1),
                        api_name="/deep_dream")
    _wait_for_progress(job)
    assert _dream_workers()
    job.cancel()
    deadline = time.monotonic() + PATIENCE_S
    while _dream_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _dream_workers(), "the cancelled run kept dreaming"


def test_live_previews_stream_before_the_result(app_url, small_photo):
    client = Client(app_url, verbose=False)
    job = client.submit(**deep_dream_args(small_photo, frames=6, steps=4, octaves=2),
                        api_name="/deep_dream")
    final = job.result(timeout=PATIENCE_S)
    previews = [out for out in job.outputs()[:-1] if out[0] and out[1] is None]
    assert previews, "no preview image reached the client before the result"
    assert any("Dreaming: step" in out[5] for out in job.outputs()[:-1])
    assert final[1].endswith(".gif") and len(final) == 6


def test_stream_relays_progress_and_stops_when_closed():
    stop = threading.Event()
    asked_to_stop = threading.Event()

    def work(on_progress):
        for step in range(1, 200):
            time.sleep(0.02)
            if on_progress(dream.Progress(step, 200, np.zeros((4, 4, 3), np.uint8))):
                asked_to_stop.set()
                return "stopped"
        return "finished"

    runner = studio.stream(work, stop)
    assert next(runner).preview.shape == (4, 4, 3)
    runner.close()  # what Gradio does to a cancelled generator
    assert stop.is_set() and asked_to_stop.wait(5)


def test_progress_text_estimates_from_the_pace_after_the_first_report():
    assert outputs.progress_text(5, 100, 2.0, (5, 2.0)) == "Dreaming: step 5 of 100 · 2 s"
    # 10 more steps in 1 s after the first report at step 5: 85 steps left ≈ 8 s.
    assert outputs.progress_text(15, 100, 3.0, (5, 2.0)).endswith("about 8 s left")


def test_concurrent_clients_are_served_in_order(app_url, small_photo):
    """Each result's file name ends with the server's save counter, so the order in which
    the server finished them can be read from the names."""
    clients = [Client(app_url, verbose=False) for _ in range(8)]
    counters: dict[int, int] = {}

    def wait(index, job):
        png = job.result(timeout=PATIENCE_S)[0]
        counters[index] = int(Path(png).stem.rsplit("-", 1)[1])

    threads = []
    for index, client in enumerate(clients):
        job = client.submit(**deep_dream_args(small_photo, frames=1, steps=1, octaves=1),
                            api_name="/deep_dream")
        threads.append(threading.Thread(target=wait, args=(index, job)))
        threads[-1].start()
        # The order that counts is the queue's: wait until this job has joined it (the
        # client uploads the photo first, which takes a varying time).
        deadline = time.monotonic() + PATIENCE_S
        while job.status().code in (Status.STARTING, Status.JOINING_QUEUE):
            assert time.monotonic() < deadline, "the job never joined the queue"
            time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=PATIENCE_S)
    assert len(counters) == 8
    assert sorted(counters, key=counters.get) == list(range(8))


def test_a_flood_past_the_queue_is_refused_and_nothing_hangs(app_url, small_photo):
    client = Client(app_url, verbose=False)
    jobs = [client.submit(**deep_dream_args(small_photo, frames=1, steps=1, octaves=1),
                          api_name="/deep_dream") for _ in range(app.QUEUE_MAX_SIZE + 8)]
    outcomes = []
    deadline = time.monotonic() + PATIENCE_S
    for job in jobs:
        try:
            job.result(timeout=max(1.0, deadline - time.monotonic()))
            outcomes.append("done")
        except Exception as error:  # noqa: BLE001 - the message is what is checked
            outcomes.append(str(error))
    assert outcomes.count("done") >= 1
    assert any("Queue is full" in outcome for outcome in outcomes), outcomes
    assert all(o == "done" or "Queue is full" in o for o in outcomes), outcomes
    check_outputs(client.predict(**deep_dream_args(small_photo), api_name="/deep_dream"), "deep_dream")


# ----------------------------------------------------------------------------- presets, page wiring


def test_presets_fill_the_controls_but_keep_the_image_size(client):
    values = client.predict("Jellyfish (class neuron)", api_name="/deep_dream_preset")
    names = [name for name in ENDPOINTS["deep_dream"].params]
    filled = dict(zip(names, values))
    assert filled["objective"] == "class" and filled["class_name"] == "jellyfish"
    assert filled["seed"] == 0 and filled["frames"] >= 1 and filled["steps"] >= 1
    # The image size and GIF options stay as the user set them (a "skip" update, not None).
    for kept in set(KEPT_BY_PRESETS) & set(names):  # the zoom's loop options are not here
        assert filled[kept] == {"__type__": "update"}, kept
    description = values[-1]
    assert "jellyfish" in description["value"].lower() and description["visible"] is True


@pytest.mark.parametrize("technique", IMAGE_TECHNIQUES)
def test_every_preset_setting_has_a_control(technique):
    endpoint = ENDPOINTS[technique]
    for preset in dream.presets_for(technique):
        values = endpoint.preset_values(preset)
        assert set(preset.settings) - {"channel_index"} <= set(endpoint.params), preset.name
        assert {"steps", "octaves", "seed", "frames"} <= set(values), preset.name
        assert not set(values) & set(KEPT_BY_PRESETS), preset.name
        assert None not in values.values(), preset.name


def test_events_have_api_names_and_share_one_dream_slot(app_holder):
    demo = app.build_app(app_holder)
    dreams = [fn for fn in demo.fns.values() if fn.api_name in TECHNIQUES]
    assert len(dreams) == 6
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in dreams} == {("dream", 1)}
    assert {fn.show_progress for fn in dreams} == {"hidden"}  # no overlay on the preview
    assert demo._queue.max_size == app.QUEUE_MAX_SIZE
    public = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"]
    assert sorted(public) == sorted([*TECHNIQUES, *(f"stop_{t}" for t in TECHNIQUES), *ATLAS_TOOLS])
    assert all(fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private")


def test_api_page_describes_every_parameter(client):
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(info) == {*(f"/{t}" for t in TECHNIQUES), *(f"/stop_{t}" for t in TECHNIQUES),
                         *(f"/{name}" for name in ATLAS_TOOLS)}
    for technique in TECHNIQUES:
        endpoint = ENDPOINTS[technique]
        parameters = info[f"/{technique}"]["parameters"]
        assert [p["parameter_name"] for p in parameters] == list(endpoint.names)
        assert len(info[f"/{technique}"]["returns"]) == 6  # the status line is the page's own
        for parameter in parameters:
            name = parameter["parameter_name"]
            if name in PARAMS:
                assert parameter["python_type"]["description"].startswith(PARAMS[name].help[:30]), name
                if PARAMS[name].kind == "int":  # None: the default
                    assert parameter["python_type"]["type"] == "int | None", name
            assert "enum" not in json.dumps(parameter["type"]) or name not in ("layer", "class_name")
    assert "Stops this session's running" in info["/stop_deep_dream"]["description"]


def test_mcp_serves_each_technique_as_a_described_tool(app_url):
    with urllib.request.urlopen(f"{app_url}gradio_api/mcp/schema", timeout=30) as response:
        tools = {tool["name"]: tool for tool in json.load(response)
                 if tool["meta"]["mcp_type"] == "tool"}
    # The techniques and the atlas; the stop endpoints are not tools (a call waits for its run).
    assert set(tools) == {*TECHNIQUES, *ATLAS_TOOLS}
    for technique in TECHNIQUES:
        assert tools[technique]["description"].startswith(ENDPOINTS[technique].description[:40])
        max_side = tools[technique]["inputSchema"]["properties"]["max_side"]
        assert {"type": "integer"} in max_side["anyOf"]  # or null: the default
        # What max_side means there (a video's frames have a cap of their own).
        meaning = ENDPOINTS[technique].help_here.get("max_side", PARAMS["max_side"].help)
        assert max_side["description"].startswith(meaning[:40])
    assert "a video's frames are at most" in tools["dream_video"]["inputSchema"]["properties"][
        "max_side"]["description"]


def test_each_request_writes_its_own_distinctly_named_files(picture):
    result = dream.DreamResult(picture, [picture, picture], {"seed": 3})
    timing = {"frame_duration_ms": 120, "hold_last_ms": 600, "pingpong": False}
    first = outputs.save_outputs(result, "deep_dream", "mixed4c", timing)
    second = outputs.save_outputs(result, "deep_dream", "mixed4c", timing)
    assert [path.suffix for path in first] == [".png", ".gif", ".mp4"]
    assert first[0].parent != second[0].parent and first[0].name != second[0].name
    assert first[0].name.startswith("deep-dream-mixed4c-seed3-") and first[0].suffix == ".png"


def test_sweep_deletes_old_results_and_bounds_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_ROOT", tmp_path)
    for k, age in enumerate((7200, 10, 5, 1)):
        folder = tmp_path / f"run-{k}"
        folder.mkdir()
        (folder / "result.png").write_bytes(b"x" * 1000)
        os.utime(folder, (time.time() - age, time.time() - age))
    assert outputs.sweep(max_age_s=3600, max_bytes=2500) == 2  # the old one, then the oldest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2", "run-3"]


# ----------------------------------------------------------------------------- the model's state


def test_page_built_while_the_model_loads_catches_up(model_dir, small_photo):
    holder = ModelHolder(model_dir)  # not started yet: the page sees "loading"
    with running_app(holder) as url:
        client = Client(url, verbose=False)
        status = client.predict(api_name="/model_status")[0]
        assert "Loading the inception5h model" in status
        with pytest.raises(AppError, match="still loading"):
            client.predict(**deep_dream_args(small_photo), api_name="/deep_dream")
        holder.load()
        assert "Model ready" in client.predict(api_name="/model_status")[0]
        check_outputs(client.predict(**deep_dream_args(small_photo), api_name="/deep_dream"),
                      "deep_dream")


def test_missing_model_is_reported_then_retried(tmp_path, monkeypatch, unreachable_url, model_dir):
    empty = tmp_path / "model"
    empty.mkdir()
    holder = ModelHolder(empty).load(timeout=PATIENCE_S)
    assert holder.state == "unavailable"
    status = holder.status_markdown(512, 1024)
    assert "Dreaming is unavailable" in status and "Retry" in status
    assert str(tmp_path) not in status and "`" not in status  # no server paths, no raw Markdown
    with pytest.raises(dream.ModelUnavailable, match="Dreaming is unavailable"):
        holder.require()
    for source in model_dir.iterdir():  # the model is put in place; Retry picks it up
        (empty / source.name).write_bytes(source.read_bytes())
    assert holder.retry(timeout=PATIENCE_S).state == "ready"


def test_warm_up_compiles_the_default_steps(tmp_path, model_dir, small_photo):
    """The first request after start-up traces nothing: the warm-up already compiled it."""
    copy = tmp_path / "model"  # a model object of its own, so no other test warmed it
    copy.mkdir()
    for source in model_dir.iterdir():
        (copy / source.name).write_bytes(source.read_bytes())
    holder = ModelHolder(copy, warm_up=True).load(timeout=PATIENCE_S)
    deadline = time.monotonic() + PATIENCE_S
    while holder.warming or holder._thread.is_alive():
        assert time.monotonic() < deadline, "warming up never finished"
        time.sleep(0.1)
    engine = dream.engine_for(holder.model)
    traced = engine.trace_count
    assert traced > 0
    endpoint = ENDPOINTS["deep_dream"]
    values = endpoint.check({**endpoint.defaults(), "image": small_photo, "frames": 1, "steps": 1,
                             "max_side": 96})
    endpoint.prepare(holder.model, values).run(lambda progress: None)
    assert engine.trace_count == traced


EXIT_WHILE_LOADING = """
import sys, time
import tensorflow as tf
sys.path.insert(0, sys.argv[1])
from ui.model_holder import ModelHolder

def load_slowly(path):  # TensorFlow's C++ file calls, each releasing the GIL, for 3 s
    end = time.monotonic() + 3
    while time.monotonic() < end:
        tf.io.gfile.exists("/no/such/file")
    return "a model"

class SlowHolder(ModelHolder):
    loader = staticmethod(load_slowly)

holder = SlowHolder().start()
time.sleep(0.5)
print("exiting while the model loads:", holder.state)
"""


def test_a_process_exiting_while_a_model_loads_exits_cleanly(tmp_path):
    """Without the wait at exit this aborted every time ("FATAL: exception not rethrown",
    rc 134): Python ended the loader thread inside TensorFlow's C++ code."""
    script = tmp_path / "exit_while_loading.py"
    script.write_text(EXIT_WHILE_LOADING)
    done = subprocess.run([sys.executable, str(script), str(ROOT)], capture_output=True, text=True,
                          timeout=PATIENCE_S, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert "exiting while the model loads: loading" in done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FATAL" not in done.stderr


def test_the_warm_up_stops_when_asked(model):
    asked = []

    def stop() -> bool:
        asked.append(True)
        return True

    engine = dream.engine_for(model)
    traced = engine.trace_count
    dream.endpoints.warm_up(model, "inception", stop=stop)
    assert asked and engine.trace_count == traced  # nothing ran


def test_app_starts_without_a_model_and_says_why(tmp_path, unreachable_url):
    """`python app.py` itself, with an empty DREAM_MODEL_DIR: it serves and explains."""
    empty = tmp_path / "no-model-here"
    empty.mkdir()
    port = free_port()
    env = {**os.environ, "DREAM_MODEL_DIR": str(empty), "DREAM_MODEL_URL": unreachable_url,
           "DREAM_CACHE_DIR": str(tmp_path / "cache"), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        config = None
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url + "config", timeout=60) as response:
                    config = json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        assert config is not None, (tmp_path / "app.log").read_text()[-3000:]
        props = {c.get("props", {}).get("elem_id"): c["props"] for c in config["components"]}
        text = props["model-status"]["value"]
        assert "Dreaming is unavailable" in text and "DREAM_MODEL_DIR" in text
        assert str(tmp_path) not in text
        assert props["dd-run"]["interactive"] is False and props["model-retry"]["visible"] is True

        image = write_picture(tmp_path / "photo.png", np.full((64, 64, 3), 128, np.uint8))
        with pytest.raises(AppError, match="Dreaming is unavailable.*DREAM_MODEL_DIR"):
            Client(url, verbose=False).predict(**deep_dream_args(image), api_name="/deep_dream")
        assert process.poll() is None  # still serving
    finally:
        stop_process(process)
        log.close()


class SlowProxy:
    """An HTTP proxy that answers every request, but only after `delay_s`: what a server's
    requests to itself look like when its machine is overloaded."""

    def __init__(self, delay_s: float) -> None:
        import socket

        self.delay_s = delay_s
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection = self.server.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._relay, args=(connection,), daemon=True).start()

    def _relay(self, client) -> None:
        import socket
        from urllib.parse import urlsplit

        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            header, body = head.split(b"\r\n\r\n", 1)
            lines = header.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith("content-length:")), 0)
            while len(body) < length:
                body += client.recv(65536)
            time.sleep(self.delay_s)
            address = urlsplit(target)
            kept = [line for line in lines[1:] if not line.lower().startswith(("connection:", "proxy-"))]
            request = "\r\n".join([f"{method} {address.path or '/'}{'?' + address.query if address.query else ''} "
                                    f"{version}", *kept, "Connection: close", "", ""]).encode()
            with socket.create_connection((address.hostname, address.port)) as upstream:
                upstream.sendall(request + body)
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)

    def close(self) -> None:
        self.server.close()


def test_app_starts_on_a_saturated_machine_whose_self_check_times_out(tmp_path, model_dir):
    """`python app.py` while every core is busy and the app's requests to its own URL are
    slow (here: through a proxy that answers after 5 s). Gradio's launch-time check gave up
    after 3 s and the app exited right after loading its model. It must serve anyway."""
    proxy_server = SlowProxy(delay_s=5.0)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 1)]
    port = free_port()
    proxy = f"http://127.0.0.1:{proxy_server.port}"
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "HTTP_PROXY": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "https_proxy": proxy,
           "NO_PROXY": "", "no_proxy": ""}
    log_path = tmp_path / "app.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        served = False
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with direct.open(f"http://127.0.0.1:{port}/config", timeout=60) as response:
                    served = "Model ready" in response.read().decode()
                if served:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert served and process.poll() is None, log_path.read_text()[-3000:]
    finally:
        for hog in hogs:
            hog.kill()
        stop_process(process)
        proxy_server.close()


def test_uploads_must_come_through_the_upload_route(app_url):
    """The photo inputs hand the handler the uploaded file's path: Gradio must have checked that
    path first, so a raw API call cannot make the app read another file on the server."""
    outside = Path.home() / "deep-dream-forged-input.jpg"  # neither uploaded nor in a temp dir
    if any(Path(allowed).resolve() in outside.resolve().parents
           for allowed in (os.getcwd(), __import__("tempfile").gettempdir())):
        pytest.skip("the home folder lies inside a folder Gradio serves from")
    Image.new("RGB", (64, 64)).save(outside)
    try:
        forged = {"path": str(outside), "meta": {"_type": "gradio.FileData"}}
        values = deep_dream_args(forged)
        stream = api_call(app_url, "deep_dream", [values[n] for n in ENDPOINTS["deep_dream"].names])
        assert "event: error" in stream and "event: complete" not in stream
    finally:
        outside.unlink()


# ----------------------------------------------------------------------------- the neuron atlas


def test_atlas_page_through_the_api_is_cached_the_second_time(client, app_holder):
    from dream import atlas

    # The second page of mixed3a (32 channels in the generated model: 8 tiles, a quick render).
    stats = atlas.atlas_for(app_holder.model).stats
    channels = app_holder.model.layer("mixed3a").channels
    assert 24 < channels < 48
    first = client.predict("channels", "mixed3a", 2, "", api_name="/atlas_page")
    assert len(first) == channels - 24 and all(item["image"] for item in first)
    rendered = stats.rendered
    again = client.predict("channels", "mixed3a", 2, "", api_name="/atlas_page")
    assert stats.rendered == rendered and len(again) == len(first)  # nothing computed
    assert [item["caption"] for item in again] == [f"ch {i}" for i in range(24, channels)]
    with pytest.raises(AppError, match="there is no page 99"):
        client.predict("channels", "mixed3a", 99, "", api_name="/atlas_page")
    with pytest.raises(AppError, match="No class name contains 'jelyfsh'.*jellyfish"):
        client.predict("classes", "mixed3b", 1, "jelyfsh", api_name="/atlas_page")


def test_channel_views_and_interpolation_through_the_api(client, app_holder):
    from dream import atlas

    stats = atlas.atlas_for(app_holder.model).stats
    items = client.predict("mixed3a", 4, api_name="/channel_views")
    assert [item["caption"] for item in items][:2] == ["excites it most", "inhibits it most"]
    assert len(items) == 6 and all(item["image"] for item in items)
    rendered, seconds = stats.rendered, stats.render_seconds
    again = client.predict("mixed3a", 4, api_name="/channel_views")
    assert len(again) == 6 and stats.rendered == rendered and stats.render_seconds == seconds
    with pytest.raises(AppError, match=r"channel must be between 0 and \d+ for mixed3a"):
        client.predict("mixed3a", 5000, api_name="/channel_views")
    with pytest.raises(AppError, match=r"channel must be a whole number"):
        client.predict("mixed3a", "four", api_name="/channel_views")
    video = client.predict("mixed3a", 1, 2, api_name="/channel_interpolation")
    path = video["video"] if isinstance(video, dict) else video
    assert iio.imread(path, plugin="pyav").shape[0] == 2 * 8 - 2  # forward and back
    with pytest.raises(AppError, match=r"other must be between 0 and \d+ for mixed3a"):
        client.predict("mixed3a", 1, 9999, api_name="/channel_interpolation")


def test_rank_channels_through_the_api(client, small_photo):
    items = client.predict(handle_file(small_photo), "mixed3a", api_name="/rank_channels")
    assert len(items) == 16 and items[0]["caption"].startswith("ch ")  # 8 × (heat map, tile)
    with pytest.raises(AppError, match="Please upload a photo"):
        client.predict(None, "mixed3a", api_name="/rank_channels")
