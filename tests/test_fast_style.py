"""Fast style transfer: finding the TF Hub model, and what the technique returns.

The model is a small stand-in SavedModel with the real call contract
(`dream.synthetic_style_model`), written by this test session and loaded through
`tensorflow_hub.load` from a folder, from a .tar.gz and from a loopback HTTP server.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import dream
from dream import fast_style, synthetic_style_model
from dream.fast_style import (STYLE_MODEL_DIR_VARIABLE, STYLE_MODEL_URL_VARIABLE, FastStyleModel,
                              StyleModelUnavailable, fast_style_transfer, load_style_model)

STAND_IN_WIDTH = 0.125
CONTENT_SHAPE = (161, 207)  # not multiples of 4: the network's output is 164×208


@pytest.fixture(autouse=True)
def _no_style_model_from_outside(monkeypatch, unreachable_url):
    """No test reads the user's style model nor reaches the published handle."""
    monkeypatch.delenv(STYLE_MODEL_DIR_VARIABLE, raising=False)
    monkeypatch.setenv(STYLE_MODEL_URL_VARIABLE, unreachable_url)


@pytest.fixture(scope="session")
def style_model_dir(tmp_path_factory):
    return synthetic_style_model.write_saved_model(
        tmp_path_factory.mktemp("style-model") / "stand-in", width=STAND_IN_WIDTH)


@pytest.fixture(scope="session")
def style_model_tar(tmp_path_factory, style_model_dir):
    folder = tmp_path_factory.mktemp("style-model-tar")
    return synthetic_style_model.write_tar_gz(folder / "stand-in.tar.gz", folder=style_model_dir)


@pytest.fixture(scope="session")
def style_model(style_model_dir):
    return load_style_model(style_model_dir)


def painting(height: int = 300, width: int = 300, phase: float = 0.0) -> np.ndarray:
    """A style stand-in: saturated, high-frequency checks and waves."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [128 + 120 * np.sign(np.sin(x / 4 + phase)) * np.cos(y / 6),
                128 + 100 * np.sin((x * y) / 300 + phase), 128 + 110 * np.cos(y / 3 + phase)]
    return np.clip(np.rint(np.stack(channels, -1)), 0, 255).astype(np.uint8)


@pytest.fixture
def content(picture_factory) -> np.ndarray:
    return picture_factory(*CONTENT_SHAPE)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixel data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def stylised_by(model: FastStyleModel, content: np.ndarray) -> np.ndarray:
    """One pass with a fixed style: a fingerprint of the weights that were loaded."""
    square, _ = fast_style.style_input(painting())
    return model.stylise(content, square)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# ----------------------------------------------------------------------------- finding the model


def test_loads_a_saved_model_folder_through_hub(fresh_cache, style_model_dir, content):
    model = load_style_model(style_model_dir)
    assert model.name == "stand-in"
    image = stylised_by(model, content)
    assert image.shape == (*CONTENT_SHAPE, 3) and image.dtype == np.uint8
    assert distance(image, content) > 10  # the stand-in really repaints


def test_loads_a_tar_gz_extracted_into_the_cache(fresh_cache, style_model_tar, style_model, content):
    model = load_style_model(style_model_tar)
    assert model.name == "stand-in.tar.gz"
    assert list((fresh_cache / "tfhub_modules" / "extracted").glob("*/saved_model.pb"))
    assert np.array_equal(stylised_by(model, content), stylised_by(style_model, content))


@pytest.mark.parametrize("form", ["folder", "tar"])
def test_environment_variable(form, fresh_cache, style_model_dir, style_model_tar, monkeypatch):
    path = style_model_dir if form == "folder" else style_model_tar
    monkeypatch.setenv(STYLE_MODEL_DIR_VARIABLE, str(path))
    assert load_style_model().name == path.name


def test_explicit_path_wins_over_the_environment(fresh_cache, style_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(STYLE_MODEL_DIR_VARIABLE, str(tmp_path / "nothing-here"))
    assert load_style_model(style_model_dir).name == "stand-in"


def test_nested_folder_is_found(fresh_cache, style_model_tar, tmp_path):
    import tarfile

    with tarfile.open(style_model_tar) as archive:
        archive.extractall(tmp_path / "outer" / "model", filter="data")
    assert load_style_model(tmp_path / "outer").name == "outer"


def _serve(http_server, style_model_tar, monkeypatch):
    server = http_server(style_model_tar.parent)
    monkeypatch.setenv(STYLE_MODEL_URL_VARIABLE, server.url(style_model_tar.name))
    return server


def test_download_into_the_cache_then_offline(fresh_cache, style_model_tar, style_model, content,
                                              http_server, monkeypatch):
    server = _serve(http_server, style_model_tar, monkeypatch)
    handle = server.url(style_model_tar.name)
    model = load_style_model()
    # TF Hub's protocol: it asks for the compressed form and caches under sha1(handle).
    assert server.requests == [f"/{style_model_tar.name}?tf-hub-format=compressed"]
    cached = fresh_cache / "tfhub_modules" / hashlib.sha1(handle.encode()).hexdigest()
    assert (cached / "saved_model.pb").is_file()
    assert model.name == handle
    assert np.array_equal(stylised_by(model, content), stylised_by(style_model, content))

    server.stop()
    fast_style._load_cached.cache_clear()  # a new process: only the files remain
    again = load_style_model()
    assert np.array_equal(stylised_by(again, content), stylised_by(style_model, content))


def test_damaged_cache_is_fetched_again(fresh_cache, style_model_tar, http_server, monkeypatch):
    server = _serve(http_server, style_model_tar, monkeypatch)
    load_style_model()
    (saved_model,) = (fresh_cache / "tfhub_modules").glob("*/saved_model.pb")
    saved_model.write_bytes(b"truncated")
    fast_style._load_cached.cache_clear()
    assert load_style_model().name == server.url(style_model_tar.name)
    assert len(server.requests) == 2


def test_a_download_left_half_done_by_a_killed_process_does_not_stall_the_next(
        fresh_cache, style_model_tar, http_server, monkeypatch):
    # TF Hub would wait ten minutes for this lock to show progress; its owner is dead.
    server = _serve(http_server, style_model_tar, monkeypatch)
    module = hashlib.sha1(server.url(style_model_tar.name).encode()).hexdigest()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    cache = fresh_cache / "tfhub_modules"
    cache.mkdir(parents=True, exist_ok=True)
    lock = cache / f"{module}.lock"
    lock.write_text(f"{socket.gethostname()}.{dead.stdout.strip()}.deadbeef")
    (cache / f"{module}.deadbeef.tmp").mkdir()
    started = time.monotonic()
    assert load_style_model().name == server.url(style_model_tar.name)
    assert time.monotonic() - started < 300  # TF Hub's own wait would be 600 s at least
    assert not lock.exists() and not (cache / f"{module}.deadbeef.tmp").exists()


def test_a_lock_held_by_a_living_process_is_left_to_tf_hub(tmp_path):
    lock = tmp_path / "module.lock"
    lock.write_text(f"{socket.gethostname()}.{os.getpid()}.cafe")
    assert not fast_style._owner_is_gone(lock)
    lock.write_text(f"another-machine.{2**22 + 12345}.cafe")  # its pid means nothing here
    assert not fast_style._owner_is_gone(lock)


def test_offline_without_cache_says_how_to_enable_it(fresh_cache, unreachable_url):
    with pytest.raises(StyleModelUnavailable) as caught:
        load_style_model()
    message = str(caught.value)
    assert isinstance(caught.value, dream.ModelUnavailable)
    assert "not cached and could not be downloaded" in message
    assert STYLE_MODEL_DIR_VARIABLE in message
    assert "?tf-hub-format=compressed" in message
    assert str(fresh_cache) not in message  # nothing about the server's folders


def test_default_handle_is_the_published_model(monkeypatch):
    monkeypatch.delenv(STYLE_MODEL_URL_VARIABLE)
    assert fast_style.style_model_handle() == (
        "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2")


def test_hub_cache_variable_is_restored(fresh_cache, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", "/somewhere/else")
    with pytest.raises(StyleModelUnavailable):
        load_style_model()
    assert os.environ["TFHUB_CACHE_DIR"] == "/somewhere/else"


def test_folder_without_a_saved_model_is_refused(fresh_cache, tmp_path, monkeypatch):
    monkeypatch.setenv(STYLE_MODEL_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(StyleModelUnavailable, match=f"No saved_model.pb found .*{STYLE_MODEL_DIR_VARIABLE}"):
        load_style_model()


def test_file_that_is_not_an_archive_is_refused(fresh_cache, tmp_path):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"not a tar file")
    with pytest.raises(StyleModelUnavailable, match="neither a SavedModel folder nor a .tar.gz"):
        load_style_model(path)


def test_saved_model_that_is_not_a_stylizer_is_refused(fresh_cache, tmp_path):
    module = tf.Module()
    module.scale = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "other"))
    with pytest.raises(StyleModelUnavailable, match=r"cannot be called as module\(content, style\)"):
        load_style_model(tmp_path / "other")


def test_missing_tensorflow_hub_says_what_to_install(fresh_cache, style_model_dir, monkeypatch):
    fast_style._load_cached.cache_clear()
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)  # as if it were not installed
    with pytest.raises(StyleModelUnavailable, match="tensorflow_hub could not be imported.*tf-keras"):
        load_style_model(style_model_dir)


# ----------------------------------------------------------------------------- the call contract


def test_output_larger_than_the_content_is_cropped_smaller_is_resized():
    content = np.zeros((21, 30, 3), np.uint8)
    style = np.zeros((256, 256, 3), np.uint8)
    # Like the real network on sizes that are not multiples of 4: extra rows and columns at
    # the bottom and right, which are cut off, not squeezed in.
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, 32, dtype=np.float32)[None, :, None], (24, 32, 3))
    larger = FastStyleModel(lambda c, s: [tf.constant(ramp[None])], "larger")
    assert np.array_equal(larger.stylise(content, style), np.rint(ramp[:21, :30] * 255).astype(np.uint8))
    smaller = FastStyleModel(lambda c, s: (tf.ones([1, 10, 15, 3]),), "smaller")
    image = smaller.stylise(content, style)
    assert image.shape == (21, 30, 3) and (image == 255).all()


def test_inputs_are_in_the_unit_range_and_the_style_is_256_square():
    seen = {}

    def module(content, style):
        seen.update(content=content.numpy(), style=style.numpy())
        return [content]

    model = FastStyleModel(module, "spy")
    content = np.full((20, 24, 3), 255, np.uint8)
    square, _ = fast_style.style_input(np.zeros((400, 300, 3), np.uint8))
    assert square.shape == (256, 256, 3)
    assert np.array_equal(model.stylise(content, square), content)
    assert seen["content"].shape == (1, 20, 24, 3) and seen["content"].max() == 1.0
    assert seen["style"].shape == (1, 256, 256, 3) and seen["style"].dtype == np.float32


def test_the_style_is_softened_by_a_3x3_box_blur_as_in_the_tutorial():
    seen = {}

    def module(content, style):
        seen["style"] = style.numpy()[0]
        return [content]

    checkerboard = (np.indices((256, 256)).sum(axis=0) % 2 * 255).astype(np.uint8)
    FastStyleModel(module, "spy").stylise(np.zeros((16, 16, 3), np.uint8),
                                          np.repeat(checkerboard[:, :, None], 3, axis=2))
    inside = seen["style"][1:-1, 1:-1]
    assert np.allclose(np.unique(np.round(inside, 4)), [round(4 / 9, 4), round(5 / 9, 4)])


def test_output_that_is_not_an_image_is_refused():
    model = FastStyleModel(lambda c, s: [tf.zeros([1, 8, 8])], "flat")
    with pytest.raises(StyleModelUnavailable, match="not one RGB image"):
        model.stylise(np.zeros((8, 8, 3), np.uint8), np.zeros((256, 256, 3), np.uint8))


# ----------------------------------------------------------------------------- the technique


def test_png_of_the_contents_size_and_a_multi_frame_gif(style_model, content, tmp_path):
    result = fast_style_transfer(style_model, png_bytes(content), painting(), frames=6)
    assert result.image.shape == (*CONTENT_SHAPE, 3)
    with Image.open(result.save_png(tmp_path / "out.png")) as png:
        assert png.size == (CONTENT_SHAPE[1], CONTENT_SHAPE[0])
    frames = iio.imread(result.save_gif(tmp_path / "out.gif"), index=None)
    assert frames.shape[0] == 7


def test_the_sweep_goes_from_the_content_to_the_result(style_model, content):
    result = fast_style_transfer(style_model, content, painting(), strength=0.8, frames=5)
    assert len(result.frames) == 6
    assert np.array_equal(result.frames[0], content)
    assert np.array_equal(result.frames[-1], result.image)
    distances = [distance(frame, content) for frame in result.frames]
    assert all(a < b for a, b in zip(distances, distances[1:]))
    assert not result.stopped


def test_strength_zero_returns_the_content_unchanged(style_model, content):
    result = fast_style_transfer(style_model, png_bytes(content), painting(), strength=0.0,
                                 second_style_image=painting(phase=1.0), preserve_colors=True)
    assert np.array_equal(result.image, content)
    assert all(np.array_equal(frame, content) for frame in result.frames)


def test_passes_that_cannot_change_the_result_are_not_run(style_model, content):
    calls = []

    def counting(content_batch, style_batch):
        calls.append(1)
        return style_model.module(content_batch, style_batch)

    model = FastStyleModel(counting, "counting")
    fast_style_transfer(model, content, painting(), strength=0.0, second_style_image=painting())
    assert calls == []
    fast_style_transfer(model, content, painting(), second_style_image=painting(), second_style_share=0.0)
    assert calls == [1]
    fast_style_transfer(model, content, painting(), second_style_image=painting(), second_style_share=0.3)
    assert calls == [1, 1, 1]


def test_strength_blends_the_stylised_image_with_the_content(style_model, content):
    full = fast_style_transfer(style_model, content, painting(), strength=1.0).image
    half = fast_style_transfer(style_model, content, painting(), strength=0.5).image
    expected = (content.astype(np.float64) + full.astype(np.float64)) / 2
    assert np.abs(half - expected).max() <= 1.0
    assert distance(full, content) > 10


def test_the_style_matters(style_model, content):
    first = fast_style_transfer(style_model, content, painting()).image
    second = fast_style_transfer(style_model, content, painting(phase=2.0)[::-1]).image
    assert distance(first, second) > 2


def test_two_styles_blend_by_share(style_model, content):
    a, b = painting(), painting(phase=2.0)[::-1]
    only_a = fast_style_transfer(style_model, content, a).image
    only_b = fast_style_transfer(style_model, content, b).image

    def blended(share):
        return fast_style_transfer(style_model, content, a, second_style_image=b,
                                   second_style_share=share)

    assert np.array_equal(blended(0.0).image, only_a)
    assert np.array_equal(blended(1.0).image, only_b)
    half = blended(0.5)
    expected = (only_a.astype(np.float64) + only_b.astype(np.float64)) / 2
    assert np.abs(half.image - expected).max() <= 1.0
    assert half.settings["second_style_share"] == 0.5


def chroma(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("YCbCr"), np.float64)[:, :, 1:]


def test_preserving_colours_keeps_the_contents_chroma(style_model, content):
    plain = fast_style_transfer(style_model, content, painting())
    kept = fast_style_transfer(style_model, content, painting(), preserve_colors=True)
    kept_error = np.abs(chroma(kept.image) - chroma(content)).mean()
    assert kept_error < 2.0  # rounding through YCbCr only
    assert kept_error < 0.2 * np.abs(chroma(plain.image) - chroma(content)).mean()
    assert all(np.abs(chroma(frame) - chroma(content)).mean() < 2.0 for frame in kept.frames)
    # The luminance still carries the style.
    assert distance(kept.image, content) > 5


def test_settings_and_notes(style_model, content):
    result = fast_style_transfer(style_model, content, painting(200, 500), strength=0.6,
                                 preserve_colors=True, frames=4)
    assert result.settings == {
        "technique": "fast_style_transfer", "model": "stand-in", "strength": 0.6,
        "second_style_share": 0.0, "preserve_colors": True, "frames": 4, "style_size": 256,
        "size": [CONTENT_SHAPE[1], CONTENT_SHAPE[0]],
    }
    assert result.notes == ["Style: only its central 200×200 square was used (the style network "
                            "looks at square 256×256 styles)."]


def test_large_images_are_downscaled_with_notes(style_model, picture_factory):
    result = fast_style_transfer(style_model, picture_factory(300, 400), painting(1100, 1500),
                                 max_side=200)
    assert result.image.shape == (150, 200, 3)
    assert result.notes[0] == ("The image was downscaled from 400×300 to 200×150 (the limit is "
                               "200 px on the longest side).")
    assert result.notes[1] == ("Style: The image was downscaled from 1500×1100 to 1024×751 (the "
                               "limit is 1024 px on the longest side).")


@pytest.mark.parametrize("which", ["content_image", "style_image", "second_style_image"])
def test_something_that_is_not_an_image_is_refused(style_model, content, which):
    images = {"content_image": content, "style_image": painting(), "second_style_image": painting()}
    images[which] = b"this is not an image"
    what = {"content_image": "Content image", "style_image": "Style image",
            "second_style_image": "Second style image"}[which]
    with pytest.raises(dream.ImageError, match=f"^{what}: Could not read this file as an image"):
        fast_style_transfer(style_model, **images)


def test_a_huge_style_image_is_refused_before_decoding(style_model, content):
    with pytest.raises(dream.ImageError, match="^Style image: This image has too many pixels"):
        fast_style_transfer(style_model, content, png_header_only(10_000, 8_000))


@pytest.mark.parametrize("options, message", [
    ({"strength": 1.5}, "strength must be between 0 and 1"),
    ({"strength": -0.1}, "strength must be between 0 and 1"),
    ({"second_style_share": 2.0}, "second_style_share must be between 0 and 1"),
    ({"frames": 0}, "frames must be between 1 and 30"),
    ({"frames": 31}, "frames must be between 1 and 30"),
])
def test_settings_out_of_range_are_refused(style_model, content, options, message):
    with pytest.raises(dream.LimitError, match=message):
        fast_style_transfer(style_model, content, painting(), **options)


def test_progress_reports_each_pass_and_stop_skips_the_second_style(style_model, content):
    reports = []
    single = fast_style_transfer(style_model, content, painting(),
                                 on_progress=lambda p: reports.append(p) or True)
    assert [(p.step, p.total) for p in reports] == [(1, 1)]
    assert not single.stopped  # nothing was left to skip
    assert np.array_equal(reports[0].preview, single.image)

    stopped = fast_style_transfer(style_model, content, painting(),
                                  second_style_image=painting(phase=2.0)[::-1],
                                  on_progress=lambda p: True)
    assert stopped.stopped
    assert np.array_equal(stopped.image, single.image)
    assert "the first style only" in stopped.notes[-1]
