"""The semantic dictionary: which detectors fire at each place of the photo.

After Olah et al., "The Building Blocks of Interpretability" (Distill 2018), "Making Sense
of Hidden Layers", and its notebook (Lucid, `notebooks/building-blocks/
SemanticDictionary.ipynb`): the layer's activations on the photo form a grid of vectors,
one per position; each position is described by its strongest channels
(`np.argsort(-act_vec)[:4]` in the notebook, with their values), which the interface shows
as those channels' feature visualisations (the atlas's tiles here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dream.inside.common import MAX_SIDE, activations, check_whole, fit_photo
from dream.model import InceptionModel

# The most channels one position lists (the notebook shows 4).
MAX_TOP = 16


@dataclass(frozen=True)
class SemanticGrid:
    layer: str
    image: np.ndarray       # uint8 [H, W, 3]: the photo as analysed
    channels: np.ndarray    # int32 [h, w, top]: each position's strongest channels, strongest first
    values: np.ndarray      # float32 [h, w, top]: their activations
    shares: np.ndarray      # float32 [h, w, top]: value⁺ / Σ_channels activation⁺ at that position
    totals: np.ndarray      # float32 [h, w]: Σ_channels activation⁺ (how much fires there)
    notes: list[str] = field(default_factory=list)

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w): the layer's spatial grid over the photo."""
        return self.channels.shape[:2]

    @property
    def strongest(self) -> tuple[int, int]:
        """(row, column) of the position whose top activation is largest (the notebook's
        initial view)."""
        row, column = np.unravel_index(int(np.argmax(self.values[..., 0])), self.grid)
        return int(row), int(column)

    def cell(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) pixels of the photo that position (row, column)
        stands for: the photo cut evenly into the grid's cells."""
        rows, columns = self.grid
        height, width = self.image.shape[:2]
        return (row * height // rows, column * width // columns,
                (row + 1) * height // rows, (column + 1) * width // columns)

    def at(self, row: int, column: int) -> list[tuple[int, float, float]]:
        """[(channel, value, share)] at one position, strongest first."""
        return [(int(c), float(v), float(s)) for c, v, s in
                zip(self.channels[row, column], self.values[row, column], self.shares[row, column])]


def semantic_dictionary(model: InceptionModel, photo, layer: str, top: int = 4, *,
                        max_side: int = MAX_SIDE) -> SemanticGrid:
    """The `top` channels of `layer` at every position of its grid over `photo`.

    Channels are ordered by their raw activation at that position (stable, so ties keep
    channel order): the first is the argmax there. A share is the channel's positive part
    over the sum of every channel's positive part at that position (what the layer passes
    on; for a post-ReLU layer all its activations), 0 where nothing fires.
    """
    channel_count = model.layer(layer).channels
    top = check_whole("top", top, 1, min(MAX_TOP, channel_count))
    image, notes = fit_photo(photo, max_side)
    acts = activations(model, image, layer)                  # [h, w, C]
    order = np.argsort(-acts, axis=-1, kind="stable")[..., :top]
    values = np.take_along_axis(acts, order, axis=-1)
    positive = np.maximum(acts, 0.0)
    totals = positive.sum(axis=-1)
    shares = np.divide(np.maximum(values, 0.0), totals[..., None],
                       out=np.zeros_like(values), where=totals[..., None] > 0)
    return SemanticGrid(layer, image, order.astype(np.int32), values.astype(np.float32),
                        shares.astype(np.float32), totals.astype(np.float32), notes)
