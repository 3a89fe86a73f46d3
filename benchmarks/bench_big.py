"""A big picture: Deep Dream at 2048 px on the CPU — time, peak memory, and seams.

    DREAM_MAX_SIDE=2048 python benchmarks/bench_big.py            # 1024 and 2048 px
    python benchmarks/bench_big.py --sides 1024 2048 --frames 2

Each size runs the Deep Dream tab's request (its defaults: mixed4c, 4 steps × 4 octaves
× 1.4, 512 px tiles) through the endpoint, as the API would, in a fresh subprocess of its
own, so its peak RSS is its own. Uses the width-1.0 generated graph (the real model's
cost). Prints, per size: seconds per frame, megapixel-steps per second, peak RSS, and the
seam measure of the test suite (the mean change along the 512 px tile borders over the
mean change elsewhere: 1.0 means no seam; the random roll moves the borders every step).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL_DIR = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "dream-bench-width1"))


def seam_ratio(before, after, tile: int, offset: int = 0) -> float:
    """Mean change on the rows and columns either side of the tile borders (inner ones:
    the engine cuts a side into ⌈side / tile⌉ near-equal tiles) over the mean change;
    `offset` px away from them, the same measure on lines that are no border (how much
    two lines' change varies anyway)."""
    import math

    import numpy as np

    change = np.abs(after.astype(np.float32) - before.astype(np.float32)).mean(axis=2)

    def borders(length: int) -> list[int]:
        count = math.ceil(length / tile)
        return [i + offset for k in range(1, count)
                for i in ((k * length) // count - 1, (k * length) // count)]

    rows, cols = borders(change.shape[0]), borders(change.shape[1])
    if not rows and not cols:
        return float("nan")  # one tile: no border to see
    border = np.concatenate([change[rows].ravel(), change[:, cols].ravel()])
    return float(border.mean() / change.mean())


def worker(side: int, frames: int) -> dict:
    import numpy as np
    from PIL import Image

    from dream import synthetic_model
    from dream.endpoints import ENDPOINTS, SERVER_LIMITS
    from dream.model import load_model

    if not (MODEL_DIR / "tensorflow_inception_graph.pb").is_file():
        synthetic_model.write_model_dir(MODEL_DIR, width=1.0, seed=0)
    model = load_model(MODEL_DIR)
    # The landscape photo enlarged to the size asked (4:3): the picture's content hardly
    # matters to the cost; its size does.
    photo = np.asarray(Image.open(ROOT / "assets" / "landscape.jpg").convert("RGB")
                       .resize((side, side * 3 // 4), Image.Resampling.LANCZOS))
    endpoint = ENDPOINTS["deep_dream"]
    # Compiled first (as the app's warm-up does), so the time is the dreaming's.
    endpoint.prepare(model, endpoint.check({**endpoint.defaults(), "image": photo[:96, :128],
                                            "frames": 1, "steps": 1})).run(lambda progress: None)
    values = endpoint.check({**endpoint.defaults(), "image": photo, "max_side": side,
                             "frames": frames})
    plan = endpoint.prepare(model, values)
    started = time.perf_counter()
    result = plan.run(lambda progress: None)
    seconds = time.perf_counter() - started
    height, width = result.image.shape[:2]
    from dream.engine import megapixel_steps
    from dream.endpoints import schedule_from

    work = frames * megapixel_steps(height, width, schedule_from("deep_dream", values))
    return {"side": side, "size": [width, height], "frames": frames, "seconds": seconds,
            "seconds_per_frame": seconds / frames, "mp_steps_per_s": work / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seam": seam_ratio(photo[:height, :width], result.image, values["tile_size"]),
            "seam_control": seam_ratio(photo[:height, :width], result.image, values["tile_size"],
                                       offset=values["tile_size"] // 4),
            "cap": SERVER_LIMITS.max_side, "budget_mp_steps": SERVER_LIMITS.max_megapixel_steps,
            "work_mp_steps": work, "precision": result.settings["precision"],
            "device": result.settings.get("device")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--worker", nargs=2, type=int, metavar=("SIDE", "FRAMES"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    from benchmarks.machine import describe

    print(describe())
    env = {**os.environ, "DREAM_MAX_SIDE": str(max(args.sides + [int(os.environ.get("DREAM_MAX_SIDE", 0) or 0)]))}
    results = []
    for side in args.sides:
        done = subprocess.run([sys.executable, __file__, "--worker", str(side), str(args.frames)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode:
            print(done.stderr[-3000:])
            raise SystemExit(done.returncode)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{result['size'][0]}×{result['size'][1]}: {result['seconds_per_frame']:.1f} s a frame, "
              f"{result['mp_steps_per_s']:.2f} MP-steps/s, peak RSS {result['peak_rss_mb']:.0f} MB, "
              f"seam {result['seam']:.2f} (1.0: none; lines a quarter tile away: "
              f"{result['seam_control']:.2f}), {result['work_mp_steps']:.0f} of "
              f"{result['budget_mp_steps']:.0f} MP-steps, {result['device']}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"{last['side']} px against {first['side']} px: ×{last['seconds_per_frame'] / first['seconds_per_frame']:.2f} "
              f"time a frame for ×{last['work_mp_steps'] / first['work_mp_steps']:.2f} work; "
              f"peak RSS ×{last['peak_rss_mb'] / first['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
