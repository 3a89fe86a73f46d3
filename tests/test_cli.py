"""The command-line tools as an operator runs them: `python -m dream batch` on a folder of
photos (resumable, bad files skipped, in this process or on two workers) and
`python -m dream video` on a clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from app_fixtures import write_picture

pytest_plugins = ("app_fixtures",)

from tests.conftest import PATIENCE_S  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def dream_cli(*args: str, model_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DREAM_MODEL_DIR": str(model_dir), "DREAM_WORKERS": "",
           "DREAM_RAY_ADDRESS": "", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dream", *args], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=PATIENCE_S)


@pytest.fixture
def photos(tmp_path, picture_factory) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    write_picture(folder / "cat.png", picture_factory(90, 120))
    write_picture(folder / "cat.jpg", picture_factory(100, 80))   # the same name, another kind
    write_picture(folder / "field.jpg", picture_factory(60, 90))
    (folder / "broken.jpg").write_bytes(b"not a picture at all")
    (folder / "notes.txt").write_text("not a photo: ignored")
    return folder


SMALL = ["--set", "max_side=96", "--set", "frames=2", "--set", "steps=1", "--set", "octaves=1"]


@pytest.mark.ray  # its last part starts a local Ray: run in the suite's one-at-a-time pass
def test_batch_dreams_a_folder_skips_bad_files_resumes_and_matches_two_workers(photos, tmp_path, model_dir):
    out = tmp_path / "dreams"
    done = dream_cli("batch", str(photos), "--out", str(out), "--preset", "Jellyfish (class neuron)",
                     *SMALL, model_dir=model_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 of 4 photos dreamed" in done.stdout and "skipped broken.jpg" in done.stderr
    for stem in ("cat-png", "cat-jpg", "field"):
        assert iio.imread(out / f"{stem}.gif", index=None).shape[0] == 3  # the photo, 2 frames
        assert iio.imread(out / f"{stem}.mp4", index=None, plugin="pyav").shape[0] == 3
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["settings"]["objective"].startswith("class jellyfish")
        assert record["inputs"]["max_side"] == 96
    assert iio.imread(out / "cat-png.png").shape == (72, 96, 3)  # fitted into max_side

    # A rerun skips what is done; a photo whose JSON is missing is dreamed again.
    (out / "field.json").unlink()
    before = (out / "cat-png.png").stat().st_mtime_ns
    again = dream_cli("batch", str(photos), "--out", str(out), "--preset", "Jellyfish (class neuron)",
                      *SMALL, model_dir=model_dir, cwd=tmp_path)
    assert again.returncode == 0 and "3 of 4 photos dreamed" in again.stdout
    assert (out / "field.json").exists() and (out / "cat-png.png").stat().st_mtime_ns == before
    assert "| 2/2 " in again.stderr  # two to do (field.jpg, and broken.jpg again), not four

    # The same batch on two workers (a local Ray) gives the same pictures.
    there = tmp_path / "there"
    pooled = dream_cli("batch", str(photos), "--out", str(there), "--preset",
                       "Jellyfish (class neuron)", *SMALL, "--workers", "2",
                       model_dir=model_dir, cwd=tmp_path)
    assert pooled.returncode == 0, pooled.stderr[-2000:]
    assert "on 2 workers on this machine" in pooled.stderr
    for stem in ("cat-png", "cat-jpg", "field"):
        mine, theirs = iio.imread(out / f"{stem}.png"), iio.imread(there / f"{stem}.png")
        assert np.abs(mine.astype(int) - theirs).max() <= 1


def test_batch_names_a_bad_setting(photos, tmp_path, model_dir):
    done = dream_cli("batch", str(photos), "--out", str(tmp_path / "x"), "--set", "stepz=4",
                     model_dir=model_dir, cwd=tmp_path)
    assert done.returncode == 2 and "deep_dream has no parameter 'stepz'" in done.stderr


def test_video_from_the_shell(tmp_path, model_dir):
    from test_video import moving_clip, write_clip

    clip = write_clip(tmp_path / "clip.mp4", moving_clip(8), fps=8, audio_hz=440)
    out = tmp_path / "dreamed" / "clip.mp4"
    done = dream_cli("video", str(clip), "--out", str(out), "--set", "steps=1", "--set",
                     "octaves=1", "--set", "max_side=96", model_dir=model_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "8 frames written" in done.stdout
    assert iio.imread(out, index=None, plugin="pyav").shape[0] == 8
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["source"]["audio"] is True
