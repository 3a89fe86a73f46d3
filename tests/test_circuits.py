"""Expanded weights and circuits (`dream.circuits`) on tiny hand-built graphs and the small
generated stand-in of inception5h."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dream import circuits
from dream.graphdefs import const_value, make_const, make_node


# ----------------------------------------------------------------------------- a tiny graph


def _conv(graph_def, name: str, x: str, weights: np.ndarray, bias: float) -> str:
    """`<name>_pre_relu/conv` → `<name>_pre_relu` → `<name>` (Relu), as inception5h names them."""
    f32 = tf.float32
    graph_def.node.extend([
        make_const(f"{name}_w", weights.astype(np.float32)),
        make_const(f"{name}_b", np.full(weights.shape[3], bias, np.float32)),
        make_node(f"{name}_pre_relu/conv", "Conv2D", [x, f"{name}_w"], T=f32,
                  strides=[1, 1, 1, 1], padding=b"SAME"),
        make_node(f"{name}_pre_relu", "BiasAdd", [f"{name}_pre_relu/conv", f"{name}_b"], T=f32),
        make_node(name, "Relu", [f"{name}_pre_relu"], T=f32),
    ])
    return name


def tiny_graph(seed: int = 0):
    """a (3 channels) → 3×3 conv → b (4) → 1×1 conv → c (5); biases large enough that every
    ReLU is on for inputs in 0.5..1, so there the network is exactly linear."""
    rng = np.random.default_rng(seed)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.node.append(make_node("a", "Placeholder", dtype=tf.float32))
    b_w, c_w = rng.normal(0, 0.1, (3, 3, 3, 4)), rng.normal(0, 0.1, (1, 1, 4, 5))
    _conv(graph_def, "b", "a", b_w, bias=3.0)
    _conv(graph_def, "c", "b", c_w, bias=3.0)
    return graph_def, b_w.astype(np.float32), c_w.astype(np.float32)


def _run(graph_def, layer_from: str, layer_to: str, x: np.ndarray) -> np.ndarray:
    """The original (not linearised) graph from `layer_from` to `layer_to`."""
    def run(inputs):
        (out,) = tf.graph_util.import_graph_def(graph_def, input_map={f"{layer_from}:0": inputs},
                                                return_elements=[f"{layer_to}:0"], name="")
        return out

    function = tf.compat.v1.wrap_function(run, [tf.TensorSpec(x.shape, tf.float32)])
    return function(tf.constant(x)).numpy()


# ----------------------------------------------------------------------------- exact values


def test_expanded_weights_match_central_finite_differences_of_the_original_graph():
    graph_def, _, _ = tiny_graph()
    pair = circuits.LinearPair(graph_def, "a", "c", channels_from=3)
    side, centre, (rows, cols) = pair.side, pair.centre, pair.window
    assert pair.field == 3 and pair.stride == 1 and pair.window_shape == (3, 3)

    # One batch: every input neuron of the map nudged up and down by h, around a point
    # where all ReLUs are on.
    h = 0.05
    base = np.random.default_rng(1).uniform(0.5, 1.0, (1, side, side, 3)).astype(np.float32)
    nudges = np.eye(side * side * 3, dtype=np.float32).reshape(-1, side, side, 3) * h
    out = _run(graph_def, "a", "c", np.concatenate([base + nudges, base - nudges]))
    count = len(nudges)
    differences = (out[:count, centre, centre] - out[count:, centre, centre]) / (2 * h)
    numeric = differences.reshape(side, side, 3, 5).transpose(3, 2, 0, 1)  # [c_out, c_in, y, x]

    expected = np.zeros_like(numeric)
    expected[:, :, rows, cols] = pair.into(range(5))
    np.testing.assert_allclose(numeric, expected, atol=2e-4)
    assert np.abs(numeric[:, :, rows, cols]).min() > 0  # the window is where the weights are
    # Forward (one-hot) and backward (centre gradient) reading agree.
    for c_in in range(3):
        np.testing.assert_allclose(pair.out_of(c_in), pair.into(range(5))[:, c_in], atol=1e-6)


def test_directly_connected_convolutions_have_their_kernel_as_expanded_weights():
    graph_def, b_w, c_w = tiny_graph()
    one_by_one = circuits.LinearPair(graph_def, "b", "c", channels_from=4)
    assert one_by_one.window_shape == (1, 1)
    np.testing.assert_allclose(one_by_one.into(range(5))[:, :, 0, 0], c_w[0, 0].T, rtol=1e-6)
    three_by_three = circuits.LinearPair(graph_def, "a", "b", channels_from=3)
    # W[c_out, c_in, dy, dx] = kernel[dy, dx, c_in, c_out] (TensorFlow's cross-correlation).
    np.testing.assert_allclose(three_by_three.into(range(4)), b_w.transpose(3, 2, 0, 1), rtol=1e-6)
    # Two layers: the product of the kernels (the ReLU between them is the identity).
    np.testing.assert_allclose(circuits.LinearPair(graph_def, "a", "c", 3).into(range(5)),
                               np.einsum("yxim,mo->oiyx", b_w, c_w[0, 0]), rtol=1e-5, atol=1e-7)


def test_the_stand_in_models_3x3_connection_is_its_kernel(model):
    kernel = const_value({node.name: node for node in model.graph_def.node}["conv2d2_w"])
    weights = circuits.expanded_weights(model, "conv2d1", "conv2d2")
    np.testing.assert_allclose(weights, kernel.transpose(3, 2, 0, 1), rtol=1e-6)
    np.testing.assert_allclose(circuits.expanded_weights(model, "conv2d1", "conv2d2", channel_to=3),
                               kernel[..., 3].transpose(2, 0, 1), rtol=1e-6)


def test_max_pool_reads_as_an_average_pool_and_lrn_as_its_gain_at_zero(model):
    # conv2d0 → maxpool0 (3×3, stride 2) → localresponsenorm0 → 1×1 conv2d1.
    nodes = {node.name: node for node in model.graph_def.node}
    lrn = nodes["localresponsenorm0"].attr
    gain = lrn["bias"].f ** -lrn["beta"].f
    kernel = const_value(nodes["conv2d1_w"])[0, 0]  # [c_in, c_out]
    weights = circuits.expanded_weights(model, "conv2d0", "conv2d1")
    assert weights.shape == (kernel.shape[1], kernel.shape[0], 3, 3)
    np.testing.assert_allclose(weights, np.broadcast_to((gain / 9) * kernel.T[:, :, None, None],
                                                        weights.shape), rtol=1e-5)


@pytest.mark.parametrize("layer_from, layer_to", [("conv2d2", "mixed3a"), ("mixed3b", "mixed4a")])
def test_inputs_and_outputs_agree_across_a_stride_2_pool(model, layer_from, layer_to):
    """Outputs are read by one-hot forward passes per stride phase, inputs by centre-neuron
    gradients: on pairs with a stride-2 pool (and the stem's LRN), both give one array."""
    full = circuits.expanded_weights(model, layer_from, layer_to)
    assert full.shape == (model.layer(layer_to).channels, model.layer(layer_from).channels, 11, 11)
    for channel in (0, 5, model.layer(layer_from).channels - 1):
        np.testing.assert_allclose(
            circuits.expanded_weights(model, layer_from, layer_to, channel_from=channel),
            full[:, channel], atol=1e-6 * np.abs(full).max())
    np.testing.assert_allclose(
        circuits.expanded_weights(model, layer_from, layer_to, channel_to=2, channel_from=7),
        full[2, 7], rtol=1e-6)


# ----------------------------------------------------------------------------- circuits


def test_neighbours_follow_the_main_path(model):
    assert circuits.block_layers(model)[:4] == ("conv2d0", "conv2d1", "conv2d2", "mixed3a")
    assert circuits.neighbours(model, "conv2d0") == (None, "conv2d1")
    assert circuits.neighbours(model, "mixed3b") == ("mixed3a", "mixed4a")  # across maxpool4
    assert circuits.neighbours(model, "mixed4e") == ("mixed4d", "mixed5a")
    assert circuits.neighbours(model, "mixed5b") == ("mixed5a", None)
    assert circuits.neighbours(model, "mixed4c_pre_relu") == ("mixed4b", "mixed4d")
    with pytest.raises(ValueError, match="branch"):
        circuits.neighbours(model, "mixed4c_3x3")
    with pytest.raises(ValueError, match="Unknown layer"):
        circuits.neighbours(model, "mixed9z")


def test_circuit_ranks_signed_strengths_in_the_neighbouring_layers(model):
    found = circuits.circuit(model, "mixed3b", 5, top=6)
    assert (found.layer, found.channel, found.previous, found.following) == ("mixed3b", 5, "mixed3a", "mixed4a")
    assert len(found.inputs) == len(found.outputs) == 6
    assert {c.layer for c in found.inputs} == {"mixed3a"}
    assert {c.layer for c in found.outputs} == {"mixed4a"}
    for connections in (found.inputs, found.outputs):
        magnitudes = [abs(weight) for _, _, weight in connections]
        assert magnitudes == sorted(magnitudes, reverse=True)

    strengths = circuits.signed_strength(circuits.expanded_weights(model, "mixed3a", "mixed3b", channel_to=5))
    assert [c.channel for c in found.inputs] == list(np.argsort(-np.abs(strengths), kind="stable")[:6])
    np.testing.assert_allclose([c.weight for c in found.inputs],
                               strengths[[c.channel for c in found.inputs]], rtol=1e-6)
    assert any(c.weight < 0 for c in found.inputs + found.outputs)  # the sign is kept
    # An output of mixed3b:5 is mixed3b:5 as an input of that mixed4a channel.
    strongest = found.outputs[0]
    into = circuits.expanded_weights(model, "mixed3b", "mixed4a", channel_to=strongest.channel)
    assert circuits.signed_strength(into)[5] == pytest.approx(strongest.weight, rel=1e-4)
    assert circuits.circuit(model, "mixed3b", 5, top=6) == found  # cached, same answer


def test_the_first_layer_has_no_inputs_and_the_last_no_outputs(model):
    first = circuits.circuit(model, "conv2d0", 0, top=3)
    assert first.previous is None and first.inputs == ()
    assert [c.layer for c in first.outputs] == ["conv2d1"] * 3
    channels = model.layer("mixed5a").channels
    last = circuits.circuit(model, "mixed5b", 1, top=10 ** 6)
    assert last.following is None and last.outputs == ()
    assert sorted(c.channel for c in last.inputs) == list(range(channels))  # top caps at all


def test_bad_requests_are_value_errors(model):
    with pytest.raises(ValueError, match="channels 0"):
        circuits.circuit(model, "mixed4c", model.layer("mixed4c").channels)
    with pytest.raises(ValueError, match="top"):
        circuits.circuit(model, "mixed4c", 0, top=0)
    with pytest.raises(ValueError, match="before"):
        circuits.expanded_weights(model, "mixed4a", "mixed3b")
    with pytest.raises(ValueError, match="no linear stand-in"):
        graph_def, _, _ = tiny_graph()
        graph_def.node.append(make_node("d", "Sigmoid", ["c"], T=tf.float32))
        circuits.linearised_subgraph(graph_def, "b", "d")
    with pytest.raises(ValueError, match="does not depend"):
        graph_def, _, _ = tiny_graph()
        circuits.linearised_subgraph(graph_def, "c", "b")


def test_signed_strength_is_the_l2_norm_signed_by_the_sum():
    kernels = np.array([[[3.0, 4.0]], [[-3.0, -4.0]], [[-3.0, 1.0]], [[0.0, 0.0]]])
    np.testing.assert_allclose(circuits.signed_strength(kernels), [5, -5, -np.sqrt(10), 0], rtol=1e-6)


def test_a_pair_is_imported_once_per_model(model):
    assert circuits.linear_pair(model, "mixed4a", "mixed4b") is circuits.linear_pair(model, "mixed4a", "mixed4b")


def test_a_layer_that_does_not_cut_the_graph_is_refused():
    graph_def, _, _ = tiny_graph()
    f32 = tf.float32
    # d = c + a (a skip connection around b): b does not separate d from the input a.
    graph_def.node.append(make_node("d", "ConcatV2", ["c", "a", "d/axis"], T=f32, N=2, Tidx=tf.int32))
    graph_def.node.append(make_const("d/axis", np.array(3, np.int32)))
    with pytest.raises(ValueError, match="not computed from b alone"):
        circuits.linearised_subgraph(graph_def, "b", "d")
