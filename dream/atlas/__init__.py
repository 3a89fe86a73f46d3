"""The neuron atlas: what each channel and class of the network responds to.

Feature visualisation as Lucid renders neurons and OpenAI Microscope shows them for this
same network (Olah et al., "Feature Visualization", Distill 2017; Lucid's
`optvis/render.py` `render_vis`):

1. **From noise**: every tile starts from faint 1/f ("cloudy") noise around ImageNet's
   mean colour, seeded by the tile's channel, so a tile never depends on its page.
2. **Decorrelated Fourier parametrisation, squashed by a sigmoid**: the optimiser moves
   the coefficients of a 1/f-scaled Fourier basis in decorrelated colour, and the pixels
   are 255·σ of that image (Lucid's `param.image(128, fft=True, decorrelate=True)`, whose
   `to_valid_rgb` squashes with a sigmoid; `dream.param`, "fourier_sigmoid"), with Adam
   (Lucid's `render_vis` optimiser).
3. **Random transforms**: each step the network sees the tile padded, jittered, scaled
   and rotated at random (Lucid's `transform.standard_transforms`; `dream.transforms`).
4. **Redirected-ReLU warm-up**: for the first 16 steps the network's ReLUs pass the
   gradient of their input to a tile whose ordinary ReLU gradient is zero everywhere
   (Lucid's `render_vis(relu_gradient_override=True)`; `dream.atlas.redirected_relu`), so
   a channel that is off on the noise does not stay the noise; then the ordinary gradient.
5. **Several channels in one batch**: a page's tiles are optimised together, element i
   of the batch maximising channel i of the page (Lucid's `channel(layer, n, batch=i)`
   summed over i; `dream.objectives.channels`). The engine normalises the step per
   element and every element starts from its own noise, so a tile does not depend on its
   batch companions (the warm-up too judges each element on its own). On the small test
   graph most tiles are bit for bit the same alone or in a batch; a batch of another size
   can make oneDNN and the sigmoid round differently (2e-4 px after one step at full
   width), and optimisation from noise amplifies that as it would any tiny change: the
   same picture with local differences (see `AtlasSettings`).
6. **A disk cache** shared by all users and kept across restarts:
   `<cache root>/atlas/<model hash>/<layer>/<settings hash>/<channel>.png`, the model hash
   being the SHA-256 of the graph file's bytes (computed once per loaded model), so a
   changed model file invalidates every tile; least recently used tiles go first when the
   cache outgrows its bound.

And the reverse question, **what fires on my photo**: `rank_channels` orders a layer's
channels by their mean activation on a photo and gives each a heat map of where it fires.

    atlas = dream.atlas.atlas_for(model)
    for tile in atlas.page("mixed4c", page=0):        # yields tiles as they finish
        show(tile.image, tile.label)
    ranking = dream.atlas.rank_channels(model, "photo.jpg", "mixed4c", top=12)
    overlay = ranking.channels[0].overlay              # uint8 RGB, the photo's size
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from dream import objectives
from dream import param as param_module
from dream.atlas.redirected_relu import REDIRECTED_RELU
from dream.engine import OptimizerState, ProgressTracker, Schedule, engine_for, to_uint8
from dream.limits import LimitError, Limits
from dream.model import CLASS_LOGITS, InceptionModel
from dream.atlas.cache import (DEFAULT_CACHE_BYTES, EVICT_TO, TileCache, _remove,  # noqa: F401
                               default_cache_dir, model_hash, tile_cache)

# Bump when the rendering changes in a way `AtlasSettings` does not capture (a new
# transform, a new start image): every cached tile is then stale. 2: the sigmoid and the
# redirected-ReLU warm-up (also new settings) and 384 steps.
RENDER_VERSION = 2
# The most tiles one request may ask for (a page); the command line precomputes more.
MAX_TILES_PER_REQUEST = 48
DEFAULT_PER_PAGE = 24
CLASS_LAYER = CLASS_LOGITS  # where class tiles live in the cache ("layer" of a class)
# A photo is analysed at most this large; its heat maps have the analysed photo's size.
RANK_MAX_SIDE = 512
# At most this many ranked channels get a heat map (64 maps at 512 px: ~120 MB with their
# overlays); `ChannelRanking.means` holds every channel's mean.
RANK_MAX_TOP = 64


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AtlasSettings:
    """How a tile is rendered. Every field but `batch` is part of the cache key.

    `batch` changes the speed, and the pixels only as rounding does: on the width-1.0
    graph a tile rendered in a batch of 8 and alone correlate at 0.58–0.88 (0.0–0.2 with
    another channel's tile) and reach the same channel activation within 3 % — as
    different as two renders whose start noise differs by 0.001 px (measured with the
    clip, before the sigmoid; on the small test graph the sigmoid's batch differences are
    likewise smaller than a 0.001 px change of the start noise makes). Any batch size is
    a render of these settings, so the cache does not tell them apart.
    """

    size: int = 128          # Lucid's `param.image(128)`; Microscope's tiles are this scale
    # Adam steps; Lucid's `render_vis` takes 512. On the width-1.0 graph with the sigmoid and
    # the warm-up (`benchmarks/bench_atlas.py --study-only`, 8 channels of mixed4c), a
    # channel reaches, of where 512 steps at Lucid's rate (4 px) take it: 0.64 after 128
    # steps, 0.85 after 256, 0.87 after 320, 0.97 after 384 and 0.98 after 512 (`--study-sizes
    # 8 --study-checkpoints 128,256,320,384,448,512`: 8 px's own 512 = 1.00, 384 = 0.99).
    # 384 is the fewest measured that reach 0.9; its motif is settled well before. A page
    # of 24 costs 3× the 128-step page (~40 s on 2 free cores): ~120 s, ~4 min when the
    # cores are shared (512 steps: ~160 s); the disk cache serves it once rendered.
    steps: int = 384
    # Adam's step in RMS pixels (0..255; at mid-grey, under the sigmoid). Lucid's lr 0.05 on
    # its Fourier coefficients moves a 128 px image by ~3.6 px RMS per step at mid-grey. With
    # the clip 8 px got further in the first ~200 steps; with the sigmoid 4 and 8 px follow
    # the same curve within 0.02 at every checkpoint (the study above), so 8 px stays.
    step_size: float = 8.0
    noise: float = 8.0       # RMS pixels of the starting 1/f noise
    # Pixels = 255·σ(Fourier image), as Lucid's `param.image` (`dream.param`,
    # "fourier_sigmoid"); False: the Fourier image clipped to 0..255 after each step.
    sigmoid: bool = True
    # Steps with Lucid's redirected ReLU gradient before the ordinary one
    # (`dream.atlas.redirected_relu`; Lucid: 16); 0: none.
    relu_warmup: int = 16
    seed: int = 0
    # Render a layer's channel on its pre-ReLU tensor, as Lucid and Microscope do (and as
    # the Deep Dream tab dreams on it): a channel that is off (≤ 0) on the noise still has
    # a gradient there.
    pre_relu: bool = True
    # float32: bfloat16's input gradient agrees with float32's at cosine 0.92 only for a
    # pre-ReLU channel (docs/DEFAULTS.md, "Precision").
    precision: str = "float32"
    batch: int = 8           # tiles per engine call (≥ 4 is as fast per tile here)

    def validated(self) -> "AtlasSettings":
        checks = (("size", self.size, 32, 512), ("steps", self.steps, 1, 4096),
                  ("step_size", self.step_size, 0.01, 100.0), ("noise", self.noise, 0.0, 128.0),
                  ("batch", self.batch, 1, MAX_TILES_PER_REQUEST),
                  ("relu_warmup", self.relu_warmup, 0, 4096))
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ValueError(f"AtlasSettings.{name} must be between {low} and {high} (got {value}).")
        return self

    def schedule(self) -> Schedule:
        """The engine schedule of a tile: one octave, no roll (the transforms jitter)."""
        return Schedule(steps=self.steps, step_size=self.step_size, octaves=1, jitter=0,
                        tile_size=max(512, self.size), optimizer="adam", seed=self.seed,
                        parametrization="fourier_sigmoid" if self.sigmoid else "fourier",
                        transforms="lucid", normalization="sum", tile_roll=False,
                        precision=self.precision)

    def phases(self) -> list[tuple[int, Schedule]]:
        """(first step, schedule) of each part of a tile's optimisation: the warm-up's steps
        with the redirected ReLU gradient, then the rest with the ordinary one."""
        schedule = self.schedule()
        warmup = min(self.relu_warmup, self.steps)
        parts = [(0, replace(schedule, steps=warmup, gradient_overrides=REDIRECTED_RELU)),
                 (warmup, replace(schedule, steps=self.steps - warmup))]
        return [(start, part) for start, part in parts if part.steps > 0]

    def key(self) -> str:
        """A short hash of everything that changes the pixels (the cache folder's name)."""
        fields = {name: value for name, value in asdict(self).items() if name != "batch"}
        fields["render_version"] = RENDER_VERSION
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _settings_from_environment() -> AtlasSettings:
    """The defaults, with `$DREAM_ATLAS_STEPS` when the operator set it: a page of 24 takes
    ~2 minutes at 384 steps on two cores, and a busy server may rather have faster tiles
    that are less converged (128: 0.64 of the way). The steps are in the cache key."""
    text = os.environ.get("DREAM_ATLAS_STEPS", "").strip()
    if not text:
        return AtlasSettings()
    try:
        return AtlasSettings(steps=int(text)).validated()
    except ValueError as error:
        raise ValueError(f"DREAM_ATLAS_STEPS must be a whole number of steps from 1 to 4096 "
                         f"(got {text!r}).") from error


DEFAULT_SETTINGS = _settings_from_environment()


@dataclass(frozen=True)
class Tile:
    layer: str            # the layer asked for ("mixed4c"), or CLASS_LAYER for a class
    index: int            # the channel (or class) index
    image: np.ndarray     # uint8 [size, size, 3]
    label: str            # "mixed4c:97", or "jellyfish (class 1)"
    cached: bool          # read from the disk cache: nothing was computed for it
    path: Path | None = None  # the cached PNG, when the cache is on


@dataclass
class AtlasStats:
    """What an `Atlas` did so far (shared by every request through it)."""

    rendered: int = 0       # tiles computed
    from_cache: int = 0     # tiles read from the disk cache
    render_seconds: float = 0.0


# ----------------------------------------------------------------------------- the atlas


StopCallback = Callable[[], bool]
ProgressCallback = Callable[[float], None]
# (layer, batches, should_stop, progress) → (batch, its uint8 tiles) as each is done.
Renderer = Callable[[str, Sequence[Sequence[int]], "StopCallback | None", "ProgressCallback | None"],
                    Iterator[tuple[list[int], np.ndarray]]]


class Atlas:
    """Renders, caches and serves feature-visualisation tiles of one model.

    One per model and settings (see `atlas_for`), shared by every request, so its `stats`
    count what all of them did. `cache_dir=None` is `default_cache_dir()`; `cache=False`
    renders every time (nothing read or written).
    """

    def __init__(self, model: InceptionModel, settings: AtlasSettings = DEFAULT_SETTINGS, *,
                 cache_dir: str | os.PathLike | None = None, cache: bool = True,
                 max_cache_bytes: int = DEFAULT_CACHE_BYTES,
                 max_tiles: int = MAX_TILES_PER_REQUEST) -> None:
        self.model = model
        self.settings = settings.validated()
        self.engine = engine_for(model)
        self.cache = (tile_cache(Path(cache_dir) if cache_dir else default_cache_dir(), max_cache_bytes)
                      if cache else None)
        self.max_tiles = int(max_tiles)
        # Renders batches elsewhere (a worker pool: `dream.pool`); None: in this process.
        self.renderer: Renderer | None = None
        self.stats = AtlasStats()
        self._stats_lock = threading.Lock()

    # --- what there is

    def channel_count(self, layer: str) -> int:
        """Channels of `layer`; a ValueError naming close layers if there is none."""
        return self.model.layer(layer).channels

    def page_count(self, layer: str, per_page: int = DEFAULT_PER_PAGE) -> int:
        return math.ceil(self.channel_count(layer) / self._checked_per_page(per_page))

    def page_channels(self, layer: str, page: int, per_page: int = DEFAULT_PER_PAGE) -> list[int]:
        """The channels on page `page` (0-based) of `layer`."""
        per_page = self._checked_per_page(per_page)
        pages = self.page_count(layer, per_page)
        if not 0 <= page < pages:
            raise ValueError(f"{layer} has {pages} pages of {per_page} channels (0–{pages - 1}); "
                             f"there is no page {page}.")
        count = self.channel_count(layer)
        return list(range(page * per_page, min(count, (page + 1) * per_page)))

    def tile_path(self, layer: str, index: int) -> Path | None:
        """Where the tile of `layer`'s channel `index` (or class `index` for CLASS_LAYER) is
        cached, whether or not it is there yet."""
        if self.cache is None:
            return None
        return (self.cache.root / model_hash(self.model)[:16] / _safe(layer)
                / self.settings.key() / f"{int(index)}.png")

    # --- rendering

    def page(self, layer: str, page: int = 0, per_page: int = DEFAULT_PER_PAGE, *,
             should_stop: StopCallback | None = None,
             progress: ProgressCallback | None = None) -> Iterator[Tile]:
        """Yields the tiles of one page of `layer` as they are ready (see `tiles`)."""
        channels = self.page_channels(layer, page, per_page)
        return self.tiles(layer, channels, should_stop=should_stop, progress=progress)

    def tiles(self, layer: str, channels: Iterable[int], *,
              should_stop: StopCallback | None = None,
              progress: ProgressCallback | None = None) -> Iterator[Tile]:
        """Yields a tile per channel of `layer`: cached ones at once, then the others a
        batch at a time as each batch finishes (in the order asked within each group).

        `should_stop()` returning True ends the generator after the engine's next few
        steps; the unfinished batch is neither yielded nor cached. `progress(fraction)` is
        called as the rendering advances. Asking for more than `max_tiles` tiles, an
        unknown layer or a channel the layer does not have raises before any work.
        """
        channels = self._checked_indices(channels, self.channel_count(layer), f"{layer} channel")
        return self._tiles(layer, channels, lambda i: f"{layer}:{i}", should_stop, progress)

    def class_tiles(self, classes: Iterable[int | str], *,
                    should_stop: StopCallback | None = None,
                    progress: ProgressCallback | None = None) -> Iterator[Tile]:
        """Yields a tile per class (an index into the logits, or a class name), as `tiles`.

        The classifier needs 224 px: the engine shows it each tile upsampled to 224.
        """
        indices = [self.model.class_index(c) if isinstance(c, str) else c for c in classes]
        indices = self._checked_indices(indices, self.model.num_classes, "class")
        return self._tiles(CLASS_LAYER, indices, lambda i: f"{self.class_name(i)} (class {i})",
                           should_stop, progress)

    def class_page(self, query: str = "", page: int = 0, per_page: int = DEFAULT_PER_PAGE, *,
                   should_stop: StopCallback | None = None,
                   progress: ProgressCallback | None = None) -> Iterator[Tile]:
        """Yields the tiles of page `page` (0-based) of the classes matching `query` (see
        `search_classes`; "" is every class), as `tiles`."""
        indices = [index for index, _ in search_classes(self.model, query)]
        per_page = self._checked_per_page(per_page)
        pages = math.ceil(len(indices) / per_page)
        if not 0 <= page < pages:
            raise ValueError(f"{len(indices)} classes match {query!r}: {pages} pages of {per_page} "
                             f"(0–{pages - 1}); there is no page {page}.")
        return self.class_tiles(indices[page * per_page:(page + 1) * per_page],
                                should_stop=should_stop, progress=progress)

    def class_name(self, index: int) -> str:
        labels = self.model.labels
        return labels[index] if 0 <= index < len(labels) and labels[index] else f"class {index}"

    def cached(self, layer: str, index: int) -> Tile | None:
        """The cached tile, or None; computes nothing (a layer of CLASS_LAYER for classes)."""
        path = self.tile_path(layer, index)
        image = self.cache.read(path) if path is not None else None
        if image is None:
            return None
        label = f"{self.class_name(index)} (class {index})" if layer == CLASS_LAYER else f"{layer}:{index}"
        return Tile(layer, int(index), image, label, cached=True, path=path)

    # --- internals

    def _checked_per_page(self, per_page: int) -> int:
        if not 1 <= per_page <= self.max_tiles:
            raise LimitError(f"A page holds 1 to {self.max_tiles} tiles (asked for {per_page}).")
        return int(per_page)

    def _checked_indices(self, indices: Iterable[int], count: int, what: str) -> list[int]:
        indices = [int(i) for i in indices]
        if len(indices) > self.max_tiles:
            raise LimitError(
                f"One request renders at most {self.max_tiles} tiles (asked for {len(indices)}). "
                f"Ask for a page at a time, or precompute a layer with `python -m dream.atlas`.")
        wrong = [i for i in indices if not 0 <= i < count]
        if wrong:
            raise ValueError(f"There is no {what} {wrong[0]}: the valid ones are 0–{count - 1}.")
        return list(dict.fromkeys(indices))  # each once, in the order asked

    def _tiles(self, layer, indices, label_of, should_stop, progress) -> Iterator[Tile]:
        # Validation happened in the caller; from here on it is a generator.
        def generate():
            missing = []
            for index in indices:
                tile = self.cached(layer, index)
                if tile is None:
                    missing.append(index)
                    continue
                with self._stats_lock:
                    self.stats.from_cache += 1
                yield tile
            yield from self._render(layer, missing, label_of, should_stop, progress)

        return generate()

    def _render(self, layer, indices, label_of, should_stop, progress) -> Iterator[Tile]:
        """Renders the missing tiles a batch at a time (here, or by `renderer`), caches
        them and yields them as each batch is done."""
        size = self.settings.batch
        batches = [indices[start:start + size] for start in range(0, len(indices), size)]
        render = self.renderer or self.render_batches
        for batch, images in render(layer, batches, should_stop, progress):
            with self._stats_lock:
                self.stats.rendered += len(batch)
            for index, image in zip(batch, images):
                path = self.tile_path(layer, index)
                if path is not None:
                    self.cache.write(path, image)
                    _write_settings_note(path.parent, self.settings, layer, self.model)
                yield Tile(layer, index, image, label_of(index), cached=False, path=path)

    def render_batches(self, layer: str, batches: Sequence[Sequence[int]],
                       should_stop: StopCallback | None = None,
                       progress: ProgressCallback | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
        """(batch, its uint8 tiles) for each batch in turn, rendered in this process; stops
        (yielding nothing more) once `should_stop()` is true. `renderer`, when set, is
        called the same way and may render the batches elsewhere, in any order."""
        total_steps = max(1, sum(len(batch) for batch in batches) * self.settings.steps)
        done_steps = 0
        for batch in batches:
            if should_stop is not None and should_stop():
                return

            def report(fraction, batch_size=len(batch), before=done_steps):
                if progress is not None:
                    progress(min(1.0, (before + fraction * batch_size * self.settings.steps)
                                 / total_steps))
                return bool(should_stop and should_stop())

            images = self.render_batch(layer, batch, report)
            if images is None:
                return
            done_steps += len(batch) * self.settings.steps
            yield list(batch), images

    def render_batch(self, layer: str, batch: Sequence[int],
                     report: Callable[[float], bool | None] | None = None) -> np.ndarray | None:
        """The uint8 tiles [len(batch), side, side, 3] of `batch`: channels of `layer`, or
        classes for CLASS_LAYER. `report(fraction done)` returning True stops: None."""
        if layer == CLASS_LAYER:
            objective = objectives.class_logits(list(batch))
        else:
            objective = objectives.channels(self.rendered_tensor(layer), list(batch))
        return self.optimise(objective, start_images(batch, self.settings), report)

    def rendered_tensor(self, layer: str) -> str:
        """The tensor a channel of `layer` is rendered on (its pre-ReLU one by default)."""
        return (self.model.pre_relu_of(layer) if self.settings.pre_relu else None) or layer

    def optimise(self, objective: objectives.Objective, images: np.ndarray,
                 report: Callable[[float], bool | None] | None = None) -> np.ndarray | None:
        """`images` [B, side, side, 3] optimised for `objective` the way tiles are (the
        settings' steps, sigmoid and warm-up): uint8, or None when `report` stopped it."""
        settings = self.settings
        limits = Limits(max_steps=max(Limits().max_steps, settings.steps))
        started = time.perf_counter()

        def on_progress(update):
            return report(update.step / settings.steps) if report is not None else False

        tracker = ProgressTracker(settings.steps, on_progress, render=lambda image: image)
        state = OptimizerState()  # Adam's moments carry from the warm-up into the rest
        for first_step, schedule in settings.phases():
            images = self.engine.run(objective, images, schedule, tracker=tracker, steps_per_call=8,
                                     step_offset=first_step, limits=limits, optimizer_state=state)
            if tracker.stopped:
                break
        if tracker.stopped:
            return None
        with self._stats_lock:
            self.stats.render_seconds += time.perf_counter() - started
        return np.stack([to_uint8(image) for image in images])


def start_images(indices: Sequence[int], settings: AtlasSettings) -> np.ndarray:
    """[B, size, size, 3] starting noise, each tile's own (seeded by its index), so a tile
    is the same on any page and in any batch."""
    size = settings.size
    return np.concatenate([
        param_module.random_image((1, size, size, 3), seed=settings.seed * 1_000_003 + int(index),
                                  name="fourier", sd=settings.noise)
        for index in indices])


def _safe(name: str) -> str:
    """A layer name as a folder name (they are already [a-z0-9_], this is a guard)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _write_settings_note(folder: Path, settings: AtlasSettings, layer: str, model) -> None:
    """settings.json beside the tiles, so a person can tell what a folder holds."""
    note = folder / "settings.json"
    if note.exists() or not folder.is_dir():
        return
    data = {"layer": layer, "model_sha256": model_hash(model), "model_file": model.source,
            "render_version": RENDER_VERSION, **asdict(settings)}
    data.pop("batch")
    temporary = note.with_name(f".settings.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=1))
        os.replace(temporary, note)
    except OSError:
        _remove(temporary)  # a read-only cache: TileCache.write said so


_ATLASES_LOCK = threading.Lock()


def atlas_for(model: InceptionModel, settings: AtlasSettings = DEFAULT_SETTINGS) -> Atlas:
    """The shared atlas of `model` with these settings (the default cache folder)."""
    # Kept on the model, as `engine_for` keeps the engine: a dictionary keyed by models
    # would keep every model alive, since an atlas refers to its model.
    with _ATLASES_LOCK:
        per_model = vars(model).setdefault("_atlases", {})
        if settings not in per_model:
            per_model[settings] = Atlas(model, settings)
        return per_model[settings]


# ----------------------------------------------------------------------------- classes


def search_classes(model: InceptionModel, query: str = "", limit: int | None = None) -> list[tuple[int, str]]:
    """Classes whose name contains `query` (case-insensitive), as (logit index, name),
    names that start with it first; an empty query lists them all in index order.

    No match is a ValueError that suggests close names ("jelyfish" → "jellyfish").
    """
    query = (query or "").strip().lower()
    named = [(index, label) for index, label in enumerate(model.labels)
             if index > 0 and label and index < model.num_classes]
    if not query:
        found = named
    else:
        found = sorted((item for item in named if query in item[1].lower()),
                       key=lambda item: (not item[1].lower().startswith(query), item[0]))
    if not found:
        close = difflib.get_close_matches(query, [label.lower() for _, label in named], n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"No class name contains {query!r}.{hint}")
    return found[:limit] if limit else found


# The parts kept in modules of their own, re-exported: `dream.atlas.rank_channels` & co.
from dream.atlas.ranking import (ChannelRanking, RankedChannel, channel_means, colorize,  # noqa: E402
                                 heat_overlay, rank_channels)
from dream.atlas.cli import contact_sheet, main, parse_indices, precompute  # noqa: E402


__all__ = [
    "Atlas", "AtlasSettings", "AtlasStats", "ChannelRanking", "CLASS_LAYER", "DEFAULT_PER_PAGE",
    "DEFAULT_SETTINGS", "MAX_TILES_PER_REQUEST", "RANK_MAX_SIDE", "RANK_MAX_TOP", "RankedChannel", "Tile", "TileCache", "atlas_for", "channel_means",
    "colorize", "contact_sheet", "default_cache_dir", "heat_overlay", "model_hash",
    "main", "parse_indices", "precompute", "rank_channels", "search_classes", "start_images", "tile_cache",
]

