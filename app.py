"""Deep Dream Studio: Deep Dream, fractal zoom, guided hallucination and style transfer on
Google's inception5h GoogLeNet, in the browser.

    python app.py            # serves on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT)
    python app.py --share    # also asks Gradio for a public link (or DREAM_SHARE=1)

This file is the UI only. `build_app` lays out the widgets; each button calls one small
typed adapter (`run_deep_dream`, `run_fractal_zoom`, `run_guided`, `run_style_transfer`) that
turns widget values into a call of the `dream` package, which holds every technique.
Work per request is bounded whatever an API caller sends (`APP_LIMITS`, which the dream
package enforces before any work), and the model is loaded once, in the background, at
start-up.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import types
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Generator, Iterable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

import dream  # noqa: E402
from dream.presets import BASE_SCHEDULES  # noqa: E402

LOG = logging.getLogger("deep-dream-studio")
ASSETS = Path(__file__).resolve().parent / "assets"

# ----------------------------------------------------------------------------- limits
# The server enforces these whatever a caller sends: the sliders' ranges (Gradio refuses
# values outside them) and `APP_LIMITS`, which the dream package checks before any work
# (refusing, or downscaling images), the pixel-step budget included.

DEFAULT_MAX_SIDE = 512  # px; the widgets' default. Larger inputs are downscaled to it.
APP_LIMITS = dream.Limits(
    max_side=1024,         # hard cap on the longest side, whatever `max_side` asks for
    min_side=16,
    max_steps=50,          # per octave and frame
    max_octaves=6,
    max_frames=60,
    max_total_steps=1500,  # frames × octaves × steps
    max_gif_side=512,      # GIF frames are downscaled to this (the PNG keeps full size)
    max_tile_size=1024,
    # frames × steps × Σ octave megapixels. One step on mixed4c at 512² (0.26 MP) takes
    # ~0.17–0.35 s on two CPU cores, so 100 MP-steps is a few minutes at most; the
    # defaults need ~10–15.
    max_megapixel_steps=100.0,
)
QUEUE_MAX_SIZE = 16
PREVIEW_INTERVAL_S = 0.5   # at most two preview images a second reach the page
GIF_MAX_FRAMES = 60
OUTPUT_MAX_AGE_S = 3600    # per-request output folders older than this are deleted
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "deep-dream-studio"
FIX_MODEL_HINT = (
    f"To fix it, download `inception5h.zip` ({dream.model.MODEL_URL}) on a machine with "
    "internet and start the app with "
    "`DREAM_MODEL_DIR=/path/to/inception5h.zip python app.py` (a folder holding "
    "`tensorflow_inception_graph.pb` and its label file works too)."
)

OBJECTIVES = (("Whole layer", "layer"), ("One channel", "channel"), ("Class neuron", "class"))
SIMILARITIES = (("Dot product", "dot"), ("L1 distance", "l1"), ("L2 distance", "l2"),
                ("Best match (Google's notebook)", "best_match"))
DIRECTIONS = (("Toward the guide", "toward"), ("Away from the guide", "away"))
SMOOTHNESS_NORMS = (("L2", "l2"), ("L1", "l1"), ("Course", "course"))
INITS = (("The content image", "content"), ("Noise", "noise"))
DEFAULT_LAYER = "mixed4c"
DEFAULT_CLASS = "jellyfish"
SCHEDULE_KEYS = ("steps", "step_size", "octaves", "octave_scale", "tile_size", "jitter",
                 "laplacian_levels", "seed")


def _function_defaults(function: Callable) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


TECHNIQUES = {"deep_dream": dream.deep_dream, "fractal_zoom": dream.fractal_zoom,
              "guided": dream.guided_dream, "style_transfer": dream.style_transfer}


def _tab_defaults(technique: str, **app_overrides: Any) -> dict[str, Any]:
    """A tab's starting values: the technique's own defaults, then the app's choices."""
    values = {**_function_defaults(TECHNIQUES[technique]), **asdict(BASE_SCHEDULES[technique])}
    values.update(objective="layer", layer=DEFAULT_LAYER, channel=0, class_name=DEFAULT_CLASS,
                  max_side=DEFAULT_MAX_SIDE, frame_duration_ms=120, hold_last_ms=600,
                  pingpong=False, guide_is_dream=False)
    values.update(app_overrides)
    return values


# Frames and steps are cut where the package's defaults would take longer than ~20 s at
# 512 px on two CPU cores (measured on the full-size graph: 8 feedback frames of
# 4 steps × 3 octaves ≈ 57 full-size steps ≈ 16 s).
DEFAULTS = {
    "deep_dream": _tab_defaults("deep_dream", frames=8),
    "fractal_zoom": _tab_defaults("fractal_zoom", frames=12, steps=3, octaves=2, zoom=0.04),
    "guided": _tab_defaults("guided", frames=5),
    "style_transfer": _tab_defaults("style_transfer", frames=6, steps=8),
}


# ----------------------------------------------------------------------------- the model


class ModelHolder:
    """Loads the model once (in a background thread) and says how that is going."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = path
        self.model: dream.InceptionModel | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "ModelHolder":
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
                self._thread.start()
        return self

    def load(self, timeout: float | None = None) -> "ModelHolder":
        """Starts loading and waits for it (at most `timeout` seconds)."""
        self.start()
        self._done.wait(timeout)
        return self

    def _load(self) -> None:
        try:
            self.model = dream.load_model(self.path)
        except dream.ModelUnavailable as error:
            self.error = str(error)
        except Exception as error:  # noqa: BLE001 - the app must start whatever happens here
            LOG.exception("Loading the model failed")
            self.error = f"The model could not be loaded ({type(error).__name__}: {error})."
        finally:
            self._done.set()

    @property
    def state(self) -> str:
        if self.model is not None:
            return "ready"
        return "unavailable" if self.error is not None else "loading"

    def require(self) -> dream.InceptionModel:
        """The model, or a gr.Error that says why there is none."""
        if self.model is not None:
            return self.model
        if self.error is not None:
            raise gr.Error(f"Dreaming is unavailable: {self.error}{self._hint()}",
                           title="No model", print_exception=False)
        raise gr.Error("The model is still loading (on the first start it is downloaded, "
                       "about 50 MB). Please try again in a moment.", title="Model loading",
                       print_exception=False)

    def _hint(self) -> str:
        # The package's messages mostly say how to fix it already; the rest get the recipe.
        return "" if "DREAM_MODEL_DIR" in (self.error or "") else f" {FIX_MODEL_HINT}"

    def status_markdown(self) -> str:
        if self.state == "ready":
            layers = sum(layer.kind == "block" for layer in self.model.layers)
            return (f"**Model ready**: inception5h GoogLeNet ({len(self.model.layers)} layers, "
                    f"{layers} main blocks, {len(self.model.class_names)} classes). Images are "
                    f"fitted into {DEFAULT_MAX_SIDE} px by default ({APP_LIMITS.max_side} px at most).")
        if self.state == "unavailable":
            return (f"**Dreaming is unavailable: the model could not be loaded.** {self.error}"
                    f"{self._hint()}")
        return ("**Loading the inception5h model…** On the first start it is downloaded "
                "(about 50 MB); this page updates when it is ready.")


def layer_choices(model: dream.InceptionModel | None) -> list[tuple[str, str]]:
    """(label, name) per layer: the main blocks first, then branches and pre-ReLU taps."""
    if model is None:
        return []
    notes = {"block": "", "branch": ", branch", "pre_relu": ", pre-ReLU"}
    ordered = sorted(model.layers, key=lambda layer: layer.kind != "block")
    return [(f"{layer.name} ({layer.channels} channels{notes[layer.kind]})", layer.name)
            for layer in ordered]


def class_choices(model: dream.InceptionModel | None) -> list[str]:
    return sorted(model.class_names, key=str.lower) if model is not None else []


def layer_channels(model: dream.InceptionModel | None, layer: str) -> int | None:
    if model is None:
        return None
    try:
        return model.layer(layer).channels
    except ValueError:
        return None


# ----------------------------------------------------------------------------- adapters
# One per action: typed values in, a DreamResult out. They check the work budget, fit the
# images and call the dream package; they know nothing of Gradio.


ProgressCallback = Callable[[dream.Progress], "bool | None"]


def fit_image(source, max_side: int, role: str = "") -> tuple[np.ndarray, list[str]]:
    """The upload as an RGB array fitted into `max_side`, plus notes for the user."""
    if source is None or source == "":
        raise ValueError(f"Please upload {role or 'an image'} (or click one of the examples).")
    picture, notes = dream.prepare(source, APP_LIMITS, int(max_side))
    prefix = f"{role[0].upper()}{role[1:]}: " if role else ""
    return picture, [prefix + note for note in notes]


def with_notes(result: dream.DreamResult, notes: list[str]) -> dream.DreamResult:
    return replace(result, notes=[*notes, *result.notes])


def dream_target(model: dream.InceptionModel, objective: str, layer: str, channel: int,
                 class_name: str) -> dream.Objective:
    """What Deep Dream and the zoom amplify: a whole layer, one channel, or a class neuron."""
    if objective == "class":
        if not class_name:
            raise ValueError("Pick an ImageNet class for the class neuron (e.g. jellyfish).")
        return dream.dream_objective(model, class_name=class_name)
    if objective == "channel":
        return dream.dream_objective(model, layer, channel_index=int(channel))
    if objective == "layer":
        return dream.dream_objective(model, layer)
    raise ValueError(f"objective must be 'layer', 'channel' or 'class' (got {objective!r}).")


def run_deep_dream(
    model: dream.InceptionModel, image, *, objective: str, layer: str, channel: int,
    class_name: str, frames: int, schedule: dream.Schedule, max_side: int,
    on_progress: ProgressCallback | None = None,
) -> dream.DreamResult:
    """Feedback-loop Deep Dream: each GIF frame dreams on the one before."""
    picture, notes = fit_image(image, max_side)
    target = dream_target(model, objective, layer, channel, class_name)
    result = dream.deep_dream(model, picture, target, schedule, frames=int(frames),
                              on_progress=on_progress, limits=APP_LIMITS)
    return with_notes(result, notes)


def run_fractal_zoom(
    model: dream.InceptionModel, image, *, objective: str, layer: str, channel: int,
    class_name: str, frames: int, zoom: float, schedule: dream.Schedule, max_side: int,
    on_progress: ProgressCallback | None = None,
) -> dream.DreamResult:
    """Dream, zoom in by `zoom` of each side, dream again: `frames` times."""
    picture, notes = fit_image(image, max_side)
    target = dream_target(model, objective, layer, channel, class_name)
    result = dream.fractal_zoom(model, picture, target, schedule, frames=int(frames),
                                zoom=float(zoom), on_progress=on_progress, limits=APP_LIMITS)
    return with_notes(result, notes)


def run_guided(
    model: dream.InceptionModel, dream_image, guide_image, *, guide_is_dream: bool, layer: str,
    similarity: str, direction: str, smoothness: float, smoothness_norm: str,
    guide_weight: float, frames: int, schedule: dream.Schedule, max_side: int,
    on_progress: ProgressCallback | None = None,
) -> dream.DreamResult:
    guide, notes = fit_image(guide_image, max_side, "the guide image")
    if guide_is_dream:
        picture = guide
    else:
        picture, dream_notes = fit_image(dream_image, max_side, "the image to dream on")
        notes += dream_notes
    result = dream.guided_dream(
        model, picture, guide, layer=layer, similarity=similarity, direction=direction,
        smoothness=float(smoothness), smoothness_norm=smoothness_norm,
        guide_weight=float(guide_weight), schedule=schedule, frames=int(frames),
        on_progress=on_progress, limits=APP_LIMITS)
    return with_notes(result, notes)


def run_style_transfer(
    model: dream.InceptionModel, content_image, style_image, *, second_style_image=None,
    second_style_share: float, style_layers: Iterable[str], content_layer: str,
    content_weight: float, style_weight: float, tv_weight: float, preserve_colors: bool,
    init: str, frames: int, schedule: dream.Schedule, max_side: int,
    on_progress: ProgressCallback | None = None,
) -> dream.DreamResult:
    content, notes = fit_image(content_image, max_side, "the content image")
    # Styles are seen at the content's scale by the package; fit them to the hard cap only.
    style, style_notes = fit_image(style_image, APP_LIMITS.max_side, "the style image")
    second = None
    if second_style_image:
        second, second_notes = fit_image(second_style_image, APP_LIMITS.max_side, "the second style")
        style_notes += second_notes
    result = dream.style_transfer(
        model, content, style, style_layers=tuple(style_layers or ()), content_layer=content_layer,
        content_weight=float(content_weight), style_weight=float(style_weight),
        tv_weight=float(tv_weight), second_style_image=second,
        second_style_share=float(second_style_share), preserve_colors=bool(preserve_colors),
        init=init, schedule=schedule, frames=int(frames), on_progress=on_progress,
        limits=APP_LIMITS)
    return with_notes(result, notes)


def make_schedule(technique: str, **values: Any) -> dream.Schedule:
    """The technique's base schedule with the widget values given (others unchanged)."""
    given = {key: values[key] for key in SCHEDULE_KEYS if values.get(key) is not None}
    for key in ("steps", "octaves", "tile_size", "jitter", "laplacian_levels", "seed"):
        if key in given:
            if float(given[key]) != int(float(given[key])):
                raise ValueError(f"{key} must be a whole number (got {given[key]}).")
            given[key] = int(float(given[key]))
    return replace(BASE_SCHEDULES[technique], **given)


# ----------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class GifOptions:
    frame_duration_ms: int = 120
    hold_last_ms: int = 600
    pingpong: bool = False


def _sweep_old_outputs(now: float) -> None:
    if not OUTPUT_ROOT.is_dir():
        return
    for folder in OUTPUT_ROOT.iterdir():
        try:
            if now - folder.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def save_outputs(result: dream.DreamResult, technique: str, gif: GifOptions) -> tuple[Path, Path]:
    """The full-size PNG and the GIF, in a folder of their own (one per request)."""
    _sweep_old_outputs(time.time())
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{technique}-", dir=OUTPUT_ROOT))
    stem = f"{technique.replace('_', '-')}-seed{result.settings.get('seed', 0)}"
    png = result.save_png(folder / f"{stem}.png")
    animation = result.save_gif(
        folder / f"{stem}.gif", frame_duration_ms=int(gif.frame_duration_ms),
        pingpong=bool(gif.pingpong), max_frames=GIF_MAX_FRAMES, max_side=APP_LIMITS.max_gif_side,
        hold_last_ms=int(gif.hold_last_ms))
    return png, animation


def settings_record(result: dream.DreamResult, values: dict[str, Any]) -> dict:
    """What the result was made with: the package's record (seed included), then the
    endpoint's own arguments (`inputs`, images left out), ready for `Client.predict`."""
    inputs = {key: value for key, value in values.items() if not key.endswith("image")}
    return {**result.settings, "stopped_early": result.stopped, "inputs": inputs}


# ----------------------------------------------------------------------------- running


def _untouched_upload(image: gr.Image, payload):
    """`gr.Image.preprocess` that hands over the uploaded file's path as it is.

    Gradio's own preprocessing opens the file with PIL first, so an unreadable upload
    fails there with a generic error; the dream package's loader gives a clear one (and
    sees EXIF, modes and decompression bombs in the original file). Gradio has already
    checked that the path is a file the user uploaded.
    """
    if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
        return str(payload.path)
    try:
        return gr.Image.preprocess(image, payload)
    except Exception as error:  # noqa: BLE001
        raise gr.Error(f"Could not read the uploaded image ({type(error).__name__}).") from error


def _user_error(error: BaseException) -> gr.Error:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, (dream.ImageError, dream.LimitError, ValueError)):
        return gr.Error(str(error), print_exception=False)
    LOG.error("Dream failed", exc_info=error)
    return gr.Error(f"The dream failed unexpectedly ({type(error).__name__}). The server keeps "
                    f"running: try again with a smaller image or fewer steps.")


def stream(work: Callable[[ProgressCallback], dream.DreamResult], stop: threading.Event,
           progress: gr.Progress | None) -> Generator[np.ndarray, None, dream.DreamResult]:
    """Runs `work` in a thread; yields preview images; returns the result.

    The engine calls back after every few steps (in the worker thread); the callback
    returns True to stop once `stop` is set (the Stop button, or this generator being
    closed because Gradio cancelled the event).
    """
    updates: queue.Queue = queue.Queue()

    def on_progress(report: dream.Progress) -> bool:
        updates.put(report)
        return stop.is_set()

    def worker() -> None:
        try:
            updates.put(("done", work(on_progress)))
        except BaseException as error:  # noqa: BLE001 - re-raised in the handler's thread
            updates.put(("error", error))

    thread = threading.Thread(target=worker, name="dream-worker", daemon=True)
    thread.start()
    last_preview = 0.0
    try:
        while True:
            item = updates.get()
            if isinstance(item, dream.Progress):
                if progress is not None:
                    progress((item.step, item.total), desc=f"Dreaming: step {item.step} of {item.total}",
                             unit="steps")
                now = time.monotonic()
                if now - last_preview >= PREVIEW_INTERVAL_S and updates.empty():
                    last_preview = now
                    yield item.preview
                continue
            kind, value = item
            if kind == "error":
                raise _user_error(value)
            return value
    finally:
        stop.set()  # a closed generator (cancelled event) stops the worker at its next step


class Studio:
    """The handlers behind the page; each dream endpoint streams previews, then results."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder
        self._stops: dict[str, set[threading.Event]] = {}
        self._stops_lock = threading.Lock()

    # --- stop

    def _register(self, request: gr.Request | None) -> tuple[str, threading.Event]:
        key = getattr(request, "session_hash", None) or "anonymous"
        event = threading.Event()
        with self._stops_lock:
            self._stops.setdefault(key, set()).add(event)
        return key, event

    def _unregister(self, key: str, event: threading.Event) -> None:
        with self._stops_lock:
            self._stops.get(key, set()).discard(event)

    def stop(self, request: gr.Request = None) -> None:
        """Asks this session's running dream to stop at its next step."""
        key = getattr(request, "session_hash", None) or "anonymous"
        with self._stops_lock:
            for event in self._stops.get(key, ()):
                event.set()

    # --- the common path of the four techniques

    def _run(self, technique: str,
             work: Callable[[dream.InceptionModel, ProgressCallback], dream.DreamResult],
             values: dict[str, Any], progress: gr.Progress | None, request: gr.Request | None):
        """Streams a run to the page: previews while it dreams, then the five outputs
        (final PNG, GIF, both as downloads, settings, notes)."""
        model = self.holder.require()
        gif = GifOptions(int(values["frame_duration_ms"]), int(values["hold_last_ms"]),
                         bool(values["pingpong"]))
        key, stop = self._register(request)
        try:
            # Clears the previous run's animation, files and settings while this one dreams.
            yield gr.skip(), None, None, None, "Dreaming…"
            runner = stream(lambda on_progress: work(model, on_progress), stop, progress)
            while True:
                try:
                    preview = next(runner)
                except StopIteration as finished:
                    result = finished.value
                    break
                yield preview, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if progress is not None:
                progress(None, desc="Writing the GIF…")
            try:
                png, animation = save_outputs(result, technique, gif)
            except Exception as error:  # noqa: BLE001
                raise _user_error(error) from error
            notes = list(result.notes)
            if result.stopped:
                notes.append(f"Stopped early: {len(result.frames) - 1} of "
                             f"{result.settings.get('frames')} frames were dreamed.")
            for note in notes:
                gr.Info(note)
            yield (str(png), str(animation), [str(png), str(animation)],
                   settings_record(result, values), "\n".join(notes) or "No notes.")
        finally:
            self._unregister(key, stop)

    # --- endpoints: the parameter names are the API's

    def deep_dream(
        self, image: str | None, objective: str, layer: str, channel: float, class_name: str,
        frames: float, steps: float, max_side: float, step_size: float, octaves: float,
        octave_scale: float, tile_size: float, jitter: float, laplacian_levels: float,
        seed: float, frame_duration_ms: float, hold_last_ms: float, pingpong: bool,
        progress: gr.Progress = gr.Progress(), request: gr.Request = None,
    ):
        """Deep Dream (feedback loop): amplifies what a layer, a channel or a class neuron sees."""
        values = widget_values(locals())
        work = lambda model, on_progress: run_deep_dream(  # noqa: E731
            model, image, objective=objective, layer=layer, channel=int(channel or 0),
            class_name=class_name, frames=int(frames), max_side=int(max_side),
            schedule=make_schedule("deep_dream", **values), on_progress=on_progress)
        yield from self._run("deep_dream", work, values, progress, request)

    def fractal_zoom(
        self, image: str | None, objective: str, layer: str, channel: float, class_name: str,
        frames: float, zoom: float, steps: float, max_side: float, step_size: float,
        octaves: float, octave_scale: float, tile_size: float, jitter: float,
        laplacian_levels: float, seed: float, frame_duration_ms: float, hold_last_ms: float,
        pingpong: bool, progress: gr.Progress = gr.Progress(), request: gr.Request = None,
    ):
        """Fractal zoom: dream, zoom in by `zoom` of each side, dream again, `frames` times."""
        values = widget_values(locals())
        work = lambda model, on_progress: run_fractal_zoom(  # noqa: E731
            model, image, objective=objective, layer=layer, channel=int(channel or 0),
            class_name=class_name, frames=int(frames), zoom=zoom, max_side=int(max_side),
            schedule=make_schedule("fractal_zoom", **values), on_progress=on_progress)
        yield from self._run("fractal_zoom", work, values, progress, request)

    def guided(
        self, dream_image: str | None, guide_image: str | None, guide_is_dream: bool,
        layer: str, similarity: str, direction: str, smoothness: float, frames: float,
        steps: float, max_side: float, smoothness_norm: str, guide_weight: float,
        step_size: float, octaves: float, octave_scale: float, tile_size: float, jitter: float,
        laplacian_levels: float, seed: float, frame_duration_ms: float, hold_last_ms: float,
        pingpong: bool, progress: gr.Progress = gr.Progress(), request: gr.Request = None,
    ):
        """Guided hallucination: dreams an image toward (or away from) a guide's features."""
        values = widget_values(locals())
        work = lambda model, on_progress: run_guided(  # noqa: E731
            model, dream_image, guide_image, guide_is_dream=bool(guide_is_dream), layer=layer,
            similarity=similarity, direction=direction, smoothness=smoothness,
            smoothness_norm=smoothness_norm, guide_weight=guide_weight, frames=int(frames),
            max_side=int(max_side), schedule=make_schedule("guided", **values),
            on_progress=on_progress)
        yield from self._run("guided", work, values, progress, request)

    def style_transfer(
        self, content_image: str | None, style_image: str | None, style_weight: float,
        content_weight: float, preserve_colors: bool, frames: float, steps: float,
        max_side: float, second_style_share: float, style_layers: list[str],
        content_layer: str, tv_weight: float, init: str, step_size: float, octaves: float,
        octave_scale: float, tile_size: float, jitter: float, seed: float,
        frame_duration_ms: float, hold_last_ms: float, pingpong: bool,
        second_style_image: str | None = None,  # optional: a None default tells the API so
        progress: gr.Progress = gr.Progress(), request: gr.Request = None,
    ):
        """Style transfer: the content image repainted in the style image's textures."""
        values = widget_values(locals())
        work = lambda model, on_progress: run_style_transfer(  # noqa: E731
            model, content_image, style_image, second_style_image=second_style_image,
            second_style_share=second_style_share, style_layers=style_layers,
            content_layer=content_layer, content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, preserve_colors=preserve_colors,
            init=init, frames=int(frames), max_side=int(max_side),
            schedule=make_schedule("style_transfer", **values), on_progress=on_progress)
        yield from self._run("style_transfer", work, values, progress, request)

    # --- helpers for the page

    def refresh(self):
        """Status banner, loading timer and model-dependent choices (while loading)."""
        model = self.holder.model
        done = self.holder.state != "loading"
        return (self.holder.status_markdown(), gr.Timer(active=not done),
                gr.Dropdown(choices=layer_choices(model)), gr.Dropdown(choices=class_choices(model)))

    def channel_range(self, layer: str):
        """Bounds the channel slider by the chosen layer's channel count."""
        channels = layer_channels(self.holder.model, layer)
        if channels is None:
            return gr.Slider()
        return gr.Slider(maximum=channels - 1, label=f"Channel (0 to {channels - 1} in {layer})")


def widget_values(local_variables: dict[str, Any]) -> dict[str, Any]:
    """A handler's arguments by name (from its `locals()`), without self/progress/request."""
    return {key: value for key, value in local_variables.items()
            if key not in ("self", "progress", "request")}


# ----------------------------------------------------------------------------- presets


def preset_values(preset: dream.Preset) -> dict[str, Any]:
    """Every control's value for `preset`: the technique's defaults, then the preset's own
    settings, so the preset is reproduced exactly (seed included)."""
    values = {**_function_defaults(TECHNIQUES[preset.technique]), **asdict(preset.schedule()),
              **preset.options()}
    if preset.technique in ("deep_dream", "fractal_zoom"):
        if values.get("class_name"):
            values["objective"] = "class"
        elif values.get("channel_index") is not None:
            values.update(objective="channel", channel=values["channel_index"])
        else:
            values["objective"] = "layer"
    if preset.technique == "guided":
        values["guide_is_dream"] = preset.guide_is_dream
    if "style_layers" in values:
        values["style_layers"] = list(values["style_layers"])
    return values


def preset_markdown(preset: dream.Preset | None) -> str:
    return f"*{preset.description}*" if preset else ""


# ----------------------------------------------------------------------------- the page

ABOUT = """
## What each tab does

**Deep Dream.** The photo is changed, step by step, so that a chosen part of the network
(a whole layer, one channel, or the neuron of one ImageNet class) responds more and more
strongly, so whatever that part "sees" is painted into the picture. This is the technique
of Mordvintsev, Olah and Tyka's *Inceptionism: Going Deeper into Neural Networks* (Google
Research blog, 2015) and their DeepDream notebook; here every GIF frame dreams on the frame
before it (the feedback loop).

**Fractal Zoom.** Each frame is dreamed, then zoomed in slightly and dreamed again, so the
animation dives forever into a landscape that keeps hallucinating new detail. The endless
zooms come from the same Inceptionism post and DeepDream notebook.

**Guided Hallucination.** Instead of amplifying what a layer already sees, the picture is
pushed toward (or away from) the features of a second, guide image. This follows the
"controlling dreams" section of the DeepDream notebook, whose best-match objective is the
last similarity option here.

**Style Transfer.** The result keeps the content photo's features at one layer while taking
on the style image's feature correlations (Gram matrices) at several others. This is the
method of Gatys, Ecker and Bethge, *A Neural Algorithm of Artistic Style* (2015); the layer
choices follow the style-transfer notebooks of the Lucid library (Olah, Mordvintsev et al.).

## The model

All four techniques use Google's **inception5h** GoogLeNet (Szegedy et al., *Going Deeper
with Convolutions*, 2014), trained on ImageNet and published with the DeepDream notebook.
Layer names (`mixed4c`, …) are the graph's own; the Lucid library (Google, 2018) documents
the same network as InceptionV1.

## Tips

- Every run returns the final image as a full-size, lossless **PNG**, an animated **GIF**
  and the **settings used** (including the seed): the same settings and seed give the same
  result.
- Runs are queued (one at a time) and bounded: images are fitted into the maximum side you
  choose (at most {max_side} px), and a run may use at most {budget:.0f} megapixel-steps.
- Every tab is also an API endpoint: see "Use via API" at the bottom of the page.
"""

CSS = """
#model-status { padding: 0.4rem 0.8rem; border-radius: 8px; background: var(--block-background-fill); }
"""


@dataclass
class Outputs:
    image: gr.Image
    gif: gr.Image
    files: gr.File
    settings: gr.JSON
    notes: gr.Textbox

    def all(self) -> list:
        return [self.image, self.gif, self.files, self.settings, self.notes]


def _photo(label: str, elem_id: str) -> gr.Image:
    image = gr.Image(label=label, type="filepath", image_mode=None, elem_id=elem_id,
                     sources=["upload", "webcam", "clipboard"], height=300)
    # Per instance rather than by subclassing: a gr.Image subclass makes Gradio write a
    # type-stub file (app.pyi) next to this module at import.
    image.preprocess = types.MethodType(_untouched_upload, image)
    return image


def _outputs(prefix: str) -> Outputs:
    gr.Markdown("The dream evolves here live, then becomes the full-size PNG; the GIF and "
                "the downloads follow. **Settings used** lists the seed and every input: the "
                "same settings give the same result.", elem_classes=["output-help"])
    # Short labels: they are also the output names on the "Use via API" page.
    image = gr.Image(label="Dream (PNG)", format="png", type="filepath", interactive=False,
                     elem_id=f"{prefix}-image", buttons=["download", "fullscreen"], height=360)
    gif = gr.Image(label="Animation (GIF)", type="filepath", interactive=False,
                   elem_id=f"{prefix}-gif", buttons=["download", "fullscreen"], height=360)
    files = gr.File(label="Downloads", file_count="multiple", interactive=False,
                    elem_id=f"{prefix}-files")
    notes = gr.Textbox(label="Notes", interactive=False, lines=2, elem_id=f"{prefix}-notes")
    settings = gr.JSON(label="Settings used", elem_id=f"{prefix}-settings", open=False)
    return Outputs(image, gif, files, settings, notes)


def _schedule_controls(prefix: str, values: dict[str, Any], laplacian: bool = True) -> dict:
    """The Advanced accordion's optimisation and GIF controls."""
    controls = {}
    with gr.Row():
        controls["step_size"] = gr.Slider(0.1, 10.0, values["step_size"], step=0.1, label="Step size",
                                          info="Pixels (of 255) changed per step")
        controls["octaves"] = gr.Slider(1, APP_LIMITS.max_octaves, values["octaves"], step=1,
                                        label="Octaves", info="Scales dreamed, small to full size")
        controls["octave_scale"] = gr.Slider(1.1, 2.0, values["octave_scale"], step=0.05,
                                             label="Octave scale", info="Size ratio between octaves")
    with gr.Row():
        controls["tile_size"] = gr.Slider(128, APP_LIMITS.max_tile_size, values["tile_size"], step=64,
                                          label="Tile size", info="Gradients are computed tile by tile")
        controls["jitter"] = gr.Slider(0, 64, values["jitter"], step=1, label="Jitter",
                                       info="Random shift (px) each step; hides tile seams")
        if laplacian:
            controls["laplacian_levels"] = gr.Slider(
                0, 6, values["laplacian_levels"], step=1, label="Laplacian levels",
                info="0: plain normalised gradient; more: crisper fine detail")
    with gr.Row():
        controls["seed"] = gr.Number(values["seed"], precision=0, minimum=0, maximum=2**31 - 1,
                                     label="Seed", info="Same seed and settings, same result")
        controls["frame_duration_ms"] = gr.Slider(20, 1000, values["frame_duration_ms"], step=10,
                                                  label="GIF frame duration (ms)")
        controls["hold_last_ms"] = gr.Slider(0, 3000, values["hold_last_ms"], step=100,
                                             label="Hold the last frame (ms)")
        controls["pingpong"] = gr.Checkbox(values["pingpong"], label="Ping-pong GIF",
                                           info="Play forward, then backward")
    return controls


def _basics(prefix: str, values: dict[str, Any], frames_info: str) -> dict:
    controls = {}
    with gr.Row():
        controls["frames"] = gr.Slider(1, APP_LIMITS.max_frames, values["frames"], step=1,
                                       label="Frames", info=frames_info, elem_id=f"{prefix}-frames")
        controls["steps"] = gr.Slider(1, APP_LIMITS.max_steps, values["steps"], step=1,
                                      label="Steps", info="Per octave, per frame",
                                      elem_id=f"{prefix}-steps")
    controls["max_side"] = gr.Slider(
        64, APP_LIMITS.max_side, values["max_side"], step=32, label="Max image side (px)",
        elem_id=f"{prefix}-max-side",
        info="Bigger photos are shrunk to this; larger is slower (work grows with the pixels)")
    return controls


def _examples(prefix: str, paths: list[list[str]], inputs: list,
              label: str = "Examples (click one)") -> None:
    rows = [[str(ASSETS / name) for name in row] for row in paths
            if all((ASSETS / name).is_file() for name in row)]
    if rows:
        examples = gr.Examples(rows, inputs, label=label, cache_examples=False, examples_per_page=8)
        examples.dataset.elem_id = f"{prefix}-examples"  # for the browser tests


def _objective_controls(prefix: str, values: dict[str, Any], model, max_channel: int) -> dict:
    controls = {}
    controls["objective"] = gr.Radio(list(OBJECTIVES), value=values["objective"], label="Dream of…",
                                     elem_id=f"{prefix}-objective",
                                     info="A whole layer, one of its channels, or an ImageNet class")
    with gr.Row():
        controls["layer"] = gr.Dropdown(
            layer_choices(model), value=values["layer"], label="Layer", allow_custom_value=True,
            filterable=True, visible=values["objective"] != "class", elem_id=f"{prefix}-layer",
            info="Early layers: strokes and textures; later ones: eyes, animals, buildings")
        channels = layer_channels(model, values["layer"])
        controls["channel"] = gr.Slider(
            0, max_channel, values["channel"], step=1, visible=values["objective"] == "channel",
            label=(f"Channel (0 to {channels - 1} in {values['layer']})" if channels else "Channel"),
            elem_id=f"{prefix}-channel")
        controls["class_name"] = gr.Dropdown(
            class_choices(model), value=values["class_name"], label="ImageNet class (type to search)",
            allow_custom_value=True, filterable=True, visible=values["objective"] == "class",
            elem_id=f"{prefix}-class")
    return controls


def _wire_objective(demo: gr.Blocks, controls: dict, studio: Studio, prefix: str) -> None:
    def show(objective: str):
        return (gr.Dropdown(visible=objective != "class"), gr.Slider(visible=objective == "channel"),
                gr.Dropdown(visible=objective == "class"))

    controls["objective"].change(
        show, controls["objective"], [controls["layer"], controls["channel"], controls["class_name"]],
        api_name=f"{prefix}_objective_fields", api_visibility="undocumented", queue=False)
    # The slider is built to fit the widest layer (so API calls for any layer pass Gradio's
    # range check); each page then narrows it to the chosen layer.
    gr.on([demo.load, controls["layer"].change], studio.channel_range, controls["layer"],
          controls["channel"], api_name=f"{prefix}_channel_range", api_visibility="undocumented",
          queue=False)


def _preset_picker(prefix: str, technique: str) -> tuple[gr.Dropdown, gr.Markdown]:
    picker = gr.Dropdown([p.name for p in dream.presets_for(technique)], value=None,
                         label="Preset (optional)", elem_id=f"{prefix}-preset",
                         info="Fills the controls below to reproduce one of the seed's animations")
    description = gr.Markdown(visible=False)  # shown once a preset is chosen
    return picker, description


def _wire_preset(technique: str, picker: gr.Dropdown, description: gr.Markdown,
                 controls: dict) -> None:
    presets = dream.presets_for(technique)
    names = list(controls)

    def apply(name: str | None):
        chosen = next((p for p in presets if p.name == name), None)
        if chosen is None:
            return [gr.skip()] * len(names) + [gr.Markdown(visible=False)]
        values = preset_values(chosen)
        return ([values[key] if key in values else gr.skip() for key in names]
                + [gr.Markdown(preset_markdown(chosen), visible=True)])

    picker.change(apply, picker, [*controls.values(), description],
                  api_name=f"{technique}_preset", api_visibility="undocumented", queue=False)


def _dream_button(prefix: str, label: str = "Dream") -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        run = gr.Button(label, variant="primary", elem_id=f"{prefix}-run", scale=3)
        stop = gr.Button("Stop", variant="stop", elem_id=f"{prefix}-stop", scale=1)
    return run, stop


def _wire_run(studio: Studio, handler: Callable, run: gr.Button, stop: gr.Button, inputs: list,
              outputs: Outputs, api_name: str) -> None:
    event = run.click(handler, inputs, outputs.all(), api_name=api_name,
                      concurrency_id="dream", concurrency_limit=1, show_progress="full")
    # The flag stops the engine at its next step; `cancels` ends the event for the page.
    stop.click(studio.stop, None, None, cancels=[event], api_name=f"stop_{api_name}",
               api_visibility="undocumented", queue=False)


def _objective_tab(demo: gr.Blocks, studio: "Studio", technique: str, prefix: str,
                   values: dict[str, Any], model, max_channel: int, examples: list[str],
                   frames_info: str, button: str,
                   extra: Callable[[dict[str, Any]], dict] | None = None) -> dict:
    """A tab that dreams on one photo with a layer/channel/class objective (Deep Dream, zoom);
    `extra` adds the technique's own widgets after the basics. Returns the controls."""
    with gr.Row():
        with gr.Column():
            image = _photo("Photo", f"{prefix}-input")
            _examples(prefix, [[name] for name in examples], [image])
            picker, description = _preset_picker(prefix, technique)
            controls = _objective_controls(prefix, values, model, max_channel)
            controls.update(_basics(prefix, values, frames_info))
            if extra is not None:
                controls.update(extra(values))
            with gr.Accordion("Advanced", open=False):
                controls.update(_schedule_controls(prefix, values))
            run, stop = _dream_button(prefix, button)
        with gr.Column():
            outputs = _outputs(prefix)
    _wire_preset(technique, picker, description, controls)
    _wire_objective(demo, controls, studio, technique)
    _wire_run(studio, getattr(studio, technique), run, stop,
              [image, *(controls[k] for k in _params(getattr(Studio, technique))[1:])],
              outputs, technique)
    return controls


def build_app(holder: ModelHolder | None = None,
              defaults: dict[str, dict[str, Any]] = DEFAULTS) -> gr.Blocks:
    """The whole page; `holder` loads (or has loaded) the model, `defaults` holds each tab's
    starting values (tests and the screenshot script pass smaller ones)."""
    holder = holder or ModelHolder().start()
    studio = Studio(holder)
    model = holder.model
    max_channel = max((layer.channels for layer in model.layers), default=1024) - 1 if model else 1023
    layer_dropdowns: list[gr.Dropdown] = []
    class_dropdowns: list[gr.Dropdown] = []

    with gr.Blocks(title="Deep Dream Studio", delete_cache=(OUTPUT_MAX_AGE_S, OUTPUT_MAX_AGE_S)) as demo:
        gr.Markdown("# Deep Dream Studio\nPick a tab, upload a photo (or click an example) and "
                    "press the big button. The picture evolves live; at the end you get the final "
                    "full-size PNG, an animated GIF and the settings that reproduce it. With the "
                    "default settings a run takes about 10–20 s on a CPU.")
        status = gr.Markdown(holder.status_markdown(), elem_id="model-status")

        with gr.Tabs():
            # --- Deep Dream and Fractal Zoom: the same objective controls, one extra slider
            with gr.Tab("Deep Dream", id="deep_dream", elem_id="tab-deep-dream"):
                controls = _objective_tab(
                    demo, studio, "deep_dream", "dd", defaults["deep_dream"], model, max_channel,
                    ["cat.jpg", "landscape.jpg", "rocket.jpg", "abstract.jpg"],
                    "Feedback loop: each dreams on the last", "Dream")
                layer_dropdowns.append(controls["layer"])
                class_dropdowns.append(controls["class_name"])

            with gr.Tab("Fractal Zoom", id="fractal_zoom", elem_id="tab-fractal-zoom"):
                controls = _objective_tab(
                    demo, studio, "fractal_zoom", "fz", defaults["fractal_zoom"], model, max_channel,
                    ["landscape.jpg", "cat.jpg", "abstract.jpg"],
                    "Each zooms in on the last, then dreams", "Zoom",
                    extra=lambda values: {"zoom": gr.Slider(
                        0.005, 0.25, values["zoom"], step=0.005, label="Zoom per frame",
                        info="Fraction cropped from each side per frame")})
                layer_dropdowns.append(controls["layer"])
                class_dropdowns.append(controls["class_name"])

            # --- Guided Hallucination
            with gr.Tab("Guided Hallucination", id="guided", elem_id="tab-guided"):
                values = defaults["guided"]
                with gr.Row():
                    with gr.Column():
                        with gr.Row():
                            dream_image = _photo("Image to dream on", "gd-input")
                            guide_image = _photo("Guide image", "gd-guide")
                        _examples("gd", [["cat.jpg", "coffee.jpg"], ["landscape.jpg", "painting.jpg"],
                                   ["rocket.jpg", "abstract.jpg"]], [dream_image, guide_image])
                        picker, description = _preset_picker("gd", "guided")
                        controls = {}
                        controls["guide_is_dream"] = gr.Checkbox(
                            values["guide_is_dream"], label="Dream on the guide itself",
                            info="Ignores the first image: the guide's own features are amplified")
                        with gr.Row():
                            controls["layer"] = gr.Dropdown(
                                layer_choices(model), value=values["layer"], label="Layer",
                                allow_custom_value=True, filterable=True, elem_id="gd-layer")
                            controls["similarity"] = gr.Dropdown(
                                list(SIMILARITIES), value=values["similarity"], label="Similarity",
                                info="How the dream's features are compared with the guide's")
                        with gr.Row():
                            controls["direction"] = gr.Radio(list(DIRECTIONS), value=values["direction"],
                                                             label="Direction")
                            controls["smoothness"] = gr.Slider(
                                0, 50, values["smoothness"], step=0.5, label="Smoothness",
                                info="Total-variation penalty: higher is smoother")
                        controls.update(_basics("gd", values, "Each dreams further on the last"))
                        with gr.Accordion("Advanced", open=False):
                            with gr.Row():
                                controls["smoothness_norm"] = gr.Radio(
                                    list(SMOOTHNESS_NORMS), value=values["smoothness_norm"],
                                    label="Smoothness norm")
                                controls["guide_weight"] = gr.Slider(
                                    0, 10, values["guide_weight"], step=0.1, label="Guide weight")
                            controls.update(_schedule_controls("gd", values))
                        run, stop = _dream_button("gd")
                    with gr.Column():
                        outputs = _outputs("gd")
                _wire_preset("guided", picker, description, controls)
                _wire_run(studio, studio.guided, run, stop,
                          [dream_image, guide_image,
                           *(controls[k] for k in _params(Studio.guided)[2:])], outputs, "guided")
                layer_dropdowns.append(controls["layer"])

            # --- Style Transfer
            with gr.Tab("Style Transfer", id="style_transfer", elem_id="tab-style-transfer"):
                values = defaults["style_transfer"]
                with gr.Row():
                    with gr.Column():
                        with gr.Row():
                            content_image = _photo("Content image", "st-input")
                            style_image = _photo("Style image", "st-style")
                        _examples("st", [["cat.jpg", "painting.jpg"], ["landscape.jpg", "painting.jpg"],
                                   ["coffee.jpg", "abstract.jpg"]], [content_image, style_image])
                        picker, description = _preset_picker("st", "style_transfer")
                        controls = {}
                        with gr.Row():
                            controls["style_weight"] = gr.Slider(0, 100, values["style_weight"], step=0.5,
                                                                 label="Style weight")
                            controls["content_weight"] = gr.Slider(0, 10, values["content_weight"],
                                                                   step=0.1, label="Content weight")
                            controls["preserve_colors"] = gr.Checkbox(
                                values["preserve_colors"], label="Keep the content's colours")
                        controls.update(_basics("st", values, "Each continues from the last"))
                        with gr.Accordion("Second style (optional blend)", open=False):
                            second_style = _photo("Second style image", "st-style2")
                            controls["second_style_share"] = gr.Slider(
                                0, 1, values["second_style_share"], step=0.05,
                                label="Share of the second style")
                        with gr.Accordion("Advanced", open=False):
                            with gr.Row():
                                controls["style_layers"] = gr.Dropdown(
                                    layer_choices(model), value=list(values["style_layers"]),
                                    multiselect=True, allow_custom_value=True, label="Style layers")
                                controls["content_layer"] = gr.Dropdown(
                                    layer_choices(model), value=values["content_layer"],
                                    allow_custom_value=True, label="Content layer")
                            with gr.Row():
                                controls["tv_weight"] = gr.Slider(0, 100, values["tv_weight"], step=0.5,
                                                                  label="Smoothness (TV) weight")
                                controls["init"] = gr.Radio(list(INITS), value=values["init"],
                                                            label="Start from")
                            controls.update(_schedule_controls("st", values, laplacian=False))
                        run, stop = _dream_button("st", "Transfer style")
                    with gr.Column():
                        outputs = _outputs("st")
                _wire_preset("style_transfer", picker, description, controls)
                style_params = _params(Studio.style_transfer)
                inputs = [content_image, style_image]
                for name in style_params[2:]:
                    inputs.append(second_style if name == "second_style_image" else controls[name])
                _wire_run(studio, studio.style_transfer, run, stop, inputs, outputs, "style_transfer")
                layer_dropdowns += [controls["style_layers"], controls["content_layer"]]

            with gr.Tab("About", id="about", elem_id="tab-about"):
                gr.Markdown(ABOUT.format(max_side=APP_LIMITS.max_side, budget=APP_LIMITS.max_megapixel_steps))

        if holder.state == "loading":
            # The model was not ready when the page was built: poll until it is, then fill
            # in the choices that depend on it.
            timer = gr.Timer(2.0, active=True)
            refresh_outputs = [status, timer]

            def refresh():
                text, timer_update, layers, classes = studio.refresh()
                return (text, timer_update, *[layers] * len(layer_dropdowns),
                        *[classes] * len(class_dropdowns))

            refresh_outputs += [*layer_dropdowns, *class_dropdowns]
            timer.tick(refresh, None, refresh_outputs, api_name="model_status_tick",
                       api_visibility="undocumented", queue=False)
            demo.load(refresh, None, refresh_outputs, api_name="model_status",
                      api_visibility="undocumented", queue=False)

    demo.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE)
    return demo


def _params(function: Callable) -> list[str]:
    """A handler's widget parameters, in order (not self, progress or request)."""
    return [name for name in inspect.signature(function).parameters
            if name not in ("self", "progress", "request")]


def launch_options() -> dict[str, Any]:
    """Options `main` launches with; tests pass them too, so they see the same page."""
    return dict(theme=gr.themes.Soft(), css=CSS, allowed_paths=[str(ASSETS)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deep Dream Studio (Gradio app)")
    parser.add_argument("--share", action="store_true",
                        help="ask Gradio for a public link (also DREAM_SHARE=1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    share = args.share or os.environ.get("DREAM_SHARE", "").lower() in ("1", "true", "yes")

    holder = ModelHolder().start()
    # A local model loads in a second or two: waiting briefly lets the page be built with
    # its layer and class lists; a download continues in the background.
    holder.load(timeout=20)
    LOG.info("Model: %s", holder.status_markdown())
    demo = build_app(holder)
    demo.launch(share=share, **launch_options())


if __name__ == "__main__":
    main()
