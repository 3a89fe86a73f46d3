"""A folder of photos dreamed in one go, from the shell.

    python -m dream batch PHOTOS --out DREAMS --preset "Jellyfish (class neuron)"
    python -m dream batch PHOTOS --out DREAMS --technique deep_dream --set layer=mixed4b --set steps=6
    python -m dream batch PHOTOS --out DREAMS --technique style_transfer --set style_image=painting.jpg
    python -m dream batch PHOTOS --out DREAMS --workers 4     # on a local pool of 4 workers

For each photo it writes NAME.png, NAME.gif, NAME.mp4 and NAME.json (everything the result
was made with, as the app's settings, plus the notes) into the output folder. The JSON
is written last, so a photo with its JSON is done: a rerun skips it (resumable). A file
that is not a readable image is reported and skipped; the rest go on. Every request is
checked as the app checks it (same parameters, limits and messages). In this process by
default; with `--workers N` (or DREAM_WORKERS / DREAM_RAY_ADDRESS) on a pool's workers,
as many photos at a time as there are workers.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dream.endpoints import Endpoint, save_files

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass
class Outcome:
    photo: Path
    done: bool
    message: str = ""


def photos_in(folder: Path) -> list[Path]:
    """The image files of `folder` (not its subfolders), by name."""
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES)


def output_stems(photos: Sequence[Path], out: Path) -> dict[Path, Path]:
    """Where each photo's results go: its name without the suffix, or with it when two
    photos share a name (cat.jpg and cat.png)."""
    counts: dict[str, int] = {}
    for photo in photos:
        counts[photo.stem] = counts.get(photo.stem, 0) + 1
    return {photo: out / (photo.stem if counts[photo.stem] == 1 else f"{photo.stem}-{photo.suffix[1:]}")
            for photo in photos}


def dream_one(endpoint: Endpoint, model, runner, values: dict[str, Any], photo: Path,
              stem: Path) -> Outcome:
    """One photo: checked, dreamed by `runner`, written; a bad photo is an Outcome, not
    an exception (the batch goes on)."""
    from dream.pool.jobs import EndpointJob

    try:
        request = {**values, endpoint.images[0].name: str(photo)}
        checked = endpoint.check(request)
        plan = endpoint.prepare(model if endpoint.model == "inception" else None, checked)
        result = plan.noted(runner.run(EndpointJob.from_plan(endpoint.name, checked, plan.inputs)))
    except Exception as error:  # noqa: BLE001 - reported, and the batch goes on
        return Outcome(photo, False, f"{type(error).__name__}: {error}")
    save_files(result, stem, checked)
    record = {"photo": photo.name, "technique": endpoint.name, "settings": result.settings,
              "inputs": {name: checked[name] for name in endpoint.params}, "notes": result.notes}
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str))
    return Outcome(photo, True)


def run_batch(endpoint: Endpoint, values: dict[str, Any], photos_dir: Path, out: Path,
              workers: int | None = None, model_path=None, progress: bool = True) -> list[Outcome]:
    """Dreams every photo of `photos_dir` not done yet; returns what happened to each."""
    from tqdm import tqdm

    from dream.runner import runner_for

    out.mkdir(parents=True, exist_ok=True)
    photos = photos_in(photos_dir)
    stems = output_stems(photos, out)
    todo = [photo for photo in photos if not stems[photo].with_suffix(".json").exists()]
    outcomes = [Outcome(photo, True, "done before") for photo in photos if photo not in todo]
    if not todo:
        return outcomes
    with runner_for(workers, model_path, with_style=endpoint.model == "style") as (model, runner):
        bar = tqdm(total=len(todo), unit="photo", disable=not progress, file=sys.stderr,
                   desc=f"{endpoint.name} on {runner.describe()}")
        with concurrent.futures.ThreadPoolExecutor(max_workers=runner.size) as threads:
            futures = [threads.submit(dream_one, endpoint, model, runner, values, photo, stems[photo])
                       for photo in todo]
            for future in concurrent.futures.as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                if not outcome.done:
                    bar.write(f"skipped {outcome.photo.name}: {outcome.message}", file=sys.stderr)
                bar.update(1)
        bar.close()
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    from dream.runner import request_values, technique_of

    parser = argparse.ArgumentParser(prog="python -m dream batch", description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="a folder of photos")
    parser.add_argument("--out", type=Path, required=True, help="where the results go")
    parser.add_argument("--preset", help="a preset's name, e.g. 'Jellyfish (class neuron)'")
    parser.add_argument("--technique", help="an endpoint of the API: deep_dream (default), "
                        "fractal_zoom, guided, style_transfer, fast_style_transfer")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter by its API name (repeatable), e.g. steps=6 or "
                             "style_image=painting.jpg")
    parser.add_argument("--workers", type=int, default=None, help="dream on N workers (Ray)")
    parser.add_argument("--model", default=None, help="inception5h folder or zip (default: "
                        "DREAM_MODEL_DIR, the cache, or a download)")
    args = parser.parse_args(argv)
    from dream.endpoints import ParameterError

    try:
        endpoint = technique_of(args.technique, args.preset)
        if endpoint.name == "dream_video":
            raise ParameterError("Clips are dreamed with `python -m dream video`.")
        values = request_values(endpoint, args.preset, args.set)
    except ParameterError as error:
        parser.error(str(error))
    if not args.photos.is_dir():
        parser.error(f"{args.photos} is not a folder.")
    outcomes = run_batch(endpoint, values, args.photos, args.out, args.workers, args.model)
    done = sum(outcome.done for outcome in outcomes)
    print(f"{done} of {len(outcomes)} photos dreamed into {args.out}"
          + (f"; {len(outcomes) - done} skipped (see above)" if done < len(outcomes) else ""))
    return 0 if outcomes else 1
