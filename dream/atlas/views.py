"""More views of one channel, as the Feature Visualization article shows them.

Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill 2017), and Lucid's
notebooks on this very network:

- **positive**: what most excites the channel (the atlas tile itself);
- **negative**: what most *inhibits* it: the same render with the objective's sign
  flipped (the article's "Negative" column, Lucid's `-channel(...)`);
- **diverse**: four images of the channel pushed apart by Lucid's `diversity` objective
  (the article's "Diversity" section: `channel(l, n) - 1e2 * diversity(l)` in Lucid's
  sign convention, `+ 1e2 * diversity` in ours, `dream.objectives_lucid.diversity`);
- **interpolation**: a batch whose elements go from this channel to another one
  (Lucid's `channel_interpolate`) held together by `alignment`, played forward and back
  as a looping MP4 (the article's "Interpolate" figures).

Every view is rendered like a tile (`Atlas.optimise`: the atlas's steps, sigmoid and
redirected-ReLU warm-up) and cached beside the tiles, in a `views` folder of the same
settings folder, so a changed model or setting starts afresh like the tiles do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dream import param as param_module
from dream.animation import write_mp4
from dream.atlas import CLASS_LAYER, Atlas, Tile
from dream.objectives import channel as channel_objective
from dream.objectives import channels as channels_objective
from dream.objectives_lucid import alignment, channel_interpolate, diversity

DIVERSE_COUNT = 4
# Lucid's diversity notebook weighs the Gram-cosine penalty by 1e2 against a channel mean.
DIVERSITY_WEIGHT = 1e2
INTERPOLATION_FRAMES = 8
# Lucid's interpolation notebook: `channel_interpolate(...) - 1e-1 * alignment(...)` with
# its alignment a positive penalty; ours is negative, so it is added.
ALIGNMENT_WEIGHT = 1e-1
# Distinct seeds per view, so a view never starts from its tile's own noise.
_SEED_OFFSETS = {"negative": 1_000, "diverse": 2_000, "interpolation": 3_000}

Report = Callable[[float], "bool | None"]


@dataclass(frozen=True)
class ChannelViews:
    layer: str
    channel: int
    positive: np.ndarray          # uint8 [side, side, 3]: the tile
    negative: np.ndarray
    diverse: list[np.ndarray]     # DIVERSE_COUNT images
    cached: bool                  # every part came from the disk cache


def _start(atlas: Atlas, channel: int, view: str, count: int) -> np.ndarray:
    """[count, side, side, 3] starting noise of one view of `channel` (its own seeds)."""
    settings = atlas.settings
    seed = settings.seed * 1_000_003 + int(channel) * 10_007 + _SEED_OFFSETS[view]
    return np.concatenate([
        param_module.random_image((1, settings.size, settings.size, 3), seed=seed + k,
                                  name="fourier", sd=settings.noise)
        for k in range(count)])


def _view_path(atlas: Atlas, layer: str, name: str) -> Path | None:
    tile = atlas.tile_path(layer, 0)
    return None if tile is None else tile.parent / "views" / f"{name}.png"


def _cached_or_render(atlas: Atlas, layer: str, name: str, count: int,
                      render: Callable[[], np.ndarray | None]) -> tuple[np.ndarray | None, bool]:
    """[count, side, side, 3] of a view: from the cache (one PNG strip) or rendered and
    stored; (None, False) when the render was stopped."""
    path = _view_path(atlas, layer, name)
    strip = atlas.cache.read(path) if path is not None else None
    if strip is not None and strip.shape[1] == count * strip.shape[0]:
        return np.stack(np.split(strip, count, axis=1)), True
    images = render()
    if images is None:
        return None, False
    if path is not None:
        atlas.cache.write(path, np.concatenate(list(images), axis=1))
    return images, False


def _checked(atlas: Atlas, layer: str, channel: int) -> int:
    if layer == CLASS_LAYER:
        raise ValueError("Channel views are for a layer's channels, not for classes.")
    count = atlas.channel_count(layer)
    if not 0 <= int(channel) < count:
        raise ValueError(f"channel must be between 0 and {count - 1} for {layer} (got {channel}).")
    return int(channel)


def _negative(atlas, layer, channel, report) -> tuple[np.ndarray | None, bool]:
    objective = -1.0 * channel_objective(atlas.rendered_tensor(layer), channel)
    images, cached = _cached_or_render(atlas, layer, f"{channel}-negative", 1, lambda: atlas.optimise(
        objective, _start(atlas, channel, "negative", 1), report))
    return (None if images is None else images[0]), cached


def _diverse(atlas, layer, channel, count, report) -> tuple[list[np.ndarray] | None, bool]:
    objective = (channels_objective(atlas.rendered_tensor(layer), [channel] * count)
                 + DIVERSITY_WEIGHT * diversity(layer))
    images, cached = _cached_or_render(atlas, layer, f"{channel}-diverse-{count}", count, lambda: atlas.optimise(
        objective, _start(atlas, channel, "diverse", count), report))
    return (None if images is None else list(images)), cached


def negative(atlas: Atlas, layer: str, channel: int, report: Report | None = None) -> np.ndarray | None:
    """What most inhibits `channel` of `layer`: uint8 [side, side, 3], or None if stopped."""
    return _negative(atlas, layer, _checked(atlas, layer, channel), report)[0]


def diverse(atlas: Atlas, layer: str, channel: int, count: int = DIVERSE_COUNT,
            report: Report | None = None) -> list[np.ndarray] | None:
    """`count` images of `channel` pushed apart by `diversity` at `layer`, or None."""
    channel = _checked(atlas, layer, channel)
    if not 2 <= count <= 8:
        raise ValueError(f"count must be between 2 and 8 (got {count}).")
    return _diverse(atlas, layer, channel, count, report)[0]


def interpolation(atlas: Atlas, layer: str, channel: int, other: int,
                  frames: int = INTERPOLATION_FRAMES, report: Report | None = None) -> list[np.ndarray] | None:
    """`frames` images going from `channel` to `other` (both of `layer`), or None."""
    channel, other = _checked(atlas, layer, channel), _checked(atlas, layer, other)
    if not 3 <= frames <= 16:
        raise ValueError(f"frames must be between 3 and 16 (got {frames}).")
    tensor = atlas.rendered_tensor(layer)
    objective = (channel_interpolate(tensor, channel, tensor, other)
                 + ALIGNMENT_WEIGHT * alignment(layer))
    # Every frame starts from the same noise: the alignment term then only has to keep
    # them together, as the article's shared parameters do.
    start = np.repeat(_start(atlas, channel * 100_003 + other, "interpolation", 1), frames, axis=0)
    images, _ = _cached_or_render(atlas, layer, f"{channel}-to-{other}-{frames}", frames,
                                  lambda: atlas.optimise(objective, start, report))
    return None if images is None else list(images)


def channel_views(atlas: Atlas, layer: str, channel: int,
                  report: Report | None = None) -> ChannelViews | None:
    """The tile, its negative and its diverse images (rendered or cached), or None when
    `report` (fraction done → True to stop) stopped it."""
    channel = _checked(atlas, layer, channel)
    total = 2 + DIVERSE_COUNT  # images to render: progress is shared out by them
    reached = [0.0]

    def share(before: int, count: int) -> Report:
        def inner(fraction: float):
            reached[0] = (before + count * fraction) / total
            return report(reached[0]) if report is not None else False
        return inner

    stop = (lambda: bool(report(reached[0]))) if report is not None else None
    tiles: list[Tile] = list(atlas.tiles(layer, [channel], should_stop=stop, progress=share(0, 1)))
    if not tiles:
        return None
    inhibited, negative_cached = _negative(atlas, layer, channel, share(1, 1))
    if inhibited is None:
        return None
    varied, diverse_cached = _diverse(atlas, layer, channel, DIVERSE_COUNT, share(2, DIVERSE_COUNT))
    if varied is None:
        return None
    return ChannelViews(layer, channel, tiles[0].image, inhibited, varied,
                        cached=tiles[0].cached and negative_cached and diverse_cached)


def write_loop(frames: list[np.ndarray], path: str | Path, frame_duration_ms: int = 160) -> Path:
    """The interpolation as an MP4 that plays forward then back, so it loops seamlessly."""
    return write_mp4(frames, path, frame_duration_ms=frame_duration_ms, pingpong=True, max_side=None)


__all__ = ["ChannelViews", "channel_views", "diverse", "interpolation", "negative", "write_loop",
           "DIVERSE_COUNT", "INTERPOLATION_FRAMES"]
