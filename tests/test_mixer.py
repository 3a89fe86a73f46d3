"""The objective mixer (`dream.mixer`) and painted masks (`Engine.run(masks=…)`): terms
that ascend and descend together, masks that confine them exactly, and messages that name
the bad term."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import dream
from dream import mixer
from dream.engine import Schedule
from dream.objectives import weighted_sum

MIX_SCHEDULE = Schedule(steps=8, octaves=2, step_size=1.5, normalization="each_term")


@pytest.fixture(scope="module")
def photo(picture_factory):
    return picture_factory(160, 208).astype(np.float32)


def _value(engine, model, term: mixer.Term, image) -> float:
    return engine.value(mixer.term_objective(model, term), image)


def _run_mix(engine, model, photo, terms, masks=None, schedule=MIX_SCHEDULE):
    main = mixer.term_objective(model, terms[0])
    objective = mixer.mixed_objective(model, main, terms[1:])
    return engine.run(objective, photo, schedule, masks=masks)


# ----------------------------------------------------------------------------- the mix


def test_a_two_term_mix_ascends_both_terms(engine, model, photo):
    terms = [mixer.Term("channel", "mixed4a", 3), mixer.Term("layer", "mixed3b", weight=0.5)]
    out = _run_mix(engine, model, photo, terms)
    for term in terms:
        assert _value(engine, model, term, out) > _value(engine, model, term, photo) * 1.2, term.label


def test_a_negative_term_falls_while_the_positive_one_rises(engine, model, photo):
    up, down = mixer.Term("channel", "mixed4a", 3), mixer.Term("channel", "mixed4a", 10, weight=-1.0)
    out = _run_mix(engine, model, photo, [up, down])
    assert _value(engine, model, up, out) > _value(engine, model, up, photo) + 1.0
    assert _value(engine, model, down, out) < _value(engine, model, down, photo) - 1.0


def test_each_term_is_normalised_on_its_own(engine, model, photo):
    # A channel's gradient is far smaller than a layer's mean square's: in a plain sum
    # the channel's "−" would be drowned (it rises with the layer); normalised on its own
    # its share of the step holds it down.
    layer, channel = mixer.Term("layer", "mixed4c"), mixer.Term("channel", "mixed4a", 10, weight=-1.0)
    objective = mixer.mixed_objective(model, mixer.term_objective(model, layer), [channel])
    rise = {}
    for normalization in ("sum", "each_term"):
        out = engine.run(objective, photo, replace(MIX_SCHEDULE, normalization=normalization))
        rise[normalization] = _value(engine, model, channel, out) - _value(engine, model, channel, photo)
    assert rise["each_term"] < rise["sum"] - 1.0 and rise["each_term"] < 0


def test_without_a_mix_the_objective_is_the_main_one(model):
    main = mixer.term_objective(model, mixer.Term("layer", "mixed4c"))
    assert mixer.mixed_objective(model, main, ()) is main
    assert mixer.mixed_schedule(Schedule(), [mixer.Term()], masked=False) == Schedule()
    assert mixer.mixed_schedule(Schedule(), [mixer.Term()] * 2, False).normalization == "each_term"


# ----------------------------------------------------------------------------- checking


@pytest.mark.parametrize("value, message", [
    ([{"layer": "mixed4a", "weight": 3}], r"mix\[0\]: weight must be a number between -1 and 1 \(got 3\)"),
    ([{"layer": "mixed4a"}, {"class_name": ""}], r"mix\[1\]: a class term needs class_name"),
    ([{"layer": "mixed4a", "colour": "red"}], r"mix\[0\]: unknown key 'colour'"),
    ([{"layer": "mixed4a", "channel": 2.5}], r"mix\[0\]: channel must be a whole number"),
    ([{}] * 4, r"at most 3 terms"),
    ("[{", r"mix must be a JSON list"),
    (7, r"mix must be a list of terms"),
    (["mixed4a"], r"mix\[0\] must be an object"),
])
def test_a_bad_term_is_named(value, message):
    with pytest.raises(mixer.MixError, match=message):
        mixer.check_mix(value)


def test_terms_are_read_from_json_and_objects():
    terms = mixer.check_mix('[{"class": "dog", "weight": -0.5}, {"layer": "mixed4a", "channel": 97}]')
    assert terms[0] == mixer.Term("class", "mixed4c", None, "dog", -0.5)
    assert terms[1].objective == "channel" and terms[1].channel == 97 and terms[1].weight == 1.0
    assert mixer.check_mix(None) == () and mixer.check_mix([]) == ()


def test_a_term_the_model_does_not_have_is_named(model):
    main = mixer.term_objective(model, mixer.Term())
    with pytest.raises(mixer.MixError, match=r"mix\[1\] .*Unknown layer"):
        mixer.mixed_objective(model, main, [mixer.Term("layer", "mixed4a"), mixer.Term("layer", "mixed9z")])
    with pytest.raises(mixer.MixError, match=r"mix\[0\] .*channel must be between 0 and"):
        mixer.mixed_objective(model, main, [mixer.Term("channel", "mixed4a", 100000)])


# ----------------------------------------------------------------------------- masks


def _painting(shape, boxes):
    paint = np.zeros(shape + (4,), np.uint8)
    for colour, (y0, y1, x0, x1) in boxes:
        paint[y0:y1, x0:x1] = (*mixer.TERM_COLOURS[colour], 255)
    return paint


def test_masks_follow_the_paint_colours_and_fade_in_inside():
    paint = _painting((100, 120), [(0, (10, 60, 10, 60)), (2, (70, 90, 70, 110))])
    masks, notes = mixer.masks_from_painting(paint, (100, 120), terms=3)
    assert masks.shape == (100, 120, 3)
    red = masks[:, :, 0]
    assert red[:10].max() == 0 and red[:, 60:].max() == 0          # nothing outside the paint
    assert red[35, 35] == 1.0 and 0 < red[10, 35] < 0.5              # a ramp from the edge in
    assert masks[:, :, 1].min() == 1.0                               # green unpainted: everywhere
    assert masks[80, 90, 2] > 0 and masks[20, 20, 2] == 0
    assert notes == []


def test_a_painting_is_fitted_and_checked():
    paint = _painting((50, 60), [(3, (0, 50, 0, 30))])  # yellow: term 4
    masks, notes = mixer.masks_from_painting(paint, (100, 120), terms=2)
    assert masks is None and "yellow" in notes[0]
    assert mixer.masks_from_painting(np.zeros((100, 120, 4), np.uint8), (100, 120), 2) == (None, [])
    with pytest.raises(dream.ImageError, match="not the photo's shape"):
        mixer.fit_painting(np.zeros((100, 100, 4), np.uint8), (100, 200))
    # An opaque RGB picture: black is unpainted.
    rgb = np.zeros((100, 120, 3), np.uint8)
    rgb[20:80, 20:80] = (0, 255, 0)
    masks, _ = mixer.masks_from_painting(rgb, (100, 120), terms=2)
    assert masks[:, :, 0].min() == 1.0 and masks[50, 50, 1] == 1.0 and masks[5, 5, 1] == 0.0


@pytest.fixture(scope="module")
def masked(engine, model, picture_factory):
    """A tiled, jittered, 3-octave run of two terms, each painted on its own region."""
    photo = picture_factory(300, 400).astype(np.float32)
    paint = _painting((300, 400), [(0, (20, 280, 30, 230)), (1, (40, 260, 250, 390))])
    terms = [mixer.Term("layer", "mixed4c"), mixer.Term("channel", "mixed3b", 5, weight=-0.5)]
    masks, _ = mixer.masks_from_painting(paint, (300, 400), len(terms))
    schedule = Schedule(steps=3, octaves=3, octave_scale=1.5, tile_size=128, jitter=16, seed=1,
                        normalization="each_term")
    out = _run_mix(engine, model, photo, terms, masks, schedule)
    return photo, out, masks


def test_outside_the_painted_masks_nothing_changes(masked):
    photo, out, masks = masked
    change = np.abs(out - photo).max(axis=2)
    outside = masks.max(axis=2) == 0
    assert outside.mean() > 0.2
    assert change[outside].max() < 1e-3          # stated tolerance: a thousandth of a level
    inside = masks.max(axis=2) > 0.99
    assert change[inside].mean() > 2.0           # and inside it dreamed


def test_no_seam_at_tile_borders_inside_the_mask(masked):
    # Tiles of ~100 px (300×400 cut at 128 px): inside the painted region, the change along
    # a tile border is no larger than on the rows a few pixels away (the roll moves the
    # borders). A seam is a line: compared with the whole region instead, the picture's own
    # content decides (a band of strong change around row 100 made that 1.97×, seamless).
    # Measured here: about 1.0; a 5-level line along the borders would make it 1.5.
    photo, out, masks = masked
    change = np.abs(out - photo).mean(axis=2)
    inside = masks[:, :, 0] > 0.99
    border, near = np.zeros_like(inside), np.zeros_like(inside)
    border[[99, 100, 199, 200]] = True
    near[[93, 94, 95, 96, 103, 104, 105, 106, 193, 194, 195, 196, 203, 204, 205, 206]] = True
    assert change[inside & border].mean() < 1.5 * change[inside & near].mean()


def test_a_small_mask_dreams_as_strongly_as_the_whole_picture(engine, model, photo):
    # The step is normalised inside the mask: a region a tenth of the picture moves as
    # much per step as the unmasked picture does, not ten times less or more.
    terms = [mixer.Term("layer", "mixed4a")]
    paint = _painting((160, 208), [(0, (40, 110, 60, 150))])
    masks, _ = mixer.masks_from_painting(paint, (160, 208), 1)
    schedule = Schedule(steps=4, octaves=1, step_size=1.5)
    whole = _run_mix(engine, model, photo, terms, None, schedule)
    part = _run_mix(engine, model, photo, terms, masks, schedule)
    core = masks[:, :, 0] == 1.0
    ratio = np.abs(part - photo)[core].mean() / np.abs(whole - photo).mean()
    assert 0.5 < ratio < 2.0


def test_masks_hold_under_lucid_transforms_and_the_fourier_basis(engine, model, photo):
    # The Fourier parametrisation spreads a change over the whole image; the mask still
    # holds, since the change itself is confined.
    paint = _painting((160, 208), [(0, (30, 130, 30, 120))])
    masks, _ = mixer.masks_from_painting(paint, (160, 208), 1)
    schedule = Schedule(steps=4, octaves=1, optimizer="adam", parametrization="fourier",
                        transforms="lucid", step_size=4.0)
    out = engine.run(dream.layer_mean("mixed4a"), photo, schedule, masks=masks)
    change = np.abs(out - photo).max(axis=2)
    assert change[masks[:, :, 0] == 0].max() < 1e-3 and change[masks[:, :, 0] == 1].mean() > 0.5


def test_masks_must_fit_the_image_and_the_terms(engine, photo):
    with pytest.raises(ValueError, match="one map per term"):
        engine.run(weighted_sum([(1.0, dream.layer_mean("mixed4a")), (0.5, dream.layer_mean("mixed3b"))]),
                   photo, Schedule(steps=1, octaves=1), masks=np.ones((160, 208, 1), np.float32))
