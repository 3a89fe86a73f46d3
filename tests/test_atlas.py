"""The neuron atlas: tiles maximise their channel, batching, the disk cache, Stop, caps,
class search, and ranking the channels that fire on a photo."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

import dream
from dream import atlas as atlas_module
from dream import objectives
from dream import param as param_module
from dream import synthetic_model
from dream.atlas import Atlas, AtlasSettings, TileCache
from dream.atlas.redirected_relu import REDIRECTED_RELU, redirected_relu_gradient
from dream.limits import LimitError

# Few steps keep the tests fast; every property below already holds after them.
FAST = AtlasSettings(steps=16, batch=4)
LAYER = "mixed4c"


@pytest.fixture
def make_atlas(model, tmp_path):
    def make(settings=FAST, **options):
        options.setdefault("cache_dir", tmp_path / "atlas")
        return Atlas(model, settings, **options)

    return make


@pytest.fixture(scope="module")
def page_tiles(model):
    """A page of 8 tiles of mixed4c, rendered once for the tests that only look at them."""
    return list(Atlas(model, FAST, cache=False).page(LAYER, 0, per_page=8))


def _pre_relu_means(model, tiles) -> np.ndarray:
    """[tile, channel] mean of mixed4c's pre-ReLU tensor (what the tiles maximise)."""
    tensor = model.pre_relu_of(LAYER)
    images = np.stack([tile.image for tile in tiles]).astype(np.float32)
    return model.features([tensor], "float32")(images)[tensor].numpy().mean(axis=(1, 2))


# ----------------------------------------------------------------------------- tiles


def test_a_tile_maximises_its_own_channel(model, page_tiles):
    # Each tile's channel is higher on that tile than on any other tile of the page.
    # A channel that stays negative on its own tile is dead on these random weights: its
    # best picture is a flat one, and two dead channels' flat tiles tie; they are exempt.
    means = _pre_relu_means(model, page_tiles)
    channels = [tile.index for tile in page_tiles]
    own = means[np.arange(len(channels)), channels]
    live = own > 0
    assert live.sum() >= 6, own
    for k in np.flatnonzero(live):
        others = np.delete(means[:, channels[k]], k)
        assert own[k] > others.max(), (channels[k], own[k], others)
    start = _pre_relu_means(model, [replace(tile, image=image.astype(np.uint8)) for tile, image in
                                    zip(page_tiles, atlas_module.start_images(channels, FAST))])
    assert (own[live] > start[np.arange(len(channels)), channels][live] + 5).all()


def test_tiles_are_labelled_uint8_pictures(page_tiles):
    assert [tile.index for tile in page_tiles] == list(range(8))
    assert [tile.label for tile in page_tiles][:2] == ["mixed4c:0", "mixed4c:1"]
    for tile in page_tiles:
        assert tile.image.shape == (128, 128, 3) and tile.image.dtype == np.uint8
        assert tile.image.std() > 10  # a pattern, not the grey it started near
        assert not tile.cached and tile.path is None


def test_batched_equals_one_by_one(model):
    # Same seed, same settings, a batch of 4 against one at a time. oneDNN rounds a
    # batch of another size differently (~1e-4 px after one step) and optimisation from
    # noise amplifies that, so the tolerance is "the same picture": after 16 steps every
    # tile correlates at ≥ 0.85 with its one-by-one twin and differs by ≤ 10 levels on
    # average (measured with the sigmoid: 5 of 8 bit for bit, the others 0.89–0.99 and
    # 3–8.5 levels; with the clip it was 0.99–1.0 and ≤ 0.8, as the clip pulls nearby
    # runs onto the same 0 and 255). Starting noise moved by 0.001 px changes a tile more
    # (0.63–0.91, 10–16 levels); tiles of different channels correlate at ~0.1.
    channels = [0, 3, 5, 9, 12, 20, 33, 40]
    batched = list(Atlas(model, FAST, cache=False).tiles(LAYER, channels))
    alone = list(Atlas(model, replace(FAST, batch=1), cache=False).tiles(LAYER, channels))

    def correlation(a, b):
        a, b = a.astype(float) - a.mean(), b.astype(float) - b.mean()
        return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())

    for a, b in zip(batched, alone):
        assert a.index == b.index
        assert correlation(a.image, b.image) >= 0.85, a.index
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() <= 10, a.index
    assert correlation(batched[0].image, batched[1].image) < 0.5


def test_tiles_arrive_batch_by_batch(make_atlas):
    seen = []
    atlas = make_atlas(cache=False)
    for tile in atlas.tiles(LAYER, range(6)):
        seen.append((tile.index, atlas.stats.rendered))
    # The first batch (4) is yielded before the second (2) is rendered.
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 6), (5, 6)]


def test_class_tiles_and_search(model, make_atlas):
    assert model.class_index("jellyfish") == 1
    found = atlas_module.search_classes(model, "fish")
    assert (1, "jellyfish") in found and (2, "goldfish") in found
    assert all("fish" in name for _, name in found)
    with pytest.raises(ValueError, match="Did you mean 'jellyfish'"):
        atlas_module.search_classes(model, "jelyfish")
    assert len(atlas_module.search_classes(model, "")) == len(model.class_names)

    atlas = make_atlas(replace(FAST, steps=4))
    tiles = list(atlas.class_tiles(["jellyfish", 5]))
    assert [(t.index, t.label) for t in tiles] == [(1, "jellyfish (class 1)"), (5, "tabby (class 5)")]
    assert tiles[0].path.parent.parent.name == atlas_module.CLASS_LAYER
    with pytest.raises(ValueError, match="Unknown class"):
        atlas.class_tiles(["no such class"])
    page = list(atlas.class_page("fish", 0, per_page=2))
    assert [t.index for t in page] == [1, 2] and all(t.cached for t in page[:1])
    with pytest.raises(ValueError, match="no page 5"):
        atlas.class_page("fish", 5, per_page=2)
    with pytest.raises(ValueError, match="No class name contains 'zzz'"):
        atlas.class_page("zzz")


# ----------------------------------------------------------------------------- sigmoid, ReLU warm-up


def test_the_sigmoid_parametrisation_is_exact():
    # pixels = 255·σ(u / SIGMOID_SCALE), u the linear Fourier image of parameters p: the
    # engine's parameter gradient is the true one, and an update lands exactly on p + update.
    sigmoid = param_module.parametrization("fourier_sigmoid")
    rng = np.random.default_rng(0)
    parameters = tf.constant(rng.normal(0, 20, (2, 3, 16, 9, 2)), tf.float32)

    def pixels_of(p):
        u = param_module.fourier_to_pixels_linear(p, 16, 16)
        return 255.0 * tf.sigmoid(u / param_module.SIGMOID_SCALE)

    pixels = pixels_of(parameters)
    weights = tf.constant(rng.normal(0, 1, (2, 16, 16, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(parameters)
        value = tf.reduce_sum(weights * pixels_of(parameters))
    true = tape.gradient(value, parameters)
    # The half spectrum's imaginary parts at the DC and Nyquist bins do not reach the
    # pixels; compare through the pixels the gradients move.
    ours = sigmoid.to_parameters_gradient(pixels, weights)
    assert np.allclose(param_module.fourier_to_pixels_linear(ours, 16, 16),
                       param_module.fourier_to_pixels_linear(true, 16, 16), atol=1e-3)
    update = tf.constant(rng.normal(0, 5, parameters.shape), tf.float32)
    moved = pixels + sigmoid.to_pixels_linear(pixels, update)
    assert np.allclose(moved, pixels_of(parameters + update), atol=1e-2)
    assert np.abs(sigmoid.to_pixels_linear(pixels, tf.zeros_like(update))).max() < 1e-2


def test_the_sigmoid_keeps_pixels_inside_and_raises_the_channel(model):
    # Steps of 40 px for 16 steps: the clip drives pixels to 0 and 255, the sigmoid only
    # towards them; either way the channels rise.
    engine = dream.engine_for(model)
    channels = [0, 1, 2, 3]
    settings = replace(FAST, step_size=40.0, relu_warmup=0)
    objective = objectives.channels(model.pre_relu_of(LAYER), channels)
    start = atlas_module.start_images(channels, settings)
    squashed = engine.run(objective, start, settings.schedule())
    clipped = engine.run(objective, start, replace(settings, sigmoid=False).schedule())
    assert clipped.min() == 0.0 or clipped.max() == 255.0
    assert 0.0 < squashed.min() and squashed.max() < 255.0
    assert squashed.std() > start.std() + 10  # it did move (a contrast, not the noise)
    tensor = model.pre_relu_of(LAYER)
    means = model.features([tensor], "float32")(tf.constant(np.concatenate([start, squashed])))
    means = means[tensor].numpy().mean(axis=(1, 2))
    before, after = means[np.arange(4), channels], means[4 + np.arange(4), channels]
    assert (after > before + 5).all(), (before, after)


def test_the_redirected_relu_gradient_follows_lucid():
    # Element 0: the ordinary gradient passes somewhere, so it is used as is. Element 1:
    # nothing passes, so the incoming gradient is redirected, except where it would push
    # a negative input further down (the engine ascends: a negative gradient).
    features = np.float32([[-1.0, 2.0, -3.0], [-1.0, -2.0, -3.0]])
    incoming = np.float32([[1.0, 1.0, -1.0], [1.0, -1.0, 2.0]])
    for dtype in (tf.float32, tf.bfloat16):
        result = redirected_relu_gradient(tf.constant(features, dtype), tf.constant(incoming, dtype))
        assert result.dtype == dtype
        assert np.array_equal(tf.cast(result, tf.float32).numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 2.0]])


def _dead_channels(model) -> list[int]:
    """mixed4c channels that are ≤ 0 everywhere on their own starting noise (post-ReLU 0)."""
    count = model.layer(LAYER).channels
    images = atlas_module.start_images(range(count), FAST)
    activations = model.features([LAYER], "float32")(tf.constant(images))[LAYER].numpy()
    return [c for c in range(count) if activations[c, ..., c].max() <= 0]


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_warm_up_gradient_reaches_a_dead_channel(model, precision):
    channel = _dead_channels(model)[0]
    pixels = tf.constant(atlas_module.start_images([channel], FAST))

    def gradient(features):
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            value = tf.reduce_mean(features(pixels)[LAYER][..., channel])
        return tape.gradient(value, pixels).numpy()

    ordinary = model.features([LAYER], precision)
    redirected = model.features([LAYER], precision, REDIRECTED_RELU)
    assert redirected is not ordinary and model.features([LAYER], precision, ()) is ordinary
    assert np.abs(gradient(ordinary)).max() == 0.0  # the ReLU blocks it everywhere
    assert np.abs(gradient(redirected)).mean() > 1e-6
    # Where the ReLU passes, the redirected gradient is the ordinary one.
    live = tf.constant(atlas_module.start_images([0], FAST))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(live)
        values = [tf.reduce_sum(f(live)[LAYER]) for f in (ordinary, redirected)]
    first, second = (tape.gradient(value, live).numpy() for value in values)
    assert np.abs(first - second).max() <= 1e-4 * np.abs(first).max()


def test_the_warm_up_moves_dead_channels_then_hands_over(model, make_atlas, monkeypatch):
    # Channels off everywhere on their noise, rendered on the post-ReLU layer: without the
    # warm-up some get no gradient at all and stay their noise; with it every one of
    # those moves. The first 16 steps run with the redirected gradient, the rest with the
    # ordinary one, as one Adam optimisation (the same moments).
    dead = _dead_channels(model)[:4]
    settings = replace(FAST, steps=24, pre_relu=False)
    start = atlas_module.start_images(dead, settings)
    calls = []
    engine = dream.engine_for(model)  # the engine every atlas of this model uses
    run = engine.run

    def recording(objective, image, schedule, **options):
        calls.append((options["step_offset"], schedule.steps, schedule.gradient_overrides,
                      id(options["optimizer_state"])))
        return run(objective, image, schedule, **options)

    monkeypatch.setattr(engine, "run", recording)
    plain = make_atlas(replace(settings, relu_warmup=0), cache=False).render_batch(LAYER, dead)
    warmed = make_atlas(settings, cache=False).render_batch(LAYER, dead)
    assert [call[:3] for call in calls] == [(0, 24, ()), (0, 16, REDIRECTED_RELU), (16, 8, ())]
    assert calls[1][3] == calls[2][3]

    def change(tiles):
        return np.abs(tiles.astype(float) - start).mean(axis=(1, 2, 3))

    stuck = change(plain) < 0.5  # only the rounding to uint8
    assert stuck.any(), change(plain)
    assert (change(warmed)[stuck] > 5).all(), change(warmed)


# ----------------------------------------------------------------------------- bad input, caps


def test_bad_requests_are_refused_before_any_work(make_atlas):
    atlas = make_atlas()
    channels = atlas.channel_count(LAYER)
    with pytest.raises(ValueError, match="Unknown layer 'mixed9z'"):
        atlas.page("mixed9z")
    with pytest.raises(ValueError, match="no page 99"):
        atlas.page(LAYER, 99)
    last = atlas.page_count(LAYER, 24) - 1
    assert atlas.page_channels(LAYER, last, 24)[-1] == channels - 1
    with pytest.raises(ValueError, match=f"no {LAYER} channel {channels}"):
        atlas.tiles(LAYER, [0, channels])
    with pytest.raises(LimitError, match="at most 48 tiles"):
        atlas.tiles(LAYER, range(49))
    with pytest.raises(LimitError, match="A page holds 1 to 48"):
        atlas.page(LAYER, 0, per_page=49)
    with pytest.raises(LimitError, match="at most 48"):
        atlas.class_tiles(range(1, 50))
    assert atlas.stats.rendered == 0


# ----------------------------------------------------------------------------- stop


def test_stop_before_the_first_batch_finishes(make_atlas):
    atlas = make_atlas(replace(FAST, steps=64))
    calls = []

    def stop():
        calls.append(time.perf_counter())
        return len(calls) > 1  # the check before the batch says go, the first report stops

    assert list(atlas.tiles(LAYER, range(8), should_stop=stop)) == []
    assert atlas.stats.rendered == 0 and atlas.cache.size() == 0
    assert len(calls) == 2  # it stopped at the first report (8 of 64 steps)


def test_stop_between_batches_keeps_finished_tiles(make_atlas):
    atlas = make_atlas()
    tiles = []
    for tile in atlas.tiles(LAYER, range(8), should_stop=lambda: len(tiles) >= 4):
        tiles.append(tile)
    assert [t.index for t in tiles] == [0, 1, 2, 3]
    assert atlas.stats.rendered == 4
    # What finished is cached: asking again renders only the rest.
    again = list(atlas.tiles(LAYER, range(8)))
    assert [t.cached for t in again] == [True] * 4 + [False] * 4
    assert atlas.stats.rendered == 8


def test_progress_is_reported(make_atlas):
    fractions = []
    list(make_atlas(cache=False).tiles(LAYER, range(4), progress=fractions.append))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 2


# ----------------------------------------------------------------------------- the disk cache


def test_a_second_request_computes_nothing(make_atlas, monkeypatch):
    atlas = make_atlas()
    first = list(atlas.page(LAYER, 1, per_page=4))
    assert atlas.stats.rendered == 4 and atlas.stats.from_cache == 0
    assert all(t.path.is_file() for t in first)

    # Another atlas on the same folder (another worker, or after a restart): the engine
    # must not be called at all.
    monkeypatch.setattr(atlas.engine, "run", lambda *a, **k: pytest.fail("the engine ran"))
    for again in (atlas, make_atlas()):
        tiles = list(again.page(LAYER, 1, per_page=4))
        assert again.stats.rendered == (4 if again is atlas else 0)
        assert again.stats.from_cache == 4 and all(t.cached for t in tiles)
        for a, b in zip(first, tiles):
            assert a.index == b.index and np.array_equal(a.image, b.image)


def test_cache_layout_and_key(model, make_atlas, tmp_path):
    atlas = make_atlas()
    tile = next(iter(atlas.tiles(LAYER, [7])))
    hash_folder = atlas_module.model_hash(model)[:16]
    assert tile.path == (tmp_path / "atlas" / hash_folder / LAYER / FAST.key() / "7.png")
    assert (tile.path.parent / "settings.json").is_file()
    assert atlas.cached(LAYER, 7) is not None and atlas.cached(LAYER, 8) is None
    # Settings that change the pixels change the key; the batch size does not.
    assert replace(FAST, steps=17).key() != FAST.key()
    assert replace(FAST, pre_relu=False).key() != FAST.key()
    assert replace(FAST, sigmoid=False).key() != FAST.key()
    assert replace(FAST, relu_warmup=0).key() != FAST.key()
    assert replace(FAST, batch=1).key() == FAST.key()


def test_tiles_cached_before_the_sigmoid_and_warm_up_are_stale():
    # The keys these settings had before (RENDER_VERSION 1, no sigmoid, no warm-up): the
    # new renders live in other folders, so no old tile is served as a new one.
    assert AtlasSettings(steps=16, batch=4).key() != "b7162f98bb6a"
    assert atlas_module.DEFAULT_SETTINGS.key() != "00317cc13d21"
    assert replace(FAST, sigmoid=False, relu_warmup=0).key() != "b7162f98bb6a"
    assert atlas_module.RENDER_VERSION >= 2


def test_a_changed_model_file_invalidates_the_cache(tmp_path, model_width):
    folder = synthetic_model.write_model_dir(tmp_path / "model", width=model_width, seed=3)
    cache = tmp_path / "atlas"
    settings = replace(FAST, steps=2)
    first = dream.load_model(folder)
    atlas = Atlas(first, settings, cache_dir=cache)
    list(atlas.tiles("mixed3a", [0, 1]))
    assert atlas.stats.rendered == 2

    # The same bytes loaded again (a restart): a new model object, the same hash.
    reloaded = dream.model._load(folder / synthetic_model.GRAPH_FILE, folder / synthetic_model.LABELS_FILE)
    assert reloaded is not first
    again = Atlas(reloaded, settings, cache_dir=cache)
    list(again.tiles("mixed3a", [0, 1]))
    assert again.stats.rendered == 0 and again.stats.from_cache == 2

    # Other weights in the same file: load_model sees the new file, the tiles are stale.
    synthetic_model.write_model_dir(folder, width=model_width, seed=4)
    stat = (folder / synthetic_model.GRAPH_FILE).stat()
    os.utime(folder / synthetic_model.GRAPH_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = dream.load_model(folder)
    assert changed is not first
    assert atlas_module.model_hash(changed) != atlas_module.model_hash(first)
    fresh = Atlas(changed, settings, cache_dir=cache)
    tiles = list(fresh.tiles("mixed3a", [0, 1]))
    assert fresh.stats.rendered == 2 and not any(t.cached for t in tiles)


def test_the_cache_stays_within_its_bound(tmp_path):
    # Noise PNGs of one size; room for 5.5 of them. Writing the sixth evicts down to 90 %
    # of the bound (4 tiles), least recently used first.
    rng = np.random.default_rng(0)
    probe = TileCache(tmp_path / "probe")
    probe.write(tmp_path / "probe" / "x.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    size = probe.size()
    cache = TileCache(tmp_path / "c", max_bytes=int(5.5 * size))
    paths = [tmp_path / "c" / "model" / "layer" / "key" / f"{k}.png" for k in range(6)]
    for k, path in enumerate(paths[:5]):
        cache.write(path, rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
        os.utime(path, (1000 + k, 1000 + k))  # a clear age order
    assert cache.read(paths[0]) is not None  # used again: now the most recent
    cache.write(paths[5], rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    assert cache.size() <= 5.5 * size
    assert [path.is_file() for path in paths] == [True, False, False, True, True, True]


def test_a_damaged_tile_is_rendered_again(make_atlas):
    atlas = make_atlas()
    tile = next(iter(atlas.tiles(LAYER, [2])))
    tile.path.write_bytes(b"not a png")
    again = next(iter(atlas.tiles(LAYER, [2])))
    assert not again.cached and atlas.stats.rendered == 2


# ----------------------------------------------------------------------------- what fires on my photo


def test_rank_channels_orders_by_mean_activation(model, picture):
    ranking = atlas_module.rank_channels(model, picture, LAYER, top=10)
    means = atlas_module.channel_means(model, picture[None], LAYER)[0]
    expected = np.argsort(-means, kind="stable")[:10]
    assert [c.channel for c in ranking.channels] == list(expected)
    assert [c.rank for c in ranking.channels] == list(range(10))
    got = [c.mean_activation for c in ranking.channels]
    assert got == sorted(got, reverse=True)
    assert np.allclose(got, means[expected], rtol=1e-5)
    assert ranking.image.shape == picture.shape
    assert np.allclose(ranking.means, means, rtol=1e-5)
    for channel in ranking.channels:
        assert channel.heat.shape == picture.shape[:2] and channel.heat.dtype == np.float32
        assert 0.0 <= channel.heat.min() and channel.heat.max() == pytest.approx(1.0)
        assert channel.overlay.shape == picture.shape and channel.overlay.dtype == np.uint8


def test_the_heat_map_shows_where_a_channel_fires(model, page_tiles):
    # A photo that is grey but for one channel's tile in its top-left corner: that
    # channel's heat map is hotter on the tile than on the grey.
    means = _pre_relu_means(model, page_tiles)
    live = [t for k, t in enumerate(page_tiles) if means[k, t.index] > 0]
    tile = live[0]
    photo = np.full((256, 320, 3), 118, np.uint8)
    photo[:128, :128] = tile.image
    ranking = atlas_module.rank_channels(model, photo, LAYER, top=model.layer(LAYER).channels)  # all 64
    heat = next(c.heat for c in ranking.channels if c.channel == tile.index)
    inside, outside = heat[16:112, 16:112].mean(), heat[160:, 160:].mean()
    assert inside > outside + 0.2, (inside, outside)


def test_rank_channels_bad_input(model, picture):
    with pytest.raises(ValueError, match="Unknown layer"):
        atlas_module.rank_channels(model, picture, "mixed9z")
    for top in (0, model.layer(LAYER).channels + 1):
        with pytest.raises(LimitError, match="top must be between 1 and"):
            atlas_module.rank_channels(model, picture, LAYER, top=top)
    big = np.zeros((700, 900, 3), np.uint8)
    ranking = atlas_module.rank_channels(model, big, LAYER, top=2)
    assert max(ranking.image.shape[:2]) == atlas_module.RANK_MAX_SIDE and ranking.notes
    assert ranking.channels[0].heat.shape == ranking.image.shape[:2]


def test_heat_overlay_and_colours():
    heat = np.linspace(0, 1, 50, dtype=np.float32)[None].repeat(10, 0)
    colours = atlas_module.colorize(heat)
    assert colours.dtype == np.uint8 and tuple(colours[0, 0]) == (0, 0, 4)
    assert tuple(colours[0, -1]) == (252, 255, 164)
    photo = np.full((10, 50, 3), 200, np.uint8)
    overlay = atlas_module.heat_overlay(photo, heat)
    assert overlay.shape == photo.shape and overlay.dtype == np.uint8
    assert overlay[0, 0].mean() < overlay[0, -1].mean()  # silent: dimmed; firing: bright colour
    with pytest.raises(ValueError):
        atlas_module.heat_overlay(photo, heat[:, :10])


# ----------------------------------------------------------------------------- command line


def test_parse_indices():
    assert atlas_module.parse_indices("0-3,7,2", 10) == [0, 1, 2, 3, 7]
    assert atlas_module.parse_indices("all", 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="outside 0–9"):
        atlas_module.parse_indices("5-10", 10)
    with pytest.raises(ValueError, match="Cannot read"):
        atlas_module.parse_indices("a-b", 10)


def test_command_line_precomputes_into_the_cache(model_dir, tmp_path, capsys):
    cache = tmp_path / "atlas"
    code = atlas_module.main(["--layer", "mixed3a", "--model", str(model_dir), "--channels", "0-2",
                              "--steps", "2", "--cache-dir", str(cache)])
    assert code == 0
    out = capsys.readouterr().out
    assert "3/3 tiles (3 rendered, 0 cached)" in out and "done: 3 rendered" in out
    assert len(list(cache.rglob("*.png"))) == 3
    atlas_module.main(["--layer", "mixed3a", "--model", str(model_dir), "--channels", "0-2",
                       "--steps", "2", "--cache-dir", str(cache)])
    assert "done: 0 rendered, 3 were cached" in capsys.readouterr().out
    assert atlas_module.main(["--layer", "nope", "--model", str(model_dir)]) == 2
    assert "Unknown layer" in capsys.readouterr().err


def test_atlas_for_is_shared_and_does_not_keep_the_model_alive(model_dir):
    import gc
    import weakref

    first = dream.model._load(model_dir / synthetic_model.GRAPH_FILE, model_dir / synthetic_model.LABELS_FILE)
    assert atlas_module.atlas_for(first) is atlas_module.atlas_for(first)
    assert atlas_module.atlas_for(first, FAST) is not atlas_module.atlas_for(first)
    atlas_module.model_hash(first)
    alive = weakref.ref(first)
    del first
    gc.collect()
    assert alive() is None


def test_an_unwritable_cache_still_serves_tiles(make_atlas, tmp_path):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    atlas = make_atlas(replace(FAST, steps=2), cache_dir=blocker / "atlas")
    tiles = list(atlas.tiles(LAYER, [0, 1]))
    assert [t.index for t in tiles] == [0, 1] and atlas.stats.rendered == 2
    assert atlas.cached(LAYER, 0) is None


def test_operator_sets_the_atlas_steps_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("DREAM_ATLAS_STEPS", "200")
    settings = atlas_module._settings_from_environment()
    assert settings.steps == 200 and settings.key() != AtlasSettings().key()
    monkeypatch.setenv("DREAM_ATLAS_STEPS", "many")
    with pytest.raises(ValueError, match="DREAM_ATLAS_STEPS must be a whole number"):
        atlas_module._settings_from_environment()
    monkeypatch.delenv("DREAM_ATLAS_STEPS")
    assert atlas_module._settings_from_environment().steps == AtlasSettings().steps == 384
