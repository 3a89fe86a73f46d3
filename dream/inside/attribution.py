"""Spatial attribution: where in the photo the evidence for each top class comes from.

After Olah et al., "The Building Blocks of Interpretability" (Distill 2018), "Spatial
Attribution", and its notebook (Lucid, `notebooks/building-blocks/AttrSpatial.ipynb`,
`raw_class_spatial_attr`): the activations `a` of a layer are evaluated on the photo, the
gradient of the class's logit with respect to them is evaluated at those same
activations, and each position's attribution is `Σ_channels a · ∂s/∂a` there ("linear
approximation of effect of spatial position").

**What the maps sum to.** With `s_c(a)` the class's score as a function of the layer's
activations (the `softmax2_pre_activation` logit, averaged over the classifier's rows
when the photo is larger than 224 px, as `dream.objectives.class_logit` does):

    Σ_positions map_c = ⟨a, ∇_a s_c(a)⟩ = d/dt s_c(t·a) at t = 1,

the first-order Taylor term of s_c at a in the direction of a: s_c(0) ≈ s_c(a) − Σ map_c,
so the maps split the first-order estimate of how much the logit would drop were the
layer silenced, position by position. (It is not s_c(a) itself: the layers above have
biases and ReLUs.) tests/test_inside.py checks the sum against a central difference of
s_c(t·a).

The gradient is taken through a copy of the network above the layer whose input *is*
the layer ("head"; Lucid feeds `T(layer)` the evaluated activations the same way), so the
layer must be one every path to the logits passes through: a block (`mixed4c`), its
pre-ReLU tap (`mixed4c_pre_relu`) or a stem layer (`conv2d2`); not a branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from dream.graphdefs import channel_counts
from dream.inside.common import MAX_SIDE, activations, check_whole, fit_photo
from dream.model import CLASS_LOGITS, CLASSIFIER_MIN_SIDE, INPUT_NODE, InceptionModel, block_pre_relu_taps

# At most this many classes get a map (each costs one backward pass through the head).
MAX_CLASSES = 10


@dataclass(frozen=True)
class ClassAttribution:
    index: int               # into the logits (model.labels)
    name: str
    probability: float       # softmax of the logits, averaged over the classifier's rows
    score: float             # s_c(a): the logit, averaged over the rows
    map: np.ndarray          # float32 [h, w] at the layer's grid: Σ_channels a·∂s_c/∂a (signed)

    @property
    def total(self) -> float:
        """Σ map = ⟨a, ∇s_c(a)⟩ (see the module docstring)."""
        return float(self.map.sum(dtype=np.float64))


@dataclass(frozen=True)
class SpatialAttribution:
    layer: str
    image: np.ndarray        # uint8 [H, W, 3]: the photo as analysed (short side ≥ 224)
    classes: list[ClassAttribution]   # most probable first
    rows: int                # the classifier's rows (7×7 windows) the scores average over
    notes: list[str] = field(default_factory=list)


def spatial_attribution(model: InceptionModel, photo, layer: str = "mixed4d", top: int = 3, *,
                        max_side: int = MAX_SIDE) -> SpatialAttribution:
    """A signed map over `layer`'s positions for each of the network's `top` classes on
    `photo` (see the module docstring for the formula and what it sums to)."""
    top = check_whole("top", top, 1, min(MAX_CLASSES, model.num_classes))
    head = head_function(model, layer)
    image, notes = fit_photo(photo, max_side, min_side=CLASSIFIER_MIN_SIDE)
    acts = tf.constant(activations(model, image, layer)[None])           # [1, h, w, C]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(acts)
        logits = head(acts)                                               # [rows, classes]
        scores = tf.reduce_mean(logits, axis=0)                           # s(a): [classes]
    probabilities = tf.reduce_mean(tf.nn.softmax(logits), axis=0).numpy()
    # The dummy class 0 (and unnamed ones) never rank.
    named = np.array([bool(label) and i > 0 for i, label in enumerate(model.labels)]
                     + [False] * max(0, model.num_classes - len(model.labels)))[:model.num_classes]
    ranked = np.argsort(-np.where(named, probabilities, -1.0), kind="stable")[:top]
    classes = []
    for index in ranked:
        with tape:  # the class's score is recorded too (a persistent tape can resume)
            score = scores[int(index)]
        gradient = tape.gradient(score, acts)
        attribution = tf.reduce_sum(acts * gradient, axis=-1)[0].numpy()
        classes.append(ClassAttribution(int(index), model.labels[index], float(probabilities[index]),
                                        float(scores[int(index)]), attribution.astype(np.float32)))
    del tape
    return SpatialAttribution(layer, image, classes, int(logits.shape[0]), notes)


# ----------------------------------------------------------------------------- the head


def head_function(model: InceptionModel, layer: str):
    """The network above `layer`: float32 activations [1, h, w, C] → the class logits
    [rows, classes]. Compiled once per layer and kept in the model's `function_cache`
    (it holds its own copy of the weights above the layer: ~20 MB above mixed4c at full
    width)."""
    model.layer(layer)  # "Unknown layer …" with suggestions
    return model.function_cache.get(("inside.head", layer), lambda: _build_head(model, layer))


def _build_head(model: InceptionModel, layer: str):
    graph_def = model.graph_def
    nodes = {node.name: node for node in graph_def.node}
    # A built pre-ReLU tap is the concatenation of its branches' pre-ReLU tensors.
    parts = block_pre_relu_taps(graph_def).get(layer, (layer,))
    counts = channel_counts(graph_def)
    needed, pending = set(), [CLASS_LOGITS]
    while pending:
        name = pending.pop().split(":")[0].lstrip("^")
        if name in needed:
            continue
        needed.add(name)
        if name not in parts:
            pending.extend(nodes[name].input)
    if INPUT_NODE in needed or not set(parts) <= needed:
        raise ValueError(
            f"Spatial attribution needs a layer that every path to the classifier passes "
            f"through: a block (mixed4c), its pre-ReLU tap (mixed4c_pre_relu) or a stem layer "
            f"(conv2d2); {layer!r} is not one.")
    head = tf.compat.v1.GraphDef()
    for node in graph_def.node:
        if node.name not in needed:
            continue
        if node.name in parts:
            # The layer becomes the head's input.
            placeholder = head.node.add(name=node.name, op="Placeholder")
            placeholder.attr["dtype"].type = tf.float32.as_datatype_enum
        else:
            head.node.add().CopyFrom(node)
    head.versions.CopyFrom(graph_def.versions)
    sizes = [counts[part] for part in parts]

    def imported(acts):
        pieces = tf.split(acts, sizes, axis=-1) if len(parts) > 1 else [acts]
        (logits,) = tf.graph_util.import_graph_def(
            head, input_map={f"{part}:0": piece for part, piece in zip(parts, pieces)},
            return_elements=[f"{CLASS_LOGITS}:0"], name="")
        return logits

    return tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, sum(sizes)], tf.float32)])
