"""Objectives checked against hand computations: CADL's smoothness loss, the classic layer
objective, the terms an engine normalises one by one."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import dream
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
