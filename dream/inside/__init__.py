"""Inside my photo: what the network sees in a photo, four views (project issue 19).

Pure computations after Olah et al., "The Building Blocks of Interpretability" (Distill
2018) and Lucid's notebooks and recipes; each takes the model, a photo (an RGB uint8
array, or anything `dream.images.load_rgb` reads), a layer and bounded sizes, and raises
a ValueError naming the parameter that is out of range. No Gradio here.

- `semantic_dictionary`: at each position of the layer's grid, its strongest channels
  (`dream.inside.dictionary`);
- `spatial_attribution`: for the top classes, activation × gradient summed over channels,
  a map of where each class's evidence is (`dream.inside.attribution`);
- `neuron_groups`: NMF of the activations into a few groups, each a map and a direction,
  and `group_objective` to render a group (`dream.inside.groups`);
- `caricature`: an image from noise whose activations match the photo's under Lucid's
  `dot_compare` (`dream.inside.inversion`).

    grid = dream.inside.semantic_dictionary(model, photo, "mixed4d")
    grid.at(*grid.strongest)          # [(channel, value, share), …]
"""

from dream.inside.attribution import ClassAttribution, SpatialAttribution, head_function, spatial_attribution
from dream.inside.inversion import caricature, dot_compare
from dream.inside.common import MAX_SIDE, fit_photo
from dream.inside.dictionary import SemanticGrid, semantic_dictionary
from dream.inside.groups import NeuronGroups, group_directions, group_objective, neuron_groups

__all__ = [
    "ClassAttribution", "MAX_SIDE", "NeuronGroups", "SemanticGrid", "SpatialAttribution",
    "caricature", "dot_compare", "fit_photo", "group_directions", "group_objective", "head_function",
    "neuron_groups", "semantic_dictionary", "spatial_attribution",
]
