"""The optimisation engine: objectives rise, octaves and tiles, seeds, progress, caps."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import tensorflow as tf

import dream
from tests.conftest import PATIENCE_S
from dream import LimitError, Limits, Schedule
from dream.engine import ProgressTracker, octave_sizes, total_octave_steps
from dream.model import CLASS_LOGITS


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)


# ----------------------------------------------------------------------------- objectives rise


OBJECTIVES = {
    "layer": dream.layer_mean("mixed4c"),
    "layer-squared": dream.layer_mean("mixed3b", squared=True),
    "channel": dream.channel("mixed4a", 3),
    "pre-relu-channel": dream.channel("mixed4c_3x3_pre_relu", 7),
}


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_objective_rises_over_the_iterations(engine, picture, name):
    # Without jitter the value measured is the value optimised: it rises step after step.
    objective = OBJECTIVES[name]
    image = _as_float(picture)
    values = [engine.value(objective, image)]
    for steps in (2, 4, 8):
        dreamed = engine.run(objective, image, Schedule(steps=steps, octaves=1, jitter=0))
        values.append(engine.value(objective, dreamed))
    assert all(b > a for a, b in pairwise(values)), values
    assert values[-1] - values[0] > 0.5 * abs(values[0]) + 1.0, values


@pytest.mark.parametrize("name", ["layer", "layer-squared", "channel"])
def test_objective_rises_with_jitter_and_octaves(engine, picture, name):
    # The default schedule: random rolls (whose aliasing on a strided random network
    # slows the rise of the unjittered value) and several octaves.
    objective = OBJECTIVES[name]
    image = _as_float(picture)
    before = engine.value(objective, image)
    after = engine.value(objective, engine.run(objective, image, Schedule(steps=12, octaves=2)))
    assert after > before * 1.2 + 0.1, (before, after)


def test_class_logit_rises(model, engine, picture):
    index = model.class_index("jellyfish")
    objective = dream.class_logit(index, name="jellyfish")
    image = _as_float(picture)
    logits = model.features([CLASS_LOGITS])

    def all_logits(img):
        batch = tf.image.resize(tf.constant(img)[None], (224, 288))  # what the engine sees
        return logits(batch)[CLASS_LOGITS].numpy().mean(axis=0)

    before = engine.value(objective, image)
    dreamed = engine.run(objective, image, Schedule(steps=30, octaves=2, tile_size=512))
    after = engine.value(objective, dreamed)
    assert after > before + 10.0, (before, after)
    # It is this neuron that was pushed up, not all logits alike.
    change = all_logits(dreamed) - all_logits(image)
    assert change[index] > np.median(change) + 10.0
    assert np.isclose(all_logits(image)[index], before, rtol=0.05, atol=0.5)


def test_channel_index_is_honoured(engine, picture):
    # Both channels share one compiled step (the index is a parameter); each dream must
    # still raise its own channel more than the other dream does.
    image = _as_float(picture)
    three, four = dream.channel("mixed4a", 3), dream.channel("mixed4a", 4)
    schedule = Schedule(steps=6, octaves=1, jitter=0)
    dream3, dream4 = engine.run(three, image, schedule), engine.run(four, image, schedule)
    assert engine.value(three, dream3) > engine.value(three, dream4)
    assert engine.value(four, dream4) > engine.value(four, dream3)


def _tv_l2(image: np.ndarray) -> float:
    pixels = np.asarray(image, np.float64) / 255.0
    dy = pixels[1:, :-1] - pixels[:-1, :-1]
    dx = pixels[:-1, 1:] - pixels[:-1, :-1]
    return float(np.mean(dx ** 2) + np.mean(dy ** 2))


def test_total_variation_with_negative_weight_smooths(engine, picture):
    rng = np.random.default_rng(0)
    noisy = np.clip(_as_float(picture) + rng.normal(0, 30, picture.shape), 0, 255).astype(np.float32)
    smoothed = engine.run(-1.0 * dream.total_variation("l2"), noisy,
                          Schedule(steps=8, octaves=1, jitter=0))
    assert _tv_l2(smoothed) < 0.8 * _tv_l2(noisy)


def test_value_of_a_pixel_only_objective(engine, picture):
    image = _as_float(picture)
    assert engine.value(dream.total_variation("l2"), image) == pytest.approx(_tv_l2(image), rel=1e-4)


def test_weighted_sum_of_objectives(engine, picture):
    image = _as_float(picture)
    a, b = dream.layer_mean("mixed4c"), dream.channel("mixed3b", 5)
    combined = 0.25 * a + b * 2.0 - dream.total_variation("l1")
    pixels = image / 255.0
    tv_l1 = (np.abs(pixels[:-1, 1:] - pixels[:-1, :-1]).mean()
             + np.abs(pixels[1:, :-1] - pixels[:-1, :-1]).mean())
    expected = 0.25 * engine.value(a, image) + 2.0 * engine.value(b, image) - tv_l1
    assert engine.value(combined, image) == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert combined.layers == frozenset({"mixed4c", "mixed3b", "input"})
    assert len(combined.terms) == 3  # sums of sums stay flat


def test_unknown_total_variation_norm():
    with pytest.raises(ValueError, match="l1, l2 or cadl"):
        dream.total_variation("l3")


# ----------------------------------------------------------------------------- octaves and tiles


@pytest.fixture(scope="module")
def large_picture(picture_factory):
    return picture_factory(300, 400).astype(np.float32)


TILED = Schedule(steps=3, octaves=3, octave_scale=1.5, tile_size=128, jitter=16, seed=1)


@pytest.fixture(scope="module")
def tiled_result(engine, large_picture):
    return engine.run(dream.layer_mean("mixed4c"), large_picture, TILED)


def test_tiled_octaves_keep_the_size(engine, large_picture, tiled_result):
    assert tiled_result.shape == large_picture.shape and tiled_result.dtype == np.float32
    assert 0.0 <= tiled_result.min() and tiled_result.max() <= 255.0
    assert np.abs(tiled_result - large_picture).mean() > 1.0  # it did dream
    objective = dream.layer_mean("mixed4c")
    assert engine.value(objective, tiled_result) > engine.value(objective, large_picture)
    assert len(octave_sizes(300, 400, TILED.octaves, TILED.octave_scale)) == 3


def test_tiles_have_no_visible_seams(tiled_result, large_picture):
    # With random rolls the tile borders (every ~100 px) move each step: the change
    # along a tile border is no larger than elsewhere.
    change = np.abs(tiled_result - large_picture).mean(axis=2)
    border_rows = change[[99, 100, 199, 200]].mean()
    assert border_rows < 2.0 * change.mean()


def test_same_seed_reproduces_exactly(engine, large_picture, tiled_result):
    again = engine.run(dream.layer_mean("mixed4c"), large_picture, TILED)
    assert np.array_equal(again, tiled_result)


def test_other_seed_differs(engine, large_picture, tiled_result):
    from dataclasses import replace

    other = engine.run(dream.layer_mean("mixed4c"), large_picture, replace(TILED, seed=2))
    assert np.abs(other - tiled_result).mean() > 0.5


@pytest.mark.parametrize("steps_per_call", [1, 2, 100])
def test_steps_per_call_does_not_change_the_result(engine, large_picture, tiled_result,
                                                   steps_per_call):
    split = engine.run(dream.layer_mean("mixed4c"), large_picture, TILED,
                       steps_per_call=steps_per_call)
    # The random rolls are keyed by (seed, step index), not by call: bit-identical.
    np.testing.assert_array_equal(split, tiled_result)


def test_adam_and_laplacian_options_run(engine, picture):
    image = _as_float(picture)
    objective = dream.layer_mean("mixed4a")
    for schedule in (Schedule(steps=4, octaves=2, optimizer="adam"),
                     Schedule(steps=4, octaves=2, laplacian_levels=3)):
        out = engine.run(objective, image, schedule)
        assert out.shape == image.shape
        assert engine.value(objective, out) > engine.value(objective, image)


def test_adam_split_into_calls_is_identical(engine, picture):
    # Adam's moments must carry over from one call to the next within an octave.
    image = _as_float(picture)
    objective = dream.channel("mixed4a", 2)
    schedule = Schedule(steps=6, octaves=2, optimizer="adam", seed=3)
    whole = engine.run(objective, image, schedule, steps_per_call=6)
    split = engine.run(objective, image, schedule, steps_per_call=2)
    np.testing.assert_array_equal(split, whole)


def test_step_offset_gives_fresh_shifts(engine, picture):
    image = _as_float(picture)
    objective = dream.layer_mean("mixed4a")
    schedule = Schedule(steps=3, octaves=1, jitter=32, seed=0)
    a = engine.run(objective, image, schedule, step_offset=0)
    b = engine.run(objective, image, schedule, step_offset=100)
    assert not np.array_equal(a, b)


def test_zero_steps_returns_the_image(engine, picture):
    image = _as_float(picture)
    out = engine.run(dream.layer_mean("mixed4a"), image, Schedule(steps=0, octaves=3))
    np.testing.assert_allclose(out, image, atol=1e-3)


def test_new_size_and_parameters_do_not_retrace(engine, picture_factory):
    schedule = Schedule(steps=2, octaves=1)
    engine.run(dream.channel("mixed3a", 1), picture_factory(96, 128).astype(np.float32), schedule)
    traced = engine.trace_count
    engine.run(dream.channel("mixed3a", 5), picture_factory(120, 90).astype(np.float32),
               Schedule(steps=3, octaves=2, step_size=2.0, tile_size=64, jitter=8, seed=9))
    assert engine.trace_count == traced


def test_engine_for_is_one_per_model(model, engine):
    assert dream.engine_for(model) is engine


def test_objective_that_does_not_fit_the_model_is_refused(engine, model, picture):
    channels = model.layer("mixed4a").channels
    with pytest.raises(ValueError, match=rf"needs at least {channels + 5} channels at mixed4a, "
                                         rf"which has {channels}"):
        engine.run(dream.channel("mixed4a", channels + 4), _as_float(picture), Schedule(steps=1))
    with pytest.raises(ValueError, match="Unknown layer 'mixed4z'.*Did you mean"):
        engine.run(dream.layer_mean("mixed4z"), _as_float(picture), Schedule(steps=1))
    with pytest.raises(ValueError, match="channel index is ≥ 0"):
        dream.channel("mixed4a", -1)


def test_target_objective_needs_a_target(engine, picture):
    needs_target = dream.Objective(("needs-target",), lambda a, t, p: tf.constant(0.0),
                                   target_layers=frozenset({"mixed3a"}))
    with pytest.raises(ValueError, match="target image"):
        engine.run(needs_target, _as_float(picture), Schedule(steps=1, octaves=1))


# ----------------------------------------------------------------------------- progress


def test_progress_tracker_counts_and_stops():
    seen = []
    tracker = ProgressTracker(10, lambda p: seen.append(p.step) or p.step >= 6)
    image = np.full((4, 5, 3), 300.0)
    assert tracker.advance(3, image) is False
    assert tracker.advance(3, image) is True
    assert tracker.advance(30, image) is True  # no callback after a stop
    assert seen == [3, 6] and tracker.step == 10


def test_progress_callback_sees_every_step(engine, picture):
    schedule = Schedule(steps=4, octaves=2)
    total = total_octave_steps(*picture.shape[:2], schedule)
    reports = []
    tracker = ProgressTracker(total, reports.append)
    engine.run(dream.layer_mean("mixed3b"), _as_float(picture), schedule, tracker=tracker,
               steps_per_call=1)
    assert [r.step for r in reports] == list(range(1, total + 1))
    assert all(r.total == total for r in reports)
    for report in reports:
        assert report.preview.dtype == np.uint8
        assert report.preview.ndim == 3 and report.preview.shape[2] == 3
    assert reports[-1].preview.shape == picture.shape


def test_stopping_early_returns_a_full_size_image(engine, picture):
    schedule = Schedule(steps=10, octaves=3)
    tracker = ProgressTracker(total_octave_steps(*picture.shape[:2], schedule),
                              lambda progress: progress.step >= 2)
    out = engine.run(dream.layer_mean("mixed3b"), _as_float(picture), schedule,
                     tracker=tracker, steps_per_call=1)
    assert tracker.stopped and tracker.step == 2
    assert out.shape == picture.shape


# ----------------------------------------------------------------------------- caps


@pytest.mark.parametrize("field, value, message", [
    ("steps", 201, r"steps must be between 0 and 200 \(got 201\)"),
    ("octaves", 9, r"octaves must be between 1 and 8"),
    ("tile_size", 32, r"tile_size must be between 64 and 1024"),
    ("tile_size", 4096, r"tile_size must be between 64 and 1024"),
    ("step_size", -1.0, r"step_size must be between"),
    ("octave_scale", 0.5, r"octave_scale must be between 1 and 4"),
])
def test_schedule_beyond_limits_is_refused(engine, picture, field, value, message):
    schedule = Schedule(**{field: value})
    with pytest.raises(LimitError, match=message):
        engine.run(dream.layer_mean("mixed3a"), _as_float(picture), schedule)


def test_custom_limits_apply(engine, picture):
    with pytest.raises(LimitError, match=r"steps must be between 0 and 5 \(got 6\)"):
        engine.run(dream.layer_mean("mixed3a"), _as_float(picture), Schedule(steps=6),
                   limits=Limits(max_steps=5))


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="ascent, adam"):
        Schedule(optimizer="sgd").validated()


# ----------------------------------------------------------------------------- issue #9 options


def test_per_term_normalisation_is_free_of_each_term_s_scale(engine, picture):
    # The same smoothness measured in units 1000× larger: with per-term normalisation
    # only the weights matter; normalising the sum, the big term swamps the other.
    from dream.objectives import PIXELS

    tv = dream.total_variation("l2")
    tv_large = dream.Objective(("tv-times-1000",), lambda a, t, p: 1000.0 * tv.fn(a, t, p),
                               layers=frozenset({PIXELS}))
    layer = dream.layer_mean("mixed4a")
    image = _as_float(picture)
    per_term = Schedule(steps=3, octaves=1, jitter=0, normalization="per_term")
    a = engine.run(layer - 0.5 * tv, image, per_term)
    b = engine.run(layer - 0.5 * tv_large, image, per_term)
    np.testing.assert_allclose(a, b, atol=1e-2)
    summed = Schedule(steps=3, octaves=1, jitter=0, normalization="sum")
    c = engine.run(layer - 0.5 * tv, image, summed)
    d = engine.run(layer - 0.5 * tv_large, image, summed)
    assert np.abs(c - d).mean() > 10 * np.abs(a - b).mean() + 0.1


def test_adam_moments_carry_over_from_one_call_to_the_next(engine, picture):
    # Two calls sharing an OptimizerState (two frames) are one optimisation of six steps.
    from dream.engine import OptimizerState

    image = _as_float(picture)
    objective = dream.channel("mixed4a", 2)
    schedule = Schedule(steps=6, octaves=1, optimizer="adam", step_size=2.0)
    whole = engine.run(objective, image, schedule)
    state = OptimizerState()
    half = replace(schedule, steps=3)
    first = engine.run(objective, image, half, optimizer_state=state)
    carried = engine.run(objective, first, half, step_offset=3, optimizer_state=state)
    np.testing.assert_allclose(carried, whole, atol=1e-3)
    fresh = engine.run(objective, first, half, step_offset=3)  # moments restarted
    assert np.abs(fresh - whole).mean() > 0.1


def test_fourier_parametrisation_with_lucid_transforms_raises_the_objective(engine, picture):
    image = _as_float(picture)
    objective = dream.layer_mean("mixed4a", squared=True)
    for schedule in (Schedule(steps=6, octaves=1, optimizer="adam", step_size=4.0,
                              parametrization="fourier", transforms="lucid", jitter=0),
                     Schedule(steps=6, octaves=1, parametrization="fourier")):
        out = engine.run(objective, image, schedule)
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 255
        assert engine.value(objective, out) > 1.2 * engine.value(objective, image)


def test_target_image_follows_the_lucid_transforms(engine, picture):
    # An L2 feature distance to the image itself is zero only if both are transformed alike.
    image = _as_float(picture)
    distance = dream.objectives.feature_similarity("mixed3a", "l2")
    out = engine.run(-1.0 * distance, image, Schedule(steps=3, octaves=1, transforms="lucid",
                                                      step_size=1.0), target_image=image)
    assert np.abs(out - image).max() < 1e-3


def test_schedule_choices_are_checked():
    for field, value in (("parametrization", "cppn"), ("transforms", "warp"),
                         ("normalization", "max"), ("precision", "float16")):
        with pytest.raises(ValueError, match=f"{field} must be one of"):
            replace(Schedule(), **{field: value}).validated()


def test_precision_follows_the_schedule(model, engine):
    assert engine.precision_of(Schedule(precision="float32")) == "float32"
    assert engine.precision_of(Schedule(precision="bfloat16")) == "bfloat16"
    assert engine.precision_of(Schedule(precision="auto")) == model.precision


# ----------------------------------------------------------------------------- compiled steps bounded


CACHE_BOUND = 3
LAYERS = ("conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c")
TINY = Schedule(steps=1, octaves=1, jitter=4)


@pytest.fixture
def bounded(model_dir):
    """A model of its own whose function cache holds at most CACHE_BOUND entries."""
    from dream import model as model_module

    model = model_module._load(model_dir / model_module.GRAPH_FILE,
                               model_dir / model_module.LABELS_FILE, precision="float32")
    model.function_cache.size = CACHE_BOUND
    return model


def _function_names(step_function) -> set[bytes]:
    """The names of a compiled step's functions (its own and those it calls) in TensorFlow's
    eager context."""
    concrete = step_function.get_concrete_function()  # the signature's one trace
    names = {concrete.function_def.signature.name.encode()}
    pending = list(concrete.graph._functions.values())
    while pending:
        function = pending.pop()
        names.add(function.name)
        pending.extend(getattr(function, "children", []))
    return names


def test_compiled_steps_never_exceed_the_bound(bounded, picture_factory):
    engine = dream.engine_for(bounded)
    cache = bounded.function_cache
    image = _as_float(picture_factory(48, 64))
    for layer in LAYERS:
        engine.run(dream.layer_mean(layer), image, TINY)
        assert len(cache) <= CACHE_BOUND
    assert cache.evictions >= len(LAYERS)  # each step (and its feature function) was new
    # The most recent request's step is among what is kept.
    assert engine.step_key(dream.layer_mean(LAYERS[-1]), TINY) in cache


def test_an_evicted_step_is_freed_and_tensorflow_forgets_it(bounded, picture_factory):
    import gc
    import weakref

    from tensorflow.python.eager import context

    engine = dream.engine_for(bounded)
    image = _as_float(picture_factory(48, 64))
    first = dream.layer_mean("mixed3b")
    engine.run(first, image, TINY)
    step = engine._step_function(first, TINY)
    alive, names = weakref.ref(step), _function_names(step)
    assert names and all(context.context().has_function(name) for name in names)
    del step
    for layer in LAYERS[3:]:  # other steps push it out
        engine.run(dream.layer_mean(layer), image, TINY)
    assert engine.step_key(first, TINY) not in bounded.function_cache
    gc.collect()
    assert alive() is None  # the step object and its graph are gone…
    # …and so are its FunctionDefs (the step, its loops, the gradient's forward and backward
    # functions, its feature function) from the runtime.
    assert not [name for name in names if context.context().has_function(name)]


def test_a_request_after_eviction_compiles_again_and_gives_the_same_result(bounded, picture_factory):
    engine = dream.engine_for(bounded)
    image = _as_float(picture_factory(48, 64))
    objective = dream.layer_mean("mixed3a")
    schedule = Schedule(steps=2, octaves=1, seed=5)
    before = engine.run(objective, image, schedule)
    traced = engine.trace_count
    bounded.function_cache.clear()
    again = engine.run(objective, image, schedule)
    assert engine.trace_count == traced + 1  # compiled again
    np.testing.assert_allclose(again, before, atol=1e-4)


def test_eviction_while_a_step_runs_does_not_break_it(bounded, picture_factory):
    """Another thread fills the cache while a request is between two calls of its step:
    the request keeps its (evicted) step and finishes as it would have undisturbed."""
    import threading

    engine = dream.engine_for(bounded)
    image = _as_float(picture_factory(48, 64))
    objective = dream.layer_mean("mixed4a")
    schedule = Schedule(steps=4, octaves=2, seed=3)
    undisturbed = engine.run(objective, image, schedule)
    key = engine.step_key(objective, schedule)

    def flood(progress):
        if progress.step == 1:
            def others():
                for layer in ("conv2d2", "mixed3a", "mixed3b", "mixed4b"):
                    engine.run(dream.layer_mean(layer), image, TINY)
            thread = threading.Thread(target=others)
            thread.start()
            thread.join()
            assert key not in bounded.function_cache  # evicted while this run holds it

    disturbed = engine.run(objective, image, schedule, steps_per_call=1,
                           tracker=ProgressTracker(8, flood))
    np.testing.assert_allclose(disturbed, undisturbed, atol=1e-4)


def test_steps_keep_running_while_another_thread_evicts_and_frees(bounded, picture_factory):
    """Requests run (and compile) while another thread compiles, evicts and collects
    garbage all along: each gives what it gives undisturbed."""
    import itertools
    import threading
    import time

    engine = dream.engine_for(bounded)
    image = _as_float(picture_factory(64, 80))
    objective = dream.layer_mean("mixed4a")
    schedule = Schedule(steps=6, octaves=2, seed=3)
    undisturbed = engine.run(objective, image, schedule)
    stop = threading.Event()

    def flood():
        small = np.full((40, 40, 3), 100.0, np.float32)
        for layer in itertools.cycle(("conv2d2", "mixed3a", "mixed3b", "mixed4b")):
            if stop.is_set():
                return
            engine.run(dream.layer_mean(layer), small, TINY)

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        deadline = time.monotonic() + PATIENCE_S
        runs = 0
        # Until the flood has evicted (and so freed, or recompiled) several times.
        while bounded.function_cache.evictions < 6 and time.monotonic() < deadline:
            result = engine.run(objective, image, schedule, steps_per_call=2)
            np.testing.assert_allclose(result, undisturbed, atol=1e-4)
            runs += 1
    finally:
        stop.set()
        thread.join()
    assert bounded.function_cache.evictions >= 6 and runs >= 2


def test_concurrent_requests_compile_a_step_once(bounded):
    import threading

    engine = dream.engine_for(bounded)
    objective = dream.layer_mean("mixed3b")
    found, builds = [], bounded.function_cache.builds
    threads = [threading.Thread(target=lambda: found.append(engine._step_function(objective, TINY)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and all(step is found[0] for step in found)
    assert bounded.function_cache.builds == builds + 2  # the step and its feature function


def test_a_model_and_its_engine_are_freed_together(model_dir):
    import gc
    import weakref

    from dream import model as model_module

    model = model_module._load(model_dir / model_module.GRAPH_FILE,
                               model_dir / model_module.LABELS_FILE, precision="float32")
    dream.engine_for(model).run(dream.layer_mean("mixed3a"), np.full((40, 40, 3), 128.0, np.float32),
                                TINY)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_exact_forces_float32_and_auto_follows_the_machine(model_dir, picture):
    # A model whose fastest precision is bfloat16 (a CPU with bfloat16 units) and one whose
    # is float32: "auto" techniques follow the model, "exact" is float32 on both.
    from dream.endpoints import ENDPOINTS, schedule_from
    from dream.presets import BASE_SCHEDULES

    half = dream.load_model(model_dir, precision="bfloat16")
    exact = dream.load_model(model_dir, precision="float32")
    for technique, base in BASE_SCHEDULES.items():
        assert schedule_from(technique, {"exact": True}).precision == "float32"
        assert schedule_from(technique, {"exact": False}).precision == base.precision
        assert dream.engine_for(exact).precision_of(schedule_from(technique, {})) == "float32"
    endpoint = ENDPOINTS["deep_dream"]
    values = {**endpoint.defaults(), "image": picture, "frames": 1, "steps": 1, "octaves": 1,
              "max_side": 64}
    for flag, model, expected in ((True, half, "float32"), (False, exact, "float32"),
                                  (False, half, dream.engine_for(half).precision_of(
                                      BASE_SCHEDULES["deep_dream"]))):
        result = endpoint.prepare(model, {**values, "exact": flag}).run(lambda progress: None)
        assert result.settings["precision"] == expected
