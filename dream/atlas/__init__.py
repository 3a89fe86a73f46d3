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

import argparse
import difflib
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from dream import objectives
from dream import param as param_module
from dream.atlas.redirected_relu import REDIRECTED_RELU
from dream.engine import OptimizerState, ProgressTracker, Schedule, engine_for, to_uint8
from dream.images import load_rgb, fit_to_limits
from dream.limits import LimitError, Limits
from dream.model import CLASS_LOGITS, InceptionModel, _cache_root

# Bump when the rendering changes in a way `AtlasSettings` does not capture (a new
# transform, a new start image): every cached tile is then stale. 2: the sigmoid and the
# redirected-ReLU warm-up (also new settings) and 384 steps.
RENDER_VERSION = 2
# The most tiles one request may ask for (a page); the command line precomputes more.
MAX_TILES_PER_REQUEST = 48
DEFAULT_PER_PAGE = 24
# The disk cache's bound: least recently used tiles are deleted beyond it. A 128 px tile
# is ~35 KB, so 512 MB holds ~15 000 tiles (every block layer, branch and class).
DEFAULT_CACHE_BYTES = int(float(os.environ.get("DREAM_ATLAS_CACHE_MB", "512")) * 2 ** 20)
# After an eviction the cache is at most this share of its bound, so eviction (a walk of
# the whole cache) happens once per many writes, not on every write.
EVICT_TO = 0.9
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


# ----------------------------------------------------------------------------- model hash


_HASHES: "weakref.WeakKeyDictionary[InceptionModel, str]" = weakref.WeakKeyDictionary()
_HASH_LOCK = threading.Lock()


def model_hash(model: InceptionModel) -> str:
    """SHA-256 of the model's graph file (hex), computed once per loaded model.

    `load_model` loads a file anew when its modification time changes, so a replaced file
    gives a new model and a new hash. A model built in memory (no file) hashes its graph.
    """
    with _HASH_LOCK:
        if model in _HASHES:
            return _HASHES[model]
    digest = hashlib.sha256()
    source = Path(model.source) if model.source else None
    if source is not None and source.is_file():
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        digest.update(model.graph_def.SerializeToString(deterministic=True))
    with _HASH_LOCK:
        _HASHES[model] = digest.hexdigest()
        return _HASHES[model]


# ----------------------------------------------------------------------------- disk cache


class TileCache:
    """PNG tiles under `root`, bounded to `max_bytes` (least recently used go first).

    Reads touch a file's modification time, so the eviction order is the order of last
    use. Writes go to a temporary file that is then renamed, so a reader (another user,
    another process) never sees half a PNG. The running total starts from one walk of the
    folder and is corrected by the walk each eviction does, so several processes sharing
    the folder keep it within the bound too (give or take what they write meanwhile).
    """

    def __init__(self, root: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("The atlas cache needs a positive size bound.")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._total: int | None = None
        self._lock = threading.Lock()
        self._warned = False

    def read(self, path: Path) -> np.ndarray | None:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, SyntaxError):
            _remove(path)  # a damaged tile is rendered again
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return array

    def write(self, path: Path, image: np.ndarray) -> None:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as error:
            # A read-only or full disk: the tile is still served, just not kept.
            _remove(temporary)
            if not self._warned:
                self._warned = True
                logging.getLogger(__name__).warning("Atlas tiles cannot be cached in %s (%s).",
                                                    self.root, error)
            return
        with self._lock:
            total = self._walk_total() if self._total is None else self._total + len(data)
            self._total = total
            if total > self.max_bytes:
                self._total = self._evict()

    def size(self) -> int:
        """Bytes of tiles in the cache now (a walk of the folder)."""
        return sum(size for _, _, size in self._files())

    def _files(self) -> list[tuple[float, Path, int]]:
        found = []
        if not self.root.is_dir():
            return found
        for folder, _, names in os.walk(self.root):
            for name in names:
                if not name.endswith(".png"):
                    continue
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime, path, stat.st_size))
        return found

    def _walk_total(self) -> int:
        return sum(size for _, _, size in self._files())

    def _evict(self) -> int:
        files = sorted(self._files(), key=lambda item: item[0])
        total = sum(size for _, _, size in files)
        goal = self.max_bytes * EVICT_TO
        for _, path, size in files:
            if total <= goal:
                break
            _remove(path)
            total -= size
        return total


_CACHES: dict[tuple[Path, int], TileCache] = {}
_CACHES_LOCK = threading.Lock()


def tile_cache(root: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> TileCache:
    """The process's one `TileCache` for `root`, so every atlas writing there (any model,
    any settings) adds to one running total."""
    key = (Path(root).resolve(), int(max_bytes))
    with _CACHES_LOCK:
        if key not in _CACHES:
            _CACHES[key] = TileCache(key[0], key[1])
        return _CACHES[key]


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def default_cache_dir() -> Path:
    """`<cache root>/atlas`, beside the downloaded model (`DREAM_CACHE_DIR` moves both)."""
    return _cache_root() / "atlas"


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


# ----------------------------------------------------------------------------- my photo


@dataclass(frozen=True)
class RankedChannel:
    channel: int
    rank: int                 # 0 for the channel that fires most
    mean_activation: float    # mean over the photo of the post-ReLU activation
    heat: np.ndarray          # float32 [H, W] in 0..1: where it fires (÷ its own maximum)
    overlay: np.ndarray       # uint8 [H, W, 3]: the heat map coloured over the photo


@dataclass(frozen=True)
class ChannelRanking:
    layer: str
    image: np.ndarray         # the photo as analysed, uint8 [H, W, 3] (≤ max_side)
    channels: list[RankedChannel]
    means: np.ndarray         # float32 [channels]: every channel's mean, by channel index
    notes: list[str] = field(default_factory=list)


def channel_means(model: InceptionModel, images: np.ndarray, layer: str,
                  precision: str = "float32") -> np.ndarray:
    """[N, channels] mean post-ReLU activation of each channel of `layer` on each image
    ([N, h, w, 3] pixels, 0..255)."""
    activations = _activations(model, np.asarray(images, np.float32), layer, precision)
    return activations.mean(axis=(1, 2))


def _activations(model, images, layer, precision) -> np.ndarray:
    model.layer(layer)  # a clear error for an unknown layer
    features = model.features([layer], precision)
    # ReLU: a pre-ReLU tap ranks by the part the network passes on (what "fires").
    return np.maximum(features(tf.constant(images))[layer].numpy(), 0.0)


def rank_channels(model: InceptionModel, image, layer: str, top: int = 12, *,
                  max_side: int = RANK_MAX_SIDE, precision: str = "float32") -> ChannelRanking:
    """The channels of `layer` that fire most on `image`, strongest first.

    `image`: a path, bytes, PIL image or array (as every technique takes); it is fitted
    into `max_side` (a note says so), and the heat maps have that analysed size.
    Channels are ranked by their mean **post-ReLU** activation over the photo: what the
    layer passes on, so a channel that fires strongly in one place is not pulled down by
    being very negative elsewhere (a pre-ReLU mean would be). Each heat map is the
    channel's post-ReLU map, bilinearly upsampled to the photo and divided by its own
    maximum; `overlay` colours it over the photo (`heat_overlay`).
    """
    channels = model.layer(layer).channels
    if not 1 <= top <= min(channels, RANK_MAX_TOP):
        raise LimitError(f"top must be between 1 and {min(channels, RANK_MAX_TOP)} for {layer} "
                         f"(got {top}); every channel's mean is in the ranking's `means`.")
    photo, notes = load_rgb(image)
    photo, fit_notes = fit_to_limits(photo, Limits(max_side=max(max_side, 16)), max_side)
    activations = _activations(model, photo[None].astype(np.float32), layer, precision)[0]
    means = activations.mean(axis=(0, 1))
    order = np.argsort(-means, kind="stable")[:top]
    height, width = photo.shape[:2]
    maps = tf.image.resize(activations[..., order][None], (height, width), method="bilinear")[0].numpy()
    ranked = []
    for rank, channel in enumerate(order):
        heat = maps[..., rank]
        peak = heat.max()
        heat = (heat / peak if peak > 0 else np.zeros_like(heat)).astype(np.float32)
        ranked.append(RankedChannel(int(channel), rank, float(means[channel]), heat,
                                    heat_overlay(photo, heat)))
    return ChannelRanking(layer, photo, ranked, means.astype(np.float32), notes + fit_notes)


# Matplotlib's "inferno" at 9 stops (black → purple → orange → pale yellow), interpolated:
# perceptually even, and readable by colour-blind viewers.
_INFERNO = np.float32([
    [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
    [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]])


def colorize(heat: np.ndarray) -> np.ndarray:
    """[H, W] values in 0..1 → uint8 [H, W, 3] through the inferno colour map."""
    position = np.clip(np.asarray(heat, np.float32), 0.0, 1.0) * (len(_INFERNO) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_INFERNO) - 1)
    t = (position - low)[..., None]
    return to_uint8(_INFERNO[low] * (1 - t) + _INFERNO[high] * t)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The photo (uint8 [H, W, 3]) with a heat map ([H, W], 0..1) coloured over it: where
    the channel is silent the photo shows dimmed, where it fires the colour covers it."""
    if image.shape[:2] != heat.shape:
        raise ValueError(f"The heat map is {heat.shape}, the image {image.shape[:2]}.")
    heat = np.clip(heat, 0.0, 1.0)
    weight = alpha * heat[..., None]
    photo = image.astype(np.float32) * (0.45 + 0.55 * heat[..., None])
    return to_uint8(photo * (1 - weight) + colorize(heat).astype(np.float32) * weight)


# ----------------------------------------------------------------------------- a picture


def contact_sheet(tiles: Sequence[Tile], columns: int = 6, scale: int = 1,
                  title: str = "") -> np.ndarray:
    """A labelled grid of tiles (uint8 RGB), e.g. for the README."""
    from PIL import ImageDraw, ImageFont

    if not tiles:
        raise ValueError("No tiles to lay out.")
    side = tiles[0].image.shape[0] * scale
    label_height, pad = 16, 6
    rows = math.ceil(len(tiles) / columns)
    top = 24 if title else 0
    sheet = Image.new("RGB", (pad + columns * (side + pad), top + pad + rows * (side + label_height + pad)),
                      (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((pad, 6), title, fill=(20, 20, 20), font=font)
    for k, tile in enumerate(tiles):
        x = pad + (k % columns) * (side + pad)
        y = top + pad + (k // columns) * (side + label_height + pad)
        picture = Image.fromarray(tile.image)
        if scale != 1:
            picture = picture.resize((side, side), Image.Resampling.NEAREST)
        sheet.paste(picture, (x, y))
        draw.text((x + 2, y + side + 2), tile.label[:24], fill=(20, 20, 20), font=font)
    return np.asarray(sheet)


# ----------------------------------------------------------------------------- command line


def parse_indices(text: str, count: int) -> list[int]:
    """"0-63,100,200-201" → [0, …, 63, 100, 200, 201]; "" or "all" → every index."""
    if not text or text.strip().lower() == "all":
        return list(range(count))
    out = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise ValueError(f"Cannot read {part!r}: use e.g. 0-63,100.")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first or last >= count:
            raise ValueError(f"{part!r} is outside 0–{count - 1}.")
        out.extend(range(first, last + 1))
    return list(dict.fromkeys(out))


def precompute(atlas: Atlas, layer: str | None, indices: Sequence[int], *,
               classes: bool = False, out=None) -> tuple[int, int]:
    """Renders every tile not yet cached, a request-sized chunk at a time, printing a line
    per finished batch; returns (rendered, already cached)."""
    out = out or sys.stdout
    started = time.perf_counter()
    before_rendered, before_cached = atlas.stats.rendered, atlas.stats.from_cache
    what = "classes" if classes else layer
    last_key = 0
    for start in range(0, len(indices), atlas.max_tiles):
        part = indices[start:start + atlas.max_tiles]
        generator = atlas.class_tiles(part) if classes else atlas.tiles(layer, part)
        for _ in generator:
            rendered = atlas.stats.rendered - before_rendered
            cached = atlas.stats.from_cache - before_cached
            done = rendered + cached
            key = rendered if done < len(indices) else ("end", rendered)
            if key == last_key:
                continue  # one line per rendered batch and one at the end, not per tile
            last_key = key
            elapsed = time.perf_counter() - started
            left = elapsed / rendered * (len(indices) - done) if rendered else 0.0
            print(f"{what}: {done}/{len(indices)} tiles ({rendered} rendered, {cached} cached), "
                  f"{elapsed:.0f} s, ~{left:.0f} s left", file=out, flush=True)
    return atlas.stats.rendered - before_rendered, atlas.stats.from_cache - before_cached


def main(argv: Sequence[str] | None = None) -> int:
    from dream.model import load_model

    parser = argparse.ArgumentParser(
        prog="python -m dream.atlas",
        description="Precompute atlas tiles into the shared disk cache (e.g. to ship a warm "
                    "cache with a Space).")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--layer", help="a layer, e.g. mixed4c (branches and _pre_relu taps too)")
    target.add_argument("--classes", action="store_true", help="class tiles instead of a layer")
    parser.add_argument("--channels", default="all",
                        help="channels (or classes) to render, e.g. 0-63,100 (default: all)")
    parser.add_argument("--model", help="the model folder or zip (default: DREAM_MODEL_DIR, the cache)")
    parser.add_argument("--cache-dir", help=f"default: {default_cache_dir()}")
    parser.add_argument("--steps", type=int, default=DEFAULT_SETTINGS.steps,
                        help="steps per tile; not the app's default means another cache folder")
    parser.add_argument("--batch", type=int, default=DEFAULT_SETTINGS.batch)
    args = parser.parse_args(argv)

    try:
        model = load_model(args.model, precision="float32")
        settings = AtlasSettings(steps=args.steps, batch=args.batch).validated()
        atlas = Atlas(model, settings, cache_dir=args.cache_dir)
        count = model.num_classes if args.classes else atlas.channel_count(args.layer)
        indices = parse_indices(args.channels, count)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = atlas.tile_path(CLASS_LAYER if args.classes else args.layer, 0).parent
    print(f"model {model.source} (sha256 {model_hash(model)[:16]}…), {len(indices)} tiles → {folder}")
    rendered, cached = precompute(atlas, args.layer, indices, classes=args.classes)
    print(f"done: {rendered} rendered, {cached} were cached; cache now {atlas.cache.size() / 2**20:.1f} MB")
    return 0


__all__ = [
    "Atlas", "AtlasSettings", "AtlasStats", "ChannelRanking", "CLASS_LAYER", "DEFAULT_PER_PAGE",
    "DEFAULT_SETTINGS", "MAX_TILES_PER_REQUEST", "RANK_MAX_SIDE", "RANK_MAX_TOP", "RankedChannel", "Tile", "TileCache", "atlas_for", "channel_means",
    "colorize", "contact_sheet", "default_cache_dir", "heat_overlay", "model_hash",
    "precompute", "rank_channels", "search_classes", "start_images", "tile_cache",
]

