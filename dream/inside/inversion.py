"""Caricature: an image made from noise whose activations at a layer resemble the photo's.

After Lucid's `recipes/caricature.py` (`feature_inversion`, used for the caricatures of
Olah et al., "The Building Blocks of Interpretability", Distill 2018): a Fourier-
parametrised image, starting from noise, is optimised with Adam under random transforms
to maximise `dot_compare` with the photo's activations, the photo passing through the
*same* transforms (Lucid stacks the photo and the image in one batch before the
transforms; here the photo is the engine's `target_image`, which it keeps aligned).

Lucid's `dot_compare(layer, cossim_pow)`, with x the image's activations and y the
photo's at the layer (whole tensors):

    dot = Σ x·y,   cossim = max(0.1, dot / (1e-6 + ‖x‖)),   value = dot · cossim^cossim_pow

("cossim" divides by ‖x‖ only, so it is ‖y‖·cos(x, y); the 0.1 floor keeps the power
defined where the image points away). So value = ‖y‖^(p+1)·‖x‖·cos^(p+1): it always
rewards magnitude, and a larger power weighs the angle more. The recipe's default
`cossim_pow=0`, the plain dot product, only grew the magnitude here: on the generated
width-1.0 graph (random weights, `dream.synthetic_model`; assets/cat.jpg at 224 px, mixed4d, 128 steps) the cosine between the image's and
the photo's activations went from 0.961 (the start noise) to 0.958; with a power of 1 to
0.965, 4 to 0.974 and 8 to 0.980 (96 steps). `DEFAULT_COSSIM_POW` is 4. The engine
divides every step by its mean |gradient|, so the value's scale does not matter.

Known limit, measured on that generated graph only (not yet on Google's weights): at
96–128 steps the result is a texture of the photo's features (mixed4d, mixed3b), not a
recognisable likeness; a negative l2 feature distance at mixed3b
(`dream.objectives.feature_similarity`) under the same schedule does show the cat.

Not carried over: the recipe's `blur_input_each_step` term (the engine has no blur
objective); the Fourier parametrisation and the transforms already keep the image free
of high-frequency noise.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dream import param as param_module
from dream.engine import ProgressCallback, ProgressTracker, Schedule, engine_for, to_uint8
from dream.inside.common import MAX_SIDE, check_number, check_whole, fit_photo
from dream.limits import Limits
from dream.model import InceptionModel
from dream.objectives import Objective

DEFAULT_STEPS = 128
MAX_STEPS = 512            # Lucid's recipe takes 512
DEFAULT_SIZE = 224         # Lucid's recipe works at the model's 224 px
MIN_SIZE = 64
MAX_COSSIM_POW = 8.0
DEFAULT_COSSIM_POW = 4.0   # see the module docstring (Lucid's recipe: 0)
# Adam's step in RMS pixels (0..255); 8 (the atlas's) saturated the clipped pixels. The
# start noise's RMS is the atlas's.
STEP_SIZE = 4.0
NOISE = 8.0
PARAMETRIZATION = "fourier"


def dot_compare(layer: str, cossim_pow: float = DEFAULT_COSSIM_POW) -> Objective:
    """Lucid's `dot_compare` between the image's activations at `layer` and the target
    image's (see the module docstring); `cossim_pow` is a parameter (no retrace)."""
    cossim_pow = check_number("cossim_pow", cossim_pow, 0.0, MAX_COSSIM_POW)

    def fn(acts, target_acts, params):
        image, photo = acts[layer], tf.stop_gradient(target_acts[layer])
        dot = tf.reduce_sum(image * photo)
        cossim = tf.maximum(0.1, dot / (1e-6 + tf.sqrt(tf.reduce_sum(tf.square(image)))))
        return dot * cossim ** params["cossim_pow"]

    return Objective(("inside.dot_compare", layer), fn, layers=frozenset({layer}),
                     target_layers=frozenset({layer}), params={"cossim_pow": np.float32(cossim_pow)},
                     description=f"dot_compare with the photo at {layer}")


def caricature(model: InceptionModel, photo, layer: str = "mixed4d", steps: int = DEFAULT_STEPS,
               size: int = DEFAULT_SIZE, seed: int = 0, on_progress: ProgressCallback | None = None,
               *, cossim_pow: float = DEFAULT_COSSIM_POW) -> np.ndarray:
    """uint8 [H, W, 3]: the caricature of `photo` at `layer`, the photo's size once fitted
    into `size` px (`fit_photo(photo, size)`). `on_progress` gets the engine's `Progress`
    every few steps; returning True stops early with the image so far."""
    model.layer(layer)  # "Unknown layer …" with suggestions
    steps = check_whole("steps", steps, 1, MAX_STEPS)
    size = check_whole("size", size, MIN_SIZE, MAX_SIDE)
    seed = check_whole("seed", seed, 0, 2 ** 31 - 1)
    objective = dot_compare(layer, cossim_pow)
    image, _ = fit_photo(photo, size)
    height, width = image.shape[:2]
    start = param_module.random_image((1, height, width, 3), seed=seed, name="fourier", sd=NOISE)[0]
    schedule = Schedule(steps=steps, step_size=STEP_SIZE, octaves=1, jitter=0, tile_size=512,
                        optimizer="adam", seed=seed, parametrization=PARAMETRIZATION, transforms="lucid",
                        tile_roll=False, precision="float32")
    tracker = ProgressTracker(steps, on_progress)
    result = engine_for(model).run(objective, start, schedule, target_image=image.astype(np.float32),
                                   tracker=tracker, steps_per_call=8, limits=Limits(max_steps=MAX_STEPS))
    return to_uint8(result)
