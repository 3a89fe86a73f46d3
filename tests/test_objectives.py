"""Objectives checked against hand computations: CADL's smoothness loss, the classic layer
objective, the terms an engine normalises one by one."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import dream
from dream import objectives_lucid as lucid
from dream.objectives import PIXELS, Objective, cadl_total_variation, total_variation

SMALL = np.array([[0, 1, 3],
                  [2, 4, 8],
                  [5, 7, 6]], np.float32)


def test_cadl_total_variation_on_a_3x3_array_equals_the_hand_computed_value():
    # CADL: dx = (x[:h-1, :w-1] - x[:h-1, 1:])², dy = (x[:h-1, :w-1] - x[1:, :w-1])²,
    # loss = mean((dx + dy)^1.2). The four top-left pixels give:
    #   (0,0): 1 + 4 = 5;  (0,1): 4 + 9 = 13;  (1,0): 4 + 9 = 13;  (1,1): 16 + 9 = 25.
    expected = (5 ** 1.2 + 13 ** 1.2 + 13 ** 1.2 + 25 ** 1.2) / 4  # = 24.48…
    image = np.repeat(SMALL[:, :, None], 3, axis=2)  # the same in every channel
    value = float(cadl_total_variation(tf.constant(image[None])))
    assert value == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(24.48, abs=0.01)


def test_cadl_norm_through_the_engine_and_the_course_alias(engine):
    image = np.repeat(SMALL[:, :, None], 3, axis=2)
    expected = (5 ** 1.2 + 2 * 13 ** 1.2 + 25 ** 1.2) / 4
    assert engine.value(total_variation("cadl"), image) == pytest.approx(expected, rel=1e-5)
    # "course", the earlier name of this choice, is accepted and means the same.
    assert total_variation("course").key == total_variation("cadl").key
    assert engine.value(total_variation("course"), image) == pytest.approx(expected, rel=1e-5)


def test_classic_layer_objective_is_the_mean_of_squares(model, engine, picture):
    image = picture.astype(np.float32)
    features = model.features(["mixed4c"], "float32")(tf.constant(image[None]))["mixed4c"].numpy()
    classic = dream.dream_objective(model, "mixed4c")  # the default: mean square
    assert engine.value(classic, image) == pytest.approx(float(np.mean(features ** 2)), rel=1e-4)
    mean = dream.dream_objective(model, "mixed4c", squared=False)
    assert engine.value(mean, image) == pytest.approx(float(np.mean(features)), rel=1e-4)
    assert "mean square" in classic.description


def test_weighted_terms_and_normalisation_groups(model):
    layer, tv = dream.layer_mean("mixed4a"), total_variation("cadl")
    objective = 2.0 * layer - 0.5 * tv - 0.25 * total_variation("l1")
    # The network's terms share one group; each pixel-only term has its own.
    assert objective.normalization_groups() == ((0,), (1,), (2,))
    both = layer + dream.channel("mixed3b", 1) - tv
    assert both.normalization_groups() == ((0, 1), (2,))
    assert layer.normalization_groups() == ((0,),)
    params = {name: tf.constant(value) for name, value in objective.params.items()}
    assert [float(w) for w in objective.term_weights(params)] == [2.0, -0.5, -0.25]
    pixels = tf.constant(np.repeat(SMALL[:, :, None], 3, axis=2)[None])
    terms = objective.weighted_terms({PIXELS: pixels, "mixed4a": tf.ones((1, 2, 2, 4))}, {}, params)
    assert float(terms[0][1]) == pytest.approx(2.0)
    assert float(terms[1][1]) == pytest.approx(-0.5 * float(cadl_total_variation(pixels)), rel=1e-6)
    assert isinstance(objective, Objective)


# ----------------------------------------------------------------------------- Lucid's objectives
# dream.objectives_lucid: neuron, direction(s), diversity, channel_interpolate, alignment,
# checked against Lucid's formulas (lucid/optvis/objectives.py, written out with loops
# here as Lucid writes them) and shown to do what they are for on the stand-in model.

# Three small steps with no roll. No roll: a position objective would otherwise chase a
# neuron that the jitter moves under it. Small steps: the stand-in's random features change
# fast with the pixels, so a step of the default 1.5 px overshoots the best value along the
# gradient of some objectives (a direction's best step there is ~0.3 px; alignment and
# diversity, whose optimum is near, overshoot from 0.25 px), and the test would measure
# the overshoot instead of the gradient's sign. At 0.1 px all pass both ways with margin.
THREE_STEPS = dream.Schedule(steps=3, octaves=1, jitter=0, step_size=0.1)


def _params(objective):
    return {name: tf.constant(value) for name, value in objective.params.items()}


def batch_value(model, objective, batch: np.ndarray) -> float:
    """An objective on a whole batch [B, h, w, 3] (`Engine.value` takes one image)."""
    acts = dict(model.features(objective.model_layers, "float32")(tf.constant(batch, tf.float32)))
    return float(objective.fn(acts, {}, _params(objective)))


def layer_features(model, layer: str, images: np.ndarray) -> np.ndarray:
    return model.features([layer], "float32")(tf.constant(images, tf.float32))[layer].numpy()


def mean_gram_distance(features: np.ndarray) -> float:
    """Mean over pairs of elements of |ĝ_i − ĝ_j|, ĝ the unit-norm Gram matrix of each."""
    flat = features.reshape(features.shape[0], -1, features.shape[-1])
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(features.shape[0], -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    count = len(grams)
    return float(np.mean([np.linalg.norm(grams[i] - grams[j])
                          for i in range(count) for j in range(i + 1, count)]))


def test_lucid_objectives_equal_lucids_formulas_on_small_tensors():
    rng = np.random.default_rng(0)
    acts = rng.uniform(0, 2, (5, 3, 4, 6)).astype(np.float32)  # B=5, h=3, w=4, C=6
    other = rng.uniform(0, 2, (5, 2, 2, 7)).astype(np.float32)
    vector = rng.normal(size=6).astype(np.float32)
    tensors = {"a": tf.constant(acts), "b": tf.constant(other)}

    def value(objective):
        return float(objective.fn(tensors, {}, _params(objective)))

    # neuron: Lucid's layer[:, h // 2, w // 2, n] at the centre; x is the column here.
    assert value(lucid.neuron("a", 2)) == pytest.approx(acts[:, 1, 2, 2].mean(), rel=1e-6)
    assert value(lucid.neuron("a", 2, x=0, y=2)) == pytest.approx(acts[:, 2, 0, 2].mean(), rel=1e-6)
    # A position past the edge is clamped to it.
    assert value(lucid.neuron("a", 2, x=99, y=99)) == pytest.approx(acts[:, 2, 3, 2].mean(), rel=1e-6)
    # direction: Lucid's _dot_cossim with cossim_pow=0, the mean over positions of the dot.
    assert value(lucid.direction("a", vector)) == pytest.approx((acts @ vector).mean(), rel=1e-5)
    assert value(lucid.direction_neuron("a", vector, x=1, y=0)) == pytest.approx(
        (acts[:, 0, 1] @ vector).mean(), rel=1e-5)
    dots = acts @ vector
    cosines = dots / (np.linalg.norm(acts, axis=-1) * np.linalg.norm(vector))
    assert value(lucid.direction_cossim("a", vector)) == pytest.approx(cosines.mean(), rel=1e-4)
    weighted = dots * np.maximum(0.1, cosines) ** 2
    assert value(lucid.direction("a", vector, cossim_pow=2)) == pytest.approx(weighted.mean(), rel=1e-4)

    # diversity: Lucid's Σ_i Σ_{j≠i} <ĝ_i, ĝ_j> / B, negated.
    flat = acts.reshape(5, -1, 6)
    grams = [g / np.linalg.norm(g) for g in np.einsum("bpc,bpd->bcd", flat, flat)]
    lucid_sum = sum(sum(np.sum(grams[i] * grams[j]) for j in range(5) if j != i)
                    for i in range(5)) / 5
    assert value(lucid.diversity("a")) == pytest.approx(-lucid_sum, rel=1e-5)
    assert value(lucid.diversity("a")) < 0

    # channel_interpolate: weights n / (B - 1), layers may differ.
    expected = sum((1 - n / 4) * acts[n, ..., 1].mean() + n / 4 * other[n, ..., 5].mean()
                   for n in range(5))
    assert value(lucid.channel_interpolate("a", 1, "b", 5)) == pytest.approx(expected, rel=1e-5)

    # alignment: -Σ_{d=1..4} Σ_i mean((a_i - a_{i+d})²) / decay^d.
    for decay in (2.0, 5.0):
        accum = sum(np.mean((acts[i] - acts[i + d]) ** 2) / decay ** d
                    for d in (1, 2, 3, 4) for i in range(5 - d))
        assert value(lucid.alignment("a", decay)) == pytest.approx(-accum, rel=1e-5)
    # Batches too small for some (or all) distances.
    two = {"a": tf.constant(acts[:2])}
    assert float(lucid.alignment("a").fn(two, {}, _params(lucid.alignment("a")))) == pytest.approx(
        -np.mean((acts[0] - acts[1]) ** 2) / 2, rel=1e-5)
    one = {"a": tf.constant(acts[:1])}
    for objective in (lucid.alignment("a"), lucid.diversity("a")):
        assert float(objective.fn(one, {}, _params(objective))) == 0.0
    interpolate = lucid.channel_interpolate("a", 1, channel2=3)
    assert float(interpolate.fn(one, {}, _params(interpolate))) == pytest.approx(acts[0, ..., 1].mean())


def test_lucid_objectives_refuse_bad_arguments(engine):
    with pytest.raises(ValueError, match="≥ 0"):
        lucid.neuron("mixed4a", 1, x=-1)
    with pytest.raises(ValueError, match="≥ 0"):
        lucid.neuron("mixed4a", -2)
    with pytest.raises(ValueError, match="not all zero"):
        lucid.direction("mixed4a", np.zeros(64))
    with pytest.raises(ValueError, match="channel2"):
        lucid.channel_interpolate("mixed4a", 1, 2)
    with pytest.raises(ValueError, match="decay_ratio"):
        lucid.alignment("mixed4a", 0)
    # The direction's length must be the layer's channel count (64 on the stand-in).
    channels = engine.model.layer("mixed4a").channels
    with pytest.raises(ValueError, match=f"needs {channels + 1} channels at mixed4a, which has {channels}"):
        engine.check(lucid.direction("mixed4a", np.ones(channels + 1)))
    engine.check(lucid.direction("mixed4a", np.ones(channels)))
    with pytest.raises(ValueError, match="at least"):
        engine.check(lucid.channel_interpolate("mixed4a", 1, "mixed3a", 10_000))


def _single_image_objectives(model):
    rng = np.random.default_rng(1)
    channels = model.layer("mixed4a").channels
    return [lucid.neuron("mixed4a", 37),  # active at the centre of the picture
            lucid.neuron("mixed3a", 19, x=6, y=10),
            lucid.direction("mixed4a", rng.normal(size=channels)),
            lucid.direction_neuron("mixed4a", rng.normal(size=channels)),
            lucid.direction_cossim("mixed4a", rng.normal(size=channels))]


@pytest.mark.parametrize("index", range(5))
def test_lucid_single_image_objectives_rise_and_a_negative_weight_makes_them_fall(
        model, engine, picture, index):
    objective = _single_image_objectives(model)[index]
    image = picture.astype(np.float32)
    before = engine.value(objective, image)
    raised = engine.value(objective, engine.run(objective, image, THREE_STEPS))
    lowered = engine.value(objective, engine.run(-1.0 * objective, image, THREE_STEPS))
    assert raised > before > lowered, objective


def _noise_batch(count: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(96, 160, (count, size, size, 3)).astype(np.float32)


def test_lucid_batch_objectives_rise_and_a_negative_weight_makes_them_fall(model, engine):
    batch = _noise_batch(4, 64, seed=0)
    for objective in (lucid.diversity("mixed4a"),
                      lucid.channel_interpolate("mixed4a", 3, "mixed4c", 5),
                      lucid.alignment("mixed4a")):
        before = batch_value(model, objective, batch)
        raised = batch_value(model, objective, engine.run(objective, batch, THREE_STEPS))
        lowered = batch_value(model, objective, engine.run(-1.0 * objective, batch, THREE_STEPS))
        # Measured: diversity −2.987 → −2.820 / −2.994; interpolation 12.9 → 26.9 / 2.8;
        # alignment −25.2 → −15.8 / −301.
        assert raised > before > lowered, (objective, before, raised, lowered)


def test_diversity_pushes_a_batch_for_one_channel_apart(model, engine):
    # Lucid's notebook: channel(l, n) - 1e2 * diversity(l), i.e. + w · diversity here; w
    # = 1e3 doubles the spread on the stand-in (2.1–2.5× over five seeds; 1e2 gives
    # 1.5–2.1×) and the channel still rises well above its start.
    layer, index = "mixed4a", 3
    start = _noise_batch(4, 80, seed=0)
    schedule = dream.Schedule(steps=10, octaves=1, jitter=8)
    alone = engine.run(dream.channel(layer, index), start, schedule)
    diverse = engine.run(dream.channel(layer, index) + 1e3 * lucid.diversity(layer), start, schedule)
    spread_alone = mean_gram_distance(layer_features(model, layer, alone))
    spread_diverse = mean_gram_distance(layer_features(model, layer, diverse))
    # Measured: 0.0976 alone, 0.220 with diversity (×2.26).
    assert spread_diverse > 1.5 * spread_alone, (spread_alone, spread_diverse)
    channel_start = layer_features(model, layer, start)[..., index].mean()
    channel_diverse = layer_features(model, layer, diverse)[..., index].mean()
    assert channel_diverse > 1.4 * channel_start, (channel_start, channel_diverse)  # 6.2 → 10.9


def test_channel_interpolate_goes_from_the_first_channel_to_the_second(model, engine):
    # Every element starts from the same image, so only the interpolation tells them apart.
    layer, first, second = "mixed4a", 3, 40
    start = np.repeat(_noise_batch(1, 64, seed=2), 4, axis=0)
    schedule = dream.Schedule(steps=5, octaves=1, jitter=0)
    objective = lucid.channel_interpolate(layer, first, layer, second) + 0.1 * lucid.alignment(layer)
    features = layer_features(model, layer, engine.run(objective, start, schedule))
    firsts, seconds = features[..., first].mean(axis=(1, 2)), features[..., second].mean(axis=(1, 2))
    assert firsts[0] > firsts[-1] and seconds[-1] > seconds[0], (firsts, seconds)


def _gradient_window(engine, objective, image, center, half):
    """(fraction of Σ|gradient| within ±half px of center (x, y), centroid (x, y))."""
    magnitude = np.abs(engine.gradient(objective, image)).sum(axis=-1)
    rows, columns = np.mgrid[:magnitude.shape[0], :magnitude.shape[1]]
    x, y = center
    window = magnitude[max(0, y - half):y + half, max(0, x - half):x + half].sum()
    total = magnitude.sum()
    return window / total, ((magnitude * columns).sum() / total, (magnitude * rows).sum() / total)


def test_neuron_gradient_sits_on_its_receptive_field_and_follows_x(model, engine, picture):
    image = picture.astype(np.float32)
    layer, index, y = "mixed3a", 19, 10  # a channel active at both positions below
    height = layer_features(model, layer, image[None]).shape[1]
    stride = image.shape[0] // height  # 8 input pixels per cell of mixed3a
    centroids = []
    for x in (6, 19):
        center = (stride * x + stride // 2, stride * y + stride // 2)
        inside, centroid = _gradient_window(engine, lucid.neuron(layer, index, x=x, y=y), image,
                                            center, half=24)
        assert inside > 0.9, (x, inside)  # measured 0.99
        centroids.append(centroid)
    # Thirteen cells to the right: the gradient moves 13 × 8 px right (measured 100), not down.
    (x0, y0), (x1, y1) = centroids
    assert x1 - x0 == pytest.approx(13 * stride, abs=16)
    assert abs(y1 - y0) < stride


def test_a_new_neuron_position_or_direction_does_not_retrace(model, engine, picture):
    image = picture[:64, :64].astype(np.float32)
    schedule = dream.Schedule(steps=1, octaves=1, jitter=0)
    channels = model.layer("mixed4a").channels
    engine.run(lucid.neuron("mixed4a", 3, x=1, y=1), image, schedule)
    engine.run(lucid.direction("mixed4a", np.ones(channels)), image, schedule)
    traced = engine.trace_count
    engine.run(lucid.neuron("mixed4a", 5, x=2), image, schedule)
    engine.run(lucid.neuron("mixed4a", 5), image, schedule)  # the centre
    engine.run(lucid.direction("mixed4a", -np.ones(channels), cossim_pow=1), image, schedule)
    assert engine.trace_count == traced
