"""The atlas from the shell: precompute a layer's (or the classes') tiles into the cache, and
lay tiles out as a contact sheet (`python -m dream.atlas --layer mixed4c`)."""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from typing import Sequence

import numpy as np
from PIL import Image

from dream.atlas import (CLASS_LAYER, DEFAULT_SETTINGS, Atlas, AtlasSettings, Tile, default_cache_dir,
                         model_hash)


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


