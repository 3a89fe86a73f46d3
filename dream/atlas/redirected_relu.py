"""Lucid's redirected ReLU gradient, for the first steps of an atlas tile.

Lucid's `render_vis(..., relu_gradient_override=True)` imports the network under
`gradient_override_map({"Relu": redirected_relu_grad, …})`
(`lucid/optvis/overrides/redirected_relu_grad.py`). A channel that is off (≤ 0) everywhere
on the starting noise gets no gradient through its ReLU, so its picture would stay the
noise it started as. The redirected gradient lets the pre-activation's gradient through
instead, but only:

- for a batch element whose ordinary ReLU gradient is zero everywhere (each ReLU op and
  each batch element, i.e. each tile, is judged on its own), and
- where it would not push an input that is already negative further down, and
- for the first 16 optimisation steps (Lucid compares a global step with 16); then the
  ordinary gradient takes over.

Here the step check is not in the gradient: the atlas runs its first `relu_warmup` steps
with feature functions imported under this gradient (`InceptionModel.features(...,
gradient_overrides=REDIRECTED_RELU)`), then the rest with the ordinary ones, one Adam
optimisation throughout. Every other technique never asks for the override.

Sign: Lucid's optimiser minimises −objective, so its "pushing lower" is a positive
incoming gradient. The engine differentiates the objective it ascends, so here it is a
negative one. inception5h has no Relu6, so Lucid's Relu6 override is not needed.
"""

from __future__ import annotations

import tensorflow as tf

GRADIENT_NAME = "DeepDreamStudioRedirectedRelu"
# The `gradient_overrides` of a warm-up step (`dream.engine.Schedule`, `InceptionModel.features`).
REDIRECTED_RELU = (("Relu", GRADIENT_NAME),)


def redirected_relu_gradient(features: tf.Tensor, incoming: tf.Tensor) -> tf.Tensor:
    """The gradient with respect to a ReLU's input `features`, given the gradient of the
    ascended objective with respect to its output (`incoming`); any dtype, batch first."""
    zero = tf.zeros_like(incoming)
    negative = features < tf.zeros_like(features)
    ordinary = tf.where(negative, zero, incoming)  # as Lucid: x < 0 blocks, x = 0 passes
    pushing_lower = tf.logical_and(negative, incoming < zero)
    redirected = tf.where(pushing_lower, zero, incoming)
    batch = tf.shape(ordinary)[0]
    # Lucid tests the norm of each element's ordinary gradient for > 0: the same as any
    # non-zero value, without a norm that could underflow to 0 in bfloat16.
    flat = tf.reshape(ordinary, tf.stack([batch, -1]))
    passes = tf.reduce_any(tf.not_equal(flat, tf.zeros([], flat.dtype)), axis=1)  # [batch]
    # [batch, 1, …, 1], so it selects whole elements.
    passes = tf.reshape(passes, tf.concat([[batch], tf.ones([tf.rank(ordinary) - 1], tf.int32)], 0))
    return tf.where(passes, ordinary, redirected)


@tf.RegisterGradient(GRADIENT_NAME)
def _redirected_relu_grad(op, grad):
    return redirected_relu_gradient(op.inputs[0], grad)
