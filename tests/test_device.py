"""Where the dreaming runs, said on the page and in every result's settings (`dream.device`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dream import device
from tests.conftest import PATIENCE_S

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_gpu_cache():
    cached = device.gpu_names  # (tests replace it; the cache is the original's)
    cached.cache_clear()
    yield
    cached.cache_clear()


def test_a_gpu_is_named_by_its_model(monkeypatch, no_gpu_cache):
    monkeypatch.setattr(device, "gpu_names", lambda: ("NVIDIA L4",))
    assert device.describe("float32") == "NVIDIA L4, float32"
    assert device.status_line("float32") == "Dreaming on NVIDIA L4 (float32)."
    monkeypatch.setattr(device, "gpu_names", lambda: ("NVIDIA A100-SXM4-40GB",) * 2)
    assert device.where() == "NVIDIA A100-SXM4-40GB (the first of 2 GPUs)"


def test_without_a_gpu_the_cpu_cores_are_named(monkeypatch, no_gpu_cache):
    monkeypatch.setattr(device, "gpu_names", lambda: ())
    cores = len(os.sched_getaffinity(0))
    assert device.describe("float32") == f"{cores} CPU core{'s' * (cores != 1)}, float32"
    assert device.status_line("bfloat16") == (f"Dreaming on {device.where()} (float32, and bfloat16 "
                                              f"where its pictures are as good).")


def test_a_worker_given_one_core_says_one(monkeypatch, no_gpu_cache):
    # A pool's worker sets TensorFlow's threads to its share (`dream.pool.worker.set_threads`).
    monkeypatch.setattr(device, "gpu_names", lambda: ())
    monkeypatch.setattr(device.tf.config.threading, "get_intra_op_parallelism_threads", lambda: 1)
    assert device.where() == "1 CPU core"


def test_this_machine_has_no_gpu_tensorflow_can_use(no_gpu_cache):
    # The plain `tensorflow` wheel (requirements.txt) brings no CUDA: here, the CPU.
    assert device.gpu_names() == () and "CPU core" in device.where()


def _endpoints_with(environ: dict) -> subprocess.CompletedProcess:
    """dream.endpoints imported in a fresh process with `environ` added (the cap is read at
    import, as a server starts)."""
    script = textwrap.dedent("""
        from dream.endpoints import (ENDPOINTS, PARAMS, SERVER_LIMITS, SERVER_VIDEO_LIMITS,
                                     DEFAULT_MAX_SIDE, ParameterError)
        endpoint = ENDPOINTS["deep_dream"]
        print(SERVER_LIMITS.max_side, SERVER_LIMITS.max_megapixel_steps, DEFAULT_MAX_SIDE,
              PARAMS["max_side"].high, SERVER_VIDEO_LIMITS.max_side)
        clip = ENDPOINTS["dream_video"]
        clip.check({**clip.defaults(), "video": "clip.mp4"})  # its default fits the cap too
        try:
            endpoint.check({**endpoint.defaults(), "max_side": 512})
        except ParameterError as error:
            print(error)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environ}, cwd=ROOT,
                          timeout=PATIENCE_S)


def test_the_operators_size_cap_binds_every_caller():
    # What the API and MCP check (`Endpoint.check`, the same for the page): a 256 px cap
    # read as the server starts refuses 512 px, and the work budget follows the pixels.
    done = _endpoints_with({"DREAM_MAX_SIDE": "256"})
    assert done.returncode == 0, done.stderr[-2000:]
    first, message = done.stdout.strip().splitlines()[-2:]
    assert first.split() == ["256", "6.25", "256", "256", "256"]
    assert message == "max_side must be between 64 and 256 (got 512)."


def test_a_larger_cap_grows_the_budget_and_a_wrong_one_is_named():
    from dream.endpoints import operator_max_side, server_limits

    assert operator_max_side({}) == 1024 and operator_max_side({"DREAM_MAX_SIDE": "2048"}) == 2048
    assert server_limits(2048).max_megapixel_steps == 400.0
    assert server_limits(2048).max_tile_size == 1024  # a gradient's memory stays bounded
    for wrong in ("huge", "100", "9000", "1.5e3"):
        with pytest.raises(ValueError, match=r"DREAM_MAX_SIDE must be a whole number of pixels "
                                             r"from 256 to 4096 \(got '"):
            operator_max_side({"DREAM_MAX_SIDE": wrong})


def test_a_videos_frames_follow_the_operators_cap():
    from dream.endpoints import server_video_limits

    # Half the image cap, as at the default (512 px frames for 1024 px pictures), never
    # under 256 nor over the image cap; the work budget follows the frames' pixels.
    sides = {cap: server_video_limits(cap).max_side for cap in (256, 512, 1024, 2048, 4096)}
    assert sides == {256: 256, 512: 256, 1024: 512, 2048: 1024, 4096: 2048}
    assert server_video_limits(1024).max_megapixel_steps == 300.0
    assert server_video_limits(2048).max_megapixel_steps == 1200.0
    assert server_video_limits(256).max_megapixel_steps == 75.0


def test_the_video_tool_says_how_large_its_frames_can_be():
    # API and MCP callers read the size from the tool's description: for a video it is the
    # frames' cap (half the image cap by default), not the pictures'.
    from dream.endpoints import ENDPOINTS, SERVER_LIMITS, SERVER_VIDEO_LIMITS

    video, image = ENDPOINTS["dream_video"].docstring(), ENDPOINTS["deep_dream"].docstring()
    [line] = [line for line in video.splitlines() if line.strip().startswith("max_side:")]
    assert f"a video's frames are at most {SERVER_VIDEO_LIMITS.max_side} px" in line
    assert f"(at most {SERVER_LIMITS.max_side})" in image and "video" not in image
