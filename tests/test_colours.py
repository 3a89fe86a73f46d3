"""Keeping the photo's colours (`preserve_colors`) on every dream technique: the result's
chroma stays the photo's (within YCbCr rounding) while its luminance is dreamed."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import dream
from dream import Schedule
from dream.colours import luminance, with_colours_of
from dream.images import resize_to
from dream.loops import frame_transform
from dream.video import dream_video, read_video
from tests.conftest import smooth_picture
from tests.test_video import moving_clip

FAST = Schedule(steps=3, octaves=2, octave_scale=1.4, seed=0)
QUICK = Schedule(steps=1, octaves=1, jitter=8)
# Mean absolute Cb/Cr difference a kept colour may show: the YCbCr round trip rounds
# each channel to 8 bits and RGB clips out-of-gamut mixes (measured 0.4–1.0 levels).
CHROMA_TOLERANCE = 2.0


def ycbcr(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("YCbCr"), np.float64)


def chroma_error(image: np.ndarray, source: np.ndarray) -> float:
    return float(np.abs(ycbcr(image)[..., 1:] - ycbcr(source)[..., 1:]).mean())


def luma_change(image: np.ndarray, source: np.ndarray) -> float:
    return float(np.abs(ycbcr(image)[..., 0] - ycbcr(source)[..., 0]).mean())


@pytest.fixture(scope="module")
def objective():
    return dream.layer_mean("mixed4c")


def test_colour_functions_live_in_dream_colours_and_style_re_exports_them(picture):
    import dream.fast_style
    import dream.style

    assert dream.style.with_colours_of is with_colours_of and dream.style.luminance is luminance
    assert dream.fast_style.with_colours_of is with_colours_of
    grey = luminance(picture)
    assert grey.shape == picture.shape and np.all(grey[..., 0] == grey[..., 2])
    # Another picture's light and shade on this picture's colours.
    other = np.rot90(smooth_picture(208, 160)).copy()
    mixed = with_colours_of(other, picture)
    # Within YCbCr's rounding (and RGB's clipping of out-of-gamut mixes).
    assert luma_change(mixed, other) < CHROMA_TOLERANCE
    assert chroma_error(mixed, picture) < CHROMA_TOLERANCE
    # A colour source of another size is fitted to the result's.
    assert with_colours_of(other, picture[::2, ::2]).shape == other.shape


def test_deep_dream_keeps_the_photos_colours(model, objective, picture):
    plain = dream.deep_dream(model, picture, objective, FAST, frames=3)
    kept = dream.deep_dream(model, picture, objective, FAST, frames=3, preserve_colors=True)
    assert plain.settings["preserve_colors"] is False and kept.settings["preserve_colors"] is True
    # Without the option the colours drift; with it they stay within rounding...
    assert chroma_error(kept.image, picture) <= CHROMA_TOLERANCE
    assert chroma_error(plain.image, picture) > 2 * CHROMA_TOLERANCE
    # ...while the light and shade are dreamed as much as without it (the working image
    # is not corrected, so the dream itself is the same).
    assert luma_change(kept.image, picture) > 2.0
    assert luma_change(kept.image, plain.image) < 1.0
    np.testing.assert_array_equal(kept.frames[0], picture)  # the input opens the GIF as is
    for frame in kept.frames[1:]:
        assert chroma_error(frame, picture) <= CHROMA_TOLERANCE


def test_previews_show_the_kept_colours(model, objective, picture):
    previews = []
    dream.deep_dream(model, picture, objective, FAST, frames=2, preserve_colors=True,
                     on_progress=lambda progress: previews.append(progress.preview))
    # A preview is shown at the octave being dreamed, the photo's colours fitted to it.
    assert previews and all(
        chroma_error(preview, resize_to(picture, preview.shape[:2])) <= CHROMA_TOLERANCE
        for preview in previews)
    assert any(preview.shape != picture.shape for preview in previews)


def test_zoom_colours_follow_the_zoomed_photo(model, objective, picture):
    zoom, rotate = 0.05, 5.0
    kept = dream.fractal_zoom(model, picture, objective, FAST, frames=4, zoom=zoom,
                              rotate=rotate, preserve_colors=True)
    assert kept.settings["preserve_colors"] is True
    # Dreamed frame k (recorded k + 1) is dreamed on the photo moved k times.
    moved = picture.astype(np.float32)
    for frame in kept.frames[1:]:
        source = np.clip(np.rint(moved), 0, 255).astype(np.uint8)
        assert chroma_error(frame, source) <= CHROMA_TOLERANCE
        moved = frame_transform(moved, zoom, rotate)
    # The colours did move: the last frame's are not the unmoved photo's.
    assert chroma_error(kept.frames[-1], picture) > 4 * CHROMA_TOLERANCE
    assert luma_change(kept.frames[-1], source) > 2.0


def test_guided_dream_keeps_the_colours_of_the_image_dreamed_on(model, picture):
    guide = np.ascontiguousarray(smooth_picture(208, 160).transpose(1, 0, 2)[:, :, ::-1])
    options = dict(layer="mixed4a", schedule=Schedule(steps=3, octaves=2, seed=0), frames=2)
    plain = dream.guided_dream(model, picture, guide, **options)
    kept = dream.guided_dream(model, picture, guide, preserve_colors=True, **options)
    assert kept.settings["preserve_colors"] is True and plain.settings["preserve_colors"] is False
    assert chroma_error(kept.image, picture) <= CHROMA_TOLERANCE
    assert chroma_error(kept.image, picture) < 0.5 * chroma_error(plain.image, picture)
    assert luma_change(kept.image, picture) > 1.0
    # Dreaming on the guide itself: the guide's colours are kept.
    itself = dream.guided_dream(model, guide, guide, preserve_colors=True, **options)
    assert chroma_error(itself.image, guide) <= CHROMA_TOLERANCE


def test_video_keeps_each_frames_own_colours(tmp_path, model, objective):
    source = tmp_path / "clip.mp4"
    iio.imwrite(source, moving_clip(6), plugin="pyav", codec="libx264", fps=6)
    sources = read_video(source).frames  # what dream_video decodes and dreams on
    plain = dream_video(model, source, objective, QUICK)
    kept = dream_video(model, source, objective, QUICK, preserve_colors=True)
    assert kept.settings["preserve_colors"] is True and plain.settings["preserve_colors"] is False
    assert len(kept.frames) == len(sources) == 6
    for dreamed, plain_frame, frame in zip(kept.frames, plain.frames, sources):
        assert chroma_error(dreamed, frame) <= CHROMA_TOLERANCE
        assert chroma_error(dreamed, frame) < 0.5 * chroma_error(plain_frame, frame)
        assert luma_change(dreamed, frame) > 1.0


def test_a_pool_job_keeps_the_colours_when_the_values_ask(model):
    """The pool's video path (a piece of a clip as a job) reads the option from the
    endpoint's values; values without it keep the colours off."""
    from dream.endpoints import ENDPOINTS
    from dream.pool.jobs import FramesJob, execute

    frames = tuple(moving_clip(3))
    values = {**ENDPOINTS["dream_video"].defaults(), "steps": 1, "octaves": 1}
    report = lambda progress: None  # noqa: E731
    kept = execute({"inception": model}, FramesJob(frames, {**values, "preserve_colors": True}), report)
    plain = execute({"inception": model}, FramesJob(frames, values), report)
    for dreamed, plain_frame, frame in zip(kept.frames, plain.frames, frames):
        assert chroma_error(dreamed, frame) <= CHROMA_TOLERANCE
        assert chroma_error(dreamed, frame) < 0.5 * chroma_error(plain_frame, frame)
