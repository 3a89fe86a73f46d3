"""Every named preset runs end to end and makes the animation it promises."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

import dream
from dream.presets import PRESETS, TECHNIQUES, preset, presets_for, run_preset

SHAPE = (96, 128)


def second_image(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [128 + 100 * np.cos(x / 5 + y / 7), 128 + 90 * np.sin(y / 4), 128 + 80 * np.cos(x / 3)]
    return np.clip(np.rint(np.stack(channels, -1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", [p.name for p in PRESETS])
def test_preset_runs_and_makes_its_animation(model, picture_factory, tmp_path, name):
    chosen = preset(name)
    # Two frames show the animation is made; the preset's own count only repeats them.
    overrides = {"frames": min(2, chosen.settings["frames"])}
    channel = chosen.settings.get("channel_index")
    if channel is not None:
        layer = model.layer(chosen.settings["layer"])
        if channel >= layer.channels:  # the narrow test model has fewer channels
            overrides["channel_index"] = layer.channels - 1
    image, other = picture_factory(*SHAPE), second_image(*SHAPE)
    result = run_preset(model, name, image, other, **overrides)

    frames = overrides["frames"]
    assert result.image.shape == (*SHAPE, 3) and result.image.dtype == np.uint8
    assert len(result.frames) == frames + 1
    assert not np.array_equal(result.frames[-1], result.frames[0])
    gif = iio.imread(result.save_gif(tmp_path / "preset.gif"))
    assert gif.shape[0] == frames + 1
    assert result.settings["technique"] == chosen.technique


def test_every_technique_has_presets_including_the_seeds_animations():
    assert {p.technique for p in PRESETS} == set(TECHNIQUES)
    guided = [p.name for p in presets_for("guided")]
    assert sum(name[0].isdigit() for name in guided) == 7  # the seed's seven, numbered
    assert len(presets_for("style_transfer")) >= 2
    assert any(p.settings.get("class_name") == "jellyfish" for p in presets_for("deep_dream"))
    assert presets_for("fractal_zoom")


def test_a_preset_channel_the_model_lacks_is_refused_clearly(model, picture_factory):
    flowers = next(p for p in PRESETS if p.settings.get("channel_index") is not None)
    channels = model.layer(flowers.settings["layer"]).channels
    with pytest.raises(ValueError, match=f"channels 0 to {channels - 1}"):
        run_preset(model, flowers.name, picture_factory(*SHAPE), channel_index=channels)


def test_unknown_preset_and_missing_second_image_are_refused(model, picture_factory):
    with pytest.raises(ValueError, match="Unknown preset"):
        run_preset(model, "No such preset", picture_factory(*SHAPE))
    with pytest.raises(ValueError, match="needs a style image"):
        run_preset(model, presets_for("style_transfer")[0].name, picture_factory(*SHAPE))
    with pytest.raises(ValueError, match="needs a dream image"):
        run_preset(model, presets_for("guided")[1].name, picture_factory(*SHAPE))


def test_presets_fill_the_schedule_from_their_settings():
    zoom = presets_for("fractal_zoom")[0]
    schedule = zoom.schedule()
    assert isinstance(schedule, dream.Schedule)
    assert schedule.steps == zoom.settings["steps"] and schedule.octaves == zoom.settings["octaves"]
    assert "steps" not in zoom.options() and zoom.options()["zoom"] == zoom.settings["zoom"]


def test_tab_defaults_follow_the_references():
    from dream.engine import octave_sizes
    from dream.presets import technique_defaults

    deep = technique_defaults("deep_dream")
    assert (deep["octaves"], deep["octave_scale"], deep["step_size"]) == (4, 1.4, 1.5)  # the notebook
    assert deep["squared"] is True and deep["tile_roll"] is True
    zoom = technique_defaults("fractal_zoom")
    steps = zoom["steps"] * len(octave_sizes(512, 512, zoom["octaves"], zoom["octave_scale"]))
    assert 0.0006 <= zoom["zoom"] / steps <= 0.003  # per step: Google's ≈0.06 % … CADL's ≈0.3 %
    guided = technique_defaults("guided")
    assert guided["normalization"] == "per_term" and guided["laplacian_levels"] == 0
    assert guided["smoothness_norm"] == "cadl"
    style = technique_defaults("style_transfer")
    assert (style["parametrization"], style["transforms"], style["optimizer"]) == ("fourier", "lucid", "adam")
    # bfloat16 ("auto" on CPUs with bfloat16 units) where its picture stayed within a
    # half-pixel nudge's difference and ran faster (benchmarks/precision.py).
    assert {technique: technique_defaults(technique)["precision"] for technique in TECHNIQUES} == {
        "deep_dream": "float32", "fractal_zoom": "auto", "guided": "auto", "style_transfer": "float32"}


def test_preset_descriptions_say_what_differs_from_the_seed():
    for preset_ in presets_for("guided"):
        if preset_.name[0].isdigit():
            assert "Differs from the seed" in preset_.description
    for preset_ in presets_for("style_transfer"):
        assert "Differs" in preset_.description
