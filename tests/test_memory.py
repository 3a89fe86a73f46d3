"""Memory stays bounded whatever in-range settings callers send (issue 10): every tab's
default request stays compiled while other settings come and go.

The server-level measurement (RSS of `python app.py` over 40 varied requests) is
`benchmarks/memory.py`; these tests check the policy behind it on the small model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dream
from dream import model as model_module
from dream.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "pan.mp4"
TABS = ("deep_dream", "fractal_zoom", "guided", "style_transfer", "dream_video")


@pytest.fixture
def fresh_model(model_dir):
    """A model of its own (its function cache starts empty)."""
    return model_module._load(model_dir / model_module.GRAPH_FILE,
                              model_dir / model_module.LABELS_FILE, precision="float32")


def run_tab_defaults(model) -> None:
    """Each tab's default request, one small frame of one step (what the start-up warm-up
    sends: the compiled steps are those of the full defaults)."""
    picture = np.full((64, 64, 3), 128, np.uint8)
    for name in TABS:
        endpoint = ENDPOINTS[name]
        values = {**endpoint.defaults(), "frames": 1, "steps": 1, "octaves": 1, "max_side": 64}
        values = {key: value for key, value in values.items() if key in endpoint.params}
        if name == "dream_video":
            values.update(video=str(CLIP), fps=2.0)
        for image in endpoint.images:
            if image.required and image.name != "video":
                values[image.name] = picture
        endpoint.prepare(model, values).run(lambda progress: None)


def run_other_settings(model, count: int) -> None:
    """`count` Deep Dream requests that each compile a step and a feature function."""
    engine = dream.engine_for(model)
    image = np.full((48, 48, 3), 120.0, np.float32)
    layers = ["conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4d", "mixed4e", "mixed5a"]
    for layer in layers[:count]:
        engine.run(dream.layer_mean(layer), image, dream.Schedule(steps=1, octaves=1, laplacian_levels=3))


def test_tab_defaults_pinned_by_the_warm_up_stay_compiled(fresh_model):
    cache = fresh_model.function_cache
    cache.size = 2  # far smaller than the flood below
    with cache.pinning():  # as the start-up warm-up does
        run_tab_defaults(fresh_model)
    engine = dream.engine_for(fresh_model)
    traced, pinned = engine.trace_count, cache.pinned
    assert pinned >= 4  # at least Deep Dream's, guided's and style's steps and features

    run_other_settings(fresh_model, 6)
    assert len(cache) <= pinned + cache.size and cache.evictions >= 6
    assert engine.trace_count == traced + 6
    run_tab_defaults(fresh_model)
    assert engine.trace_count == traced + 6  # every tab's default is still compiled


def test_the_bound_holds_the_working_set_with_room_to_spare(fresh_model):
    """Even without pinning, the tabs' defaults plus a few users' own settings fit."""
    cache = fresh_model.function_cache
    assert cache.size == model_module.FUNCTION_CACHE_SIZE
    run_tab_defaults(fresh_model)
    working_set = len(cache)
    assert working_set <= cache.size - 4, working_set

    engine = dream.engine_for(fresh_model)
    spare = (cache.size - working_set) // 2  # each other setting: a step and a feature function
    run_other_settings(fresh_model, spare)
    traced = engine.trace_count
    run_tab_defaults(fresh_model)
    assert engine.trace_count == traced and cache.evictions == 0
