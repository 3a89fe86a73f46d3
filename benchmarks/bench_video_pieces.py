"""Do a clip's pieces join without a jump? Flicker at the joins against inside the pieces.

    python benchmarks/bench_video_pieces.py             # full-size generated model
    python benchmarks/bench_video_pieces.py --width 0.25

Dreams one clip (assets/pan.mp4 looped to `--frames` frames, or a generated pan) whole,
then cut into pieces of `--piece` frames with 0, 2, 4 and 8 frames of lead-in (each piece
dreamed on its own, as a worker of the pool dreams it: `dream.pool.video_pieces`, here run
one after another in this process). Prints, for each, the motion-compensated flicker ratio
(`dream.video.FlickerMeter`: the output's frame-to-frame change beyond the motion, over
the source's) at the joins and inside the pieces, and the work it took.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


import machine  # noqa: E402


def looped_clip(path: Path, frames: int) -> Path:
    """assets/pan.mp4 played forward and back until it has `frames` frames."""
    import av

    with av.open(str(ROOT / "assets" / "pan.mp4")) as source:
        pictures = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
    cycle = pictures + pictures[-2:0:-1]
    chosen = [cycle[k % len(cycle)] for k in range(frames)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.height, stream.width = chosen[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for picture in chosen:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--piece", type=int, default=8)
    parser.add_argument("--lead-ins", type=int, nargs="*", default=[0, 2, 4, 8])
    args = parser.parse_args()

    import dream
    from dream import synthetic_model
    from dream.endpoints import ENDPOINTS, SERVER_LIMITS, SERVER_VIDEO_LIMITS, dream_target, video_schedule
    from dream.pool.jobs import LocalRunner
    from dream.pool.video_pieces import pieces_on
    from dream.video import dream_video

    print(machine.describe(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="dream-pieces-"))
    model = dream.load_model(synthetic_model.write_model_dir(work / "model", width=args.width, seed=0))
    clip = looped_clip(work / "clip.mp4", args.frames)
    endpoint = ENDPOINTS["dream_video"]
    values = endpoint.check({**endpoint.defaults(), "video": str(clip)})
    objective, schedule = dream_target(model, values), video_schedule(values)
    runner = LocalRunner({"inception": model, "style": None})
    options = dict(blend=values["blend"], flow=values["flow"], max_side=values["max_side"],
                   limits=SERVER_LIMITS, video_limits=SERVER_VIDEO_LIMITS)
    print(f"clip: {args.frames} frames; pieces of {args.piece}; blend {values['blend']}, "
          f"flow {values['flow']}; model width {args.width}\n")
    print("how | flicker at joins | inside pieces | whole clip | seconds")
    started = time.monotonic()
    whole = dream_video(model, str(clip), objective, schedule, **options)
    print(f"whole clip, no pieces | – | – | "
          f"{whole.settings['flicker']['motion_compensated_ratio']:.3f} | {time.monotonic() - started:.0f}",
          flush=True)
    for lead_in in args.lead_ins:
        started = time.monotonic()
        result = dream_video(model, str(clip), objective, schedule,
                             runs=pieces_on(runner, values, args.piece, lead_in), **options)
        at, inside = result.settings["flicker_at_joins"], result.settings["flicker_inside_pieces"]
        print(f"pieces, lead-in {lead_in} | {at['motion_compensated_ratio']:.3f} | "
              f"{inside['motion_compensated_ratio']:.3f} | "
              f"{result.settings['flicker']['motion_compensated_ratio']:.3f} | "
              f"{time.monotonic() - started:.0f}", flush=True)
        assert len(result.frames) == len(whole.frames)
    print(machine.describe())


if __name__ == "__main__":
    main()
