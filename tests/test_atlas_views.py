"""More views of one channel (dream.atlas.views): negative, diverse, interpolation, cached."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from dream.atlas import Atlas, AtlasSettings
from dream.atlas import views

FAST = AtlasSettings(steps=16, batch=4)
LAYER = "mixed4a"


@pytest.fixture
def atlas(model, tmp_path):
    return Atlas(model, FAST, cache_dir=tmp_path / "atlas")


def _channel_means(model, images, channel: int) -> np.ndarray:
    tensor = model.pre_relu_of(LAYER)
    batch = np.stack(images).astype(np.float32)
    return model.features([tensor], "float32")(batch)[tensor].numpy()[..., channel].mean(axis=(1, 2))


def _gram_distance(model, images) -> float:
    """Mean pairwise distance of the images' normalised Gram matrices at LAYER."""
    acts = model.features([LAYER], "float32")(np.stack(images).astype(np.float32))[LAYER].numpy()
    grams = []
    for a in acts:
        flat = a.reshape(-1, a.shape[-1])
        gram = flat.T @ flat
        grams.append(gram / (np.linalg.norm(gram) + 1e-12))
    return float(np.mean([np.linalg.norm(grams[i] - grams[j])
                          for i in range(len(grams)) for j in range(i + 1, len(grams))]))


def test_channel_views_excite_and_inhibit_and_come_back_from_the_cache(model, atlas):
    channel = 3
    shown = views.channel_views(atlas, LAYER, channel)
    assert shown is not None and not shown.cached
    assert len(shown.diverse) == views.DIVERSE_COUNT
    positive, negative = _channel_means(model, [shown.positive, shown.negative], channel)
    assert positive > negative  # the tile excites the channel, the negative inhibits it
    noise = views._start(atlas, channel, "negative", 1)[0]
    assert negative < _channel_means(model, [noise], channel)[0]
    # The diverse images still excite the channel more than its negative does.
    assert _channel_means(model, shown.diverse, channel).min() > negative

    rendered = atlas.stats.rendered
    again = views.channel_views(atlas, LAYER, channel)
    assert again.cached and atlas.stats.rendered == rendered
    np.testing.assert_array_equal(again.negative, shown.negative)
    np.testing.assert_array_equal(np.stack(again.diverse), np.stack(shown.diverse))


def test_diversity_pushes_the_images_apart(model, atlas):
    # The same four starting images with and without the diversity term.
    from dream.objectives import channels

    channel = 5
    start = views._start(atlas, channel, "diverse", views.DIVERSE_COUNT)
    alike = atlas.optimise(channels(atlas.rendered_tensor(LAYER), [channel] * 4), start)
    varied = views.diverse(atlas, LAYER, channel)
    assert _gram_distance(model, varied) > _gram_distance(model, list(alike))


def test_interpolation_goes_from_one_channel_to_the_other_and_loops(model, atlas, tmp_path):
    first, second = 2, 7
    frames = views.interpolation(atlas, LAYER, first, second, frames=6)
    assert len(frames) == 6
    a = _channel_means(model, frames, first)
    b = _channel_means(model, frames, second)
    assert a[0] > a[-1] and b[-1] > b[0]
    video = views.write_loop(frames, tmp_path / "loop.mp4")
    decoded = iio.imread(video, plugin="pyav")
    assert decoded.shape[0] == 2 * 6 - 2  # forward, then back without repeating the ends


@pytest.mark.parametrize("call, message", [
    (lambda atlas: views.negative(atlas, LAYER, 10_000), "channel must be between 0 and"),
    (lambda atlas: views.diverse(atlas, LAYER, 0, count=20), "count must be between 2 and 8"),
    (lambda atlas: views.interpolation(atlas, LAYER, 0, 1, frames=99), "frames must be between 3 and 16"),
    (lambda atlas: views.negative(atlas, "mixed9z", 0), "mixed9z"),
])
def test_bad_requests_are_named(atlas, call, message):
    with pytest.raises(ValueError, match=message):
        call(atlas)
