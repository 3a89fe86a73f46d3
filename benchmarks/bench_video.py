"""Video: MP4 encoding time against a request, flicker with and without blending and flow,
and seconds per dreamed video frame.

    python benchmarks/bench_video.py            # 24-frame clip (~3 minutes on 2 cores)
    python benchmarks/bench_video.py --quick    # 12 frames at 384 px
    python benchmarks/bench_video.py --only encoding

Uses the width-1.0 generated graph (`python -m dream.synthetic_model FOLDER --width 1.0`,
made on first use in $BENCH_MODEL_DIR, default /tmp/dream-bench-width1): random weights
with the real inception5h's shapes, so a step costs what it costs on the real model.

1. **Encoding**: one Deep Dream request at the app's defaults (512 px, its tab's frames
   and schedule), after a warm-up request, then the GIF and the MP4 of its result; the
   MP4's time as a share of the request's.
2. **Video**: a generated 12 fps clip (a slow pan and zoom over `assets/landscape.jpg`
   with `assets/cat.jpg` moving the other way) dreamed at `--side` px three ways:
   frame by frame (blend 0), blended (0.5), blended along the optical flow (0.5 + flow);
   for each, seconds per frame and flicker, plain and motion-compensated
   (`dream.video.FlickerMeter`), and the MP4's encoding time against the dream's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MODEL_DIR = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "dream-bench-width1"))


def ensure_model() -> Path:
    from dream import synthetic_model

    if not (MODEL_DIR / synthetic_model.GRAPH_FILE).is_file():
        synthetic_model.write_model_dir(MODEL_DIR, width=1.0, seed=0)
    return MODEL_DIR


def test_image(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([128 + 90 * np.sin(x / 37.0), 128 + 90 * np.cos(y / 23.0),
                     128 + 60 * np.sin((x + y) / 51.0)], -1).astype(np.uint8)


def pan_clip(frames: int, width: int) -> np.ndarray:
    """A camera pan with a slow zoom over a photo, and a second photo moving the other way."""
    height = width * 9 // 16 // 2 * 2
    scene = Image.open(ROOT / "assets" / "landscape.jpg").convert("RGB")
    scene = scene.resize((int(width * 1.6), int(height * 1.6)), Image.Resampling.LANCZOS)
    patch = Image.open(ROOT / "assets" / "cat.jpg").convert("RGB").resize((width // 4, height // 3))
    speed = width / 128  # 4 px a frame at 512 px
    clip = []
    for k in range(frames):
        zoom = 1.0 + 0.004 * k
        left, top = 20 + speed * k, 30 + 0.5 * speed * k
        view = scene.resize((width, height), Image.Resampling.BILINEAR,
                            box=(left, top, left + width / zoom, top + height / zoom))
        view.paste(patch, (int(width * 0.7 - 3 * speed * k), height // 2))
        clip.append(np.asarray(view))
    return np.stack(clip)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def median_time(function, *args, repeats: int = 3, **kwargs) -> float:
    """Encoders are quick and the machine is shared: the median of a few runs."""
    return sorted(timed(function, *args, **kwargs)[1] for _ in range(repeats))[repeats // 2]


def bench_encoding(model, folder: Path) -> None:
    import dream
    from dream.presets import technique_defaults

    defaults = technique_defaults("deep_dream")
    schedule = dream.Schedule(**{name: defaults[name] for name in dream.Schedule.__dataclass_fields__
                                 if name in defaults})
    objective = dream.dream_objective(model, defaults.get("layer", "mixed4c"))
    # Warm-up on another size: the step compiled and both writers imported, as in a
    # server that has answered one request.
    warm = dream.deep_dream(model, test_image(200, 300), objective, schedule, frames=1)
    warm.save_gif(folder / "warm.gif")
    warm.save_mp4(folder / "warm.mp4")

    result, request_s = timed(dream.deep_dream, model, test_image(512, 512), objective, schedule,
                              frames=defaults["frames"])
    gif_s = median_time(result.save_gif, folder / "dream.gif")
    rows = [("GIF", gif_s, folder / "dream.gif")]
    for preset in ("veryfast", "medium"):
        path = folder / f"dream-{preset}.mp4"
        mp4_s = median_time(result.save_mp4, path, preset=preset)
        rows.append((f"MP4 ({preset})", mp4_s, path))
    print(f"Deep Dream request at the app's defaults (512×512, {defaults['frames']} frames, "
          f"{schedule.steps} steps × {schedule.octaves} octaves): {request_s:.2f} s")
    for name, seconds, path in rows:
        print(f"  {name:15s} {seconds:6.3f} s = {seconds / request_s:5.1%} of the request, "
              f"{path.stat().st_size / 1024:6.0f} kB")


def bench_video(model, folder: Path, frames: int, side: int) -> None:
    import dream
    from dream.video import dream_video, read_video

    source = folder / "pan.mp4"
    import imageio.v3 as iio

    iio.imwrite(source, pan_clip(frames, side), plugin="pyav", codec="libx264", fps=12)
    clip, read_s = timed(read_video, source, max_side=side)
    height, width = clip.frames[0].shape[:2]
    objective = dream.dream_objective(model, "mixed4c")
    # Warm-up: the step compiled at this size.
    dream_video(model, source, objective, max_side=side,
                video_limits=dream.video.VideoLimits(max_frames=frames), fps=12, blend=0)
    print(f"\nVideo: {frames} frames of {width}×{height} at 12 fps (decoded in {read_s:.2f} s), "
          f"default schedule {dream.video.DEFAULT_VIDEO_SCHEDULE.steps} steps × "
          f"{dream.video.DEFAULT_VIDEO_SCHEDULE.octaves} octaves")
    print(f"  {'variant':18s} {'s/frame':>8s} {'flicker':>8s} {'motion-comp.':>13s} "
          f"{'MP4 s':>7s} {'MP4/dream':>9s}")
    for name, blend, flow in [("frame by frame", 0.0, False), ("blend 0.5", 0.5, False),
                              ("blend 0.5 + flow", 0.5, True)]:
        result, dream_s = timed(dream_video, model, source, objective, max_side=side,
                                blend=blend, flow=flow)
        mp4_s = median_time(result.save_mp4, folder / f"{blend}-{flow}.mp4")
        numbers = result.settings["flicker"]
        print(f"  {name:18s} {dream_s / len(result.frames):8.2f} {numbers['ratio']:8.3f} "
              f"{numbers['motion_compensated_ratio']:13.2f} {mp4_s:7.3f} {mp4_s / dream_s:9.1%}")
    print("  flicker: output's mean frame-to-frame change over the source's (1 = as much);"
          " motion-comp.: the same after moving each previous frame along the source's flow.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 frames at 384 px")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--side", type=int, default=None)
    parser.add_argument("--only", choices=("encoding", "video"), default=None)
    args = parser.parse_args()
    frames = args.frames or (12 if args.quick else 24)
    side = args.side or (384 if args.quick else 512)

    import dream

    model = dream.load_model(ensure_model())
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "video":
            bench_encoding(model, Path(folder))
        if args.only != "encoding":
            bench_video(model, Path(folder), frames, side)


if __name__ == "__main__":
    main()
