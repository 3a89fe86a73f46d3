"""The model the page dreams with: loaded once in the background, retried on request,
and warmed up (its step functions compiled) before the first user waits for it."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref

import dream
from dream import atlas
from dream.device import status_line as device_line
from dream.endpoints import warm_up

from ui.messages import plain, without_paths

LOG = logging.getLogger("deep-dream-studio")
MODEL_FILES = "inception5h.zip (tensorflow_inception_graph.pb and its label file)"
FIX_HINT = (f"To fix it: download {MODEL_FILES} from {dream.model.MODEL_URL} on a machine with "
            "internet, then start the app with DREAM_MODEL_DIR=/path/to/inception5h.zip (or a "
            "folder holding the two files), or put it in place and press Retry.")

# How long an exiting process waits for a model's loading or warm-up to leave TensorFlow.
EXIT_PATIENCE_S = 20.0


class ModelHolder:
    """Loads a model in a background thread, says how that is going, and can retry.

    By default the inception5h model every technique dreams with (`dream.load_model`);
    `StyleModelHolder` holds the fast style network the same way.
    """

    kind = "inception"
    loader = staticmethod(dream.load_model)

    def __init__(self, path: str | os.PathLike | None = None, *, warm_up: bool = False) -> None:
        self.path = path
        self.warm_up = warm_up
        self.model = None
        self.error: str | None = None
        self.warming = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- loading

    def start(self) -> "ModelHolder":
        with self._lock:
            if self._thread is None:
                self._done.clear()
                self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
                self._thread.start()
                _STARTED.add(self)
        return self

    def load(self, timeout: float | None = None) -> "ModelHolder":
        """Starts loading and waits for it (at most `timeout` seconds)."""
        self.start()
        self._done.wait(timeout)
        return self

    def retry(self, timeout: float | None = 30) -> "ModelHolder":
        """Looks for the model again (after a failure), e.g. once it has been put in place."""
        with self._lock:
            if self.model is None and self._done.is_set():
                self.error = None
                self._thread = None
        return self.load(timeout)

    def _load(self) -> None:
        try:
            self.model = self.loader(self.path)
        except dream.ModelUnavailable as error:
            LOG.warning("Model unavailable: %s", error)
            self.error = plain(without_paths(str(error)))
        except Exception as error:  # noqa: BLE001 - the app must start whatever happens here
            LOG.exception("Loading the model failed")
            self.error = (f"The model could not be loaded ({type(error).__name__}: "
                          f"{plain(without_paths(str(error)))}).")
        finally:
            self._done.set()
        if self.model is not None and self.warm_up:
            self._warm_up(self.model)

    def _warm_up(self, model: dream.InceptionModel) -> None:
        """Runs each tab's default request once on a tiny picture (`dream.endpoints.warm_up`)."""
        self.warming = True
        try:
            # The tabs' defaults stay compiled whatever else callers ask for (the model's
            # function cache evicts only what was built outside this block).
            with model.function_cache.pinning():
                warm_up(model, self.kind, stop=_EXITING.is_set)
            atlas.model_hash(model)  # the atlas's cache key: hashed once, before anyone waits
        finally:
            self.warming = False

    # --- state

    def hint(self) -> str:
        """How to fix a failed load (the package's messages often say most of it already)."""
        if "DREAM_MODEL_DIR" in (self.error or ""):
            return "Once the model is in place, press Retry (no restart needed)."
        return FIX_HINT

    @property
    def state(self) -> str:
        if self.model is not None:
            return "ready"
        return "unavailable" if self.error is not None else "loading"

    def require(self) -> dream.InceptionModel:
        """The model, or a ModelUnavailable that says why there is none."""
        if self.model is not None:
            return self.model
        if self.error is not None:
            raise dream.ModelUnavailable(f"Dreaming is unavailable: {self.error} {self.hint()}")
        raise dream.ModelUnavailable("The model is still loading (on the first start it is "
                                     "downloaded, about 50 MB). Please try again in a moment.")

    def status_markdown(self, max_side: int, limit: int, device: bool = True) -> str:
        """The model's state; `device`: with where this process dreams (not with a pool,
        whose workers dream)."""
        if self.state == "ready":
            layers = sum(layer.kind == "block" for layer in self.model.layers)
            ready = (f"**Model ready**: inception5h GoogLeNet ({len(self.model.layers)} layers, "
                     f"{layers} main blocks, {len(self.model.class_names)} classes). Images are "
                     f"fitted into {max_side} px by default ({limit} px at most).")
            if device:
                ready += " " + device_line(self.model.precision)
            if self.warming:
                ready += " *Warming up: compiling the dream steps in the background…*"
            return ready
        if self.state == "unavailable":
            return f"**Dreaming is unavailable: the model could not be loaded.** {self.error} {self.hint()}"
        return ("**Loading the inception5h model…** On the first start it is downloaded "
                "(about 50 MB); this page updates when it is ready.")


_STARTED: "weakref.WeakSet[ModelHolder]" = weakref.WeakSet()
_EXITING = threading.Event()


@atexit.register
def _let_loaders_finish() -> None:
    """Before Python finalises, the loaders still running get a moment to finish.

    A daemon thread still inside one of TensorFlow's C++ calls when Python finalises is
    ended (pthread_exit) as it takes the GIL back, and that unwinding stops at a noexcept
    C++ frame: "FATAL: exception not rethrown", and the process aborts instead of exiting.
    It happened when the fast style model's download failed (TensorFlow Hub deleting its
    lock file) just as the app, or a test process, exited. Atexit handlers run before that
    point, so the warm-up stops after the request it is on and the loaders are waited for
    (at most EXIT_PATIENCE_S; a download hanging longer is left to its fate).
    """
    _EXITING.set()
    loading = [holder for holder in list(_STARTED)
               if holder._thread is not None and holder._thread.is_alive()]
    if not loading:
        return
    LOG.info("Waiting up to %.0f s for %s to finish loading…", EXIT_PATIENCE_S,
             " and ".join(f"the {holder.kind} model" for holder in loading))
    deadline = time.monotonic() + EXIT_PATIENCE_S
    for holder in loading:
        holder._thread.join(max(0.0, deadline - time.monotonic()))


class StyleModelHolder(ModelHolder):
    """The fast style network (Magenta's arbitrary stylisation, `dream.load_style_model`):
    optional — without it the Style Transfer tab works in optimisation mode."""

    kind = "style"
    loader = staticmethod(dream.load_style_model)

    def hint(self) -> str:
        return "Once it is in place, press Retry."

    def require(self):
        if self.model is not None:
            return self.model
        if self.error is not None:
            raise dream.ModelUnavailable(f"Fast mode is unavailable: {self.error}")
        raise dream.ModelUnavailable("The fast style model is still loading; try again in a "
                                     "moment, or use the optimisation mode.")

    def status_markdown(self, *args) -> str:
        if self.state == "ready":
            return "**Fast mode ready**: Magenta's arbitrary image stylisation network."
        if self.state == "unavailable":
            return (f"**Fast mode is unavailable** (the optimisation mode works): {self.error} "
                    f"{self.hint()}")
        return "**Loading the fast style model…**"


def layer_choices(model: dream.InceptionModel | None) -> list[tuple[str, str]]:
    """(label, name) per layer: the main blocks first, then branches and pre-ReLU taps."""
    if model is None:
        return []
    notes = {"block": "", "branch": ", branch", "pre_relu": ", pre-ReLU"}
    ordered = sorted(model.layers, key=lambda layer: layer.kind != "block")
    return [(f"{layer.name} ({layer.channels} channels{notes.get(layer.kind, '')})", layer.name)
            for layer in ordered]


def class_choices(model: dream.InceptionModel | None) -> list[str]:
    return sorted(model.class_names, key=str.lower) if model is not None else []


def layer_channels(model: dream.InceptionModel | None, layer: str) -> int | None:
    if model is None or not isinstance(layer, str):
        return None
    try:
        return model.layer(layer).channels
    except ValueError:
        return None

