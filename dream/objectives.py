"""Objectives: small composable values that the engine maximises.

An objective is a function of the model's activations to a scalar, after Lucid's
`optvis.objectives`: `0.2 * channel("mixed4a", 20) + 0.8 * layer_mean("mixed4c")` is an
objective, and so is `content + 5 * style - 0.1 * total_variation()`. The engine always
*ascends*; a term to be minimised enters with a negative weight.

Each objective carries:
- `layers`: the model tensors it reads from the image being optimised;
- `target_layers`: tensors it reads from the *target image*, an image that the engine
  keeps aligned with the one being optimised (same octave size, same jitter, same tile),
  e.g. the guide of guided hallucination or the content of style transfer;
- `params`: the numbers that may change from one request to the next (weights, a channel
  index, a guide's features, Gram matrices). They are fed to the compiled step as
  tensors, so a new value never retraces it;
- `key`: the structure (which terms, which layers); objectives with equal keys compile to
  the same graph.

`fn(acts, target_acts, params)` receives dicts of tensors: `acts[name]` for every name in
`layers` (batch of one), plus `acts["input"]`, the pixels themselves (0..255), and, for an
objective that lists it in `layers`, `acts["start"]`: the image the run started from,
aligned with the pixels like the target (so a term can act on the dream's *change*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Mapping

import numpy as np
import tensorflow as tf

from dream.model import CLASS_LOGITS, CLASS_PROBABILITIES, CLASSIFIER_MIN_SIDE

Tensors = Mapping[str, tf.Tensor]
ObjectiveFn = Callable[[Tensors, Tensors, Tensors], tf.Tensor]
PIXELS = "input"
# The run's starting image (e.g. the photo being dreamed), aligned with the pixels.
START = "start"


@dataclass(frozen=True, eq=False)
class Objective:
    key: Hashable
    fn: ObjectiveFn
    layers: frozenset[str] = frozenset()
    target_layers: frozenset[str] = frozenset()
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    # Smallest input side the tensors are defined for (the classifier needs 224).
    min_side: int = 0
    description: str = ""
    # For a weighted sum: its (weight, term) pairs, so sums of sums stay flat.
    terms: tuple[tuple[float, "Objective"], ...] = ()
    # What the params assume of the model: {layer: (fewest, most) channels}; the engine
    # checks them, so a guide or Gram from another layer fails with a clear message.
    channel_bounds: Mapping[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def model_layers(self) -> frozenset[str]:
        return self.layers - {PIXELS, START}

    def __add__(self, other: "Objective") -> "Objective":
        return _combine([(1.0, self), (1.0, other)])

    def __sub__(self, other: "Objective") -> "Objective":
        return _combine([(1.0, self), (-1.0, other)])

    def __neg__(self) -> "Objective":
        return _combine([(-1.0, self)])

    def __mul__(self, weight: float) -> "Objective":
        return _combine([(float(weight), self)])

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Objective({self.description or self.key})"

    # --- its terms, for engines that treat them one by one

    def weighted_term_keys(self) -> tuple:
        """One key per term of a weighted sum (one for a plain objective)."""
        return tuple(term.key for _, term in self.terms) if self.terms else (self.key,)

    def normalization_groups(self, each_term: bool = False) -> tuple[tuple[int, ...], ...]:
        """Indices of the terms whose gradients are normalised together.

        Every term that reads only pixels (a smoothness term) is a group of its own; the
        terms that read the network form one group, since a backward pass per term would
        multiply the cost, and their measures are already relative (a feature distance
        over the target's scale, a Gram distance over the style's). `each_term`: every
        term is a group (the mixer's terms read unrelated layers and classes, whose scales
        differ by orders of magnitude, and each may have its own mask).
        """
        terms = [term for _, term in self.terms] if self.terms else [self]
        if each_term:
            return tuple((i,) for i in range(len(terms)))
        network = tuple(i for i, term in enumerate(terms) if term.model_layers or term.target_layers)
        pixels = tuple((i,) for i, term in enumerate(terms) if i not in network)
        return ((network,) if network else ()) + pixels

    def term_weights(self, params: Tensors) -> list[tf.Tensor]:
        """Each term's weight (a parameter, so changing it does not retrace)."""
        if not self.terms:
            return [tf.constant(1.0)]
        return [params[f"{i}/weight"] for i in range(len(self.terms))]

    def weighted_terms(self, acts: Tensors, target_acts: Tensors,
                       params: Tensors) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """[(weight, weight · term value)] for each term; their sum is the objective."""
        if not self.terms:
            return [(tf.constant(1.0), self.fn(acts, target_acts, params))]
        out = []
        for i, (_, term) in enumerate(self.terms):
            prefix = f"{i}/"
            own = {name[len(prefix):]: v for name, v in params.items() if name.startswith(prefix)}
            weight = own.pop("weight")
            out.append((weight, weight * term.fn(acts, target_acts, own)))
        return out


def weighted_sum(terms: list[tuple[float, Objective]]) -> Objective:
    """Σ weight·objective; weights are parameters, so changing them does not retrace."""
    return _combine(terms)


def _combine(terms: list[tuple[float, Objective]]) -> Objective:
    # Flatten nested sums so `a + b + c` is one sum of three terms, not a tree.
    flat: list[tuple[float, Objective]] = []
    for weight, term in terms:
        if term.terms:
            flat.extend((weight * inner_weight, inner) for inner_weight, inner in term.terms)
        else:
            flat.append((weight, term))

    params: dict[str, np.ndarray] = {}
    for i, (weight, term) in enumerate(flat):
        params[f"{i}/weight"] = np.float32(weight)
        params.update({f"{i}/{name}": value for name, value in term.params.items()})

    def fn(acts: Tensors, target_acts: Tensors, p: Tensors) -> tf.Tensor:
        total = tf.constant(0.0)
        for i, (_, term) in enumerate(flat):
            prefix = f"{i}/"
            own = {name[len(prefix):]: v for name, v in p.items() if name.startswith(prefix)}
            total += own.pop("weight") * term.fn(acts, target_acts, own)
        return total

    return Objective(
        key=("sum", tuple(term.key for _, term in flat)),
        fn=fn,
        layers=frozenset().union(*(t.layers for _, t in flat)),
        target_layers=frozenset().union(*(t.target_layers for _, t in flat)),
        params=params,
        min_side=max(t.min_side for _, t in flat),
        description=" + ".join(f"{w:g}·{t.description or t.key}" for w, t in flat),
        terms=tuple(flat),
        channel_bounds={k: v for _, t in flat for k, v in t.channel_bounds.items()},
    )


# ----------------------------------------------------------------------------- Deep Dream


def layer_mean(layer: str, squared: bool = False) -> Objective:
    """Mean activation of a layer (the TF2 tutorial), or the classic mean square.

    `squared=True` is the DeepDream notebook's `tf.square(T('mixed4c'))` and Google's
    `objective_L2` (whose gradient is the activation itself): the strongest detectors win,
    which gives the eyes-and-dogs look. `dream_objective` uses it by default.
    """

    def fn(acts, target_acts, params):
        x = acts[layer]
        return tf.reduce_mean(tf.square(x)) if squared else tf.reduce_mean(x)

    kind = "mean square" if squared else "mean"
    return Objective(("layer", layer, squared), fn, layers=frozenset({layer}),
                     description=f"{kind} of {layer}")


def channel(layer: str, index: int) -> Objective:
    """Mean activation of one channel of a layer: one feature detector's pattern."""

    def fn(acts, target_acts, params):
        return tf.reduce_mean(tf.gather(acts[layer], params["channel"], axis=-1))

    if index < 0:
        raise ValueError(f"A channel index is ≥ 0 (got {index}).")
    return Objective(("channel", layer), fn, layers=frozenset({layer}),
                     params={"channel": np.int32(index)},
                     description=f"{layer} channel {index}",
                     channel_bounds={layer: (index + 1, float("inf"))})


def class_logit(index: int, tensor: str = CLASS_LOGITS, name: str = "") -> Objective:
    """One class neuron, pre-softmax logit or softmax probability (e.g. "jellyfish").

    On inputs larger than 224 px the classifier yields one row per 7×7 window of its last
    feature map; the mean over rows asks for the class everywhere in the picture.
    """
    if tensor not in (CLASS_LOGITS, CLASS_PROBABILITIES):
        raise ValueError(f"A class neuron lives in {CLASS_LOGITS} or {CLASS_PROBABILITIES}.")

    def fn(acts, target_acts, params):
        return tf.reduce_mean(tf.gather(acts[tensor], params["class"], axis=-1))

    return Objective(("class", tensor), fn, layers=frozenset({tensor}),
                     params={"class": np.int32(index)}, min_side=CLASSIFIER_MIN_SIDE,
                     description=f"class {name or index} ({tensor})")


def channels(layer: str, indices) -> Objective:
    """One channel per batch element: element i maximises channel `indices[i]` of `layer`.

    Lucid's `channel(layer, n, batch=i)` summed over i (how `render_vis` renders several
    neurons in one batch). The value is the sum of each element's channel mean; the engine
    normalises the step per element, so each tile moves as it would if rendered alone.
    The batch must have `len(indices)` elements.
    """
    indices = np.asarray(indices, np.int32).reshape(-1)
    if indices.size == 0 or indices.min() < 0:
        raise ValueError("Channel indices are ≥ 0 and there is at least one.")

    def fn(acts, target_acts, params):
        # [B, h, w, C] → [B, h, w]: each element's own channel.
        own = tf.gather(acts[layer], params["channels"], axis=-1, batch_dims=1)
        return tf.reduce_sum(tf.reduce_mean(own, axis=[1, 2]))

    return Objective(("channels", layer), fn, layers=frozenset({layer}),
                     params={"channels": indices},
                     description=f"{layer} channels {', '.join(map(str, indices[:4]))}"
                                 f"{'…' if indices.size > 4 else ''} (one per batch element)",
                     channel_bounds={layer: (int(indices.max()) + 1, float("inf"))})


def class_logits(indices, tensor: str = CLASS_LOGITS) -> Objective:
    """One class neuron per batch element (the batched `class_logit`)."""
    if tensor not in (CLASS_LOGITS, CLASS_PROBABILITIES):
        raise ValueError(f"A class neuron lives in {CLASS_LOGITS} or {CLASS_PROBABILITIES}.")
    indices = np.asarray(indices, np.int32).reshape(-1)
    if indices.size == 0 or indices.min() < 0:
        raise ValueError("Class indices are ≥ 0 and there is at least one.")

    def fn(acts, target_acts, params):
        # The classifier yields [B·rows, classes] (one row per 7×7 window of each image).
        batch = tf.shape(params["classes"])[0]
        logits = tf.reshape(acts[tensor], tf.stack([batch, -1, tf.shape(acts[tensor])[-1]]))
        own = tf.gather(logits, params["classes"], axis=-1, batch_dims=1)  # [B, rows]
        return tf.reduce_sum(tf.reduce_mean(own, axis=1))

    return Objective(("classes", tensor), fn, layers=frozenset({tensor}),
                     params={"classes": indices}, min_side=CLASSIFIER_MIN_SIDE,
                     description=f"classes {', '.join(map(str, indices[:4]))}"
                                 f"{'…' if indices.size > 4 else ''} (one per batch element)")


# ----------------------------------------------------------------------------- pixels


TV_NORMS = ("l1", "l2", "cadl")
# Earlier name of "cadl" (the course's formula), still accepted.
TV_NORM_ALIASES = {"course": "cadl"}


def total_variation(norm: str = "l2", of_change: bool = False) -> Objective:
    """Differences between neighbouring pixels; minimise it (weight < 0).

    `norm`: "l1" (mean |d|) or "l2" (mean d²), in 0..1 units; or "cadl", the smoothness
    loss of Parag Mital's CADL course (session 4, guided hallucination; the seed's pixel
    loss): mean((dx² + dy²)^1.2) over pixels and channels, in 0..255 units (the
    mean-subtracted scale differs from it only by an offset). "course" is an alias of
    "cadl".

    `of_change=True` measures the variation of the dream's change (the pixels minus the
    run's starting image) instead of the image's: it smooths what the dream adds and
    leaves the photo's own edges alone (where nothing changed, its gradient is zero).
    """
    norm = TV_NORM_ALIASES.get(norm, norm)
    if norm not in TV_NORMS:
        raise ValueError(f"Unknown total-variation norm {norm!r}: use l1, l2 or cadl.")

    def fn(acts, target_acts, params):
        pixels = acts[PIXELS] - acts[START] if of_change else acts[PIXELS]
        if norm == "cadl":
            return cadl_total_variation(pixels)
        pixels = pixels / 255.0
        dy = pixels[:, 1:, :-1, :] - pixels[:, :-1, :-1, :]
        dx = pixels[:, :-1, 1:, :] - pixels[:, :-1, :-1, :]
        if norm == "l1":
            return tf.reduce_mean(tf.abs(dx)) + tf.reduce_mean(tf.abs(dy))
        return tf.reduce_mean(tf.square(dx)) + tf.reduce_mean(tf.square(dy))

    return Objective(("tv", norm, of_change), fn,
                     layers=frozenset({PIXELS, START} if of_change else {PIXELS}),
                     description=f"total variation{' of the change' if of_change else ''} ({norm})")


def cadl_total_variation(pixels: tf.Tensor) -> tf.Tensor:
    """CADL's `tf.reduce_mean(tf.pow(dx + dy, 1.2))` with dx, dy the squared differences
    to the right and lower neighbours, over the top-left (h-1)×(w-1) pixels; [B,h,w,3]."""
    dx = tf.square(pixels[:, :-1, :-1, :] - pixels[:, :-1, 1:, :])
    dy = tf.square(pixels[:, :-1, :-1, :] - pixels[:, 1:, :-1, :])
    return tf.reduce_mean(tf.pow(dx + dy + 1e-12, 1.2))


# ----------------------------------------------------------------------------- guides


def _energy(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(x)) + 1e-8


SIMILARITIES = ("dot", "l1", "l2")


def feature_similarity(layer: str, measure: str) -> Objective:
    """Compares a layer's features with the target image's, position by position.

    Each measure is divided by the target's feature scale, so it means the same at any
    image size and layer: "dot" is 1 when the features equal the target's; "l1" and "l2"
    are relative distances (0 when equal). Ascend "dot" or descend a distance to go
    toward the target; the opposite to go away from it.
    """
    if measure not in SIMILARITIES:
        raise ValueError(f"Unknown similarity {measure!r}: use {', '.join(SIMILARITIES)}.")

    def fn(acts, target_acts, params):
        features, target = acts[layer], tf.stop_gradient(target_acts[layer])
        if measure == "dot":
            return tf.reduce_mean(features * target) / _energy(target)
        if measure == "l1":
            return tf.reduce_mean(tf.abs(features - target)) / (tf.reduce_mean(tf.abs(target)) + 1e-8)
        return tf.reduce_mean(tf.square(features - target)) / _energy(target)

    return Objective(("similarity", layer, measure), fn, layers=frozenset({layer}),
                     target_layers=frozenset({layer}), description=f"{measure} to guide at {layer}")


def best_match(layer: str, guide_features: np.ndarray) -> Objective:
    """Google's guided dreaming: each position pulls toward its most similar guide feature.

    `guide_features` is an [n, channels] bag of the guide's feature vectors, so the guide
    may have any size. The objective is the normalised dot product of every feature with
    the guide vector that matches it best (the match itself is not differentiated).
    """
    guide_features = np.asarray(guide_features, np.float32)
    if guide_features.ndim != 2:
        raise ValueError("guide_features must be an [n, channels] array.")

    def fn(acts, target_acts, params):
        features = acts[layer]
        flat = tf.reshape(features, [-1, tf.shape(features)[-1]])
        guide = params["guide"]
        best = tf.argmax(tf.matmul(flat, guide, transpose_b=True), axis=1)
        matched = tf.stop_gradient(tf.gather(guide, best))
        return tf.reduce_mean(flat * matched) / _energy(guide)

    return Objective(("best_match", layer), fn, layers=frozenset({layer}),
                     params={"guide": guide_features}, description=f"best match to guide at {layer}",
                     channel_bounds={layer: (guide_features.shape[1],) * 2})


# ----------------------------------------------------------------------------- style


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations averaged over positions: [1,h,w,c] → [c,c], size-independent."""
    flat = tf.reshape(features, [-1, tf.shape(features)[-1]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0], tf.float32)


def style_distance(layer: str, target_gram: np.ndarray) -> Objective:
    """Relative squared distance between the layer's Gram matrix and a style's (Gatys et al.).

    Divided by the style Gram's energy, so every layer contributes on the same scale and
    one style weight behaves the same for any image size.
    """
    target_gram = np.asarray(target_gram, np.float32)
    if target_gram.ndim != 2 or target_gram.shape[0] != target_gram.shape[1]:
        raise ValueError("A Gram matrix must be square.")

    def fn(acts, target_acts, params):
        gram, target = gram_matrix(acts[layer]), params["gram"]
        return tf.reduce_mean(tf.square(gram - target)) / _energy(target)

    return Objective(("style", layer), fn, layers=frozenset({layer}),
                     params={"gram": target_gram}, description=f"style at {layer}",
                     channel_bounds={layer: (target_gram.shape[0],) * 2})
