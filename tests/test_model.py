"""Finding, downloading and loading inception5h (on the generated stand-in)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dream
from dream import model as model_module
from dream import synthetic_model
from dream.model import GRAPH_FILE, LABELS_FILE, MODEL_URL, ModelUnavailable

# Same as conftest's MODEL_WIDTH/MODEL_SEED (checked by test_fixture_width_matches).
MODEL_WIDTH = 0.125
MODEL_SEED = 0


def _write_dir(folder: Path, seed: int = MODEL_SEED) -> Path:
    return synthetic_model.write_model_dir(folder, width=MODEL_WIDTH, seed=seed)


def _serve_model_zip(http_server, model_zip: Path, monkeypatch):
    """Serves the generated inception5h.zip on loopback and points the download at it."""
    server = http_server(model_zip.parent)
    monkeypatch.setenv("DREAM_MODEL_URL", server.url(model_zip.name))
    return server


def _cached_files(cache: Path) -> Path:
    return cache / "models" / "inception5h"


# ----------------------------------------------------------------------------- resolution


def test_explicit_folder(tmp_path, fresh_cache, unreachable_url, monkeypatch):
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    folder = _write_dir(tmp_path / "explicit")
    model = dream.load_model(folder)
    assert Path(model.source) == (folder / GRAPH_FILE).resolve()
    assert model.labels[1] == "jellyfish"
    assert not _cached_files(fresh_cache).exists()  # nothing downloaded


def test_explicit_zip(tmp_path, fresh_cache, unreachable_url, monkeypatch):
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    archive = synthetic_model.write_model_zip(tmp_path / "inception5h.zip", MODEL_WIDTH)
    model = dream.load_model(archive)
    # Extracted into the cache's "extracted" folder, not next to the user's zip.
    assert Path(model.source).is_relative_to(fresh_cache.resolve() / "extracted")
    assert {layer.name for layer in model.layers} >= {"mixed4c", "mixed5b"}
    # A second load reuses the extraction and the loaded model.
    assert dream.load_model(archive) is model


def test_env_model_dir_folder(tmp_path, fresh_cache, unreachable_url, monkeypatch):
    folder = _write_dir(tmp_path / "env-folder")
    monkeypatch.setenv("DREAM_MODEL_DIR", str(folder))
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    model = dream.load_model()
    assert Path(model.source) == (folder / GRAPH_FILE).resolve()


def test_env_model_dir_nested_folder(tmp_path, fresh_cache, monkeypatch):
    # Some unzippers add a level: <dir>/inception5h/<files>.
    outer = tmp_path / "env-nested"
    _write_dir(outer / "inception5h")
    monkeypatch.setenv("DREAM_MODEL_DIR", str(outer))
    model = dream.load_model()
    assert Path(model.source).parent.name == "inception5h"


def test_env_model_dir_zip(tmp_path, fresh_cache, unreachable_url, monkeypatch):
    archive = synthetic_model.write_model_zip(tmp_path / "env" / "inception5h.zip", MODEL_WIDTH)
    monkeypatch.setenv("DREAM_MODEL_DIR", str(archive))
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    model = dream.load_model()
    source = Path(model.source)
    assert source.name == GRAPH_FILE and (source.parent / LABELS_FILE).is_file()
    assert source.is_relative_to(fresh_cache.resolve())


def test_explicit_path_wins_over_env(tmp_path, fresh_cache, monkeypatch):
    env_folder = _write_dir(tmp_path / "from-env")
    explicit = _write_dir(tmp_path / "explicit-wins")
    monkeypatch.setenv("DREAM_MODEL_DIR", str(env_folder))
    assert Path(dream.load_model(explicit).source).parent == explicit.resolve()


def test_env_model_dir_without_model_files(tmp_path, fresh_cache, monkeypatch, caplog):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("DREAM_MODEL_DIR", str(empty))
    with pytest.raises(ModelUnavailable, match="DREAM_MODEL_DIR") as error:
        dream.load_model()
    message = str(error.value)
    # The folder by its name only; its full path goes to the log.
    assert "'empty'" in message and GRAPH_FILE in message and str(tmp_path) not in message
    assert str(empty) in caplog.text


def test_bad_zip_is_refused(tmp_path, fresh_cache):
    archive = tmp_path / "inception5h.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("README", "no model in here")
    with pytest.raises(ModelUnavailable, match=GRAPH_FILE):
        dream.load_model(archive)


def test_corrupt_graph_in_user_folder(tmp_path, fresh_cache):
    folder = _write_dir(tmp_path / "corrupt-user")
    (folder / GRAPH_FILE).write_bytes(b"\x0a\xff\xff not a protobuf")
    with pytest.raises(ModelUnavailable, match="not (a valid TensorFlow graph|the inception5h graph)"):
        dream.load_model(folder)


def _assert_private(message: str, caplog, *paths: Path) -> None:
    """No server folder in the message; the full path in the log."""
    for path in paths:
        assert str(path.parent) not in message
        assert str(path) in caplog.text


def test_a_file_that_is_not_a_zip_is_named_as_such(tmp_path, fresh_cache, monkeypatch, caplog):
    # Before, DREAM_MODEL_DIR pointing at a non-zip file fell through to "No … found at <path>".
    for name, content in (("inception5h.zip", b"<html>Error 404</html>"),  # a failed download
                          ("model.bin", b"\x00" * 64)):
        bogus = tmp_path / name
        bogus.write_bytes(content)
        monkeypatch.setenv("DREAM_MODEL_DIR", str(bogus))
        with pytest.raises(ModelUnavailable) as error:
            dream.load_model()
        message = str(error.value)
        assert message.startswith(f"{name} is not a valid zip file.") and "DREAM_MODEL_DIR" in message
        _assert_private(message, caplog, bogus)


def test_a_truncated_or_damaged_zip_is_not_a_valid_zip_file(tmp_path, fresh_cache, model_zip, caplog):
    whole = model_zip.read_bytes()
    truncated = tmp_path / "truncated" / "inception5h.zip"  # an interrupted download
    truncated.parent.mkdir()
    truncated.write_bytes(whole[: len(whole) // 2])
    damaged = tmp_path / "damaged" / "inception5h.zip"  # the directory is intact, a member is not
    damaged.parent.mkdir()
    middle = len(whole) // 3
    damaged.write_bytes(whole[:middle] + bytes(64) + whole[middle + 64:])
    for archive in (truncated, damaged):
        with pytest.raises(ModelUnavailable, match=r"^inception5h\.zip is not a valid zip file") as error:
            dream.load_model(archive)
        _assert_private(str(error.value), caplog, archive)
    assert not any((fresh_cache / "extracted").glob("*/*.pb"))  # no half-extracted copy kept


def test_a_zip_without_the_model_files_says_so(tmp_path, fresh_cache, caplog):
    archive = tmp_path / "inception5h.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("README", "no model in here")
    with pytest.raises(ModelUnavailable, match=f"inception5h.zip holds no {GRAPH_FILE}") as error:
        dream.load_model(archive)
    _assert_private(str(error.value), caplog, archive)


def test_the_graph_file_itself_can_be_given(tmp_path, fresh_cache):
    folder = _write_dir(tmp_path / "by-file")
    assert Path(dream.load_model(folder / GRAPH_FILE).source) == (folder / GRAPH_FILE).resolve()


def test_a_graph_missing_nodes_names_them(tmp_path, fresh_cache, caplog):
    folder = _write_dir(tmp_path / "other-graph")
    graph_def = synthetic_model.build_graph_def(width=MODEL_WIDTH, seed=MODEL_SEED)
    kept = [node for node in graph_def.node if not node.name.startswith("softmax2")]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    (folder / GRAPH_FILE).write_bytes(graph_def.SerializeToString())
    with pytest.raises(ModelUnavailable) as error:
        dream.load_model(folder)
    message = str(error.value)
    assert message.startswith(f"{GRAPH_FILE} is not the inception5h graph: it has no node "
                              f"'softmax2_pre_activation'.")
    _assert_private(message, caplog, folder / GRAPH_FILE)
    # Several missing nodes are all named.
    kept = [node for node in graph_def.node if node.name not in ("input", "mixed4c")]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    (folder / GRAPH_FILE).write_bytes(graph_def.SerializeToString())
    with pytest.raises(ModelUnavailable, match="it has no nodes 'input', 'mixed4c', "
                                               "'softmax2_pre_activation'"):
        dream.load_model(folder)


def test_a_corrupt_graph_is_named_without_its_folder(tmp_path, fresh_cache, caplog):
    folder = _write_dir(tmp_path / "corrupt-named")
    (folder / GRAPH_FILE).write_bytes(b"\x0a\xff\xff not a protobuf")
    with pytest.raises(ModelUnavailable, match=f"^{GRAPH_FILE} is not a valid TensorFlow graph") as error:
        dream.load_model(folder)
    _assert_private(str(error.value), caplog, folder / GRAPH_FILE)


def test_a_failed_download_message_has_no_server_paths(fresh_cache, monkeypatch):
    import keras

    def refuse(**kwargs):
        raise PermissionError(f"[Errno 13] Permission denied: '{kwargs['cache_dir']}/models/x.zip'")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    with pytest.raises(ModelUnavailable, match="Permission denied: 'x.zip'") as error:
        dream.load_model()
    assert str(fresh_cache) not in str(error.value)


def test_valid_cache_is_used_without_network(fresh_cache, unreachable_url, monkeypatch):
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    cached = _write_dir(_cached_files(fresh_cache))
    model = dream.load_model()
    assert Path(model.source) == (cached / GRAPH_FILE).resolve()


def test_download_into_cache_then_offline(fresh_cache, model_zip, http_server,
                                          monkeypatch):
    server = _serve_model_zip(http_server, model_zip, monkeypatch)

    model = dream.load_model()
    cached = _cached_files(fresh_cache)
    assert (cached / GRAPH_FILE).is_file() and (cached / LABELS_FILE).is_file()
    assert Path(model.source) == (cached / GRAPH_FILE).resolve()
    assert server.requests == ["/inception5h.zip"]
    assert model.class_index("jellyfish") == 1

    server.stop()  # from now on the URL refuses connections
    again = dream.load_model()
    assert Path(again.source) == Path(model.source)
    assert again.layer("mixed4c") == model.layer("mixed4c")
    # The graph is still read from the cache on a fresh resolution.
    graph, labels = model_module.resolve_model_files()
    assert graph == cached / GRAPH_FILE and labels == cached / LABELS_FILE


def test_corrupt_cache_is_fetched_again(fresh_cache, model_zip, http_server,
                                        monkeypatch):
    cached = _write_dir(_cached_files(fresh_cache))
    good = (cached / GRAPH_FILE).read_bytes()
    (cached / GRAPH_FILE).write_bytes(good[: len(good) // 3])  # an interrupted copy

    server = _serve_model_zip(http_server, model_zip, monkeypatch)

    model = dream.load_model()
    assert server.requests == ["/inception5h.zip"]
    assert (cached / GRAPH_FILE).read_bytes() == zipfile.ZipFile(model_zip).read(GRAPH_FILE)
    assert model.has_tensor("mixed4c")


def test_cache_with_missing_label_file_is_fetched_again(fresh_cache, model_zip, http_server,
                                                        monkeypatch):
    cached = _write_dir(_cached_files(fresh_cache))
    (cached / LABELS_FILE).unlink()
    server = _serve_model_zip(http_server, model_zip, monkeypatch)
    model = dream.load_model()
    assert len(server.requests) == 1
    assert (cached / LABELS_FILE).is_file() and model.labels[0] == "dummy"


def test_offline_without_cache_explains_what_to_do(fresh_cache, unreachable_url, monkeypatch):
    monkeypatch.setenv("DREAM_MODEL_URL", unreachable_url)
    with pytest.raises(ModelUnavailable) as error:
        dream.load_model()
    message = str(error.value)
    assert "DREAM_MODEL_DIR" in message
    assert unreachable_url in message
    assert not (_cached_files(fresh_cache) / GRAPH_FILE).exists()


def test_download_of_something_else_is_refused(tmp_path, fresh_cache, http_server, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "inception5h.zip", "w") as archive:
        archive.writestr(GRAPH_FILE, b"garbage")
        archive.writestr(LABELS_FILE, "dummy\n")
    server = http_server(served)
    monkeypatch.setenv("DREAM_MODEL_URL", server.url("inception5h.zip"))
    with pytest.raises(ModelUnavailable, match="valid"):
        dream.load_model()


def test_default_url_and_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("DREAM_MODEL_URL")
    monkeypatch.delenv("DREAM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert model_module._model_url() == MODEL_URL
    assert model_module._cached_dir() == tmp_path / "deep-dream-studio" / "models" / "inception5h"


def test_session_environment_is_isolated():
    # conftest guarantees the outer environment cannot leak in.
    assert "DREAM_MODEL_DIR" not in os.environ
    assert os.environ["DREAM_MODEL_URL"].startswith("http://127.0.0.1:")
    assert os.environ["DREAM_CACHE_DIR"]
    assert not Path(os.environ["DREAM_CACHE_DIR"]).is_relative_to(Path.home() / ".cache")


# ----------------------------------------------------------------------------- graph facts


def test_fixture_width_matches(model_width, model_seed):
    assert (model_width, model_seed) == (MODEL_WIDTH, MODEL_SEED)


def _scaled(channels: int) -> int:
    return synthetic_model._scaled(channels, MODEL_WIDTH)


def test_blocks_in_order_with_their_channels(model):
    blocks = [layer for layer in model.layers if layer.kind == "block"]
    expected = {"conv2d0": _scaled(64), "conv2d1": _scaled(64), "conv2d2": _scaled(192)}
    for name, c1, _c3r, c3, _c5r, c5, cp in synthetic_model.INCEPTION_BLOCKS:
        expected[name] = _scaled(c1) + _scaled(c3) + _scaled(c5) + _scaled(cp)
    assert [layer.name for layer in blocks] == list(expected)
    assert {layer.name: layer.channels for layer in blocks} == expected
    assert model_module.layer_table(model) == expected


def test_branches_and_pre_relu_taps(model):
    assert model.layer("mixed4c_3x3").kind == "branch"
    assert model.layer("mixed4c_3x3").channels == _scaled(256)
    assert model.layer("mixed4c_pool").kind == "branch"
    assert model.layer("mixed4c_3x3_pre_relu").kind == "pre_relu"
    assert model.layer("conv2d0_pre_relu").channels == _scaled(64)
    # Heads and classifier internals are not offered as dream layers.
    names = {layer.name for layer in model.layers}
    assert not any(name.startswith(("head", "nn", "softmax", "maxpool")) for name in names)


def test_channel_counts_match_activations(model, picture):
    names = ["conv2d2", "mixed3b", "mixed4c_5x5"]
    outputs = model.features(names)(picture[None].astype(np.float32))
    for name in names:
        assert outputs[name].shape[-1] == model.layer(name).channels


def test_device_pins_are_cleared(model, model_dir):
    pinned = synthetic_model.build_graph_def(width=MODEL_WIDTH, seed=MODEL_SEED)
    assert any(node.device == "/cpu:0" for node in pinned.node)  # the 2015 export's pins
    assert all(node.device == "" for node in model.graph_def.node)


def test_classes(model):
    assert model.num_classes == synthetic_model.NUM_LOGITS
    assert model.class_index("jellyfish") == 1
    assert model.class_index("  JellyFish ") == 1
    assert model.class_index("great white shark") == 3
    assert model.labels[model.class_index("synthetic class 0500")] == "synthetic class 0500"
    assert "dummy" not in model.class_names
    assert len(model.class_names) == 1000


@pytest.mark.parametrize("name", ["dummy", "unicorn", ""])
def test_unknown_class_is_refused(model, name):
    with pytest.raises(ValueError, match="Unknown class"):
        model.class_index(name)


def test_unknown_class_suggests_close_names(model):
    with pytest.raises(ValueError, match="Did you mean 'jellyfish'"):
        model.class_index("jelyfish")


def test_unknown_layer_suggests_close_names(model):
    with pytest.raises(ValueError, match=r"Unknown layer 'mixed4x'.*Did you mean .*mixed4") as error:
        model.layer("mixed4x")
    assert isinstance(error.value, ValueError)
    with pytest.raises(ValueError, match="Unknown layer"):
        model.features(["mixed9z"])


def test_features_are_cached_per_layer_set(model):
    first = model.features(["mixed3a", "mixed3b"])
    assert model.features(["mixed3b", "mixed3a", "mixed3a"]) is first


# ----------------------------------------------------------------------------- shared weights, one bound


def _fresh_model(model_dir, **options):
    return model_module._load(model_dir / GRAPH_FILE, model_dir / LABELS_FILE, **options)


def test_feature_functions_read_one_shared_copy_of_the_weights(model_dir, picture):
    import tensorflow as tf

    model = _fresh_model(model_dir, precision="float32")
    weights = model.shared_weights("float32")
    first, second = model.features(["mixed4c"]), model.features(["mixed3b", "mixed4a"])
    assert model.shared_weights("float32") is weights  # stored once
    for function in (first, second):
        graph = function.graph.as_graph_def()
        # No weights of their own (what constants remain: biases, shapes, the first layer's
        # folded kernel, `dream.graph_rewrite.space_to_depth_conv`)…
        constants = sum(node.ByteSize() for node in graph.node if node.op == "Const")
        assert constants < 0.05 * weights.nbytes, (constants, weights.nbytes)
        # …they read the shared ones.
        assert any(node.op == "ReadVariableOp" for node in graph.node)
        assert graph.ByteSize() < weights.nbytes / 4

    # The same function as the frozen graph's constants compute.
    def as_published(pixels):
        (output,) = tf.graph_util.import_graph_def(
            model.graph_def, input_map={"input:0": pixels - model_module.IMAGENET_MEAN},
            return_elements=["mixed4c:0"], name="")
        return output

    published = tf.compat.v1.wrap_function(as_published, [tf.TensorSpec([None, None, None, 3])])
    batch = tf.constant(picture[None], tf.float32)
    expected = published(batch).numpy()
    np.testing.assert_allclose(first(batch)["mixed4c"].numpy(), expected,
                               atol=1e-4 * np.abs(expected).max())


def test_shared_weights_are_destroyed_with_their_model(model_dir):
    import gc
    import weakref

    import tensorflow as tf
    from tensorflow.python.ops import gen_resource_variable_ops as resources

    model = _fresh_model(model_dir, precision="float32")
    model.features(["mixed3a"])
    name, shared = next(iter(model.shared_weights("float32").names.items()))
    dtype = tf.float32

    def read():
        handle = resources.var_handle_op(dtype=dtype, shape=None, container=model_module.SharedWeights.CONTAINER,
                                         shared_name=shared)
        return resources.read_variable_op(handle, dtype)

    assert read().shape.num_elements() >= model_module.SHARED_WEIGHT_MIN_ELEMENTS
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
    with pytest.raises(tf.errors.OpError, match="does not exist"):
        read()


def test_feature_functions_are_bounded_with_the_steps(model_dir):
    model = _fresh_model(model_dir, precision="float32")
    cache = model.function_cache
    cache.size = 2
    functions = [model.features([name]) for name in ("conv2d2", "mixed3a", "mixed3b", "mixed4a")]
    assert len(cache) == 2 and cache.evictions == 2
    assert model.features(["mixed4a"]) is functions[-1]  # the most recent ones are kept
    assert ("features", ("conv2d2",), "float32") not in cache


def test_function_cache_size_comes_from_the_environment(model_dir, monkeypatch):
    monkeypatch.setenv("DREAM_FUNCTION_CACHE", "5")
    assert _fresh_model(model_dir).function_cache.size == 5
    monkeypatch.delenv("DREAM_FUNCTION_CACHE")
    assert _fresh_model(model_dir).function_cache.size == model_module.FUNCTION_CACHE_SIZE
    with pytest.raises(ValueError, match="at least one entry"):
        model_module.FunctionCache(0)


def test_function_cache_evicts_the_least_recently_used_and_keeps_pinned_entries():
    cache = model_module.FunctionCache(2)
    made = []

    def build(name):
        return lambda: made.append(name) or name

    with cache.pinning():
        assert cache.get("default", build("default")) == "default"
    for name in ("a", "b"):
        cache.get(name, build(name))
    cache.get("a", build("a"))  # a is now more recent than b
    cache.get("c", build("c"))
    assert cache.keys() == ["default", "a", "c"] and made == ["default", "a", "b", "c"]
    for name in "defghij":
        cache.get(name, build(name))
    assert "default" in cache and len(cache) == 1 + 2 and cache.pinned == 1
    # An entry used inside `pinning()` is pinned from then on.
    with cache.pinning():
        cache.get("j", build("j"))
    for name in "klmn":
        cache.get(name, build(name))
    assert {"default", "j"} <= set(cache.keys())


def test_function_cache_builds_once_per_key_and_forgets_failures():
    import threading
    import time

    cache = model_module.FunctionCache(4)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 5 and all(r is results[0] for r in results)

    def failing():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get("bad", failing)
    assert "bad" not in cache and cache.get("bad", lambda: "fine") == "fine"


def test_load_model_is_cached_per_file(tmp_path, fresh_cache):
    folder = _write_dir(tmp_path / "cached-per-file")
    first = dream.load_model(folder)
    assert dream.load_model(folder) is first
    graph = folder / GRAPH_FILE
    stat = graph.stat()
    os.utime(graph, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer copy
    assert dream.load_model(folder) is not first


# ----------------------------------------------------------------------------- graph rewrite


def test_rewritten_graph_computes_the_same_function(model, model_dir, picture):
    # What runs is the graph with LRN and sibling 1×1 convolutions rewritten; it must
    # give the same activations and input gradients as the graph as written.
    import tensorflow as tf

    plain = model_module.InceptionModel(
        model_module._parse_graph(model_dir / GRAPH_FILE), model.labels, rewrite=False,
        precision="float32")
    # In float32 both, whatever precision this machine's default picks for `model`.
    model = model_module.InceptionModel(
        model_module._parse_graph(model_dir / GRAPH_FILE), model.labels, rewrite=True,
        precision="float32")
    ops = {node.op for node in model._runnable.node}
    assert "LRN" not in ops and "SplitV" in ops  # the rewrite did happen
    assert {node.name for node in model.graph_def.node if node.op == "LRN"}  # facts: original

    names = ["localresponsenorm0", "conv2d2", "mixed3a_1x1_pre_relu", "mixed3a_3x3_bottleneck",
             "mixed4c", "mixed5b_5x5_bottleneck_pre_relu", "softmax2_pre_activation"]
    batch = tf.image.resize(tf.constant(picture, tf.float32)[None], (224, 256))
    fast, slow = model.features(names)(batch), plain.features(names)(batch)
    for name in names:
        np.testing.assert_allclose(fast[name].numpy(), slow[name].numpy(), rtol=1e-3, atol=1e-3,
                                   err_msg=name)

    def input_gradient(m):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            acts = m.features(["conv2d2", "mixed4a"])(batch)
            loss = tf.reduce_mean(acts["mixed4a"]) + tf.reduce_mean(tf.square(acts["conv2d2"]))
        return tape.gradient(loss, batch).numpy()

    fast_grad, slow_grad = input_gradient(model), input_gradient(plain)
    assert np.abs(fast_grad - slow_grad).max() <= 1e-3 * np.abs(slow_grad).max()
    assert [layer.name for layer in plain.layers] == [layer.name for layer in model.layers]


def test_bfloat16_precision_runs_close_to_float32(model_dir, picture):
    import tensorflow as tf

    exact = dream.load_model(model_dir, precision="float32")
    half = dream.load_model(model_dir, precision="bfloat16")
    assert half.precision == "bfloat16" and exact.precision == "float32"
    batch = tf.constant(picture, tf.float32)[None]
    a = exact.features(["mixed4a"])(batch)["mixed4a"].numpy()
    b = half.features(["mixed4a"])(batch)["mixed4a"].numpy()
    assert b.dtype == np.float32  # objectives always see float32
    assert np.abs(a - b).mean() < 0.05 * np.abs(a).mean()  # ~3 significant digits per op
    objective = dream.layer_mean("mixed4a")
    engine = dream.engine_for(half)
    dreamed = engine.run(objective, picture.astype(np.float32), dream.Schedule(steps=4, octaves=1))
    assert dream.engine_for(exact).value(objective, dreamed) > dream.engine_for(exact).value(
        objective, picture.astype(np.float32))


def test_unknown_precision_is_refused(model_dir):
    with pytest.raises(ValueError, match="precision must be one of"):
        dream.load_model(model_dir, precision="float8")


def test_default_precision_follows_the_cpu_and_the_environment(monkeypatch):
    monkeypatch.delenv("DREAM_PRECISION", raising=False)
    monkeypatch.setattr(model_module.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(model_module, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert model_module.default_precision() == "bfloat16"
    monkeypatch.setattr(model_module, "_cpu_flags", lambda: {"avx2", "avx512f"})
    assert model_module.default_precision() == "float32"  # bf16 would be emulated: slower
    monkeypatch.setenv("DREAM_PRECISION", "bfloat16")
    assert model_module.default_precision() == "bfloat16"


# ----------------------------------------------------------------------------- pre-ReLU taps


def test_block_pre_relu_channel_equals_the_matching_branch_pre_relu_channel(model, picture):
    # mixed4c_pre_relu is built from the branches' pre-ReLU tensors, in concat order
    # (1×1, 3×3, 5×5, pool projection), as Lucid's InceptionV1 does.
    import tensorflow as tf

    branches = ["mixed4c_1x1_pre_relu", "mixed4c_3x3_pre_relu", "mixed4c_5x5_pre_relu",
                "mixed4c_pool_reduce_pre_relu"]
    acts = model.features(["mixed4c_pre_relu", "mixed4c", *branches], "float32")(
        tf.constant(picture, tf.float32)[None])
    block = acts["mixed4c_pre_relu"].numpy()
    offset = 0
    for name in branches:
        branch = acts[name].numpy()
        width = branch.shape[-1]
        np.testing.assert_allclose(block[..., offset + 2], branch[..., 2], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(block[..., offset:offset + width], branch, rtol=1e-5, atol=1e-5)
        offset += width
    assert offset == block.shape[-1] == model.layer("mixed4c").channels
    # The block itself is the ReLU of its pre-ReLU tap, and the tap has negative values.
    np.testing.assert_allclose(np.maximum(block, 0), acts["mixed4c"].numpy(), rtol=1e-5, atol=1e-5)
    assert block.min() < 0


def test_block_pre_relu_taps_are_listed_after_their_block(model):
    names = [layer.name for layer in model.layers]
    for block in ("mixed3a", "mixed4c", "mixed5b"):
        tap = model.layer(f"{block}_pre_relu")
        assert tap.kind == "pre_relu" and tap.channels == model.layer(block).channels
        assert names.index(f"{block}_pre_relu") == names.index(block) + 1
        assert model.has_tensor(f"{block}_pre_relu")
    assert model.pre_relu_of("mixed4c") == "mixed4c_pre_relu"
    assert model.pre_relu_of("mixed4c_3x3") == "mixed4c_3x3_pre_relu"
    assert model.pre_relu_of("mixed4c_pool") is None  # a max-pool has no ReLU
    assert model.pre_relu_of("conv2d0_pre_relu") == "conv2d0_pre_relu"


def test_bfloat16_is_the_default_only_on_cpus_with_bfloat16_units(monkeypatch):
    monkeypatch.delenv("DREAM_PRECISION", raising=False)
    no_gpu = lambda kind=None: []  # noqa: E731
    monkeypatch.setattr(model_module.tf.config, "list_physical_devices", no_gpu)
    monkeypatch.setattr(model_module, "_cpu_flags", lambda: {"avx", "avx2", "fma", "avx512f"})
    assert model_module.default_precision() == "float32"  # AVX2/AVX-512 only: emulated, slower
    for flag in ("avx512_bf16", "amx_bf16"):
        monkeypatch.setattr(model_module, "_cpu_flags", lambda flag=flag: {"avx2", flag})
        assert model_module.default_precision() == "bfloat16"
    # A GPU keeps float32 (bfloat16 has not been measured on one).
    monkeypatch.setattr(model_module.tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:GPU:0"] if kind == "GPU" else [])
    assert model_module.default_precision() == "float32"
