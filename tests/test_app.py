"""The Gradio app through its HTTP API (gradio_client), with the small generated model.

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
import urllib.request
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from app_fixtures import FAST, free_port, running_app, write_picture
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

pytest_plugins = ("app_fixtures",)  # app_holder, app_url, client, small_photo

import app  # noqa: E402  (conftest puts the repository root on sys.path)
import dream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def deep_dream_args(image: str, **overrides) -> dict:
    return {"image": handle_file(image), "objective": "layer", "layer": "mixed4c", "channel": 0,
            "class_name": "jellyfish", **FAST, **overrides}


def check_outputs(outputs, technique: str, frames: int = FAST["frames"]) -> dict:
    """The PNG is full size (the fitted input's), the GIF animates, the settings have the seed."""
    png, gif, files, settings, notes = outputs
    assert settings["technique"] == technique
    assert settings["seed"] == FAST["seed"] and "steps" in settings and "octaves" in settings
    with Image.open(png) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert list(image.size) == settings["size"]
    animation = iio.imread(gif, index=None)
    assert animation.shape[0] == frames + 1 > 1  # the input, then one frame per dreamed frame
    assert sorted(Path(f).suffix for f in files) == [".gif", ".png"]
    assert isinstance(notes, str)
    return settings


# ----------------------------------------------------------------------------- each tab


def test_deep_dream_returns_png_gif_and_settings(client, small_photo):
    outputs = client.predict(**deep_dream_args(small_photo), api_name="/deep_dream")
    settings = check_outputs(outputs, "deep_dream")
    assert settings["size"] == [128, 96]  # 160×120 fitted into max_side=128
    assert "downscaled from 160×120 to 128×96" in outputs[4]


def test_deep_dream_channel_objective(client, small_photo):
    outputs = client.predict(**deep_dream_args(small_photo, objective="channel", layer="mixed3b",
                                               channel=3), api_name="/deep_dream")
    assert check_outputs(outputs, "deep_dream")["objective"] == "mixed3b channel 3"


def test_fractal_zoom_with_a_class_neuron(client, small_photo):
    args = deep_dream_args(small_photo, objective="class", class_name="Jellyfish", zoom=0.05,
                           octaves=1, max_side=96)
    settings = check_outputs(client.predict(**args, api_name="/fractal_zoom"), "fractal_zoom")
    assert settings["zoom"] == 0.05 and "jellyfish" in settings["objective"]


def test_unknown_class_is_refused_with_suggestions(client, small_photo):
    with pytest.raises(AppError, match="Unknown class 'jellyfsh'.*jellyfish"):
        client.predict(**deep_dream_args(small_photo, objective="class", class_name="jellyfsh"),
                       api_name="/deep_dream")


def test_guided_hallucination(client, small_photo, tmp_path, picture_factory):
    guide = write_picture(tmp_path / "guide.jpg", picture_factory(100, 100)[::-1].copy())
    outputs = client.predict(dream_image=handle_file(small_photo), guide_image=handle_file(guide),
                             guide_is_dream=False, layer="mixed4c", similarity="l2",
                             direction="away", smoothness=1.0, smoothness_norm="l2",
                             guide_weight=1.0, **FAST, api_name="/guided")
    settings = check_outputs(outputs, "guided")
    assert (settings["similarity"], settings["direction"]) == ("l2", "away")
    # The guide alone: it is also the image dreamed on.
    outputs = client.predict(dream_image=None, guide_image=handle_file(guide), guide_is_dream=True,
                             layer="mixed4c", similarity="dot", direction="toward",
                             smoothness=0.0, smoothness_norm="l2", guide_weight=1.0, **FAST,
                             api_name="/guided")
    assert check_outputs(outputs, "guided")["size"] == [100, 100]


def test_style_transfer(client, small_photo, tmp_path, picture_factory):
    style = write_picture(tmp_path / "style.png", np.roll(picture_factory(96, 96), 1, axis=2))
    outputs = client.predict(content_image=handle_file(small_photo), style_image=handle_file(style),
                             style_weight=10.0, content_weight=1.0, preserve_colors=True,
                             second_style_image=None, second_style_share=0.5,
                             style_layers=["conv2d2", "mixed3a"], content_layer="mixed3b",
                             tv_weight=10.0, init="content",
                             **{k: v for k, v in FAST.items() if k != "laplacian_levels"},
                             api_name="/style_transfer")
    settings = check_outputs(outputs, "style_transfer")
    assert settings["style_layers"] == ["conv2d2", "mixed3a"] and settings["preserve_colors"]


# ----------------------------------------------------------------------------- limits


def test_values_beyond_the_sliders_are_refused(client, small_photo):
    with pytest.raises(AppError, match="greater than maximum value 50"):
        client.predict(**deep_dream_args(small_photo, steps=400), api_name="/deep_dream")
    with pytest.raises(AppError, match="greater than maximum value 1024"):
        client.predict(**deep_dream_args(small_photo, max_side=5000), api_name="/deep_dream")


def test_too_many_total_steps_are_refused(client, small_photo):
    with pytest.raises(AppError, match="the limit is 1500"):
        client.predict(**deep_dream_args(small_photo, frames=60, steps=50, octaves=6),
                       api_name="/deep_dream")


def test_too_much_pixel_work_is_refused(client, tmp_path, picture_factory):
    big = write_picture(tmp_path / "big.png", picture_factory(768, 1024))
    started = time.monotonic()
    with pytest.raises(AppError, match=r"megapixel-steps.*the limit is 100"):
        client.predict(**deep_dream_args(big, max_side=1024, frames=30, steps=10, octaves=2),
                       api_name="/deep_dream")
    assert time.monotonic() - started < 20  # refused before any dreaming


# ----------------------------------------------------------------------------- bad input


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
    with pytest.raises(AppError, match="Could not read this file as an image"):
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
    gray16 = Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257), mode="I;16")
    gray16.save(tmp_path / "gray16.png")
    frames = [Image.fromarray(np.roll(rgb, 20 * k, axis=1)) for k in range(3)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    cases = {
        "rotated": (rotated, [120, 160], ""),
        "grayscale": (write_picture(tmp_path / "gray.png", rgb[:, :, 0]), [160, 120], ""),
        "rgba": (write_picture(tmp_path / "rgba.png", np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])),
                 [160, 120], ""),
        "cmyk": (str(tmp_path / "cmyk.jpg"), [160, 120], ""),
        "16-bit": (str(tmp_path / "gray16.png"), [160, 120], ""),
        "animated": (str(tmp_path / "animated.gif"), [160, 120], "first frame was used"),
        "large": (write_picture(tmp_path / "large.png", picture_factory(900, 1200)), [256, 192],
                  "downscaled from 1200×900 to 256×192"),
    }
    Image.fromarray(rgb).convert("CMYK").save(cases["cmyk"][0])
    for name, (path, size, note) in cases.items():
        max_side = 256 if name == "large" else 160
        png, _, _, settings, notes = client.predict(
            **deep_dream_args(path, max_side=max_side, **one_step), api_name="/deep_dream")
        assert settings["size"] == size, name
        assert note in notes, name
        with Image.open(png) as result:
            assert result.mode == "RGB" and list(result.size) == size, name

    with pytest.raises(AppError, match="at least 16 pixels"):
        client.predict(**deep_dream_args(write_picture(tmp_path / "tiny.png", rgb[:8, :8]), **one_step),
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="too many pixels"):
        client.predict(**deep_dream_args(_png_bomb(tmp_path / "bomb.png"), **one_step),
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="Please upload"):
        client.predict(**{**deep_dream_args(str(tmp_path / "gray.png")), "image": None},
                       api_name="/deep_dream")


# ----------------------------------------------------------------------------- stop and cancel


def _wait_for_progress(job, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.status().progress_data or len(job.outputs()) > 1:
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
    _, gif, _, settings, notes = job.result(timeout=60)
    assert settings["stopped_early"] is True and "Stopped early" in notes
    assert 1 < iio.imread(gif, index=None).shape[0] < 41


def test_cancelling_a_job_stops_the_engine(app_url, small_photo):
    client = Client(app_url, verbose=False)
    job = client.submit(**deep_dream_args(small_photo, frames=60, steps=8, octaves=1),
                        api_name="/deep_dream")
    _wait_for_progress(job)
    assert _dream_workers()
    job.cancel()
    deadline = time.monotonic() + 30
    while _dream_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _dream_workers(), "the cancelled run kept dreaming"


def test_live_previews_stream_before_the_result(app_url, small_photo):
    client = Client(app_url, verbose=False)
    job = client.submit(**deep_dream_args(small_photo, frames=6, steps=4, octaves=2),
                        api_name="/deep_dream")
    final = job.result(timeout=60)
    previews = [out for out in job.outputs()[:-1] if out[0] and out[1] is None]
    assert previews, "no preview image reached the client before the result"
    assert final[1].endswith(".gif")


def test_stream_relays_previews_and_stops_when_closed():
    stop = threading.Event()
    asked_to_stop = threading.Event()

    def work(on_progress):
        for step in range(1, 200):
            time.sleep(0.02)
            if on_progress(dream.Progress(step, 200, np.zeros((4, 4, 3), np.uint8))):
                asked_to_stop.set()
                return "stopped"
        return "finished"

    runner = app.stream(work, stop, progress=None)
    assert next(runner).shape == (4, 4, 3)
    runner.close()  # what Gradio does to a cancelled generator
    assert stop.is_set() and asked_to_stop.wait(5)


# ----------------------------------------------------------------------------- page wiring


def test_presets_fill_the_controls(client):
    values = client.predict("Jellyfish (class neuron)", api_name="/deep_dream_preset")
    names = app._params(app.Studio.deep_dream)[1:]
    filled = dict(zip(names, values))
    assert filled["objective"] == "class" and filled["class_name"] == "jellyfish"
    assert (filled["frames"], filled["steps"], filled["octaves"], filled["seed"]) == (8, 6, 4, 0)
    description = values[-1]  # a component update: {"value": …, "visible": True, …}
    assert "jellyfish" in description["value"].lower() and description["visible"] is True


@pytest.mark.parametrize("technique", ["deep_dream", "fractal_zoom", "guided", "style_transfer"])
def test_every_preset_setting_has_a_control(technique):
    handler = getattr(app.Studio, technique)
    controls = set(app._params(handler)) | {"channel_index"}
    for preset in dream.presets_for(technique):
        values = app.preset_values(preset)
        assert set(preset.settings) <= controls, preset.name
        assert {"steps", "octaves", "seed", "frames"} <= set(values), preset.name


def test_events_have_api_names_and_share_one_dream_slot(app_holder):
    demo = app.build_app(app_holder)
    dreams = [fn for fn in demo.fns.values()
              if fn.api_name in ("deep_dream", "fractal_zoom", "guided", "style_transfer")]
    assert len(dreams) == 4
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in dreams} == {("dream", 1)}
    assert demo._queue.max_size == app.QUEUE_MAX_SIZE
    public = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"]
    assert sorted(public) == ["deep_dream", "fractal_zoom", "guided", "style_transfer"]
    # Every event a person triggers has a name (Gradio's own cancel helpers are private).
    assert all(fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private")


def test_api_page_names_the_parameters(client):
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(info) == {"/deep_dream", "/fractal_zoom", "/guided", "/style_transfer"}
    names = [p["parameter_name"] for p in info["/deep_dream"]["parameters"]]
    assert names[:5] == ["image", "objective", "layer", "channel", "class_name"] and "seed" in names


def test_each_request_writes_its_own_files(picture):
    result = dream.DreamResult(picture, [picture, picture], {"seed": 3})
    first = app.save_outputs(result, "deep_dream", app.GifOptions())
    second = app.save_outputs(result, "deep_dream", app.GifOptions())
    assert first[0].parent != second[0].parent and first[0].name == "deep-dream-seed3.png"


# ----------------------------------------------------------------------------- start-up


def test_page_built_while_the_model_loads_catches_up(model_dir, small_photo):
    holder = app.ModelHolder(model_dir)  # not started yet: the page sees "loading"
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
        body = json.dumps({"data": [forged, "layer", "mixed4c", 0, "jellyfish", *FAST.values()]})
        request = urllib.request.Request(app_url + "gradio_api/call/deep_dream", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            event_id = json.load(response)["event_id"]
        with urllib.request.urlopen(f"{app_url}gradio_api/call/deep_dream/{event_id}", timeout=60) as response:
            stream = response.read().decode()
        assert "event: error" in stream and "event: complete" not in stream
    finally:
        outside.unlink()


# ----------------------------------------------------------------------------- no model


def test_missing_model_is_reported_and_refused(tmp_path, monkeypatch, unreachable_url):
    monkeypatch.delenv("DREAM_MODEL_DIR", raising=False)
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    monkeypatch.setenv("DREAM_CACHE_DIR", str(tmp_path / "empty-cache"))
    holder = app.ModelHolder().load(timeout=60)
    assert holder.state == "unavailable"
    status = holder.status_markdown()
    assert "Dreaming is unavailable" in status and "DREAM_MODEL_DIR" in status
    with pytest.raises(app.gr.Error, match="Dreaming is unavailable.*DREAM_MODEL_DIR"):
        holder.require()


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
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url + "config", timeout=5) as response:
                    config = json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        assert config is not None, (tmp_path / "app.log").read_text()[-3000:]
        status = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "model-status")
        text = status["props"]["value"]
        assert "Dreaming is unavailable" in text and "DREAM_MODEL_DIR" in text and str(empty) in text

        image = write_picture(tmp_path / "photo.png", np.full((64, 64, 3), 128, np.uint8))
        with pytest.raises(AppError, match="Dreaming is unavailable.*DREAM_MODEL_DIR"):
            Client(url, verbose=False).predict(**deep_dream_args(image), api_name="/deep_dream")
        assert process.poll() is None  # still serving
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
