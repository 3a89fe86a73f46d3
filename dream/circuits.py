"""Circuits for a channel: what it is built from, and what it helps build.

For a channel c of a block layer L, its strongest inputs among the channels of the previous
block layer and its strongest outputs among the channels of the next one, read off the
network's **expanded weights** (Voss et al., "Visualizing Weights", Distill 2021,
https://distill.pub/2020/circuits/visualizing-weights/; Captum's
`captum.optim.circuits.extract_expanded_weights`):

    W[c_out, c_in, dy, dx] = ∂ a_to[centre, c_out] / ∂ a_from[window(dy, dx), c_in]

the gradient of the centre neuron of one layer with respect to the previous layer's
activations, over the window of positions that neuron sees. Between two adjacent block
layers it is the kernel that connects two channels, through everything between them: the
branches of an inception block, their bottlenecks, a max-pool.

**The non-linearities are linearised, as Captum does.** Captum computes expanded weights on
`googlenet(use_linear_modules_only=True)`: every ReLU replaced by the identity
(`SkipLayer`) and every max-pool by an average pool of the same size and stride. So does
this module, on the frozen graph itself: between the two layers each `Relu` becomes an
`Identity` and each `MaxPool` an `AvgPool` (same window, stride, padding). Then the path is
a product of convolutions, so the weights do not depend on any image, and a bottleneck
followed by a 3×3 or 5×5 convolution reads as the product of its two kernels (as the
Circuits articles show them: "we generally think of them as a low rank factorization of a
single weight matrix and visualize the product of the two weights"). Why the average pool
rather than the Circuits overview's other choice, "weights replicated over the region of
their maxpooling": a max-pool passes one of its inputs unchanged, so its gradient sums to 1
over the window, as the average pool's does; replication would sum to 9 and make a pooled
branch look 9× stronger than the 1×1 branch beside it.
Two ops Captum's linear model keeps are linearised here too: **biases are dropped** (they
do not change a gradient, and without them the sub-graph is exactly linear, so a forward
pass is its Jacobian-vector product), and **local response normalisation** (in the stem
only: conv2d0 → conv2d1 and conv2d2 → mixed3a), whose gradient Captum takes at the
activations of its all-zero input image, is replaced by its derivative at zero activation,
the gain `bias ** -beta` on every channel (of `x · (bias + alpha · Σ x²) ** -beta`), so the
weights depend on no input at all.

**One signed number per pair of channels.** The Circuits articles rank a neuron's
connections by the L2 norm of their weights ("the units it has the strongest (L2 norm)
weights to in the previous layer", "An Overview of Early Vision in InceptionV1"). So the
strength of c_in → c_out is the L2 norm of W[c_out, c_in] over its window, signed by the
sign of its sum (excitatory or inhibitory on the whole), and connections are sorted by its
magnitude: the Circuits ranking, with a sign the UI can colour.

**Cost.** The inputs of c are one backward pass of the linear sub-graph (the gradient of
the centre neuron of c), on a map three receptive fields wide (15 or 33 positions). Its
outputs are a forward pass of a one-hot input at c: the sub-graph is linear and
translation-equivariant, so the response of every output channel at every position to one
input neuron gives the whole column W[:, c], once per phase of the sub-graph's stride (1
or 4 forward passes in one batch). Each layer pair is imported once per model (an LRU of
`MAX_PAIRS`), reading the kernels by reference (`dream.model.SharedWeights`), and each
channel's strengths are computed once per pair. Measured on the full-size generated graph
(width 1.0, float32) on 2 shared cores (load 4–5): importing a pair 0.02–0.2 s; a channel's
inputs 1–13 ms, its outputs 2–80 ms (mixed4e → mixed5a, stride 2, the slowest); a whole
`circuit` with both pairs imported ≤ 0.05 s, 0.1–0.2 ms when cached; all 11 adjacent pairs
imported: +97 MB RSS (+495 MB with the kernels as constants). Every channel of mixed4b →
mixed4c at once (`expanded_weights` without a channel, 512 backward passes): 2.3 s.

    prev, nxt = circuits.neighbours(model, "mixed4c")        # ("mixed4b", "mixed4d")
    found = circuits.circuit(model, "mixed4c", 97, top=8)
    for layer, channel, weight in found.inputs: ...          # strongest first, signed
    kernels = circuits.expanded_weights(model, "mixed4b", "mixed4c", channel_to=97)
    kernels.shape                                            # (512, 5, 5): [c_in, dy, dx]
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from dream.graphdefs import make_const, make_node
from dream.model import SharedWeights

# How many linearised layer pairs a model keeps imported (least recently used dropped).
# The circuits of every block layer need the 11 adjacent pairs; a few more leave room for
# the indirect pairs a caller may ask `expanded_weights` for. The pairs read one shared copy
# of the kernels; the 11 adjacent pairs of the full-size graph, with that copy, added 97 MB.
MAX_PAIRS = 16
# `expanded_weights` for every channel of both layers at once refuses arrays above this;
# ask for one channel instead (mixed4e → mixed5a would be 832 × 832 × 11 × 11 floats, 335 MB).
MAX_FULL_BYTES = 256 * 2 ** 20
# The backward passes of `expanded_weights` for many channels run in batches whose input
# gradient stays below this.
BATCH_BYTES = 16 * 2 ** 20
DEFAULT_TOP = 8

# Ops that may sit between two layers, and what each becomes in the linear sub-graph.
_KEPT = {"Const", "Conv2D", "Concat", "ConcatV2", "Identity", "AvgPool"}
_TO_IDENTITY = {"Relu", "BiasAdd"}     # ReLU → identity (Captum); biases dropped
_SPATIAL = {"Conv2D", "AvgPool"}       # ops with a window and a stride


class Connection(NamedTuple):
    """One connection of a circuit: `weight` is signed (see the module docstring)."""

    layer: str
    channel: int
    weight: float


@dataclass(frozen=True)
class Circuit:
    """A channel with its strongest connections to the previous and next block layers.

    `inputs` are channels of `previous` (what `channel` is built from), `outputs` channels
    of `following` (what it helps build), each sorted by |weight|, strongest first. The
    first layer (conv2d0) has no previous layer, so no inputs (it reads pixels); the last
    (mixed5b) no next one, so no outputs: `previous` / `following` are then None and the
    list is empty.
    """

    layer: str
    channel: int
    previous: str | None
    following: str | None
    inputs: tuple[Connection, ...]
    outputs: tuple[Connection, ...]


# ----------------------------------------------------------------------------- layers


def block_layers(model) -> tuple[str, ...]:
    """The main path's layers in order: conv2d0, conv2d1, conv2d2, mixed3a, …, mixed5b."""
    return tuple(layer.name for layer in model.layers if layer.kind == "block")


def _block_name(model, layer: str) -> str:
    """`layer` as a block layer; a block's pre-ReLU tap is the block itself here (ReLUs are
    identities in the linearised network). Branches are not on the main path."""
    blocks = block_layers(model)
    name = layer[: -len("_pre_relu")] if layer.endswith("_pre_relu") else layer
    if name in blocks:
        return name
    model.layer(layer)  # an unknown name: a ValueError with close names
    raise ValueError(f"Circuits connect the main path's layers ({', '.join(blocks)}); "
                     f"{layer!r} is a branch inside a block.")


def neighbours(model, layer: str) -> tuple[str | None, str | None]:
    """(previous block layer or None, next block layer or None) of `layer`.

    The main path conv2d0 → conv2d1 → conv2d2 → mixed3a → mixed3b → (maxpool4) → mixed4a →
    … → mixed4e → (maxpool10) → mixed5a → mixed5b; the pools and the stem's normalisations
    belong to the connection, not to a layer.
    """
    blocks = block_layers(model)
    index = blocks.index(_block_name(model, layer))
    previous = blocks[index - 1] if index > 0 else None
    following = blocks[index + 1] if index + 1 < len(blocks) else None
    return previous, following


# ----------------------------------------------------------------------------- the linear sub-graph


def _source(name: str) -> str:
    return name.split(":")[0]


def linearised_subgraph(graph_def, layer_from: str, layer_to: str):
    """The ops from `layer_from`'s tensor to `layer_to`'s, as a linear GraphDef whose
    `layer_from` is a placeholder (see the module docstring for what becomes what)."""
    nodes = {node.name: node for node in graph_def.node}
    for name in (layer_from, layer_to):
        if name not in nodes:
            raise ValueError(f"The graph has no node {name!r}.")
    needed, pending = set(), [layer_to]
    while pending:
        name = _source(pending.pop())
        if name in needed:
            continue
        needed.add(name)
        if name != layer_from:
            pending.extend(inp for inp in nodes[name].input if not inp.startswith("^"))
    if layer_from not in needed:
        raise ValueError(f"{layer_to} does not depend on {layer_from}.")
    other_inputs = sorted(name for name in needed if nodes[name].op == "Placeholder" and name != layer_from)
    if other_inputs:
        raise ValueError(f"{layer_to} is not computed from {layer_from} alone: it also reads "
                         f"{', '.join(other_inputs)} by another path.")

    linear = tf.compat.v1.GraphDef()
    linear.versions.CopyFrom(graph_def.versions)
    f32 = tf.float32
    for node in graph_def.node:
        if node.name not in needed:
            continue
        data = [inp for inp in node.input if not inp.startswith("^")]
        if node.name == layer_from:
            linear.node.append(make_node(node.name, "Placeholder", dtype=f32))
        elif node.op in _KEPT:
            copy = linear.node.add()
            copy.CopyFrom(node)
            del copy.input[:]
            copy.input.extend(data)
            copy.device = ""
        elif node.op in _TO_IDENTITY:
            linear.node.append(make_node(node.name, "Identity", [data[0]], T=f32))
        elif node.op == "MaxPool":
            linear.node.append(make_node(
                node.name, "AvgPool", [data[0]], T=f32, ksize=list(node.attr["ksize"].list.i),
                strides=list(node.attr["strides"].list.i), padding=node.attr["padding"].s))
        elif node.op == "LRN":
            gain = np.float32(node.attr["bias"].f ** -node.attr["beta"].f)
            linear.node.append(make_const(f"{node.name}/small_signal_gain", gain))
            linear.node.append(make_node(node.name, "Mul", [data[0], f"{node.name}/small_signal_gain"],
                                         T=f32))
        else:
            raise ValueError(f"{node.name} ({node.op}) between {layer_from} and {layer_to} has "
                             f"no linear stand-in, so there are no expanded weights across it.")
    return linear


def _field(linear, layer_from: str, layer_to: str) -> tuple[int, int]:
    """(receptive field in `layer_from` positions, stride) of one `layer_to` position."""
    nodes = {node.name: node for node in linear.node}
    memo: dict[str, tuple[int, int] | None] = {layer_from: (1, 1)}

    def field(name: str):
        name = _source(name)
        if name in memo:
            return memo[name]
        node = nodes[name]
        found = [f for f in (field(inp) for inp in node.input) if f is not None]
        if not found:
            memo[name] = None
            return None
        strides = {stride for _, stride in found}
        if len(strides) > 1:
            raise ValueError(f"{name} joins branches of different strides.")
        size, stride = max(size for size, _ in found), strides.pop()
        if node.op in _SPATIAL:
            if node.op == "Conv2D":
                shape = nodes[_source(node.input[1])].attr["value"].tensor.tensor_shape.dim
                window = max(shape[0].size, shape[1].size)
            else:
                window = max(node.attr["ksize"].list.i[1:3])
            size += (window - 1) * stride
            stride *= max(node.attr["strides"].list.i[1:3])
        memo[name] = (size, stride)
        return memo[name]

    return field(layer_to)


class LinearPair:
    """The linearised sub-graph between two layers of a frozen graph, ready to read weights.

    It runs on maps `side` positions wide (three receptive fields, so the centre neuron and
    every neuron a one-hot input reaches are far from the padding); `window` is where, in
    such a map, the centre neuron of `layer_to` reads from (rows, columns).
    """

    def __init__(self, graph_def, layer_from: str, layer_to: str, channels_from: int,
                 weights: SharedWeights | None = None) -> None:
        self.layer_from, self.layer_to = layer_from, layer_to
        linear = linearised_subgraph(graph_def, layer_from, layer_to)
        self.field, self.stride = _field(linear, layer_from, layer_to)
        if weights is not None:
            # Read the kernels by reference: as constants, the forward and backward functions
            # kept ~10 copies of them (graph, FunctionDef, optimised executable, …): +495 MB
            # for the 11 adjacent pairs of the full-size graph.
            linear = weights.rewrite(linear)
        self.side = 3 * self.field + (1 - self.field % 2)  # odd
        self.channels_from = channels_from

        def run(x):
            (out,) = tf.graph_util.import_graph_def(
                linear, input_map={f"{layer_from}:0": x}, return_elements=[f"{layer_to}:0"], name="")
            return out

        spec = tf.TensorSpec([None, self.side, self.side, channels_from], tf.float32)
        self._forward = tf.compat.v1.wrap_function(run, [spec])
        _, out_side, _, self.channels_to = self._forward.outputs[0].shape.as_list()
        self.out_side = out_side
        self.centre = (out_side - 1) // 2  # Captum's centre neuron

        def backward(seed):  # seed: [B, out_side, out_side, channels_to]
            x = tf.zeros(tf.concat([tf.shape(seed)[:1], [self.side, self.side, channels_from]], 0))
            return tf.gradients(run(x), x, grad_ys=seed)[0]

        seed_spec = tf.TensorSpec([None, out_side, out_side, self.channels_to], tf.float32)
        self._backward = tf.compat.v1.wrap_function(backward, [seed_spec])
        self.window = self._find_window()
        self._strengths: dict[tuple[str, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def _find_window(self) -> tuple[slice, slice]:
        # The positions the centre neuron reads, from one backward pass with a random seed
        # over its channels (no cancellation to an exact zero but by a zero weight).
        seed = np.zeros([1, self.out_side, self.out_side, self.channels_to], np.float32)
        rng = np.random.default_rng(0)
        seed[0, self.centre, self.centre] = rng.uniform(0.5, 1.5, self.channels_to)
        reads = np.abs(self._backward(tf.constant(seed))[0].numpy()).sum(axis=-1) > 0
        rows, cols = np.flatnonzero(reads.any(axis=1)), np.flatnonzero(reads.any(axis=0))
        if not len(rows) or rows[0] == 0 or cols[0] == 0 or rows[-1] == self.side - 1 \
                or cols[-1] == self.side - 1:
            raise RuntimeError(f"The field of {self.layer_to} in {self.layer_from} is not where "
                               f"expected (a {self.field}-wide field on a {self.side}-wide map).")
        return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)

    @property
    def window_shape(self) -> tuple[int, int]:
        rows, cols = self.window
        return rows.stop - rows.start, cols.stop - cols.start

    def into(self, channels_to) -> np.ndarray:
        """W[c_out, :, :, :] for each c_out in `channels_to`: [len, channels_from, h, w], by
        backward passes of the centre neuron (batched)."""
        channels_to = list(channels_to)
        per_item = self.side * self.side * self.channels_from * 4
        batch = max(1, BATCH_BYTES // per_item)
        rows, cols = self.window
        parts = []
        for start in range(0, len(channels_to), batch):
            chunk = channels_to[start:start + batch]
            seed = np.zeros([len(chunk), self.out_side, self.out_side, self.channels_to], np.float32)
            seed[np.arange(len(chunk)), self.centre, self.centre, chunk] = 1.0
            gradient = self._backward(tf.constant(seed)).numpy()
            parts.append(np.transpose(gradient[:, rows, cols, :], (0, 3, 1, 2)))
        return np.concatenate(parts) if parts else np.zeros((0, self.channels_from, *self.window_shape),
                                                            np.float32)

    def out_of(self, channel_from: int) -> np.ndarray:
        """W[:, c_in, :, :] for c_in = `channel_from`: [channels_to, h, w], by forward passes of
        a one-hot input, one per phase of the stride.

        The sub-graph is linear and equivariant to shifts by its stride s: the response at
        output o to the input neuron p equals the centre neuron's weight at p − s·(o − centre).
        """
        s, (rows, cols) = self.stride, self.window
        height, width = self.window_shape
        anchor = self.side // 2
        ones = np.zeros([s * s, self.side, self.side, self.channels_from], np.float32)
        phases = [(i, j) for i in range(s) for j in range(s)]
        for k, (i, j) in enumerate(phases):
            ones[k, anchor + i, anchor + j, channel_from] = 1.0
        response = self._forward(tf.constant(ones)).numpy()  # [s², out, out, channels_to]
        weights = np.zeros([self.channels_to, height, width], np.float32)
        outputs = np.arange(self.out_side)
        for k, (i, j) in enumerate(phases):
            # Where in the window each output row / column puts what it saw.
            dy = anchor + i - s * (outputs - self.centre) - rows.start
            dx = anchor + j - s * (outputs - self.centre) - cols.start
            ys, xs = np.flatnonzero((dy >= 0) & (dy < height)), np.flatnonzero((dx >= 0) & (dx < width))
            weights[:, dy[ys][:, None], dx[xs][None, :]] = np.transpose(
                response[k][np.ix_(ys, xs)], (2, 0, 1))
        return weights

    def strengths(self, direction: str, channel: int) -> np.ndarray:
        """Signed strengths into `channel` of `layer_to` ("into": one per channel of
        `layer_from`) or out of `channel` of `layer_from` ("out": one per channel of
        `layer_to`); computed once."""
        key = (direction, int(channel))
        with self._lock:
            if key in self._strengths:
                return self._strengths[key]
        kernels = self.into([channel])[0] if direction == "into" else self.out_of(channel)
        found = signed_strength(kernels)
        with self._lock:
            self._strengths[key] = found
        return found


def signed_strength(kernels: np.ndarray) -> np.ndarray:
    """The L2 norm of each kernel over its last two (spatial) axes, with the sign of its sum."""
    flat = np.asarray(kernels, np.float64).reshape(*kernels.shape[:-2], -1)
    norm = np.sqrt(np.sum(flat * flat, axis=-1))
    return np.where(flat.sum(axis=-1) >= 0, norm, -norm).astype(np.float32)


# ----------------------------------------------------------------------------- per-model cache


_PAIRS: "weakref.WeakKeyDictionary[object, OrderedDict]" = weakref.WeakKeyDictionary()
# Each model's convolution kernels, stored once for all its pairs (float32, as the original
# graph has them; ~27 MB at full size).
_WEIGHTS: "weakref.WeakKeyDictionary[object, SharedWeights]" = weakref.WeakKeyDictionary()
_PAIRS_LOCK = threading.Lock()
_BUILD_LOCK = threading.Lock()


def _kernels_only(graph_def):
    """The graph's convolution kernels (its Const nodes that a Conv2D reads as its filter)."""
    nodes = {node.name: node for node in graph_def.node}
    kernels = {_source(node.input[1]) for node in graph_def.node if node.op == "Conv2D"}
    result = tf.compat.v1.GraphDef()
    result.node.extend(nodes[name] for name in sorted(kernels) if nodes[name].op == "Const")
    return result


def linear_pair(model, layer_from: str, layer_to: str) -> LinearPair:
    """The model's linearised sub-graph from `layer_from` to `layer_to`, imported once (LRU)."""
    key = (layer_from, layer_to)
    with _PAIRS_LOCK:
        pairs = _PAIRS.setdefault(model, OrderedDict())
        if key in pairs:
            pairs.move_to_end(key)
            return pairs[key]
    with _BUILD_LOCK:  # one import at a time; a second caller for the same pair waits for it
        with _PAIRS_LOCK:
            if key in pairs:
                return pairs[key]
        if model not in _WEIGHTS:
            _WEIGHTS[model] = SharedWeights(_kernels_only(model.graph_def), "float32")
        pair = LinearPair(model.graph_def, layer_from, layer_to, model.layer(layer_from).channels,
                          _WEIGHTS[model])
        with _PAIRS_LOCK:
            pairs[key] = pair
            while len(pairs) > MAX_PAIRS:
                pairs.popitem(last=False)
        return pair


def _ordered_pair(model, layer_from: str, layer_to: str) -> tuple[str, str]:
    blocks = block_layers(model)
    source, target = _block_name(model, layer_from), _block_name(model, layer_to)
    if blocks.index(source) >= blocks.index(target):
        raise ValueError(f"Expanded weights go forward: {layer_from} must come before {layer_to}.")
    return source, target


def _checked_channel(model, layer: str, channel) -> int:
    count = model.layer(layer).channels
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < count:
        raise ValueError(f"{layer} has channels 0–{count - 1}; there is no channel {channel!r}.")
    return int(channel)


# ----------------------------------------------------------------------------- public API


def expanded_weights(model, layer_from: str, layer_to: str, channel_to: int | None = None,
                     channel_from: int | None = None) -> np.ndarray:
    """W[c_to, c_from, dy, dx] of the linearised network between two block layers (any two,
    `layer_from` first; adjacent ones are what circuits use), over the window of `layer_from`
    positions that the centre neuron of `layer_to` reads (5×5 between two blocks of one
    stage, 11×11 across a stride-2 pool).

    A channel given selects along its axis, which is then dropped: `channel_to=c` → [C_from,
    h, w] (one backward pass), `channel_from=c` → [C_to, h, w] (1 or 4 forward passes), both
    → [h, w]; neither → the full array (C_to backward passes; refused above
    `MAX_FULL_BYTES`).
    """
    source, target = _ordered_pair(model, layer_from, layer_to)
    pair = linear_pair(model, source, target)
    if channel_to is not None:
        channel_to = _checked_channel(model, target, channel_to)
        kernels = pair.into([channel_to])[0]
        return kernels if channel_from is None else kernels[_checked_channel(model, source, channel_from)]
    if channel_from is not None:
        return pair.out_of(_checked_channel(model, source, channel_from))
    height, width = pair.window_shape
    size = pair.channels_to * pair.channels_from * height * width * 4
    if size > MAX_FULL_BYTES:
        raise ValueError(f"All expanded weights from {source} to {target} would take "
                         f"{size / 2 ** 20:.0f} MB; ask for one channel_to or channel_from.")
    return pair.into(range(pair.channels_to))


def _ranked(layer: str, strengths: np.ndarray, top: int) -> tuple[Connection, ...]:
    order = np.lexsort((np.arange(len(strengths)), -np.abs(strengths)))[:top]
    return tuple(Connection(layer, int(index), float(strengths[index])) for index in order)


def circuit(model, layer: str, channel: int, top: int = DEFAULT_TOP) -> Circuit:
    """`channel` of `layer` with its `top` strongest inputs in the previous block layer and
    `top` strongest outputs in the next, by signed expanded-weight strength (module
    docstring), strongest |weight| first."""
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a whole number ≥ 1 (got {top!r}).")
    name = _block_name(model, layer)
    channel = _checked_channel(model, name, channel)
    previous, following = neighbours(model, name)
    inputs = outputs = ()
    if previous is not None:
        inputs = _ranked(previous, linear_pair(model, previous, name).strengths("into", channel), top)
    if following is not None:
        outputs = _ranked(following, linear_pair(model, name, following).strengths("out", channel), top)
    return Circuit(name, channel, previous, following, inputs, outputs)


__all__ = ["Circuit", "Connection", "LinearPair", "block_layers", "circuit", "expanded_weights",
           "linear_pair", "linearised_subgraph", "neighbours", "signed_strength"]
