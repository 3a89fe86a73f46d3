"""Lucid's feature-visualisation objectives that `dream.objectives` lacked.

After `lucid/optvis/objectives.py` (tensorflow/lucid; Olah et al., "Feature
Visualization", Distill 2017): one neuron at one position, a direction in a layer's
channel space, and the objectives that couple the elements of a batch — diversity,
interpolation between two channels across the batch, and alignment of neighbouring
elements. They are `Objective` values like the others and combine with `+`, `-`, `*`:

    channel("mixed4a", 97) + 100 * diversity("mixed4a")        # four different 97s
    channel_interpolate("mixed4a", 476, "mixed4a", 460)
        + 0.1 * (alignment("mixed3b", decay_ratio=5) + alignment("mixed4a", decay_ratio=5))

The engine ascends, as Lucid's `render_vis` maximises its objective. Signs follow Lucid's,
except `diversity`, which is Lucid's value negated so that larger means more diverse
(Lucid returns the similarity and its notebook subtracts it).

Batch objectives read the batch size from the activations, so any batch [B, h, w, 3]
works without a retrace; the engine normalises the step per element, which suits a term
that couples elements: each element still moves `step_size` pixels per step, in the
direction its share of the gradient asks for.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from dream.objectives import Objective

# The position parameter that means "the centre of the layer's map" (Lucid's default).
CENTRE = -1


def _check_index(name: str, value: int) -> int:
    if int(value) != value or value < 0:
        raise ValueError(f"{name} is an integer ≥ 0 (got {value}).")
    return int(value)


def _position_params(x: Optional[int], y: Optional[int]) -> dict[str, np.ndarray]:
    return {"x": np.int32(CENTRE if x is None else _check_index("x", x)),
            "y": np.int32(CENTRE if y is None else _check_index("y", y))}


def _at_position(features: tf.Tensor, params) -> tf.Tensor:
    """[B, h, w, C] → [B, C]: the features at column x, row y of the map.

    The centre is Lucid's `shape // 2` (the lower right of the central 2×2 on an even
    side). A position past the map's edge is clamped to the edge: the map's size depends
    on the image (and the octave), which the objective does not know when it is built.
    """
    shape = tf.shape(features)
    height, width = shape[1], shape[2]
    column = tf.where(params["x"] < 0, width // 2, tf.minimum(params["x"], width - 1))
    row = tf.where(params["y"] < 0, height // 2, tf.minimum(params["y"], height - 1))
    return features[:, row, column, :]


def _position_text(x: Optional[int], y: Optional[int]) -> str:
    if x is None and y is None:
        return "at the centre"
    return f"at x={'centre' if x is None else x}, y={'centre' if y is None else y}"


# ----------------------------------------------------------------------------- one position


def neuron(layer: str, channel: int, x: Optional[int] = None, y: Optional[int] = None) -> Objective:
    """One channel at one position of the layer's map (Lucid's `neuron`).

    `x` is the column and `y` the row of the layer's map, in its cells (a cell of mixed4a
    covers 16×16 input pixels); None is the centre of the map, as in Lucid. (Lucid's own
    `neuron` indexes the first spatial axis, the rows, with `x`; on its square 224 px
    renders only the names differ.) The value is the neuron's activation, averaged over
    the batch.

    The position is a parameter, so another position does not retrace; one past the map's
    edge is clamped to the edge (the map's size is known only at run time). Positions
    count cells of the map the network sees, i.e. of one tile of one octave: run with
    `octaves=1` and a `tile_size` at least the image's side (several tiles each have their
    own neuron, and the engine then rolls the image by up to a whole tile each step). The
    random roll moves the image under the neuron by up to `jitter` pixels each step, as
    Lucid's jitter transforms do (≤ 12 px in all); Deep Dream's default 32 px blurs a
    neuron's picture, so use a small jitter.
    """

    def fn(acts, target_acts, params):
        here = _at_position(acts[layer], params)  # [B, C]
        return tf.reduce_mean(tf.gather(here, params["channel"], axis=-1))

    channel = _check_index("A channel index", channel)
    return Objective(("neuron", layer), fn, layers=frozenset({layer}),
                     params={"channel": np.int32(channel), **_position_params(x, y)},
                     description=f"{layer} channel {channel} {_position_text(x, y)}",
                     channel_bounds={layer: (channel + 1, float("inf"))})


# ----------------------------------------------------------------------------- directions


def _direction_vector(vector: Sequence[float]) -> np.ndarray:
    vector = np.asarray(vector, np.float32)
    if vector.ndim != 1 or vector.size == 0:
        raise ValueError("A direction is a vector with one number per channel of the layer.")
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise ValueError("A direction vector is finite and not all zero.")
    return vector


def _norm(x: tf.Tensor) -> tf.Tensor:
    """|x| over the last axis, ≈ Lucid's 1e-4 where x is zero: a ReLU layer's all-zero
    position would otherwise give a 0/0 gradient (NaN) even with cossim_pow = 0."""
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1) + 1e-8)


def _dot_cossim(features: tf.Tensor, vector: tf.Tensor, cossim_pow: tf.Tensor) -> tf.Tensor:
    """Lucid's `_dot_cossim`: mean over positions of dot(features, vector) ·
    max(0.1, cosine)^cossim_pow; `features` [..., C]. With cossim_pow = 0 it is the plain
    mean dot product (the factor is 1 and its gradient 0)."""
    dot = tf.reduce_sum(features * vector, axis=-1)
    norms = _norm(features) * _norm(vector)
    cosine = tf.maximum(0.1, dot / norms)
    return tf.reduce_mean(dot * tf.pow(cosine, cossim_pow))


def direction(layer: str, vector: Sequence[float], cossim_pow: float = 0.0) -> Objective:
    """The layer's activations projected on a direction of its channel space (Lucid's
    `direction`): the dot product with `vector` at each position, averaged over positions
    and the batch.

    `vector` has one entry per channel (the engine checks its length against the layer);
    it is not normalised, as in Lucid, so its length scales the value (not the step, which
    the engine normalises). `cossim_pow` > 0 is Lucid's later refinement: each position's
    dot product is weighted by max(0.1, cosine similarity)^cossim_pow, which favours
    positions that point along the direction over ones that are merely large. The vector
    and the power are parameters: a new direction does not retrace.
    """

    def fn(acts, target_acts, params):
        return _dot_cossim(acts[layer], params["vector"], params["cossim_pow"])

    vector = _direction_vector(vector)
    return Objective(("direction", layer), fn, layers=frozenset({layer}),
                     params={"vector": vector, "cossim_pow": np.float32(cossim_pow)},
                     description=f"direction at {layer} ({vector.size} channels"
                                 f"{f', cosine^{cossim_pow:g}' if cossim_pow else ''})",
                     channel_bounds={layer: (vector.size, vector.size)})


def direction_neuron(layer: str, vector: Sequence[float], x: Optional[int] = None,
                     y: Optional[int] = None, cossim_pow: float = 0.0) -> Objective:
    """`direction` at one position of the map (Lucid's `direction_neuron`): the dot
    product of the features at column x, row y (default the centre; see `neuron` for
    positions) with `vector`, averaged over the batch."""

    def fn(acts, target_acts, params):
        here = _at_position(acts[layer], params)  # [B, C]
        return _dot_cossim(here, params["vector"], params["cossim_pow"])

    vector = _direction_vector(vector)
    return Objective(("direction_neuron", layer), fn, layers=frozenset({layer}),
                     params={"vector": vector, "cossim_pow": np.float32(cossim_pow),
                             **_position_params(x, y)},
                     description=f"direction at {layer} {_position_text(x, y)}",
                     channel_bounds={layer: (vector.size, vector.size)})


def direction_cossim(layer: str, vector: Sequence[float]) -> Objective:
    """Cosine similarity between the features and `vector`, averaged over positions and
    the batch (after Lucid's `direction_cossim`): only the features' orientation counts,
    not their size.

    Lucid's takes the mean over the channel axis as well, i.e. this value divided by the
    number of channels (a constant factor), and divides by the bare norms, which is 0/0
    wherever a ReLU layer is all zero; here the norms carry an epsilon (`_norm`).
    """

    def fn(acts, target_acts, params):
        features, vector = acts[layer], params["vector"]
        dot = tf.reduce_sum(features * vector, axis=-1)
        return tf.reduce_mean(dot / (_norm(features) * _norm(vector)))

    vector = _direction_vector(vector)
    return Objective(("direction_cossim", layer), fn, layers=frozenset({layer}),
                     params={"vector": vector},
                     description=f"cosine with a direction at {layer}",
                     channel_bounds={layer: (vector.size, vector.size)})


# ----------------------------------------------------------------------------- batches


def diversity(layer: str) -> Objective:
    """Pushes the elements of a batch apart (Lucid's `diversity`, negated).

    Each element's Gram matrix at `layer` (Σ over positions of f fᵀ, [C, C]) is scaled to
    unit Frobenius norm, ĝ_i; the value is −(1/B) Σ_{i≠j} ⟨ĝ_i, ĝ_j⟩, i.e. −(B−1) × the
    mean pairwise cosine similarity of the Grams: 0 when every pair is orthogonal, near
    −(B−1) when all elements have the same "style". Lucid returns the same sum without the
    minus and its notebook subtracts it (`channel(l, n) - 1e2 * diversity(l)`); here it
    is added: `channel(l, n) + 1e2 * diversity(l)`. A batch of one gives 0.
    """

    def fn(acts, target_acts, params):
        features = acts[layer]
        shape = tf.shape(features)
        batch = shape[0]
        flat = tf.reshape(features, tf.stack([batch, -1, shape[-1]]))  # [B, hw, C]
        grams = tf.matmul(flat, flat, transpose_a=True)                 # [B, C, C]
        grams = tf.reshape(tf.nn.l2_normalize(grams, axis=[1, 2], epsilon=1e-10),
                           tf.stack([batch, -1]))                       # [B, C²]
        cosines = tf.matmul(grams, grams, transpose_b=True)             # [B, B]
        others = tf.reduce_sum(cosines) - tf.linalg.trace(cosines)      # Σ over i ≠ j
        return -others / tf.cast(batch, tf.float32)

    return Objective(("diversity", layer), fn, layers=frozenset({layer}),
                     description=f"diversity at {layer}")


def channel_interpolate(layer1: str, channel1: int, layer2: Optional[str] = None,
                        channel2: Optional[int] = None) -> Objective:
    """From one channel to another across the batch (Lucid's `channel_interpolate`).

    Element n of a batch of B maximises (1 − wₙ)·mean(channel1 of layer1) +
    wₙ·mean(channel2 of layer2) with wₙ = n/(B−1): the first element is all channel1,
    the last all channel2. The value is the sum over the batch, as Lucid's. `layer2`
    defaults to `layer1`: `channel_interpolate("mixed4a", 476, channel2=460)`. A batch of
    one is element 0 (Lucid divides by zero there).
    """
    layer2 = layer1 if layer2 is None else layer2
    if not isinstance(layer2, str):
        raise ValueError("layer2 is a layer name; pass the second channel as channel2=….")
    if channel2 is None:
        raise ValueError("channel_interpolate needs the second channel (channel2).")
    channel1 = _check_index("A channel index", channel1)
    channel2 = _check_index("A channel index", channel2)

    def fn(acts, target_acts, params):
        first = tf.gather(acts[layer1], params["channel1"], axis=-1)   # [B, h, w]
        second = tf.gather(acts[layer2], params["channel2"], axis=-1)  # [B, h', w']
        batch = tf.shape(first)[0]
        weights = (tf.cast(tf.range(batch), tf.float32)
                   / tf.cast(tf.maximum(batch - 1, 1), tf.float32))    # [B]: 0 … 1
        return tf.reduce_sum((1.0 - weights) * tf.reduce_mean(first, axis=[1, 2])
                             + weights * tf.reduce_mean(second, axis=[1, 2]))

    bounds = {layer1: channel1 + 1}
    bounds[layer2] = max(bounds.get(layer2, 0), channel2 + 1)
    return Objective(("channel_interpolate", layer1, layer2), fn,
                     layers=frozenset({layer1, layer2}),
                     params={"channel1": np.int32(channel1), "channel2": np.int32(channel2)},
                     description=f"{layer1} channel {channel1} → {layer2} channel {channel2} "
                                 f"across the batch",
                     channel_bounds={name: (fewest, float("inf")) for name, fewest in bounds.items()})


# Lucid's alignment compares each element with the next four.
ALIGNMENT_REACH = 4


def alignment(layer: str, decay_ratio: float = 2.0) -> Objective:
    """Keeps neighbouring elements of a batch alike (Lucid's `alignment`).

    −Σ_{d=1..4} Σ_i mean((a_i − a_{i+d})²) / decay_ratio^d over the elements' activations
    a at `layer`: a penalty, so it is ≤ 0 and added with a positive weight, as in Lucid's
    aligned-interpolation notebook: `channel_interpolate(…) + 1e-1 * (alignment("mixed3b",
    decay_ratio=5) + alignment("mixed4a", decay_ratio=5))`. Used with an interpolation it
    draws analogous objects at the same place in every element.
    `decay_ratio` is a parameter (no retrace).
    """
    if not decay_ratio > 0:
        raise ValueError(f"decay_ratio is > 0 (got {decay_ratio}).")

    def fn(acts, target_acts, params):
        features = acts[layer]
        total = tf.constant(0.0)
        for distance in range(1, ALIGNMENT_REACH + 1):
            # Pairs (i, i + d); none when the batch has d elements or fewer.
            squares = tf.square(features[distance:] - features[:-distance])
            pairs = tf.reduce_sum(tf.reduce_mean(squares, axis=[1, 2, 3]))
            total += pairs / tf.pow(params["decay_ratio"], float(distance))
        return -total

    return Objective(("alignment", layer), fn, layers=frozenset({layer}),
                     params={"decay_ratio": np.float32(decay_ratio)},
                     description=f"alignment at {layer} (decay {decay_ratio:g})")


__all__ = [
    "neuron", "direction", "direction_neuron", "direction_cossim", "diversity",
    "channel_interpolate", "alignment",
]
