"""What users upload → uint8 RGB: rotation, modes, depths, animations, bad files, limits."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dream import ImageError, Limits, prepare
from dream.images import (
    MAX_DECODED_PIXELS,
    fit_to_limits,
    load_rgb,
    resize_to,
    save_png,
)


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixel data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- orientation


def test_exif_rotated_jpeg_comes_out_upright():
    # Stored landscape 60×40 with a red top-left corner; orientation 6 means "rotate
    # 90° clockwise to display": upright it is portrait 40×60, red in the top-right.
    stored = np.full((40, 60, 3), 255, np.uint8)
    stored[:12, :12] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)

    rgb, notes = load_rgb(data)
    assert rgb.shape == (60, 40, 3)
    top_right, top_left = rgb[3, -4].astype(int), rgb[3, 3].astype(int)
    assert np.abs(top_right - (255, 0, 0)).max() < 30
    assert np.abs(top_left - (255, 255, 255)).max() < 30
    assert notes == []


# ----------------------------------------------------------------------------- modes


def test_grayscale():
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (20, 1))
    rgb, _ = load_rgb(_encode(Image.fromarray(gray, "L"), "PNG"))
    assert rgb.shape == (20, 64, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_transparent_becomes_white():
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (0, 0, 255, 255)   # opaque blue
    rgba[:, 15:] = (0, 0, 0, 0)       # fully transparent black
    rgb, _ = load_rgb(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(rgb[5, 5]) == (0, 0, 255)
    assert tuple(rgb[5, 25]) == (255, 255, 255)


def test_half_transparent_is_blended_on_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 3] = 128
    rgb, _ = load_rgb(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert 120 <= int(rgb[0, 0, 0]) <= 135


def test_gray_with_alpha():
    la = Image.new("LA", (20, 20), (0, 0))
    rgb, _ = load_rgb(_encode(la, "PNG"))
    assert (rgb == 255).all()


def test_palette_with_transparency():
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.paste(1, (10, 0, 20, 20))
    data = _encode(palette, "PNG", transparency=0)  # index 0 (red) is transparent
    assert Image.open(io.BytesIO(data)).mode == "P"
    rgb, _ = load_rgb(data)
    assert tuple(rgb[5, 5]) == (255, 255, 255)
    assert tuple(rgb[5, 15]) == (0, 255, 0)


def test_cmyk():
    cmyk = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red in ink terms
    rgb, _ = load_rgb(_encode(cmyk, "TIFF"))
    assert rgb.shape == (20, 20, 3)
    assert tuple(rgb[0, 0]) == (255, 0, 0)


def test_16_bit_png_is_scaled_not_clipped():
    values = np.full((20, 20), 32768, np.uint16)
    values[:, 10:] = 65535
    data = _encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    rgb, _ = load_rgb(data)
    assert tuple(rgb[0, 0]) == (128, 128, 128)  # mid-gray, not white
    assert tuple(rgb[0, 15]) == (255, 255, 255)


def test_float_tiff_in_unit_range():
    values = np.full((20, 20), 0.5, np.float32)
    rgb, _ = load_rgb(_encode(Image.fromarray(values, "F"), "TIFF"))
    assert tuple(rgb[0, 0]) == (128, 128, 128)


def test_animated_gif_uses_the_first_frame_and_says_so():
    frames = [Image.new("RGB", (24, 24), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb, notes = load_rgb(data)
    assert tuple(rgb[12, 12]) == (255, 0, 0)
    assert len(notes) == 1 and "animated (3 frames)" in notes[0] and "first frame" in notes[0]


def test_pil_image_and_path_inputs(tmp_path):
    image = Image.new("RGB", (30, 20), (10, 20, 30))
    rgb, _ = load_rgb(image)
    assert rgb.shape == (20, 30, 3) and tuple(rgb[0, 0]) == (10, 20, 30)
    path = tmp_path / "photo.png"
    image.save(path)
    assert tuple(load_rgb(path)[0][0, 0]) == (10, 20, 30)
    assert tuple(load_rgb(str(path))[0][0, 0]) == (10, 20, 30)


# ----------------------------------------------------------------------------- numpy inputs


def test_numpy_float_unit_range():
    values = np.zeros((20, 20, 3), np.float32)
    values[..., 0] = 1.0
    values[..., 1] = 0.5
    rgb, _ = load_rgb(values)
    assert rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == (255, 128, 0)


def test_numpy_float_pixel_range_is_kept_and_clipped():
    values = np.full((20, 20, 3), 100.4, np.float64)
    values[0, 0] = (300.0, -5.0, np.nan)
    rgb, _ = load_rgb(values)
    assert tuple(rgb[1, 1]) == (100, 100, 100)
    assert tuple(rgb[0, 0]) == (255, 0, 0)


def test_numpy_uint16():
    values = np.full((20, 20, 3), 32768, np.uint16)
    values[0, 0] = (65535, 0, 257)
    rgb, _ = load_rgb(values)
    assert tuple(rgb[1, 1]) == (128, 128, 128)
    assert tuple(rgb[0, 0]) == (255, 0, 1)


def test_numpy_gray_and_rgba():
    gray, _ = load_rgb(np.full((20, 20), 7, np.uint8))
    assert gray.shape == (20, 20, 3) and (gray == 7).all()
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = (0, 0, 0, 255)
    rgb, _ = load_rgb(rgba)
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 15]) == (255, 255, 255)


def test_numpy_wrong_shape():
    with pytest.raises(ImageError, match=r"got shape \(20, 20, 2\)"):
        load_rgb(np.zeros((20, 20, 2), np.uint8))


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("data", [
    b"definitely not an image",
    b"",
    _encode(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60],  # truncated PNG
    b"\xff\xd8\xff\xe0" + b"\x00" * 100,                       # a JPEG's start, then junk
], ids=["text", "empty", "truncated-png", "broken-jpeg"])
def test_corrupt_bytes(data):
    with pytest.raises(ImageError, match="Could not read this file as an image.*Try a JPEG or PNG"):
        load_rgb(data)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="No image file at"):
        load_rgb(tmp_path / "nope.png")


def test_tiny_image_is_refused():
    with pytest.raises(ImageError, match=r"The image is 40×10 pixels; it needs at least 16"):
        prepare(_encode(Image.new("RGB", (40, 10)), "PNG"))


@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 10_000)],
                         ids=["far-beyond", "just-beyond"])
def test_decompression_bomb_is_refused_before_decoding(size):
    previous = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="too many pixels to process safely"):
        load_rgb(_png_header_only(*size))
    assert Image.MAX_IMAGE_PIXELS == previous  # the global limit is restored
    assert size[0] * size[1] > MAX_DECODED_PIXELS // 2


# ----------------------------------------------------------------------------- limits


def test_large_image_is_downscaled_with_a_note():
    image = np.zeros((300, 500, 3), np.uint8)
    fitted, notes = prepare(image, Limits(max_side=250))
    assert fitted.shape == (150, 250, 3)
    assert notes == [("The image was downscaled from 500×300 to 250×150 (the limit is 250 px "
                      "on the longest side).")]


def test_image_within_limits_is_untouched(picture):
    fitted, notes = prepare(picture)
    assert fitted is picture or np.array_equal(fitted, picture)
    assert notes == []


def test_extreme_aspect_ratio_is_refused():
    with pytest.raises(ImageError, match="less extreme aspect ratio"):
        fit_to_limits(np.zeros((20, 2000, 3), np.uint8), Limits(max_side=200))


def test_notes_accumulate():
    frames = [Image.new("RGB", (400, 200), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    fitted, notes = prepare(data, Limits(max_side=100))
    assert fitted.shape == (50, 100, 3)
    assert "animated" in notes[0] and "downscaled" in notes[1]


def test_resize_to_and_save_png(tmp_path, picture):
    assert resize_to(picture, (80, 104)).shape == (80, 104, 3)
    assert resize_to(picture, picture.shape[:2]) is picture
    path = save_png(picture, tmp_path / "out.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)
