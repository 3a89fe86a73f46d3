"""A clip dreamed from the shell, in pieces on a pool's workers when there is one.

    python -m dream video CLIP.mp4 --out DREAMED.mp4
    python -m dream video CLIP.mp4 --out DREAMED.mp4 --workers 4 --set layer=mixed4b --set steps=4
    python -m dream video CLIP.mp4 --out DREAMED.mp4 --max-duration 120

The video endpoint's parameters (`--set name=value`, the API's names) and checks, with the
clip's length cap raised by `--max-duration` (the server's is 20 s). Without a pool the
clip is dreamed frame after frame in this process; with one (`--workers N`, or
DREAM_WORKERS / DREAM_RAY_ADDRESS) it is cut into pieces of `--piece-frames`, dreamed on
the workers at once, each starting `--lead-in` frames early and fading into the piece
before (`dream.pool.video_pieces`). Writes the MP4 with the clip's sound, and beside it
the settings as JSON (the flicker at the pieces' joins and inside them included). The
decoded frames are held in memory: about 250 kB a frame at 384×216, 90 MB a minute at
6 fps (lower `--set fps=` or `--set max_side=` for long clips).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from dream.endpoints import (ENDPOINTS, SERVER_LIMITS, SERVER_VIDEO_LIMITS, ParameterError,
                                 dream_target, video_schedule)
    from dream.pool.jobs import LocalRunner
    from dream.pool.video_pieces import LEAD_IN, PIECE_FRAMES, pieces_on
    from dream.runner import request_values, runner_for
    from dream.video import dream_video

    parser = argparse.ArgumentParser(prog="python -m dream video", description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the dreamed clip (.mp4)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of /dream_video by its API name (repeatable)")
    parser.add_argument("--workers", type=int, default=None, help="dream on N workers (Ray)")
    parser.add_argument("--max-duration", type=float, default=SERVER_VIDEO_LIMITS.max_duration_s,
                        help="the longest clip accepted, in seconds")
    parser.add_argument("--piece-frames", type=int, default=PIECE_FRAMES)
    parser.add_argument("--lead-in", type=int, default=LEAD_IN)
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    endpoint = ENDPOINTS["dream_video"]
    try:
        values = endpoint.check({**request_values(endpoint, None, args.set), "video": str(args.clip)})
    except ParameterError as error:
        parser.error(str(error))
    if not args.clip.is_file():
        parser.error(f"No clip at {args.clip}.")
    # A longer clip than the server takes: the frame and work caps grow with it.
    scale = max(1.0, args.max_duration / SERVER_VIDEO_LIMITS.max_duration_s)
    limits = replace(SERVER_VIDEO_LIMITS, max_duration_s=args.max_duration,
                     max_frames=int(SERVER_VIDEO_LIMITS.max_frames * scale),
                     max_megapixel_steps=SERVER_VIDEO_LIMITS.max_megapixel_steps * scale,
                     max_total_steps=int(SERVER_VIDEO_LIMITS.max_total_steps * scale),
                     max_decode_megapixels=SERVER_VIDEO_LIMITS.max_decode_megapixels * scale)
    with runner_for(args.workers, args.model) as (model, runner):
        runs = None if isinstance(runner, LocalRunner) else pieces_on(
            runner, values, args.piece_frames, args.lead_in)
        bar = tqdm(total=1, unit="step", file=sys.stderr, desc=f"dreaming on {runner.describe()}")

        def on_progress(progress) -> None:
            if hasattr(progress, "total"):
                bar.total = progress.total
                bar.n = progress.step
                bar.refresh()

        result = dream_video(model, str(args.clip), dream_target(model, values), video_schedule(values),
                             blend=values["blend"], flow=values["flow"], fps=values["fps"] or None,
                             max_side=values["max_side"], on_progress=on_progress,
                             limits=SERVER_LIMITS, video_limits=limits, runs=runs)
        bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.save_mp4(args.out)
    record = {"clip": args.clip.name, "settings": result.settings, "notes": result.notes,
              "inputs": {name: values[name] for name in endpoint.params}}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str))
    flicker = result.settings["flicker"]["motion_compensated_ratio"]
    print(f"{len(result.frames)} frames written to {args.out} (flicker {flicker:.2f}"
          + (f"; at the joins {result.settings['flicker_at_joins']['motion_compensated_ratio']:.2f}"
             if "flicker_at_joins" in result.settings else "") + ")")
    return 0
