"""The one optimisation engine behind every technique.

Gradient ascent on an image, after Mordvintsev's DeepDream notebook, the TensorFlow
tutorial and Lucid's render loop:

1. **Octaves**: optimise a small copy first, then successively larger ones, re-injecting
   the detail added so far into each larger copy of the original, so patterns appear at
   several scales and the original's own detail is kept.
2. **Roll and tiles**: each step rolls the image by a random shift (Google's jitter,
   plus up to a whole tile when the image is cut into tiles, as the notebook's
   `calc_grad_tiled`), computes the gradient tile by tile (bounded memory for any image
   size) and rolls the gradient back. Optionally each tile first passes through Lucid's
   random pad/jitter/scale/rotate transforms (`dream.transforms`).
3. **Normalised step**: the gradient is divided by its mean absolute value, so
   `step_size` is in pixel units whatever the objective's scale (Google's `make_step`).
   With `normalization="per_term"` each term of a weighted objective is normalised on
   its own before the weights apply, so the weights are ratios of step strengths and
   mean the same on any network (Hvass-Labs' style transfer does this with each loss);
   the terms that read the network share one normalisation (one backward pass), each
   pixel-only term (smoothness) has its own (`Objective.normalization_groups`).
   Optionally a Laplacian pyramid evens out the gradient's frequency bands first.
4. **Parametrisation and optimiser**: plain normalised ascent or Adam, on the pixels or
   on Lucid's decorrelated-colour Fourier parameters (`dream.param`), whose moments can
   carry over from one call (frame) to the next. Pixels stay in 0..255.

Steps run in a loop inside one compiled graph between progress reports, with a
signature of unknown height and width: a new image size does not retrace. The random
shifts come from a stateless generator keyed by (seed, step), so a seed reproduces a
run exactly, however it is split into calls. The image is a batch [B, h, w, 3]
internally, so several images can later be optimised at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from dream import param as param_module
from dream import transforms as transform_module
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import PRECISIONS, InceptionModel
from dream.objectives import PIXELS, START, Objective

OPTIMIZERS = ("ascent", "adam")
NORMALIZATIONS = ("sum", "per_term", "each_term")
SCHEDULE_PRECISIONS = ("auto",) + PRECISIONS
MIN_OCTAVE_SIDE = 32  # smaller octaves carry no useful detail, so they are skipped
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-3


@dataclass(frozen=True)
class Schedule:
    """How to optimise: the same knobs for every technique. The defaults are the
    DeepDream notebook's `render_deepdream` (10 steps of 1.5 px, 4 octaves × 1.4,
    512 px tiles) with Google's 32 px jitter."""

    steps: int = 10              # optimisation steps per octave
    step_size: float = 1.5       # pixels (0..255 scale) per step, after normalisation
    octaves: int = 4             # number of scales, the largest being the image itself
    octave_scale: float = 1.4    # size ratio between consecutive octaves
    tile_size: int = 512         # gradients are computed on tiles at most this large
    jitter: int = 32             # largest random roll in pixels, each step
    laplacian_levels: int = 0    # 0: normalise by mean |g|; n: n-level Laplacian pyramid first
    optimizer: str = "ascent"    # "ascent" (normalised gradient) or "adam"
    seed: int = 0
    # "pixels" or "fourier" (Lucid's decorrelated colour in a 1/f-scaled Fourier basis)
    parametrization: str = "pixels"
    # "roll" (the random roll only) or "lucid" (+ pad, jitter, scale, rotate per step)
    transforms: str = "roll"
    # "sum": the objective's gradient is normalised as a whole; "per_term": each weighted
    # term's gradient is normalised on its own, then the weights apply (the terms reading
    # the network together); "each_term": every term on its own, network terms included
    # (one backward pass each: the objective mixer, whose terms read different layers)
    normalization: str = "sum"
    # Tiles roll by up to a whole tile (the notebook's calc_grad_tiled), not just ±jitter
    tile_roll: bool = True
    # The network's arithmetic: "auto" (the model's default: bfloat16 on CPUs with BF16
    # units), "float32" or "bfloat16"
    precision: str = "auto"
    # ((op type, registered gradient name), …) the network's ops differentiate with instead
    # of their own (`InceptionModel.features`): the atlas's redirected-ReLU warm-up. () for
    # every technique: the ordinary gradient.
    gradient_overrides: tuple = ()

    def validated(self, limits: Limits = DEFAULT_LIMITS) -> "Schedule":
        check_range("steps", self.steps, 0, limits.max_steps)
        check_range("step_size", self.step_size, 0.0, 100.0)
        check_range("octaves", self.octaves, 1, limits.max_octaves)
        check_range("octave_scale", self.octave_scale, 1.0, 4.0)
        check_range("tile_size", self.tile_size, 64, limits.max_tile_size)
        check_range("jitter", self.jitter, 0, 512)
        check_range("laplacian_levels", self.laplacian_levels, 0, 8)
        for name, value, allowed in (
                ("optimizer", self.optimizer, OPTIMIZERS),
                ("parametrization", self.parametrization, param_module.PARAMETRIZATIONS),
                ("transforms", self.transforms, transform_module.TRANSFORMS),
                ("normalization", self.normalization, NORMALIZATIONS),
                ("precision", self.precision, SCHEDULE_PRECISIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)} (got {value!r}).")
        return replace(self, steps=int(self.steps), octaves=int(self.octaves),
                       tile_size=int(self.tile_size), jitter=int(self.jitter),
                       laplacian_levels=int(self.laplacian_levels), seed=int(self.seed),
                       tile_roll=bool(self.tile_roll))


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


@dataclass
class OptimizerState:
    """Adam's moments per octave size, carried from one `Engine.run` (frame) to the next,
    so the frames of one request are one continuous optimisation (Lucid's render loop
    keeps its optimiser for all 512 steps)."""

    moments: dict = field(default_factory=dict)

    def get(self, key):
        return self.moments.get(key)

    def put(self, key, value) -> None:
        self.moments[key] = value


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
    """Bilinear resize of an HWC image (or a batch); antialiased when shrinking."""
    if tuple(image.shape[-3:-1]) == tuple(size):
        return image
    return tf.image.resize(image, size, method="bilinear", antialias=True)


# ----------------------------------------------------------------------------- graph pieces


def _laplacian_kernel() -> tf.Tensor:
    k = np.float32([1, 4, 6, 4, 1])
    k = np.outer(k, k)
    return tf.constant(k[:, :, None, None] / k.sum() * np.eye(3, dtype=np.float32))


def laplacian_normalize(gradient: tf.Tensor, levels: int) -> tf.Tensor:
    """Splits a [B,H,W,3] gradient into a Laplacian pyramid and gives each level unit RMS.

    Mordvintsev's `lap_normalize`: every frequency band gets the same strength, which
    favours smooth, large, colourful patterns over fine detail.
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


def mean_abs_normalize(x: tf.Tensor) -> tf.Tensor:
    """x / mean|x| per batch element (0 where x is all zero): Google's step normalisation,
    free of any epsilon that would depend on the objective's scale."""
    scale = tf.reduce_mean(tf.abs(x), axis=list(range(1, len(x.shape))), keepdims=True)
    return tf.math.divide_no_nan(x, scale)


def normalize_within(x: tf.Tensor, region: tf.Tensor | None) -> tf.Tensor:
    """x scaled so its mean |x| over `region` (a [1,H,W,1] weight map, 1 inside) is 1, per
    batch element: a step normalised this way has the same strength inside a painted
    mask whatever the mask's size. Without a region: `mean_abs_normalize`."""
    if region is None:
        return mean_abs_normalize(x)
    axes = list(range(1, len(x.shape)))
    scale = tf.math.divide_no_nan(tf.reduce_mean(tf.abs(x), axis=axes, keepdims=True),
                                  tf.reduce_mean(region))
    return tf.math.divide_no_nan(x, scale)


def _at_least(batch: tf.Tensor, min_side: int) -> tf.Tensor:
    """Upsamples a [B,h,w,3] batch so both sides are ≥ min_side (the classifier's need)."""
    if not min_side:
        return batch
    shape = tf.shape(batch)
    h, w = shape[1], shape[2]
    scale = tf.maximum(1.0, min_side / tf.cast(tf.minimum(h, w), tf.float32))
    new_size = tf.cast(tf.math.ceil(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
    return tf.cond(scale > 1.0, lambda: tf.image.resize(batch, new_size), lambda: batch)


def _tile_edges(length: tf.Tensor, tile_size: tf.Tensor) -> tf.Tensor:
    """Boundaries of ⌈length/tile_size⌉ near-equal tiles (no thin leftover tile)."""
    count = transform_module.tile_count(length, tile_size)
    return (tf.range(count + 1) * length) // count


def _without_conflicts(parts: list[tf.Tensor], weights: list[tf.Tensor]) -> list[tf.Tensor]:
    """Each positive term's step with its component that would raise a negative term
    removed (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning", PCGrad, applied
    one way): a suppressed term ("− dogs") does not rise as a side effect of the wanted
    ones, which on a network whose features all grow together it otherwise does. Steps
    that agree, and the negative terms' own, are left as they are."""
    def dot(a, b):
        return tf.reduce_sum(a * b, axis=list(range(1, len(a.shape))), keepdims=True)

    out = list(parts)
    for i in range(len(parts)):
        for j in range(len(parts)):
            if i == j:
                continue
            # parts[j] descends term j when its weight is negative; parts[i] (positive)
            # raises term j when it points against parts[j].
            overlap = tf.minimum(dot(out[i], parts[j]), 0.0)
            applies = tf.logical_and(weights[i] > 0, weights[j] < 0)
            coefficient = tf.where(applies, tf.math.divide_no_nan(overlap, dot(parts[j], parts[j])), 0.0)
            out[i] = out[i] - coefficient * parts[j]
    return out


# ----------------------------------------------------------------------------- the engine


class Engine:
    """Compiles and runs the optimisation for a model; one per model (see `engine_for`)."""

    def __init__(self, model: InceptionModel) -> None:
        self.model = model
        self.trace_count = 0  # how many times any step graph was traced (benchmarks)

    # --- public

    def precision_of(self, schedule: Schedule) -> str:
        """The network precision a schedule runs in ("auto" → the model's default)."""
        return self.model.precision if schedule.precision == "auto" else schedule.precision

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
        optimizer_state: OptimizerState | None = None,
        start_image: np.ndarray | None = None,
        masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Optimises `image` (HWC, 0..255) for `objective`; returns float32 HWC, same size.

        A batch [B, h, w, 3] is optimised as B images at once and returned as a batch: the
        step is normalised per image, so each moves as it would alone (with `Schedule(
        laplacian_levels=0)`), and an objective such as `channels` gives each its own
        target; the random shifts and transforms are drawn once per step for all of them.

        `target_image` (same size) is the image that `objective.target_layers` are read
        from; it follows the image through octaves, rolls, tiles and transforms.
        `step_offset` keys the random shifts, so successive calls (frames) get fresh ones.
        `optimizer_state`, when given, holds Adam's moments from earlier calls and receives
        the new ones (one continuous optimisation over several frames).
        `start_image` (the image's shape) is what an objective reading `START` compares the
        pixels with, aligned like the target (default: `image`, this call's start); pass
        the first frame's input to measure the change over a whole animation.
        `masks` [H, W, terms] (0..1, one map per weighted term of the objective) confines
        each term to where its map is 1: its gradient is multiplied by its map in image
        coordinates (after the roll, tiles and transforms are undone, so the mask follows
        them exactly) and each term is normalised on its own inside its map; pixels
        outside every map do not move (the detail carried up from smaller octaves too).
        """
        schedule = schedule.validated(limits)
        self.check(objective)
        if objective.target_layers and target_image is None:
            raise ValueError(f"{objective!r} compares against a target image; none was given.")
        height, width = image.shape[-3:-1]
        batched = np.ndim(image) == 4
        original = tf.constant(image if batched else image[None], tf.float32)
        target = tf.constant((target_image if target_image is not None else np.zeros((1, 1, 3)))[None],
                             tf.float32)
        if target_image is not None and target_image.shape[:2] != image.shape[-3:-1]:
            raise ValueError("The target image must have the image's size.")
        uses_start = START in objective.layers
        if start_image is not None and np.shape(start_image) != np.shape(image):
            raise ValueError("The start image must have the image's shape.")
        start = (tf.constant(start_image if batched else start_image[None], tf.float32)
                 if uses_start and start_image is not None
                 else original if uses_start else tf.zeros((1, 1, 1, 3)))
        uses_masks = masks is not None
        if uses_masks:
            masks = np.asarray(masks, np.float32)
            terms = len(objective.terms) or 1
            if masks.ndim != 3 or masks.shape[:2] != (height, width) or masks.shape[2] != terms:
                raise ValueError(f"The masks must be {height}×{width} with one map per term "
                                 f"({terms}); got shape {masks.shape}.")
        full_masks = tf.constant(masks[None] if uses_masks else np.ones((1, 1, 1, 1), np.float32))
        step_fn = self._step_function(objective, schedule, uses_masks)
        parametrization = param_module.parametrization(schedule.parametrization)
        params = {name: tf.constant(value) for name, value in objective.params.items()}

        sizes = octave_sizes(height, width, schedule.octaves, schedule.octave_scale)
        detail = tf.zeros((original.shape[0],) + sizes[0] + (3,))
        current = original
        step_index = step_offset
        for size in sizes:
            base = resize(original, size)
            octave_masks = resize(full_masks, size) if uses_masks else full_masks
            carried = resize(detail, size)
            if uses_masks:  # what smaller octaves dreamed stays inside the masks too
                carried *= tf.reduce_max(octave_masks, axis=-1, keepdims=True)
            current = base + carried
            octave_target = resize(target, size) if target_image is not None else target
            octave_start = resize(start, size) if uses_start else start
            moment = optimizer_state.get(size) if optimizer_state is not None else None
            if moment is None:
                zeros = parametrization.zeros(current)
                moment = (zeros, zeros, tf.constant(0.0))
            remaining = schedule.steps
            while remaining > 0:
                steps = min(remaining, max(1, steps_per_call))
                current, moment, _ = step_fn(
                    current, octave_target, octave_start, octave_masks, params, tf.constant(steps), schedule.step_size,
                    tf.constant(schedule.tile_size), tf.constant(schedule.jitter),
                    tf.constant(schedule.tile_roll), tf.constant([schedule.seed, step_index], tf.int32),
                    moment,
                )
                remaining -= steps
                step_index += steps
                if tracker is not None and tracker.advance(steps, current[0]):
                    if optimizer_state is not None:
                        optimizer_state.put(size, moment)
                    current = resize(current, (height, width))
                    return (current if batched else current[0]).numpy()
            if optimizer_state is not None:
                optimizer_state.put(size, moment)
            detail = current - base
        return (current if batched else current[0]).numpy()

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
              target_image: np.ndarray | None = None, precision: str = "float32") -> float:
        """The objective on the whole image, with no jitter (for tests and reports)."""
        terms_of = self._terms_function(objective, precision)
        target = target_image if target_image is not None else image[:1, :1]
        params = {name: tf.constant(value) for name, value in objective.params.items()}
        pixels = tf.constant(image[None], tf.float32)
        terms = terms_of(pixels, tf.constant(target[None], tf.float32), params, pixels)
        return float(tf.add_n([value for _, value in terms]))

    def gradient(self, objective: Objective, image: np.ndarray, target_image: np.ndarray | None = None,
                 precision: str = "float32") -> np.ndarray:
        """The objective's gradient with respect to the pixels of the whole image, no jitter
        (for comparing precisions and parametrisations)."""
        terms_of = self._terms_function(objective, precision)
        target = target_image if target_image is not None else image[:1, :1]
        params = {name: tf.constant(value) for name, value in objective.params.items()}
        pixels = tf.constant(image[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            total = tf.add_n([value for _, value in
                              terms_of(pixels, tf.constant(target[None], tf.float32), params,
                                       tf.stop_gradient(pixels))])
        return tape.gradient(total, pixels)[0].numpy()

    def _terms_function(self, objective: Objective, precision: str, gradient_overrides: tuple = ()):
        """(image batch, aligned target batch, params, aligned start batch) → the
        objective's (weight, weighted value) terms; the images [B,h,w,3] pixels."""
        features = (self.model.features(objective.model_layers, precision, gradient_overrides)
                    if objective.model_layers else None)
        target_features = (self.model.features(objective.target_layers, precision)
                           if objective.target_layers else None)
        min_side = objective.min_side

        def terms_of(image, target, params, start):
            batch = _at_least(image, min_side)
            acts = dict(features(batch)) if features is not None else {}
            acts[PIXELS] = batch
            if START in objective.layers:
                acts[START] = _at_least(start, min_side)
            target_acts = {}
            if target_features is not None:
                target_acts = target_features(tf.stop_gradient(_at_least(target, min_side)))
            return objective.weighted_terms(acts, target_acts, params)

        return terms_of

    # --- compilation

    def step_key(self, objective: Objective, schedule: Schedule, masked: bool = False) -> tuple:
        """What the compiled step of (objective, schedule) depends on: the objective's
        structure and the schedule's options that change the graph (not its numbers)."""
        return (("step", objective.key, schedule.laplacian_levels, schedule.optimizer,
                 schedule.parametrization, schedule.transforms, schedule.normalization,
                 self.precision_of(schedule)) + self._overrides_key(schedule)
                + (("masked",) if masked else ()))

    @staticmethod
    def _overrides_key(schedule: Schedule) -> tuple:
        # Empty without overrides, so every other step keeps the key it always had.
        return (tuple(schedule.gradient_overrides),) if schedule.gradient_overrides else ()

    def _step_function(self, objective: Objective, schedule: Schedule, masked: bool = False):
        # Kept with the model's feature functions under one bound (`FunctionCache`): each
        # step holds its own graph (11–28 MB on the full-size model), so they cannot pile up.
        return self.model.function_cache.get(self.step_key(objective, schedule, masked),
                                             lambda: self._compile(objective, schedule, masked))

    def _compile(self, objective: Objective, schedule: Schedule, masked: bool = False):
        terms_of = self._terms_function(objective, self.precision_of(schedule),
                                        schedule.gradient_overrides)
        uses_target = bool(objective.target_layers)
        uses_start = START in objective.layers
        levels, optimizer = schedule.laplacian_levels, schedule.optimizer
        # Masks confine each term on its own, so each term is its own group then.
        each_term = masked or schedule.normalization == "each_term"
        groups = objective.normalization_groups(each_term)
        per_term = masked or (schedule.normalization in ("per_term", "each_term") and len(groups) > 1)
        transform_name = schedule.transforms
        parametrization = param_module.parametrization(schedule.parametrization)

        def gradients(image, target, start, params, tile_size, shift, transform_seed):
            """Gradients of the objective (or of each term) summed over tiles of the rolled
            image (per normalisation group): [groups, B, H, W, 3], and the objective's
            mean value over tiles."""
            rolled = tf.roll(image, shift, axis=[1, 2])
            rolled_target = tf.roll(target, shift, axis=[1, 2]) if uses_target else target
            rolled_start = tf.roll(start, shift, axis=[1, 2]) if uses_start else start
            height, width = tf.shape(image)[1], tf.shape(image)[2]
            ys, xs = _tile_edges(height, tile_size), _tile_edges(width, tile_size)
            columns = tf.size(xs) - 1
            count = len(groups) if per_term else 1
            total_grad = tf.zeros(tf.concat([[count], tf.shape(image)], 0))
            total_loss = tf.constant(0.0)
            for t in tf.range((tf.size(ys) - 1) * columns):
                y0, y1 = ys[t // columns], ys[t // columns + 1]
                x0, x1 = xs[t % columns], xs[t % columns + 1]
                with tf.GradientTape(persistent=count > 1) as tape:
                    tape.watch(rolled)
                    tile = rolled[:, y0:y1, x0:x1]
                    target_tile = rolled_target[:, y0:y1, x0:x1] if uses_target else target
                    start_tile = rolled_start[:, y0:y1, x0:x1] if uses_start else start
                    # The target and the start see the same transforms as the tile.
                    seen = transform_module.apply(
                        transform_name,
                        [tile] + ([target_tile] if uses_target else []) + ([start_tile] if uses_start else []),
                        transform_seed + tf.stack([0, t]))
                    seen_target = seen[1] if uses_target else target
                    seen_start = seen[-1] if uses_start else start
                    terms = terms_of(seen[0], seen_target, params, seen_start)
                    values = [value for _, value in terms]
                    losses = ([tf.add_n([values[i] for i in group]) for group in groups]
                              if count > 1 else [tf.add_n(values)])
                grads = []
                for loss in losses:
                    grad = tape.gradient(loss, rolled)
                    grads.append(tf.zeros_like(rolled) if grad is None else grad)
                del tape
                total_grad += tf.stack(grads)
                total_loss += tf.add_n(values)
            tiles = tf.cast((tf.size(ys) - 1) * columns, tf.float32)
            return tf.roll(total_grad, -shift, axis=[2, 3]), total_loss / tiles

        def combine(grads, params, masks, coverage):
            """One ascent direction from the per-group gradients (each group one term and
            its mask when `masked`)."""
            if not per_term:
                grad = grads[0]
            else:
                # Each group's step has the strength of its weights (Σ|w|), whatever the
                # scale of its gradient (inside its mask, when masked).
                weights = objective.term_weights(params)
                parts = []
                for k, group in enumerate(groups):
                    part = grads[k]
                    if masked:
                        mask = masks[..., k:k + 1]
                        part = normalize_within(part * mask, mask)
                    else:
                        part = mean_abs_normalize(part)
                    parts.append(tf.add_n([tf.abs(weights[i]) for i in group]) * part)
                if each_term:
                    parts = _without_conflicts(parts, [weights[group[0]] for group in groups])
                grad = tf.add_n(parts)
            if levels:
                grad = laplacian_normalize(grad, levels)
            return normalize_within(grad, coverage)

        image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        moment_spec = tf.TensorSpec(None, tf.float32)
        signature = [
            image_spec,                                   # image batch
            image_spec,                                   # target batch (or a 1x1 dummy)
            image_spec,                                   # start batch (or a 1x1 dummy)
            tf.TensorSpec([1, None, None, None], tf.float32),  # masks, one per term (or 1x1x1)
            {name: tf.TensorSpec([None] * np.ndim(v), tf.as_dtype(np.asarray(v).dtype))
             for name, v in objective.params.items()},    # objective parameters
            tf.TensorSpec([], tf.int32),                  # steps
            tf.TensorSpec([], tf.float32),                # step size
            tf.TensorSpec([], tf.int32),                  # tile size
            tf.TensorSpec([], tf.int32),                  # jitter
            tf.TensorSpec([], tf.bool),                   # roll by up to a whole tile
            tf.TensorSpec([2], tf.int32),                 # (seed, index of the first step)
            (moment_spec, moment_spec, tf.TensorSpec([], tf.float32)),  # Adam m, v, t
        ]

        @tf.function(input_signature=signature)
        def ascend(image, target, start, masks, params, steps, step_size, tile_size, jitter,
                   whole_tile, seed, moment):
            self.trace_count += 1  # Python side effect: runs only while tracing
            m, v, t = moment
            # Where any term may act; pixels outside it never move.
            coverage = tf.reduce_max(masks, axis=-1, keepdims=True) if masked else None
            loss = tf.constant(0.0)
            height, width = tf.shape(image)[1], tf.shape(image)[2]
            for i in tf.range(steps):
                step_seed = seed + tf.stack([0, i])
                shift = transform_module.random_roll(step_seed, height, width, tile_size, jitter,
                                                     whole_tile)
                grads, loss = gradients(image, target, start, params, tile_size, shift,
                                        tf.stack([step_seed[0] + 1, step_seed[1] * 64]))
                grad = combine(grads, params, masks, coverage)
                grad = parametrization.to_parameters_gradient(image, grad)
                if optimizer == "adam":
                    # On the normalised gradient, so its epsilon means the same at any scale.
                    t += 1.0
                    m = ADAM_BETA1 * m + (1.0 - ADAM_BETA1) * grad
                    v = ADAM_BETA2 * v + (1.0 - ADAM_BETA2) * tf.square(grad)
                    m_hat, v_hat = m / (1.0 - ADAM_BETA1 ** t), v / (1.0 - ADAM_BETA2 ** t)
                    change = parametrization.to_pixels_linear(
                        image, step_size * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON))
                else:
                    change = step_size * normalize_within(
                        parametrization.to_pixels_linear(image, grad), coverage)
                if masked:  # a Fourier parametrisation spreads a change over the image
                    change = tf.reshape(change, tf.shape(image)) * coverage
                # The projection back onto valid pixels.
                image = tf.clip_by_value(image + tf.reshape(change, tf.shape(image)), 0.0, 255.0)
            return image, (m, v, t), loss

        return ascend


_ENGINES_LOCK = threading.Lock()


def engine_for(model: InceptionModel) -> Engine:
    """The engine of `model`, created once so its compiled steps are reused."""
    # Kept on the model itself: a dictionary keyed by models (even weakly) would keep every
    # model alive, since its engine refers to it.
    with _ENGINES_LOCK:
        engine = vars(model).get("_engine")
        if engine is None:
            engine = model._engine = Engine(model)
        return engine


def total_octave_steps(height: int, width: int, schedule: Schedule) -> int:
    """Steps `Engine.run` will take on an image of this size (for progress totals)."""
    return schedule.steps * len(octave_sizes(height, width, schedule.octaves, schedule.octave_scale))


def megapixel_steps(height: int, width: int, schedule: Schedule) -> float:
    """Work of one `Engine.run`, in megapixel-steps (octaves summed)."""
    sizes = octave_sizes(height, width, schedule.octaves, schedule.octave_scale)
    return schedule.steps * sum(h * w for h, w in sizes) / 1e6


__all__ = [
    "Engine", "OptimizerState", "Schedule", "Progress", "ProgressCallback", "ProgressTracker",
    "engine_for", "octave_sizes", "resize", "laplacian_normalize", "mean_abs_normalize",
    "to_uint8", "total_octave_steps", "megapixel_steps", "normalize_within",
]
