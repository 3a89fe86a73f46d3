"""The one optimisation engine behind every technique.

Gradient ascent on the pixels of an image, after Mordvintsev's DeepDream notebook and
the TensorFlow tutorial:

1. **Octaves**: optimise a small copy first, then successively larger ones, re-injecting
   the detail added so far into each larger copy of the original, so patterns appear at
   several scales and the original's own detail is kept.
2. **Jitter and tiles**: each step rolls the image by a random shift, computes the
   gradient tile by tile (bounded memory for any image size; the random roll hides the
   tile seams) and rolls the gradient back.
3. **Normalised step**: the gradient is divided by its mean absolute value (optionally
   after a Laplacian-pyramid normalisation that evens out its frequencies), so
   `step_size` is in pixel units whatever the objective's scale; or Adam on the pixels.
4. Pixels stay in 0..255.

Steps run in a loop inside one compiled graph between progress reports, with a
signature of unknown height and width: a new image size does not retrace. The random
shifts come from a stateless generator keyed by (seed, step), so a seed reproduces a
run exactly, however it is split into calls.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import InceptionModel
from dream.objectives import PIXELS, Objective

OPTIMIZERS = ("ascent", "adam")
MIN_OCTAVE_SIDE = 32  # smaller octaves carry no useful detail, so they are skipped


@dataclass(frozen=True)
class Schedule:
    """How to optimise: the same knobs for every technique."""

    steps: int = 10              # optimisation steps per octave
    step_size: float = 1.5       # pixels (0..255 scale) per step, after normalisation
    octaves: int = 3             # number of scales, the largest being the image itself
    octave_scale: float = 1.4    # size ratio between consecutive octaves
    tile_size: int = 512         # gradients are computed on tiles at most this large
    jitter: int = 32             # largest random roll in pixels, each step
    laplacian_levels: int = 0    # 0: normalise by mean |g|; n: n-level Laplacian pyramid
    optimizer: str = "ascent"    # "ascent" (normalised gradient) or "adam"
    seed: int = 0

    def validated(self, limits: Limits = DEFAULT_LIMITS) -> "Schedule":
        check_range("steps", self.steps, 0, limits.max_steps)
        check_range("step_size", self.step_size, 0.0, 100.0)
        check_range("octaves", self.octaves, 1, limits.max_octaves)
        check_range("octave_scale", self.octave_scale, 1.0, 4.0)
        check_range("tile_size", self.tile_size, 64, limits.max_tile_size)
        check_range("jitter", self.jitter, 0, 512)
        check_range("laplacian_levels", self.laplacian_levels, 0, 8)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}.")
        return replace(self, steps=int(self.steps), octaves=int(self.octaves),
                       tile_size=int(self.tile_size), jitter=int(self.jitter),
                       laplacian_levels=int(self.laplacian_levels), seed=int(self.seed))


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    preview: np.ndarray  # uint8 RGB, the image as it is now


# Return True to stop the run early; the technique then returns what it has so far.
ProgressCallback = Callable[[Progress], Optional[bool]]


class ProgressTracker:
    """Counts steps over a whole request and relays them to the caller's callback."""

    def __init__(self, total: int, callback: ProgressCallback | None = None,
                 render: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.total = max(1, int(total))
        self.step = 0
        self.callback = callback
        self.render = render or to_uint8  # working image → what the user should see
        self.stopped = False

    def advance(self, steps: int, image: np.ndarray | tf.Tensor) -> bool:
        """Adds `steps` and reports `image`; True when the caller asked to stop."""
        self.step = min(self.total, self.step + steps)
        if self.callback is not None and not self.stopped:
            if self.callback(Progress(self.step, self.total, self.render(np.asarray(image)))):
                self.stopped = True
        return self.stopped


def to_uint8(image: np.ndarray | tf.Tensor) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)


def octave_sizes(height: int, width: int, octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """Sizes from the smallest octave to the image's own size."""
    sizes = []
    for k in range(octaves):
        factor = octave_scale ** k
        size = (max(1, round(height / factor)), max(1, round(width / factor)))
        if k > 0 and min(size) < MIN_OCTAVE_SIDE:
            break
        sizes.append(size)
    return sizes[::-1]


def resize(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize of an HWC image; antialiased when shrinking."""
    if tuple(image.shape[:2]) == tuple(size):
        return image
    return tf.image.resize(image, size, method="bilinear", antialias=True)


# ----------------------------------------------------------------------------- graph pieces


def _laplacian_kernel() -> tf.Tensor:
    k = np.float32([1, 4, 6, 4, 1])
    k = np.outer(k, k)
    return tf.constant(k[:, :, None, None] / k.sum() * np.eye(3, dtype=np.float32))


def laplacian_normalize(gradient: tf.Tensor, levels: int) -> tf.Tensor:
    """Splits a [1,H,W,3] gradient into a Laplacian pyramid and gives each level unit RMS.

    Low frequencies otherwise dominate the step at large scales; evened out, the
    patterns stay crisp at every size (Mordvintsev's `lap_normalize`).
    """
    kernel = _laplacian_kernel()
    highs = []
    low = gradient
    for _ in range(levels):
        smaller = tf.nn.conv2d(low, kernel, [1, 2, 2, 1], "SAME")
        back = tf.nn.conv2d_transpose(smaller, kernel * 4, tf.shape(low), [1, 2, 2, 1])
        highs.append(low - back)
        low = smaller

    def unit_rms(x):
        return x / tf.maximum(tf.sqrt(tf.reduce_mean(tf.square(x))), 1e-10)

    out = unit_rms(low)
    for high in reversed(highs):
        out = tf.nn.conv2d_transpose(out, kernel * 4, tf.shape(high), [1, 2, 2, 1]) + unit_rms(high)
    return out


def _at_least(batch: tf.Tensor, min_side: int) -> tf.Tensor:
    """Upsamples a [1,h,w,3] batch so both sides are ≥ min_side (the classifier's need)."""
    if not min_side:
        return batch
    shape = tf.shape(batch)
    h, w = shape[1], shape[2]
    scale = tf.maximum(1.0, min_side / tf.cast(tf.minimum(h, w), tf.float32))
    new_size = tf.cast(tf.math.ceil(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
    return tf.cond(scale > 1.0, lambda: tf.image.resize(batch, new_size), lambda: batch)


def _tile_edges(length: tf.Tensor, tile_size: tf.Tensor) -> tf.Tensor:
    """Boundaries of ⌈length/tile_size⌉ near-equal tiles (no thin leftover tile)."""
    count = (length + tile_size - 1) // tile_size
    return (tf.range(count + 1) * length) // count


# ----------------------------------------------------------------------------- the engine


class Engine:
    """Compiles and runs the ascent for a model; one per model (see `engine_for`)."""

    def __init__(self, model: InceptionModel) -> None:
        self.model = model
        self.trace_count = 0  # how many times any step graph was traced (benchmarks)
        self._compiled: dict = {}
        self._lock = threading.Lock()

    # --- public

    def run(
        self,
        objective: Objective,
        image: np.ndarray,
        schedule: Schedule,
        *,
        target_image: np.ndarray | None = None,
        tracker: ProgressTracker | None = None,
        steps_per_call: int = 5,
        step_offset: int = 0,
        limits: Limits = DEFAULT_LIMITS,
    ) -> np.ndarray:
        """Optimises `image` (HWC, 0..255) for `objective`; returns float32 HWC, same size.

        `target_image` (same size) is the image that `objective.target_layers` are read
        from; it follows the image through octaves, rolls and tiles. `step_offset` keys
        the random shifts, so successive calls (frames) get fresh ones.
        """
        schedule = schedule.validated(limits)
        self.check(objective)
        if objective.target_layers and target_image is None:
            raise ValueError(f"{objective!r} compares against a target image; none was given.")
        height, width = image.shape[:2]
        original = tf.constant(image, tf.float32)
        target = tf.constant(target_image if target_image is not None else image[:1, :1], tf.float32)
        if target_image is not None and target_image.shape[:2] != image.shape[:2]:
            raise ValueError("The target image must have the image's size.")
        step_fn = self._step_function(objective, schedule)
        params = {name: tf.constant(value) for name, value in objective.params.items()}

        sizes = octave_sizes(height, width, schedule.octaves, schedule.octave_scale)
        detail = tf.zeros(sizes[0] + (3,))
        current = original
        step_index = step_offset
        for size in sizes:
            base = resize(original, size)
            current = base + resize(detail, size)
            octave_target = resize(target, size) if target_image is not None else target
            moment = tf.zeros_like(current), tf.zeros_like(current), tf.constant(0.0)
            remaining = schedule.steps
            while remaining > 0:
                steps = min(remaining, max(1, steps_per_call))
                current, moment, _ = step_fn(
                    current, octave_target, params, tf.constant(steps), schedule.step_size,
                    tf.constant(schedule.tile_size), tf.constant(schedule.jitter),
                    tf.constant([schedule.seed, step_index], tf.int32), moment,
                )
                remaining -= steps
                step_index += steps
                if tracker is not None and tracker.advance(steps, current):
                    return resize(current, (height, width)).numpy()
            detail = current - base
        return current.numpy()

    def check(self, objective: Objective) -> None:
        """Refuses objectives whose layers or parameters do not fit this model."""
        for name in objective.model_layers | objective.target_layers:
            if not self.model.has_tensor(name):
                self.model.layer(name)  # raises "Unknown layer …" with suggestions
        for name, (fewest, most) in objective.channel_bounds.items():
            channels = self.model.layer(name).channels
            if not fewest <= channels <= most:
                needs = f"{fewest}" if fewest == most else f"at least {fewest}"
                raise ValueError(
                    f"{objective.description or objective.key} needs {needs} channels at "
                    f"{name}, which has {channels}."
                )

    def value(self, objective: Objective, image: np.ndarray,
              target_image: np.ndarray | None = None) -> float:
        """The objective on the whole image, with no jitter (for tests and reports)."""
        loss_of = self._loss_function(objective)
        target = target_image if target_image is not None else image[:1, :1]
        params = {name: tf.constant(value) for name, value in objective.params.items()}
        return float(loss_of(tf.constant(image, tf.float32), tf.constant(target, tf.float32), params))

    def _loss_function(self, objective: Objective):
        """(image, aligned target image, params) → the objective; both images HWC pixels."""
        features = self.model.features(objective.model_layers) if objective.model_layers else None
        target_features = (self.model.features(objective.target_layers)
                           if objective.target_layers else None)
        min_side = objective.min_side

        def loss_of(image, target, params):
            batch = _at_least(image[None], min_side)
            acts = dict(features(batch)) if features is not None else {}
            acts[PIXELS] = batch
            target_acts = {}
            if target_features is not None:
                target_acts = target_features(tf.stop_gradient(_at_least(target[None], min_side)))
            return objective.fn(acts, target_acts, params)

        return loss_of

    # --- compilation

    def _step_function(self, objective: Objective, schedule: Schedule):
        key = (objective.key, schedule.laplacian_levels, schedule.optimizer)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self._compile(objective, schedule)
            return self._compiled[key]

    def _compile(self, objective: Objective, schedule: Schedule):
        tile_loss = self._loss_function(objective)
        uses_target = bool(objective.target_layers)
        levels, optimizer = schedule.laplacian_levels, schedule.optimizer

        def gradient(image, target, params, tile_size, shift):
            """Gradient of the objective summed over tiles of the rolled image."""
            rolled = tf.roll(image, shift, axis=[0, 1])
            rolled_target = tf.roll(target, shift, axis=[0, 1]) if uses_target else target
            height, width = tf.shape(image)[0], tf.shape(image)[1]
            ys, xs = _tile_edges(height, tile_size), _tile_edges(width, tile_size)
            columns = tf.size(xs) - 1
            total_grad = tf.zeros_like(image)
            total_loss = tf.constant(0.0)
            for t in tf.range((tf.size(ys) - 1) * columns):
                y0, y1 = ys[t // columns], ys[t // columns + 1]
                x0, x1 = xs[t % columns], xs[t % columns + 1]
                with tf.GradientTape() as tape:
                    tape.watch(rolled)
                    tile = rolled[y0:y1, x0:x1]
                    target_tile = rolled_target[y0:y1, x0:x1] if uses_target else target
                    loss = tile_loss(tile, target_tile, params)
                total_grad += tape.gradient(loss, rolled)
                total_loss += loss
            tiles = tf.cast((tf.size(ys) - 1) * columns, tf.float32)
            return tf.roll(total_grad, -shift, axis=[0, 1]), total_loss / tiles

        def normalize(grad):
            if levels:
                grad = laplacian_normalize(grad[None], levels)[0]
            return grad / (tf.reduce_mean(tf.abs(grad)) + 1e-8)

        image_spec = tf.TensorSpec([None, None, 3], tf.float32)
        signature = [
            image_spec,                                   # image
            image_spec,                                   # target image (or a 1x1 dummy)
            {name: tf.TensorSpec([None] * np.ndim(v), tf.as_dtype(np.asarray(v).dtype))
             for name, v in objective.params.items()},    # objective parameters
            tf.TensorSpec([], tf.int32),                  # steps
            tf.TensorSpec([], tf.float32),                # step size
            tf.TensorSpec([], tf.int32),                  # tile size
            tf.TensorSpec([], tf.int32),                  # jitter
            tf.TensorSpec([2], tf.int32),                 # (seed, index of the first step)
            (image_spec, image_spec, tf.TensorSpec([], tf.float32)),  # Adam m, v, t
        ]

        @tf.function(input_signature=signature)
        def ascend(image, target, params, steps, step_size, tile_size, jitter, seed, moment):
            self.trace_count += 1  # Python side effect: runs only while tracing
            m, v, t = moment
            loss = tf.constant(0.0)
            for i in tf.range(steps):
                shift = tf.random.stateless_uniform(
                    [2], seed=seed + tf.stack([0, i]), minval=-jitter, maxval=jitter + 1,
                    dtype=tf.int32)
                grad, loss = gradient(image, target, params, tile_size, shift)
                grad = normalize(grad)
                if optimizer == "adam":
                    # On the normalised gradient, so its epsilon means the same at any scale.
                    t += 1.0
                    m = 0.9 * m + 0.1 * grad
                    v = 0.999 * v + 0.001 * tf.square(grad)
                    m_hat, v_hat = m / (1.0 - 0.9 ** t), v / (1.0 - 0.999 ** t)
                    update = step_size * m_hat / (tf.sqrt(v_hat) + 1e-3)
                else:
                    update = step_size * grad
                image = tf.clip_by_value(image + update, 0.0, 255.0)
            return image, (m, v, t), loss

        return ascend


_ENGINES: "weakref.WeakKeyDictionary[InceptionModel, Engine]" = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def engine_for(model: InceptionModel) -> Engine:
    """The engine of `model`, created once so its compiled steps are reused."""
    with _ENGINES_LOCK:
        if model not in _ENGINES:
            _ENGINES[model] = Engine(model)
        return _ENGINES[model]


def total_octave_steps(height: int, width: int, schedule: Schedule) -> int:
    """Steps `Engine.run` will take on an image of this size (for progress totals)."""
    return schedule.steps * len(octave_sizes(height, width, schedule.octaves, schedule.octave_scale))


def megapixel_steps(height: int, width: int, schedule: Schedule) -> float:
    """Work of one `Engine.run`, in megapixel-steps (octaves summed)."""
    sizes = octave_sizes(height, width, schedule.octaves, schedule.octave_scale)
    return schedule.steps * sum(h * w for h, w in sizes) / 1e6


__all__ = [
    "Engine", "Schedule", "Progress", "ProgressCallback", "ProgressTracker", "engine_for",
    "octave_sizes", "resize", "laplacian_normalize", "to_uint8", "total_octave_steps",
    "megapixel_steps",
]
