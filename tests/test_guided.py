"""Guided hallucination on the generated model: direction, measures, smoothness, errors."""

from __future__ import annotations

import numpy as np
import pytest

import dream
from dream.guided import guided_dream, guided_objective
from dream.objectives import best_match, feature_similarity

LAYER = "mixed4a"


def striped_guide(height: int = 160, width: int = 208) -> np.ndarray:
    """A guide unlike the `picture` fixture: fine diagonal stripes in other colours."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [128 + 100 * np.cos(x / 7 + y / 9), 128 + 80 * np.sin(y / 5),
                128 + 90 * np.cos((x - y) / 11)]
    return np.clip(np.rint(np.stack(channels, -1)), 0, 255).astype(np.uint8)


def measure(engine, measure_name: str, image: np.ndarray, guide: np.ndarray) -> float:
    objective = feature_similarity(LAYER, measure_name)
    return engine.value(objective, image.astype(np.float32), guide.astype(np.float32))


def total_variation(image: np.ndarray) -> float:
    pixels = image.astype(np.float64) / 255
    return np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean()


def run(model, picture, guide, **options):
    options = {"layer": LAYER, "frames": 2, "smoothness": 0.0,
               "schedule": dream.Schedule(steps=5, octaves=2, laplacian_levels=4), **options}
    return guided_dream(model, picture, guide, **options)


def test_l2_toward_the_guide_shrinks_the_feature_distance(model, engine, picture):
    guide = striped_guide()
    result = run(model, picture, guide, similarity="l2", direction="toward")
    before, after = measure(engine, "l2", picture, guide), measure(engine, "l2", result.image, guide)
    assert after < 0.8 * before


def test_l2_away_from_the_guide_grows_the_feature_distance(model, engine, picture):
    guide = striped_guide()
    result = run(model, picture, guide, similarity="l2", direction="away")
    assert measure(engine, "l2", result.image, guide) > 1.2 * measure(engine, "l2", picture, guide)


@pytest.mark.parametrize("direction", ["toward", "away"])
def test_l1_moves_the_l1_distance_in_the_asked_direction(model, engine, picture, direction):
    guide = striped_guide()
    result = run(model, picture, guide, similarity="l1", direction=direction)
    before, after = measure(engine, "l1", picture, guide), measure(engine, "l1", result.image, guide)
    assert (after < before) if direction == "toward" else (after > before)


def test_dot_toward_the_guide_raises_the_normalised_dot_product(model, engine, picture):
    guide = striped_guide()
    result = run(model, picture, guide, similarity="dot", direction="toward")
    assert measure(engine, "dot", result.image, guide) > measure(engine, "dot", picture, guide) + 0.05


def test_dot_is_normalised_so_it_does_not_grow_with_image_size(engine, picture_factory):
    small, large = picture_factory(128, 128), picture_factory(256, 256)
    dot = feature_similarity(LAYER, "dot")
    assert engine.value(dot, small.astype(np.float32), small.astype(np.float32)) == pytest.approx(1.0, rel=1e-3)
    assert engine.value(dot, large.astype(np.float32), large.astype(np.float32)) == pytest.approx(1.0, rel=1e-3)


def test_best_match_accepts_a_guide_of_another_size_and_rises(model, engine, picture):
    guide = striped_guide(100, 300)  # not the dream's size nor its aspect ratio
    result = run(model, picture, guide, similarity="best_match")
    bag = dream.guided.guide_features(model, guide, LAYER)
    objective = best_match(LAYER, bag)
    assert result.image.shape == picture.shape
    assert engine.value(objective, result.image.astype(np.float32)) > engine.value(
        objective, picture.astype(np.float32))


def test_smoothness_lowers_total_variation(model, picture):
    guide = striped_guide()
    rough = run(model, picture, guide, similarity="dot", smoothness=0.0)
    smooth = run(model, picture, guide, similarity="dot", smoothness=30.0)
    assert total_variation(smooth.image) < 0.9 * total_variation(rough.image)


@pytest.mark.parametrize("norm", ["l1", "l2", "course"])
def test_every_smoothness_norm_runs_and_smooths(model, picture, norm):
    guide = striped_guide()
    rough = run(model, picture, guide, similarity="dot", smoothness=0.0)
    smooth = run(model, picture, guide, similarity="dot", smoothness=30.0, smoothness_norm=norm)
    assert total_variation(smooth.image) < total_variation(rough.image)


def test_dream_and_guide_may_differ_in_size_and_the_guide_may_be_the_dream(model, picture):
    result = run(model, picture, striped_guide(90, 120), similarity="l2")
    assert result.image.shape == picture.shape
    itself = run(model, picture, picture, similarity="dot")
    assert itself.image.shape == picture.shape
    assert not np.array_equal(itself.image, picture)


def test_result_has_frames_settings_and_a_gif(model, picture, tmp_path):
    import imageio.v3 as iio

    result = run(model, picture, striped_guide(), similarity="l2", direction="away", frames=3)
    assert len(result.frames) == 4
    assert result.settings["similarity"] == "l2" and result.settings["direction"] == "away"
    path = result.save_gif(tmp_path / "guided.gif")
    assert iio.imread(path).shape[0] == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": "mixed9z"}, "Unknown layer"),
    ({"similarity": "cosine"}, "Unknown similarity"),
    ({"direction": "sideways"}, "toward"),
    ({"smoothness": -1.0}, "smoothness"),
    ({"guide_weight": -2.0}, "guide_weight"),
    ({"smoothness_norm": "l3"}, "smoothness_norm"),
    ({"frames": 10_000}, "frames"),
])
def test_bad_arguments_are_refused_with_a_clear_message(model, picture, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(model, picture, striped_guide(), **kwargs)


def test_guide_features_from_another_layer_are_refused(model, engine, picture):
    bag = dream.guided.guide_features(model, striped_guide(), "mixed3a")
    wrong = best_match("mixed4e", bag)  # mixed3a's channel count, mixed4e's tensor
    with pytest.raises(ValueError, match="channels at mixed4e"):
        engine.run(wrong, picture.astype(np.float32), dream.Schedule(steps=1, octaves=1))


def test_guided_objective_signs_follow_the_direction(model):
    toward = guided_objective(model, LAYER, "l2", "toward")
    away = guided_objective(model, LAYER, "l2", "away")
    dot = guided_objective(model, LAYER, "dot", "toward")
    assert toward.terms[0][0] < 0 < away.terms[0][0]
    assert dot.terms[0][0] > 0


# ----------------------------------------------------------------------------- issue #9


def _coarse_share(change: np.ndarray, period: float = 32.0) -> float:
    """Share of the change's energy in structures larger than `period` px (DC left out)."""
    energy = sum(np.abs(np.fft.fft2(change[..., c])) ** 2 for c in range(3))
    fy, fx = np.fft.fftfreq(change.shape[0])[:, None], np.fft.fftfreq(change.shape[1])[None, :]
    radius = np.hypot(fx, fy)
    return float(energy[(radius > 0) & (radius < 1 / period)].sum() / energy[radius > 0].sum())


@pytest.mark.parametrize("guide_shape, dream_shape", [((100, 300), (160, 208)),
                                                      ((300, 100), (160, 208)),
                                                      ((90, 120), (160, 208)),
                                                      ((160, 208), (160, 208))])
def test_guide_crop_keeps_the_aspect_ratio(guide_shape, dream_shape):
    from dream.guided import centre_crop_to_aspect, fit_guide

    # Each pixel holds its own (row, column), so the crop says where it came from.
    rows, columns = np.mgrid[0:guide_shape[0], 0:guide_shape[1]]
    guide = np.stack([rows, columns, rows * 0], -1).astype(np.float32)
    crop = centre_crop_to_aspect(guide, dream_shape)
    assert abs(crop.shape[1] / crop.shape[0] - dream_shape[1] / dream_shape[0]) < 0.02
    assert crop.shape[0] == guide_shape[0] or crop.shape[1] == guide_shape[1]  # the largest
    # Centred: as much cut on each side, give or take one pixel.
    top, left = crop[0, 0, 0], crop[0, 0, 1]
    assert abs(top - (guide_shape[0] - 1 - crop[-1, 0, 0])) <= 1
    assert abs(left - (guide_shape[1] - 1 - crop[0, -1, 1])) <= 1
    assert fit_guide(striped_guide(*guide_shape), dream_shape).shape == (*dream_shape, 3)


def test_per_term_normalisation_has_a_lower_coarse_share_than_the_summed_laplacian(model, picture):
    # The earlier default normalised guide + smoothness together through a 4-level
    # Laplacian pyramid, which pushes the change into large structures.
    guide = striped_guide()
    common = dict(similarity="dot", smoothness=0.3, smoothness_norm="cadl", frames=2)
    per_term = run(model, picture, guide, **common,
                   schedule=dream.Schedule(steps=5, octaves=2, normalization="per_term"))
    summed = run(model, picture, guide, **common,
                 schedule=dream.Schedule(steps=5, octaves=2, normalization="sum", laplacian_levels=4))
    shares = [_coarse_share(r.image.astype(np.float64) - picture) for r in (per_term, summed)]
    assert shares[0] < 0.7 * shares[1], shares


def test_smoothness_norm_course_is_accepted_as_cadl(model, picture):
    result = run(model, picture, striped_guide(), similarity="dot", smoothness=0.3,
                 smoothness_norm="course", frames=1)
    assert result.settings["smoothness_norm"] == "cadl"


def test_guided_defaults_follow_the_issue(model):
    from dream.guided import GUIDED_SCHEDULE

    assert GUIDED_SCHEDULE.normalization == "per_term" and GUIDED_SCHEDULE.laplacian_levels == 0
    objective = guided_objective(model, LAYER, "dot", "toward", smoothness=0.5)
    assert objective.normalization_groups() == ((0,), (1,))  # guide and smoothness apart


def test_best_match_sees_the_guide_as_google_did(model, picture, monkeypatch):
    """The preset matches at mixed3b (inception_3b/output) against a guide fitted into
    224 px, whatever size the guide was sent at."""
    preset = dream.presets.PRESETS_BY_NAME["Best match (Google's guided dream)"]
    assert preset.settings["layer"] == "mixed3b" == dream.guided.BEST_MATCH_LAYER
    seen = []
    features = dream.guided.guide_features

    def watched(model, guide, layer, seed=0):
        seen.append(guide.shape)
        return features(model, guide, layer, seed)

    monkeypatch.setattr(dream.guided, "guide_features", watched)
    run(model, picture, striped_guide(600, 900), similarity="best_match")
    assert seen and max(seen[0][:2]) == dream.guided.GUIDE_SIDE == 224


def test_smoothness_smooths_the_change_and_leaves_the_photo_alone(engine):
    # A photo with hard edges. Smoothing the *image* (CADL's loss) blurs them; smoothing
    # the dream's change (the guided default) has nothing to do where nothing changed.
    y, x = np.mgrid[0:96, 0:128]
    photo = np.where(((x // 8) + (y // 8)) % 2 == 0, 40.0, 210.0)[..., None].repeat(3, -1).astype(np.float32)
    schedule = dream.Schedule(steps=6, octaves=1, step_size=2.0, jitter=8)
    from dream.objectives import total_variation as tv

    unchanged = engine.run(-1.0 * tv("cadl", of_change=True), photo, schedule)
    blurred = engine.run(-1.0 * tv("cadl"), photo, schedule)
    assert np.abs(unchanged - photo).max() < 1e-3
    assert np.abs(blurred - photo).max() > 5.0


def test_smoothness_of_the_change_is_measured_from_the_photo_over_all_frames(model, picture):
    # Frames after the first start from a dreamed image: the change is still measured from
    # the photo, so a smoothing-only run (guide weight 0) leaves the photo as it was.
    result = guided_dream(model, picture, striped_guide(), layer=LAYER, smoothness=1.0,
                          guide_weight=0.0, frames=2,
                          schedule=dream.Schedule(steps=3, octaves=2, normalization="per_term"))
    assert np.abs(result.image.astype(int) - picture.astype(int)).max() <= 1


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_two_guides_differ_in_the_result_at_least_as_the_network_sees_them(model, picture):
    # The guide's influence: the two results' changes must be no more alike (cosine) than
    # the network's features of the two guides are. Random weights see every image much
    # alike (features at cosine ~0.9), so this asks the dream to show all the difference
    # the network sees; on the full-size stand-in the changes' cosine was 0.84-0.87 against
    # the guides' 0.90-0.95 at the tab defaults (docs/DEFAULTS.md).
    from dream.guided import fit_guide
    from dream.presets import technique_defaults

    defaults = technique_defaults("guided")
    first = striped_guide()
    y, x = np.mgrid[0:160, 0:208]
    second = np.stack([np.where((x // 20) % 2 == 0, 230, 20), 128 + 0 * x,
                       np.where((y // 12) % 2 == 0, 20, 230)], -1).astype(np.uint8)
    changes, features = [], []
    features_of = model.features([LAYER])
    for guide in (first, second):
        result = guided_dream(model, picture, guide, layer=LAYER, smoothness=defaults["smoothness"],
                              frames=3)
        changes.append(result.image.astype(np.float64) - picture)
        fitted = fit_guide(guide, picture.shape[:2]).astype(np.float32)
        features.append(features_of(fitted[None])[LAYER].numpy())
    assert _cosine(*changes) <= _cosine(*features)
