"""Finding, downloading and loading Google's inception5h GoogLeNet.

Resolution order for the model files (`tensorflow_inception_graph.pb` and
`imagenet_comp_graph_label_strings.txt`):

1. an explicit path given to `load_model` (a folder holding the two files, the zip, or
   the graph file with the label file beside it);
2. the environment variable `DREAM_MODEL_DIR` (same forms);
3. the user cache (`$DREAM_CACHE_DIR`, else `$XDG_CACHE_HOME/deep-dream-studio`,
   else `~/.cache/deep-dream-studio`);
4. a download of `inception5h.zip` into that cache with Keras' `get_file`.

A cached copy that fails to parse is deleted and fetched again. The graph is loaded once
per process; layer names, channel counts and class names are read from the files.
`ModelUnavailable` messages name files by their base name (they may reach a web page);
the full paths go to the log.

**Memory.** Everything compiled on the graph (feature functions, the engine's steps) is
kept in one `FunctionCache` per model, least recently used evicted beyond
`FUNCTION_CACHE_SIZE`, and reads the weights stored once (`SharedWeights`) instead of
holding copies. `python benchmarks/memory.py` (the app on the full-size generated graph,
40 requests cycling 20 in-range settings after a warm-up of every tab's default): RSS grew
by 2390 MB before (commit 8ba702c: one compiled step per setting kept forever, each with
its own copies of the weights), by 79 MB after, 169 MB with the warm-up's entries pinned.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import logging
import os
import re
import shutil
import threading
import uuid
import weakref
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Iterator, Mapping, Sequence, TypeVar

import tensorflow as tf
from tensorflow.python.ops import gen_resource_variable_ops

from dream.graphdefs import channel_counts, const_value
from dream.graph_rewrite import (LRN_GRADIENT, input_substitutes, optimize_for_gradients,
                                 read_from_resources, shared_weight_names, to_bfloat16)

LOG = logging.getLogger(__name__)

MODEL_URL = "https://storage.googleapis.com/download.tensorflow.org/models/inception5h.zip"
GRAPH_FILE = "tensorflow_inception_graph.pb"
LABELS_FILE = "imagenet_comp_graph_label_strings.txt"

# The graph expects float32 NHWC pixels in 0..255 with this mean already subtracted.
IMAGENET_MEAN = 117.0
INPUT_NODE = "input"
CLASS_LOGITS = "softmax2_pre_activation"
CLASS_PROBABILITIES = "softmax2"
# avgpool0 is a 7x7 VALID pool on a map 32x smaller than the input: the classifier
# needs at least 224 pixels on each side.
CLASSIFIER_MIN_SIDE = 224
# The network's arithmetic: float32, or bfloat16 where the CPU has BF16 units (see
# `default_precision`).
PRECISIONS = ("float32", "bfloat16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The main path's feature layers, in order; every block also exposes its branches.
BLOCK_PREFIXES = ("conv2d", "mixed")
# Nodes a graph must have to be taken for inception5h: the input, the default dream layer
# and the class logits.
REQUIRED_NODES = (INPUT_NODE, "mixed4c", CLASS_LOGITS)

# How many compiled functions a model keeps: its feature functions and the engine's steps
# together (`FunctionCache`), besides those pinned by the start-up warm-up. Measured on the
# full-size graph (width 1.0) with the weights shared (`SharedWeights`): a compiled step
# costs 11–28 MB (the deeper its objective's layers, the more), a feature function 1–5 MB.
# The tabs' default requests need 7 entries (3 steps: Deep Dream's, also the zoom's and the
# video's, guided's and style's; 4 feature functions). 12 holds them with room for two or
# three users' own settings when nothing is pinned, and bounds what the unpinned entries can
# add to ~12 × 20 MB: +169 MB in benchmarks/memory.py with the defaults pinned, within the
# 300 MB target. `$DREAM_FUNCTION_CACHE` overrides it (a machine with more memory can keep
# more compiled).
FUNCTION_CACHE_SIZE = 12
# Constants with at least this many values (every convolution's weights, the LRN bands) are
# stored once per model and precision and read by reference (`SharedWeights`); the small
# ones (biases, shapes, scalars) stay in each graph, where the optimiser can fold them.
SHARED_WEIGHT_MIN_ELEMENTS = 1024


class ModelUnavailable(RuntimeError):
    """The model could be neither found locally nor downloaded.

    Its message names files by their base name only (it may reach a web page); the full
    paths are logged.
    """


@dataclass(frozen=True)
class Layer:
    name: str
    channels: int
    kind: str  # "block" (a main-path layer), "branch" (part of a block), "pre_relu"


def _cache_root() -> Path:
    if os.environ.get("DREAM_CACHE_DIR"):
        return Path(os.environ["DREAM_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "deep-dream-studio"


# An absolute path (not a URL's path): replaced by its last part in messages.
_ABSOLUTE_PATH = re.compile(r"(?<![\w/:.])/(?:[^\s'\"(),;/]+/)+([^\s'\"(),;]*)")


def _without_paths(text: str) -> str:
    """`text` (e.g. an OS error's message) with every absolute path cut to its last part."""
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1) or "(a folder)", text)


def _model_url() -> str:
    # Overridable so the download path can be exercised against a loopback server.
    return os.environ.get("DREAM_MODEL_URL", MODEL_URL)


# ----------------------------------------------------------------------------- files


def _files_in(folder: Path) -> tuple[Path, Path] | None:
    """The two model files in `folder` (or one level below, as some unzippers nest)."""
    for candidate in (folder, *sorted(p for p in folder.glob("*") if p.is_dir())):
        graph, labels = candidate / GRAPH_FILE, candidate / LABELS_FILE
        if graph.is_file() and labels.is_file():
            return graph, labels
    return None


def _extract(zip_path: Path, into: Path) -> Path:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
        LOG.warning("Extracting %s into %s failed: %s", zip_path, into, error)
        shutil.rmtree(into, ignore_errors=True)  # no half-extracted copy is trusted later
        raise ModelUnavailable(
            f"{zip_path.name} is not a valid zip file ({type(error).__name__}). "
            f"{_WHERE_TO_POINT}") from error
    return into


# How to fix a wrong DREAM_MODEL_DIR, said at the end of every message about one.
_WHERE_TO_POINT = (f"Point DREAM_MODEL_DIR at the folder holding {GRAPH_FILE} and {LABELS_FILE}, "
                   f"or at inception5h.zip from {MODEL_URL}.")


def _from_user_path(path: Path) -> tuple[Path, Path]:
    """Model files from a folder or a zip the user pointed at; no download fallback."""
    path = path.expanduser()
    if path.is_file():
        if path.name == GRAPH_FILE and (path.parent / LABELS_FILE).is_file():
            return path, path.parent / LABELS_FILE  # the graph file itself, labels beside it
        if not zipfile.is_zipfile(path):
            LOG.warning("The model path %s is a file but not a zip archive", path)
            raise ModelUnavailable(f"{path.name} is not a valid zip file. {_WHERE_TO_POINT}")
        target = _cache_root() / "extracted" / f"{path.stem}-{path.stat().st_mtime_ns}"
        if _files_in(target) is None:
            _extract(path, target)
        found = _files_in(target)
        if found is None:
            LOG.warning("%s (extracted into %s) holds no model files", path, target)
            raise ModelUnavailable(
                f"{path.name} holds no {GRAPH_FILE} and {LABELS_FILE}. {_WHERE_TO_POINT}")
        return found
    if path.is_dir() and (found := _files_in(path)):
        return found
    LOG.warning("No model files at %s", path)
    what = "folder" if path.is_dir() else "path (it does not exist)"
    raise ModelUnavailable(
        f"No {GRAPH_FILE} and {LABELS_FILE} found in the {what} {path.name!r}. {_WHERE_TO_POINT}")


def _download(cache: Path, force: bool) -> Path:
    import keras

    try:
        extracted = keras.utils.get_file(
            fname="inception5h", origin=_model_url(), extract=True, cache_dir=str(cache),
            cache_subdir="models", force_download=force,
        )
    except Exception as error:  # noqa: BLE001 - any network/IO failure means "unavailable"
        LOG.warning("Downloading %s into %s failed: %r", _model_url(), cache, error)
        raise ModelUnavailable(
            f"The inception5h model is not cached and could not be downloaded from "
            f"{_model_url()} ({type(error).__name__}: {_without_paths(str(error))}). "
            f"Download inception5h.zip "
            f"on a machine with internet and set DREAM_MODEL_DIR to the zip or to the "
            f"folder holding {GRAPH_FILE} and {LABELS_FILE}."
        ) from error
    return Path(extracted)


def _cached_dir() -> Path:
    return _cache_root() / "models" / "inception5h"


def resolve_model_files(path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(graph file, label file) following the resolution order in the module docstring."""
    if path is not None:
        return _from_user_path(Path(path))
    if os.environ.get("DREAM_MODEL_DIR"):
        return _from_user_path(Path(os.environ["DREAM_MODEL_DIR"]))

    cached = _cached_dir()
    if cached.is_dir() and (found := _files_in(cached)) and _is_valid_graph(found[0]):
        return found
    if cached.exists():
        # Incomplete or corrupt: start over rather than trusting any of it.
        shutil.rmtree(cached, ignore_errors=True)
    found = _files_in(_download(_cache_root(), force=True))
    if found is None or not _is_valid_graph(found[0]):
        raise ModelUnavailable(
            f"The file downloaded from {_model_url()} does not hold a valid {GRAPH_FILE}."
        )
    return found


def _parse_graph(graph_file: Path) -> tf.compat.v1.GraphDef:
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_file.read_bytes())
    return graph_def


def _is_valid_graph(graph_file: Path) -> bool:
    try:
        names = {node.name for node in _parse_graph(graph_file).node}
    except Exception:  # noqa: BLE001 - a truncated protobuf raises DecodeError and friends
        return False
    return set(REQUIRED_NODES) <= names


# ----------------------------------------------------------------------------- graph facts


def block_pre_relu_taps(graph_def) -> dict[str, tuple[str, ...]]:
    """{"mixed4c_pre_relu": (its branches' pre-ReLU tensors, in concat order), …}.

    An inception block is the concatenation of its branches' ReLUs, so the graph has no
    pre-ReLU tensor for the block itself. Lucid's InceptionV1 builds one by concatenating
    the branches' pre-ReLU tensors (`_populate_inception_bottlenecks`); so does this.
    A channel that is dead (≤ 0) on the photo still has a gradient there, so dreaming on
    it does something, as in the notebook's `*_pre_relu` channel dreams.
    """
    nodes = {node.name: node for node in graph_def.node}
    taps = {}
    for node in graph_def.node:
        if node.op not in ("Concat", "ConcatV2") or not node.name.startswith("mixed"):
            continue
        branches = node.input[1:] if node.op == "Concat" else node.input[:-1]
        pre = []
        for branch in branches:
            branch_node = nodes.get(branch.split(":")[0])
            if branch_node is None or branch_node.op != "Relu":
                break
            pre.append(branch_node.input[0].split(":")[0])
        else:
            taps[f"{node.name}_pre_relu"] = tuple(pre)
    return taps


def _feature_layers(graph_def) -> tuple[Layer, ...]:
    """Layers a user can dream on, in graph order: blocks, their branches, pre-ReLU taps
    (a block's own pre-ReLU tap, built from its branches, follows the block)."""
    counts = channel_counts(graph_def)
    taps = block_pre_relu_taps(graph_def)
    layers = []
    for node in graph_def.node:
        name = node.name
        if name not in counts or not name.startswith(BLOCK_PREFIXES) or "/" in name:
            continue
        if node.op in ("Relu", "Concat", "ConcatV2"):
            kind = "branch" if "_" in name else "block"
        elif node.op == "BiasAdd" and name.endswith("_pre_relu"):
            kind = "pre_relu"
        elif node.op == "MaxPool" and name.endswith("_pool"):
            kind = "branch"
        else:
            continue
        layers.append(Layer(name, counts[name], kind))
        if f"{name}_pre_relu" in taps:
            layers.append(Layer(f"{name}_pre_relu", counts[name], "pre_relu"))
    return tuple(layers)


def _read_labels(labels_file: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in labels_file.read_text(errors="replace").splitlines())


# ----------------------------------------------------------------------------- compiled functions


Built = TypeVar("Built")


class FunctionCache:
    """The compiled functions of one model, the least recently used dropped beyond `size`.

    One bound for everything compiled on a model's graph: its feature functions
    (`InceptionModel.features`) and the engine's optimisation steps (`dream.engine.Engine`).
    Every distinct setting a caller can send (a layer, a Laplacian depth, an optimiser, …)
    compiles a function, so without a bound memory grows with the variety of requests.

    - **Eviction frees.** A dropped function is collected (`gc.collect()`: TensorFlow's
      function graphs hold reference cycles), and TensorFlow then removes its FunctionDefs
      and compiled kernels from the eager context (`AtomicFunction.__del__`), so the memory
      is reused (tests/test_engine.py checks a weak reference and the context's names).
    - **Eviction never breaks a caller.** Whoever got a function holds a reference to it,
      so a function evicted while it runs stays alive until that caller lets go; the next
      request for its key compiles it again.
    - **Pinned entries** (built or used inside `pinning()`, e.g. by the start-up warm-up:
      every tab's default request) are never evicted and do not count against `size`.
    - **One compile per key.** Concurrent requests for a key being built wait for it;
      different keys build in parallel; nested builds (a step that needs feature functions)
      are fine.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"The function cache needs room for at least one entry (got {size}).")
        self.size = int(size)
        self.builds = 0
        self.evictions = 0
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._pinned: dict[Hashable, object] = {}
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self._pinning = threading.local()

    def get(self, key: Hashable, build: Callable[[], Built]) -> Built:
        """The function stored under `key`, built by `build()` the first time."""
        while True:
            with self._lock:
                found = self._lookup(key)
                if found is not None:
                    return found
                pending = self._building.get(key)
                if pending is None:
                    pending = self._building[key] = threading.Event()
                    break
            pending.wait()  # another thread builds it; take it from the cache (or retry)
        try:
            built = build()
        except BaseException:
            with self._lock:
                del self._building[key]
            pending.set()
            raise
        with self._lock:
            self.builds += 1
            del self._building[key]
            self._store(key, built)
            evicted = self._trim()
        pending.set()
        if evicted:
            del evicted
            gc.collect()  # TensorFlow's graphs are cycles: free them now, not eventually
        return built

    def _lookup(self, key: Hashable):
        if key in self._pinned:
            return self._pinned[key]
        if key in self._entries:
            self._entries.move_to_end(key)
            if self._is_pinning():
                self._pinned[key] = self._entries.pop(key)
                return self._pinned[key]
            return self._entries[key]
        return None

    def _store(self, key: Hashable, built) -> None:
        if self._is_pinning():
            self._pinned[key] = built
        else:
            self._entries[key] = built

    def _trim(self) -> list:
        evicted = []
        while len(self._entries) > self.size:
            evicted.append(self._entries.popitem(last=False)[1])
            self.evictions += 1
        return evicted

    def _is_pinning(self) -> bool:
        return getattr(self._pinning, "depth", 0) > 0

    @contextlib.contextmanager
    def pinning(self) -> Iterator[None]:
        """Within this block (in this thread) every function built or used is pinned."""
        self._pinning.depth = getattr(self._pinning, "depth", 0) + 1
        try:
            yield
        finally:
            self._pinning.depth -= 1

    def clear(self) -> None:
        """Drops every function, pinned or not (the next requests compile again)."""
        with self._lock:
            self._entries.clear()
            self._pinned.clear()
        gc.collect()

    def keys(self) -> list[Hashable]:
        """Pinned keys first, then the others from least to most recently used."""
        with self._lock:
            return [*self._pinned, *self._entries]

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    def __len__(self) -> int:
        return len(self._pinned) + len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._pinned or key in self._entries


def function_cache_size_default() -> int:
    """`$DREAM_FUNCTION_CACHE` if set, else `FUNCTION_CACHE_SIZE`."""
    value = os.environ.get("DREAM_FUNCTION_CACHE", "").strip()
    return int(value) if value else FUNCTION_CACHE_SIZE


class SharedWeights:
    """A graph's weights, stored once per model and precision, read by every function.

    **Why not constants**, as the frozen graph has them: every function that imports the
    graph keeps its own copies of the constants (its graph, its FunctionDef, the forward
    function TensorFlow derives for the gradient, the optimised executable and its Const
    kernels). On the full-size graph a compiled step cost 74 MB (mixed3a) to 400 MB
    (mixed5a) for that reason; with the weights stored here, 11–28 MB, and it compiles in
    about half a second.

    **Why not captured tensors or `tf.Variable`s**: both enter the engine's step and tile
    loops as loop variables. oneDNN's layout pass visits a graph with loops in an order that
    varies from run to run (a reverse post-order of a graph with cycles), and then at random
    fails to pair a MaxPoolGrad with the MaxPool whose workspace it needs: Eigen's
    MaxPoolGrad ran instead, and a step took 1.4–1.7× as long in 12 of 20 processes
    (TensorFlow's profiler: 3 to 21 of 24 MaxPoolGrads per call not rewritten).

    So each weight is a resource in TensorFlow's resource manager under a name of its own,
    and each graph reads it with VarHandleOp + ReadVariableOp (`read_from_resources`):
    nodes without inputs, which sit inside the loops as constants do. The arithmetic is
    unchanged (same values, same kernels: the step time and the oneDNN kernels were the
    same as with constants). The resources live on the default device (the GPU where there
    is one) and are destroyed with the model.
    """

    CONTAINER = "deep_dream_studio"

    def __init__(self, graph_def, precision: str, min_elements: int = SHARED_WEIGHT_MIN_ELEMENTS) -> None:
        prefix = f"{uuid.uuid4().hex}/{precision}"
        self.names = {name: f"{prefix}/{name}" for name in shared_weight_names(graph_def, min_elements)}
        self.nbytes = 0
        handles = []
        with tf.init_scope():
            for node in graph_def.node:
                if node.name not in self.names:
                    continue
                value = tf.constant(const_value(node))
                handle = gen_resource_variable_ops.var_handle_op(
                    dtype=value.dtype, shape=value.shape, container=self.CONTAINER,
                    shared_name=self.names[node.name])
                gen_resource_variable_ops.assign_variable_op(handle, value)
                handles.append(handle)
                self.nbytes += value.dtype.size * value.shape.num_elements()
        # Not at exit: TensorFlow may be half torn down by then, and the process ends anyway.
        weakref.finalize(self, _destroy_resources, handles).atexit = False

    def rewrite(self, graph_def):
        """`graph_def` (pruned from the same graph) reading these weights by reference."""
        present = {node.name for node in graph_def.node}
        return read_from_resources(
            graph_def, {name: shared for name, shared in self.names.items() if name in present},
            self.CONTAINER)


def _destroy_resources(handles) -> None:
    for handle in handles:
        try:
            gen_resource_variable_ops.destroy_resource_op(handle, ignore_lookup_error=True)
        except Exception:  # noqa: BLE001 - nothing useful to do while collecting garbage
            pass


# ----------------------------------------------------------------------------- the model


FeatureFn = Callable[[tf.Tensor], dict[str, tf.Tensor]]
# ((op type, registered gradient name), …): see `InceptionModel.features`.
GradientOverrides = tuple[tuple[str, str], ...]


class InceptionModel:
    """The frozen graph, differentiable in TF2, plus its layer and class facts.

    `features(names)` returns a function from a batch of RGB pixels (0..255, NHWC) to the
    named activations. Each distinct set of names gets its own graph function, pruned to
    exactly the nodes those tensors need, reading the weights that every function shares
    (`SharedWeights`). The functions are kept in `function_cache`, with the engine's
    compiled steps, under one bound (`FunctionCache`), and are safe to call from several
    threads at once.
    """

    def __init__(self, graph_def, labels: Sequence[str], source: str = "",
                 rewrite: bool = True, precision: str = "float32",
                 function_cache_size: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}.")
        for node in graph_def.node:
            # The 2015 export pins every node to /cpu:0; cleared, TF places ops on a GPU.
            node.device = ""
        self.graph_def = graph_def
        # What actually runs: the same function, with the CPU-slow ops rewritten.
        self._rewrite = rewrite
        self.precision = precision
        self._runnable = optimize_for_gradients(graph_def) if rewrite else graph_def
        self.source = source
        self.labels = tuple(labels)
        self.layers = _feature_layers(graph_def)
        self._layer_index = {layer.name: layer for layer in self.layers}
        # Tensors built at import rather than read from the graph: {name: parts}.
        self._built = block_pre_relu_taps(graph_def)
        self._node_names = {node.name for node in graph_def.node} | set(self._built)
        self.num_classes = self._channels_of_logits()
        self.function_cache = FunctionCache(function_cache_size or function_cache_size_default())
        self._weights: dict[str, SharedWeights] = {}
        self._weights_lock = threading.Lock()

    def _channels_of_logits(self) -> int:
        nodes = {node.name: node for node in self.graph_def.node}
        matmul = nodes[f"{CLASS_LOGITS}/matmul"] if f"{CLASS_LOGITS}/matmul" in nodes else None
        if matmul is None:
            return len(self.labels)
        weights = nodes[matmul.input[1]].attr["value"].tensor.tensor_shape
        return weights.dim[1].size

    # --- facts

    def layer(self, name: str) -> Layer:
        """The named feature layer, or a ValueError listing close names."""
        if name in self._layer_index:
            return self._layer_index[name]
        close = difflib.get_close_matches(name, self._layer_index, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown layer {name!r}.{hint}")

    def has_tensor(self, name: str) -> bool:
        return name in self._node_names

    def pre_relu_of(self, name: str) -> str | None:
        """The pre-ReLU tensor of a layer (`x` → `x_pre_relu`), or None if it has none."""
        if name.endswith("_pre_relu"):
            return name
        candidate = f"{name}_pre_relu"
        return candidate if candidate in self._layer_index else None

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the classes that have one (the label file's first line is `dummy`)."""
        return tuple(label for label in self.labels[1:] if label)

    def class_index(self, name: str) -> int:
        """Index into the 1008 logits of the class called `name` (case-insensitive)."""
        wanted = name.strip().lower()
        lowered = [label.lower() for label in self.labels]
        if wanted in lowered and wanted != "dummy":
            return lowered.index(wanted)
        close = difflib.get_close_matches(wanted, lowered[1:], n=3)
        hint = f" Did you mean {', '.join(repr(self.labels[lowered.index(c)]) for c in close)}?" if close else ""
        raise ValueError(f"Unknown class {name!r}.{hint}")

    # --- differentiable features

    def features(self, names: Sequence[str], precision: str | None = None,
                 gradient_overrides: GradientOverrides = ()) -> FeatureFn:
        """`precision`: "float32" or "bfloat16"; None is the model's default.

        `gradient_overrides`: ((op type, registered gradient name), …) that the graph's ops
        of that type differentiate with instead of their own gradient (the atlas's
        redirected-ReLU warm-up); the default, (), is the ordinary gradient that every
        technique uses. A function with overrides is another function, cached apart.
        """
        precision = precision or self.precision
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}.")
        names = tuple(sorted(set(names)))
        for name in names:
            if name not in self._node_names:
                self.layer(name)  # raises with suggestions
        overrides = tuple(tuple(pair) for pair in gradient_overrides)
        key = ("features", names, precision) + ((overrides,) if overrides else ())
        return self.function_cache.get(key, lambda: self._import(names, precision, overrides))

    def shared_weights(self, precision: str) -> SharedWeights:
        """The weights every function of this precision reads (stored on first use)."""
        with self._weights_lock:
            if precision not in self._weights:
                graph = self._runnable if precision == "float32" else to_bfloat16(self._runnable)
                self._weights[precision] = SharedWeights(graph, precision)
            return self._weights[precision]

    def _import(self, names: tuple[str, ...], precision: str,
                gradient_overrides: GradientOverrides = ()) -> FeatureFn:
        # Built tensors are read through their parts.
        graph_names = tuple(dict.fromkeys(
            part for name in names for part in self._built.get(name, (name,))))
        pruned = _prune(self._runnable, graph_names)

        substitutes = input_substitutes(pruned, INPUT_NODE) if self._rewrite else {}
        dtype = tf.as_dtype(precision)
        if dtype != tf.float32:
            pruned = to_bfloat16(pruned)
        pruned = self.shared_weights(precision).rewrite(pruned)

        def imported(pixels):
            centred = pixels - IMAGENET_MEAN
            input_map = {f"{INPUT_NODE}:0": centred}
            input_map.update({name: compute(centred) for name, compute in substitutes.items()})
            input_map = {name: tf.cast(tensor, dtype) for name, tensor in input_map.items()}
            # The rewritten LRNs differentiate exactly, with fewer ops (`lrn_gradient`).
            overrides = tuple(gradient_overrides) + (
                (("IdentityN", LRN_GRADIENT),) if self._rewrite else ())
            with _overridden_gradients(overrides):
                outputs = tf.graph_util.import_graph_def(
                    pruned, input_map=input_map,
                    return_elements=[f"{name}:0" for name in graph_names], name="",
                )
            # Objectives and the engine work in float32 whatever the network runs in.
            found = {name: tf.cast(output, tf.float32) for name, output in zip(graph_names, outputs)}
            return {name: (tf.concat([found[part] for part in self._built[name]], axis=-1)
                           if name in self._built else found[name]) for name in names}

        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        return tf.compat.v1.wrap_function(imported, [spec])


def _overridden_gradients(overrides: GradientOverrides):
    """While active, ops created in the current graph of a type in `overrides` record the
    registered gradient named there (`tf.RegisterGradient`); GradientTape honours it
    through `wrap_function`, eagerly and inside a `tf.function`."""
    if not overrides:
        return contextlib.nullcontext()
    return tf.compat.v1.get_default_graph().gradient_override_map(dict(overrides))


def _prune(graph_def, outputs: Sequence[str]):
    """The sub-graph that `outputs` depend on, so nothing else is imported or run."""
    nodes = {node.name: node for node in graph_def.node}
    needed, pending = set(), list(outputs)
    while pending:
        name = pending.pop().split(":")[0].lstrip("^")
        if name not in needed:
            needed.add(name)
            pending.extend(nodes[name].input)
    pruned = tf.compat.v1.GraphDef()
    pruned.node.extend(node for node in graph_def.node if node.name in needed)
    pruned.versions.CopyFrom(graph_def.versions)
    return pruned


def _load(graph_file: Path, labels_file: Path, rewrite: bool = True,
          precision: str = "float32") -> InceptionModel:
    try:
        graph_def = _parse_graph(graph_file)
    except Exception as error:  # noqa: BLE001 - a truncated protobuf raises DecodeError and friends
        LOG.warning("Parsing %s failed: %s", graph_file, error)
        raise ModelUnavailable(
            f"{graph_file.name} is not a valid TensorFlow graph ({type(error).__name__}); the "
            f"file may be truncated. {_WHERE_TO_POINT}") from error
    names = {node.name for node in graph_def.node}
    missing = [name for name in REQUIRED_NODES if name not in names]
    if missing:
        LOG.warning("%s lacks the nodes %s", graph_file, missing)
        listed = ", ".join(repr(name) for name in missing)
        raise ModelUnavailable(
            f"{graph_file.name} is not the inception5h graph: it has no node"
            f"{'s' if len(missing) > 1 else ''} {listed}. {_WHERE_TO_POINT}")
    try:
        labels = _read_labels(labels_file)
    except OSError as error:
        LOG.warning("Reading %s failed: %s", labels_file, error)
        raise ModelUnavailable(f"{labels_file.name} could not be read ({type(error).__name__}).") from error
    return InceptionModel(graph_def, labels, source=str(graph_file), rewrite=rewrite,
                          precision=precision)


@functools.lru_cache(maxsize=4)
def _load_cached(graph_file: Path, labels_file: Path, mtime_ns: int, rewrite: bool,
                 precision: str) -> InceptionModel:
    return _load(graph_file, labels_file, rewrite, precision)


def _cpu_flags() -> set[str]:
    try:
        return set(Path("/proc/cpuinfo").read_text(errors="replace").split())
    except OSError:
        return set()


def default_precision() -> str:
    """`$DREAM_PRECISION` if set; else bfloat16 on a CPU with native BF16 units, else float32.

    This is the model's *fastest* precision, what a schedule with `precision="auto"` runs
    in. With BF16 units (AVX512-BF16, AMX) oneDNN's bfloat16 convolutions ran 1.6–1.9×
    faster than float32 ones here (benchmarks/bench_engine.py). Without them TensorFlow
    emulates bfloat16, which is slower than float32. GPUs keep float32: the bfloat16 path
    has not been measured on one. The techniques' default schedules ask for float32: on the
    generated graph bfloat16's input gradient agreed with float32's at cosine 0.86–0.96
    only (benchmarks/quality.py, docs/DEFAULTS.md).
    """
    if os.environ.get("DREAM_PRECISION"):
        return os.environ["DREAM_PRECISION"]
    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return "bfloat16" if _cpu_flags() & set(BF16_CPU_FLAGS) else "float32"


def load_model(path: str | os.PathLike | None = None, *, rewrite: bool = True,
               precision: str | None = None) -> InceptionModel:
    """The inception5h model, loaded once per process per file (see module docstring).

    `rewrite=False` runs the graph exactly as published, without the equivalent but
    faster subgraphs of `dream.graph_rewrite` (for comparisons). `precision` is "float32"
    or "bfloat16" (see `to_bfloat16`); by default `default_precision()` picks one.
    """
    precision = precision or default_precision()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r}).")
    graph_file, labels_file = resolve_model_files(path)
    return _load_cached(graph_file.resolve(), labels_file.resolve(),
                        graph_file.stat().st_mtime_ns, rewrite, precision)


def layer_table(model: InceptionModel, kinds: Sequence[str] = ("block",)) -> Mapping[str, int]:
    """{layer name: channels} for the chosen kinds of layer, in graph order."""
    return {layer.name: layer.channels for layer in model.layers if layer.kind in kinds}
