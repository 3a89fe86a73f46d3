"""Deep Dream's feedback loop and fractal zoom, their GIFs, progress and caps."""

from __future__ import annotations

from itertools import pairwise

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import dream
from dream import DreamResult, ImageError, LimitError, Limits, Schedule
from dream.model import CLASS_LOGITS

FAST = Schedule(steps=3, octaves=2, octave_scale=1.4, seed=0)


@pytest.fixture(scope="module")
def objective():
    return dream.layer_mean("mixed4c")


@pytest.fixture(scope="module")
def feedback(model, objective, picture_factory) -> DreamResult:
    return dream.deep_dream(model, picture_factory(), objective, FAST, frames=3)


@pytest.fixture(scope="module")
def zoom(model, objective, picture_factory) -> DreamResult:
    return dream.fractal_zoom(model, picture_factory(), objective, FAST, frames=4, zoom=0.05)


# ----------------------------------------------------------------------------- objectives


def test_dream_objective_picks_class_then_channel_then_layer(model):
    by_class = dream.dream_objective(model, layer="mixed3a", channel_index=2, class_name="Jellyfish")
    assert by_class.layers == frozenset({CLASS_LOGITS})
    assert int(by_class.params["class"]) == model.class_index("jellyfish")
    assert by_class.min_side == 224

    # A channel is read before its ReLU (the block's tap is built from its branches).
    by_channel = dream.dream_objective(model, layer="mixed4b", channel_index=5)
    assert by_channel.layers == frozenset({"mixed4b_pre_relu"}) and int(by_channel.params["channel"]) == 5
    after_relu = dream.dream_objective(model, layer="mixed4b", channel_index=5, pre_relu=False)
    assert after_relu.layers == frozenset({"mixed4b"})
    pool = dream.dream_objective(model, layer="mixed4b_pool", channel_index=1)  # no ReLU there
    assert pool.layers == frozenset({"mixed4b_pool"})

    # A whole layer: the classic mean square by default, the mean on request.
    assert dream.dream_objective(model, layer="mixed4d").key == ("layer", "mixed4d", True)
    assert dream.dream_objective(model, layer="mixed4d", squared=False).key == ("layer", "mixed4d", False)


def test_dream_objective_refuses_bad_choices(model):
    channels = model.layer("mixed4b").channels
    with pytest.raises(ValueError, match=rf"mixed4b has channels 0 to {channels - 1}; got {channels}"):
        dream.dream_objective(model, layer="mixed4b", channel_index=channels)
    with pytest.raises(ValueError, match="channels 0 to"):
        dream.dream_objective(model, layer="mixed4b", channel_index=-1)
    with pytest.raises(ValueError, match="Unknown layer 'mixed9'"):
        dream.dream_objective(model, layer="mixed9")
    with pytest.raises(ValueError, match="Unknown class 'jellyfsh'.*jellyfish"):
        dream.dream_objective(model, class_name="jellyfsh")


# ----------------------------------------------------------------------------- feedback loop


def test_feedback_loop_frames(feedback, picture):
    assert len(feedback.frames) == 3 + 1  # the input, then one per dreamed frame
    np.testing.assert_array_equal(feedback.frames[0], picture)
    for frame in feedback.frames:
        assert frame.dtype == np.uint8 and frame.shape == picture.shape
    np.testing.assert_array_equal(feedback.image, feedback.frames[-1])
    # Each frame dreams further: frames differ from one another.
    for before, after in pairwise(feedback.frames):
        assert np.abs(after.astype(int) - before).mean() > 0.5
    assert feedback.stopped is False and feedback.notes == []


def test_feedback_loop_raises_the_objective(engine, feedback, objective):
    values = [engine.value(objective, frame.astype(np.float32)) for frame in feedback.frames]
    assert values[-1] > values[0] * 1.2, values
    assert values[1] > values[0]


def test_feedback_loop_keeps_rising_without_jitter(model, engine, picture):
    objective = dream.channel("mixed4a", 3)
    result = dream.deep_dream(model, picture, objective, Schedule(steps=3, octaves=1, jitter=0),
                              frames=3)
    values = [engine.value(objective, frame.astype(np.float32)) for frame in result.frames]
    assert all(b > a for a, b in pairwise(values)), values


def test_class_neuron_rises_through_deep_dream(model, engine, picture):
    objective = dream.dream_objective(model, class_name="jellyfish")
    result = dream.deep_dream(model, picture, objective, Schedule(steps=12, octaves=2), frames=3)
    before = engine.value(objective, picture.astype(np.float32))
    after = engine.value(objective, result.image.astype(np.float32))
    assert after > before + 10.0, (before, after)


def test_settings_describe_the_run(feedback, picture):
    settings = feedback.settings
    assert settings["technique"] == "deep_dream"
    assert settings["frames"] == 3
    assert settings["size"] == [picture.shape[1], picture.shape[0]]
    assert settings["steps"] == FAST.steps and settings["octaves"] == FAST.octaves
    assert settings["seed"] == FAST.seed
    assert "mixed4c" in settings["objective"]


def test_same_request_reproduces_exactly(model, objective, picture, feedback):
    again = dream.deep_dream(model, picture, objective, FAST, frames=3)
    np.testing.assert_array_equal(again.image, feedback.image)


def test_feedback_gif(feedback, tmp_path):
    path = feedback.save_gif(tmp_path / "feedback.gif", frame_duration_ms=90)
    frames = iio.imread(path, index=None)
    assert frames.shape == (len(feedback.frames), *feedback.image.shape)
    meta = iio.immeta(path)
    assert meta["loop"] == 0 and meta["duration"] == 90


def test_save_png_is_lossless(feedback, tmp_path):
    path = feedback.save_png(tmp_path / "dream.png")
    np.testing.assert_array_equal(iio.imread(path), feedback.image)


def test_inputs_by_path_and_bytes(model, objective, picture, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(picture).save(path)
    schedule = Schedule(steps=1, octaves=1)
    from_path = dream.deep_dream(model, str(path), objective, schedule, frames=1)
    from_bytes = dream.deep_dream(model, path.read_bytes(), objective, schedule, frames=1)
    np.testing.assert_array_equal(from_path.frames[0], picture)
    np.testing.assert_array_equal(from_path.image, from_bytes.image)


def test_unreadable_input_is_an_image_error(model, objective):
    with pytest.raises(ImageError, match="Could not read this file as an image"):
        dream.deep_dream(model, b"this is not a picture", objective, FAST, frames=1)


# ----------------------------------------------------------------------------- fractal zoom


def test_fractal_zoom_frames(zoom, picture):
    assert len(zoom.frames) == 4 + 1
    np.testing.assert_array_equal(zoom.frames[0], picture)
    for frame in zoom.frames:
        assert frame.dtype == np.uint8 and frame.shape == picture.shape
    assert zoom.image.shape == picture.shape
    assert zoom.settings["technique"] == "fractal_zoom" and zoom.settings["zoom"] == 0.05


def test_fractal_zoom_zooms_in(zoom, picture):
    # After a few 5 % zooms the frame's centre is (a dreamed version of) a small central
    # crop of the input, magnified: it matches that crop better than the input itself.
    from dream.engine import resize

    height, width = picture.shape[:2]
    last = zoom.frames[-1].astype(np.float32)
    crop = picture[int(height * 0.17):int(height * 0.83), int(width * 0.17):int(width * 0.83)]
    magnified = resize(crop.astype(np.float32), (height, width)).numpy()
    assert np.abs(last - magnified).mean() < np.abs(last - picture).mean()


def test_fractal_zoom_gif(zoom, tmp_path):
    path = zoom.save_gif(tmp_path / "zoom.gif", pingpong=False, max_side=100)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == len(zoom.frames)
    assert max(frames.shape[1:3]) == 100
    assert iio.immeta(path)["loop"] == 0


@pytest.mark.parametrize("value", [0.0, 0.3])
def test_fractal_zoom_refuses_bad_zoom(model, objective, picture, value):
    with pytest.raises(LimitError, match="zoom must be between 0.005 and 0.25"):
        dream.fractal_zoom(model, picture, objective, FAST, frames=2, zoom=value)


# ----------------------------------------------------------------------------- progress


def test_progress_reports(model, objective, picture):
    reports = []
    result = dream.deep_dream(model, picture, objective, FAST, frames=2, on_progress=reports.append)
    total = 2 * FAST.steps * FAST.octaves
    steps = [report.step for report in reports]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert steps[-1] == total and all(report.total == total for report in reports)
    for report in reports:
        assert report.preview.dtype == np.uint8
        assert report.preview.ndim == 3 and report.preview.shape[2] == 3
    np.testing.assert_array_equal(reports[-1].preview, result.image)
    assert result.stopped is False


def test_callback_returning_true_stops_early(model, objective, picture):
    steps_per_frame = FAST.steps * FAST.octaves
    seen = []

    def stop_after_first_frame(progress):
        seen.append(progress.step)
        return progress.step >= steps_per_frame

    result = dream.fractal_zoom(model, picture, objective, FAST, frames=5,
                                on_progress=stop_after_first_frame)
    assert result.stopped is True
    assert len(result.frames) < 5 + 1
    assert max(seen) == steps_per_frame  # no work reported after the stop
    assert result.image.shape == picture.shape and result.image.dtype == np.uint8


def test_stop_in_the_middle_of_a_frame(model, objective, picture):
    result = dream.deep_dream(model, picture, objective, Schedule(steps=5, octaves=3), frames=4,
                              on_progress=lambda progress: True)
    assert result.stopped is True
    assert len(result.frames) == 2  # the input and the partly dreamed frame
    assert result.image.shape == picture.shape


# ----------------------------------------------------------------------------- caps


def _no_progress(progress):
    raise AssertionError("a refused request must not start working")


def test_too_many_frames_is_refused(model, objective, picture):
    with pytest.raises(LimitError, match=r"frames must be between 1 and 120 \(got 121\)"):
        dream.deep_dream(model, picture, objective, FAST, frames=121, on_progress=_no_progress)
    with pytest.raises(LimitError, match=r"frames must be between 1 and 3 \(got 4\)"):
        dream.fractal_zoom(model, picture, objective, FAST, frames=4, limits=Limits(max_frames=3),
                           on_progress=_no_progress)
    with pytest.raises(LimitError, match="frames must be between"):
        dream.deep_dream(model, picture, objective, FAST, frames=0)


def test_too_many_steps_is_refused(model, objective, picture):
    with pytest.raises(LimitError, match=r"steps must be between 0 and 200 \(got 500\)"):
        dream.deep_dream(model, picture, objective, Schedule(steps=500), frames=1,
                         on_progress=_no_progress)


def test_too_many_octaves_is_refused(model, objective, picture):
    with pytest.raises(LimitError, match=r"octaves must be between 1 and 2 \(got 3\)"):
        dream.deep_dream(model, picture, objective, Schedule(octaves=3), frames=1,
                         limits=Limits(max_octaves=2), on_progress=_no_progress)


def test_too_many_total_steps_is_refused(model, objective, picture):
    # 5 frames × 3 octaves × 4 steps = 60 > 50; each count alone is within its cap.
    limits = Limits(max_total_steps=50)
    schedule = Schedule(steps=4, octaves=3)
    with pytest.raises(LimitError, match=r"needs 60 optimisation steps; the limit is 50"):
        dream.deep_dream(model, picture, objective, schedule, frames=5, limits=limits,
                         on_progress=_no_progress)
    with pytest.raises(LimitError, match="Use fewer frames, octaves or steps"):
        dream.fractal_zoom(model, picture, objective, schedule, frames=5, limits=limits)


def test_default_total_step_cap(model, objective, picture):
    # 120 frames × 3 octaves × 20 steps = 7200 > 4000 (the default).
    with pytest.raises(LimitError, match=r"needs 7200 optimisation steps; the limit is 4000"):
        dream.deep_dream(model, picture, objective, Schedule(steps=20, octaves=3), frames=120,
                         on_progress=_no_progress)


def test_large_image_is_downscaled_with_a_note(model, objective, picture_factory):
    large = picture_factory(150, 300)
    result = dream.deep_dream(model, large, objective, Schedule(steps=1, octaves=1), frames=1,
                              limits=Limits(max_side=200))
    assert result.image.shape == (100, 200, 3)
    assert result.frames[0].shape == (100, 200, 3)
    assert result.notes == [(
        "The image was downscaled from 300×150 to 200×100 (the limit is 200 px on the "
        "longest side).")]
    assert result.settings["size"] == [200, 100]


def test_max_side_argument_cannot_exceed_the_limit(model, objective, picture_factory):
    large = picture_factory(150, 300)
    small = dream.deep_dream(model, large, objective, Schedule(steps=1, octaves=1), frames=1,
                             max_side=120)
    assert max(small.image.shape[:2]) == 120 and "downscaled" in small.notes[0]
    capped = dream.deep_dream(model, large, objective, Schedule(steps=1, octaves=1), frames=1,
                              max_side=5000, limits=Limits(max_side=160))
    assert max(capped.image.shape[:2]) == 160


def test_tiny_image_is_refused(model, objective):
    with pytest.raises(ImageError, match="at least 16 pixels on each side"):
        dream.deep_dream(model, np.zeros((10, 40, 3), np.uint8), objective, FAST, frames=1)


def test_pixel_step_budget_is_refused_before_any_work(model, picture):
    import time

    limits = dream.Limits(max_megapixel_steps=1.0)
    objective = dream.dream_objective(model, "mixed3b")
    start = time.perf_counter()
    with pytest.raises(dream.LimitError, match=r"megapixel-steps.*the limit is 1\b"):
        dream.deep_dream(model, picture, objective, dream.Schedule(steps=20, octaves=2),
                         frames=10, limits=limits)
    assert time.perf_counter() - start < 1.0  # refused up front, not after dreaming
    # Within the budget the same request shape runs.
    dream.deep_dream(model, picture, objective, dream.Schedule(steps=1, octaves=1), frames=1,
                     limits=limits)
