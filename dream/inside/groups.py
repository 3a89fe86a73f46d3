"""Neuron groups: the layer's activations on the photo factored into a few parts.

After Olah et al., "The Building Blocks of Interpretability" (Distill 2018), "Making Sense
of Hidden Layers … by factorizing", and its notebook (Lucid, `notebooks/building-blocks/
NeuronGroups.ipynb`, which calls `lucid.misc.channel_reducer.ChannelReducer(n_groups,
"NMF")`, a reshaping wrapper around scikit-learn's `NMF`): the non-negative activations,
a [positions × channels] matrix X, are approximated by W·H with W [positions × K] and
H [K × channels] both non-negative. Row k of H is group k's direction in channel space
(which detectors it combines); column k of W, laid out on the layer's grid, is where the
group is present in the photo. Groups are ordered left to right by the column of their
peak, as the notebook orders them.

Deterministic: NNDSVDa initialisation (an SVD, with a fixed random_state for its
randomised solver) and the coordinate-descent solver.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from dream.inside.common import MAX_SIDE, activations, check_whole, fit_photo, unit_heat
from dream.objectives import Objective

# The notebook factors into 6 groups; more than this many are not readable side by side.
DEFAULT_GROUPS = 6
MAX_GROUPS = 12
# Enough iterations for the coordinate-descent solver to settle on a 1000 × 512 matrix;
# it stops earlier when the error's change falls under its tolerance.
NMF_MAX_ITER = 400
NMF_SEED = 0


@dataclass(frozen=True)
class NeuronGroups:
    layer: str
    image: np.ndarray          # uint8 [H, W, 3]: the photo as analysed
    spatial: np.ndarray        # float32 [K, h, w]: each group's presence over the layer's grid
    directions: np.ndarray     # float32 [K, C]: each group's direction in channel space
    relative_error: float      # ‖X − W·H‖_F / ‖X‖_F over the activations X (0 if X = 0)
    notes: list[str] = field(default_factory=list)

    def heat(self, group: int) -> np.ndarray:
        """float32 [H, W] in 0..1: group `group` upsampled to the photo, ÷ its maximum
        (for `dream.atlas.heat_overlay`)."""
        return unit_heat(self.spatial[group], self.image.shape[:2])

    def objective(self, group: int) -> Objective:
        """The objective that renders group `group` (`group_objective`)."""
        return group_objective(self.layer, self.directions[group])


def neuron_groups(model, photo, layer: str = "mixed4d", groups: int = DEFAULT_GROUPS, *,
                  max_side: int = MAX_SIDE) -> NeuronGroups:
    """`layer`'s activations on `photo` factored into `groups` non-negative groups (see the
    module docstring). A pre-ReLU layer is factored after a ReLU (NMF needs X ≥ 0)."""
    channel_count = model.layer(layer).channels
    groups = check_whole("groups", groups, 1, min(MAX_GROUPS, channel_count))
    image, notes = fit_photo(photo, max_side)
    acts = np.maximum(activations(model, image, layer), 0.0)              # [h, w, C]
    rows, columns, _ = acts.shape
    if groups > rows * columns:
        raise ValueError(f"groups must be at most the {rows * columns} positions of {layer} on "
                         f"this photo (got {groups}); use fewer groups or a larger photo.")
    matrix = acts.reshape(rows * columns, channel_count).astype(np.float64)
    norm = float(np.linalg.norm(matrix))
    if norm == 0.0:
        spatial = np.zeros((groups, rows, columns), np.float32)
        return NeuronGroups(layer, image, spatial, np.zeros((groups, channel_count), np.float32), 0.0,
                            notes + [f"Nothing fires at {layer} on this photo."])
    weights, components = factorize(matrix, groups)
    error = float(np.linalg.norm(matrix - weights @ components)) / norm
    spatial = weights.T.reshape(groups, rows, columns)
    # Left to right by the column of each group's peak (the notebook's `x_peak` order).
    order = np.argsort(np.argmax(spatial.max(axis=1), axis=1), kind="stable")
    return NeuronGroups(layer, image, spatial[order].astype(np.float32),
                        components[order].astype(np.float32), error, notes)


def factorize(matrix: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(W [n × K], H [K × C]) with matrix ≈ W·H, both ≥ 0: scikit-learn's NMF, fixed."""
    from sklearn.decomposition import NMF

    nmf = NMF(n_components=groups, init="nndsvda", solver="cd", max_iter=NMF_MAX_ITER,
              random_state=NMF_SEED)
    with warnings.catch_warnings():
        # Hitting max_iter is fine: the error reported is the one reached.
        warnings.simplefilter("ignore", category=UserWarning)
        weights = nmf.fit_transform(matrix)
    return weights, nmf.components_


def group_objective(layer: str, direction) -> Objective:
    """Ascends the mean over positions of ⟨activations, direction⟩ at `layer`: Lucid's
    `objectives.direction(layer, vec)` with cossim_pow=0 (what the notebook renders each
    group with). To be replaced by `dream.objectives.direction(layer, vector)` once that
    exists; the direction is a parameter, so another group does not retrace the step."""
    vector = np.asarray(direction, np.float32).reshape(-1)
    if vector.size == 0 or not np.all(np.isfinite(vector)):
        raise ValueError("direction must be a non-empty vector of finite numbers (one per channel).")

    def fn(acts, target_acts, params):
        return tf.reduce_mean(tf.reduce_sum(acts[layer] * params["direction"], axis=-1))

    return Objective(("inside.direction", layer), fn, layers=frozenset({layer}),
                     params={"direction": vector}, description=f"group direction at {layer}",
                     channel_bounds={layer: (vector.size, vector.size)})


def group_directions(layer: str, directions) -> Objective:
    """One group per batch element: element i ascends the mean over positions of
    ⟨activations, directions[i]⟩ at `layer` (the batched `group_objective`, as
    `dream.objectives.channels` is the batched `channel`), so K groups render in one batch."""
    vectors = np.asarray(directions, np.float32)
    if vectors.ndim != 2 or vectors.size == 0 or not np.all(np.isfinite(vectors)):
        raise ValueError("directions must be a [groups, channels] array of finite numbers.")

    def fn(acts, target_acts, params):
        per_position = tf.einsum("bhwc,bc->bhw", acts[layer], params["directions"])
        return tf.reduce_sum(tf.reduce_mean(per_position, axis=[1, 2]))

    return Objective(("inside.directions", layer), fn, layers=frozenset({layer}),
                     params={"directions": vectors},
                     description=f"{len(vectors)} group directions at {layer} (one per batch element)",
                     channel_bounds={layer: (vectors.shape[1], vectors.shape[1])})

