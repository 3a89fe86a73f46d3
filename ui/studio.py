"""What every technique tab shares: running a request with live previews, Stop, presets,
the session gallery, and the widgets that follow the model's state.

A tab module lays out its widgets and calls `Studio.wire(endpoint, …)` once; everything
after that (the API endpoint and its documentation, streaming, Stop, errors that stay on
the page, file naming, the gallery) is the same for every tab.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from typing import Any, Callable, Generator, Iterator

import gradio as gr

import dream
from dream.endpoints import PARAMS, Endpoint
from dream.pool import StoppedWhileWaiting, Waiting
from dream.pool.jobs import EndpointJob

from ui import agents, controls
from ui.messages import user_message
from ui.model_holder import ModelHolder, StyleModelHolder, class_choices, layer_choices
from ui.outputs import (GALLERY_MAX_ITEMS, Panel, progress_text, save_outputs,
                        status_html)

PREVIEW_INTERVAL_S = 0.5   # at most two preview images a second reach the page
WAITING_PER_WORKER = 4     # with a pool: requests per worker that run or wait in its line

ProgressCallback = Callable[[dream.Progress], "bool | None"]


def relay(produce: Callable[[Callable[[Any], None]], Iterator[Any]], stop: threading.Event
          ) -> Iterator[tuple[str, Any]]:
    """Runs the generator `produce(report)` in a worker thread and yields, in the order they
    happen, ("report", x) for each `report(x)` it calls and ("item", y) for each y it
    yields; its exceptions are raised here. Closing this generator (the page went away)
    sets `stop`, which the work checks to end early."""
    updates: queue.Queue = queue.Queue()

    def worker() -> None:
        try:
            for item in produce(lambda report: updates.put(("report", report))):
                updates.put(("item", item))
            updates.put(("done", None))
        except BaseException as error:  # noqa: BLE001 - re-raised in the handler's thread
            updates.put(("error", error))

    threading.Thread(target=worker, name="dream-worker", daemon=True).start()
    try:
        while True:
            kind, value = updates.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield kind, value
    finally:
        stop.set()


def rendering(compute, stop, label: str, started: float):
    """Runs `compute(report)` in a worker thread (`relay`), yielding (skip, status line) as
    it reports; returns its result (None when stopped). `report(fraction)` returns True
    once Stop was pressed."""
    def produce(progress):
        def report(fraction: float) -> bool:
            progress(fraction)
            return stop.is_set()
        yield compute(report)

    result = None
    for kind, value in relay(produce, stop):
        if kind == "report":
            yield gr.skip(), status_html(f"{label} · {time.monotonic() - started:.0f} s", value)
        else:
            result = value
    return result


def stream(work: Callable[[ProgressCallback], dream.DreamResult], stop: threading.Event
           ) -> Generator[dream.Progress, None, dream.DreamResult]:
    """Runs `work` in a thread (`relay`); yields its progress reports; returns its result.

    The engine calls back after every few steps (in the worker thread); the callback
    returns True to stop once `stop` is set (the Stop button, or this generator being
    closed because the page went away).
    """
    def produce(report: Callable[[Any], None]) -> Iterator[dream.DreamResult]:
        def on_progress(progress: dream.Progress) -> bool:
            report(progress)
            return stop.is_set()

        yield work(on_progress)

    result = None
    for kind, value in relay(produce, stop):
        if kind == "report":
            yield value
        else:
            result = value
    return result


class Studio:
    """The handlers behind the page, shared by every technique tab."""

    def __init__(self, holder: ModelHolder, max_side: int, limit: int,
                 style_holder: ModelHolder | None = None, pool=None) -> None:
        self.holder = holder
        # The workers that dream (`dream.pool`); None: this process, one request at a time.
        self.pool = pool
        # Requests that may run or wait for a worker at once; past these, Gradio's queue.
        # With a pool they wait in its line, which tells each its place.
        self.concurrency = 1 if pool is None else WAITING_PER_WORKER * pool.size
        # Each endpoint dreams with one of these (Endpoint.model).
        self.holders = {"inception": holder, "style": style_holder or StyleModelHolder()}
        self.max_side, self.limit = max_side, limit
        self._stops: dict[str, set[threading.Event]] = {}
        self._stops_lock = threading.Lock()
        # Widgets that follow the model's state (filled when the model arrives).
        self.run_buttons: list[tuple[gr.Button, str]] = []  # (button, the model it needs)
        self.style_statuses: list[gr.Markdown] = []
        self.style_retries: list[gr.Button] = []
        # Every tab's inputs by parameter name, and the page's tabs, for hand-overs
        # between tabs (the atlas sets the Deep Dream tab's objective).
        self.tab_inputs: dict[str, dict[str, gr.components.Component]] = {}
        self.tabs: gr.Tabs | None = None
        self.tab_objects: dict[str, gr.Tab] = {}  # each tab, by its id (for its select event)
        self.layer_dropdowns: list[gr.Dropdown] = []
        self.class_dropdowns: list[gr.Dropdown] = []

    @property
    def model(self) -> dream.InceptionModel | None:
        return self.holder.model

    # --- stop

    def _register(self, request: gr.Request | None) -> tuple[str, threading.Event]:
        key = getattr(request, "session_hash", None) or "anonymous"
        event = threading.Event()
        with self._stops_lock:
            self._stops.setdefault(key, set()).add(event)
        return key, event

    def _unregister(self, key: str, event: threading.Event) -> None:
        with self._stops_lock:
            events = self._stops.get(key, set())
            events.discard(event)
            if not events:
                self._stops.pop(key, None)

    def stop(self, request: gr.Request = None) -> None:
        """Stops this session's running dream at its next step; the run then returns what
        it has made so far (PNG, GIF, settings) like a finished one."""
        key = getattr(request, "session_hash", None) or "anonymous"
        with self._stops_lock:
            for event in self._stops.get(key, ()):
                event.set()

    def stopper(self, endpoint: Endpoint) -> Callable:
        """`stop` under the endpoint's own name (the MCP tools are named after functions)."""
        def stop(request: gr.Request = None) -> None:
            self.stop(request)

        stop.__name__ = stop.__qualname__ = f"stop_{endpoint.name}"
        stop.__doc__ = self.stop.__doc__
        return agents.hidden_from_agents(stop)

    # --- running one request

    def run(self, endpoint: Endpoint, raw: dict[str, Any], history: list | None,
            request: gr.Request | None) -> Generator[tuple, None, None]:
        """Streams a run to the page: status and previews while it dreams, then the final
        PNG, GIF, downloads, settings and notes (also after Stop)."""
        key, stop = self._register(request)
        skip = gr.skip()
        try:
            try:
                values = endpoint.check(raw)
                plan = endpoint.prepare(self.holders[endpoint.model].require(), values)
            except Exception as error:  # noqa: BLE001 - every failure gets words on the page
                message = user_message(error)
                # On the page first (it stays there), then as the event's error (the toast,
                # and what an API caller receives).
                yield skip, skip, skip, skip, skip, message, status_html(message, kind="error"), skip
                raise gr.Error(message, title="Cannot dream with these settings",
                               print_exception=False) from None

            started = time.monotonic()
            # The starting picture stands in for the preview until the first one arrives.
            yield (plan.start, None, None, None, None, "Dreaming…",
                   status_html("Starting: preparing the network…", 0.0), skip)
            first_report = None
            last_preview = 0.0
            work = plan.work if self.pool is None else self._on_pool(endpoint, values, plan)
            runner = stream(lambda on_progress: plan.noted(work(on_progress)), stop)
            try:
                while True:
                    report = next(runner)
                    now = time.monotonic()
                    if isinstance(report, Waiting):  # in line for a worker of the pool
                        started = now  # the time shown counts from when a worker took it
                        text = waiting_text(report)
                        yield skip, skip, skip, skip, skip, text, status_html(text, 0.0), skip
                        continue
                    if first_report is None:
                        first_report = (report.step, now - started)
                    if now - last_preview >= PREVIEW_INTERVAL_S:
                        last_preview = now
                        text = progress_text(report.step, report.total, now - started, first_report)
                        preview = skip if report.preview is None else report.preview
                        yield (preview, skip, skip, skip, skip, text,
                               status_html(text, report.step / report.total), skip)
            except StopIteration as finished:
                result = finished.value
            except StoppedWhileWaiting:
                text = "Stopped before a worker was free: nothing was dreamed."
                yield skip, skip, skip, skip, skip, text, status_html(text, 0.0, "done"), skip
                return
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield skip, skip, skip, skip, skip, message, status_html(message, kind="error"), skip
                raise gr.Error(message, title="The dream failed", print_exception=False) from None

            yield (skip, skip, skip, skip, skip, "Writing the PNG, the GIF and the MP4…",
                   status_html("Writing the PNG, the GIF and the MP4…", 1.0), skip)
            label = endpoint.label(values)
            png, animation, video = save_outputs(result, endpoint.name, label, values)
            elapsed = time.monotonic() - started
            dreamed, asked = result.dreamed_frames, result.requested_frames
            if result.stopped:
                summary = f"Stopped after {dreamed} of {asked} frames ({elapsed:.0f} s)."
            else:
                summary = f"Finished: {dreamed} frame{'s' * (dreamed != 1)} in {elapsed:.0f} s."
            notes = "\n".join([summary, *result.notes])
            inputs = {name: values[name] for name in endpoint.params}
            # A painting is shown as what it is, not as a file path on this server.
            shown = {name: "(a painting)" if PARAMS[name].kind == "image" and value is not None
                     else value for name, value in inputs.items()}
            settings = {**result.settings, "stopped_early": result.stopped, "inputs": shown}
            files = [str(png), str(animation), str(video)]
            entry = {"png": str(png), "gif": str(animation), "mp4": str(video), "label": f"{label} · seed "
                     f"{values.get('seed', 0)}", "values": inputs, "settings": settings,
                     "notes": notes}
            new_history = [entry, *(history or [])][:GALLERY_MAX_ITEMS]
            yield (str(png), str(animation), str(video), files, settings, notes,
                   status_html(summary, 1.0, "done"), new_history)
        finally:
            self._unregister(key, stop)

    def _on_pool(self, endpoint: Endpoint, values: dict[str, Any], plan) -> Callable:
        """The plan's work, done by a worker of the pool: the checked values with the
        fitted images travel; progress, previews and the place in line come back."""
        if plan.on_pool is not None:  # shared out over several workers (a clip's pieces)
            return plan.on_pool(self.pool)
        job = EndpointJob.from_plan(endpoint.name, values, plan.inputs)

        def work(on_progress: ProgressCallback) -> dream.DreamResult:
            return self.pool.run(job, on_progress, on_wait=on_progress)

        return work

    def handler(self, endpoint: Endpoint) -> Callable:
        """The endpoint's event function, with the endpoint's parameter names and docs
        (Gradio builds the API page from the signature and the docstring)."""
        names = endpoint.names

        def handler(*args: Any):
            # Gradio passes the inputs, the history and the request, in signature order.
            *given, history, request = args
            yield from self.run(endpoint, dict(zip(names, given)), history, request)

        # Optional images come after the required ones; from there on every parameter has
        # a default (the others' defaults are their widgets' values, on the API page).
        optional = [image.name for image in endpoint.images if not image.required]
        optional += [name for name in endpoint.params if PARAMS[name].kind == "image"]  # a mask
        first_default = min(names.index(name) for name in optional) if optional else len(names)
        parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        **({"default": None} if i >= first_default else {}))
                      for i, name in enumerate(names)]
        parameters += [inspect.Parameter("history", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
                       inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                         default=None, annotation=gr.Request)]
        handler.__signature__ = inspect.Signature(parameters)
        handler.__annotations__ = {"request": gr.Request}
        handler.__name__ = handler.__qualname__ = endpoint.name
        handler.__doc__ = endpoint.docstring()
        return agents.describe_for_agents(handler, agent_description(endpoint))

    # --- wiring a tab

    def wire(self, endpoint: Endpoint, panel: Panel, images: dict[str, gr.components.Component],
             widgets: dict[str, gr.components.Component], picker: gr.Dropdown,
             description: gr.Markdown | None, preset_keys: tuple[str, ...] | None = None,
             run: gr.Button | None = None, before_run: Any = None, restore: Any = None) -> None:
        """Connects a tab's widgets to its endpoint: run, stop, presets, gallery, objective.

        The picker offers the presets its choices name; `preset_keys` limits what they set
        (e.g. only what to dream of, when another technique's presets are borrowed). `run`:
        the button that starts it, when a panel serves two endpoints (default: the panel's).
        `before_run`: (fn, inputs, outputs) run first on a click, filling parameters from
        widgets that are not themselves parameters (the mixer's rows and painting);
        `restore`: (outputs, fn(values, shown) → their updates, [input] or []), what a gallery
        item sets besides the parameters' own widgets (the mixer's rows from its `mix`, and
        its painting from its `mask` under the photo `input` shows now)."""
        run = run or panel.run
        # In the endpoint's order (what the preset and gallery events return follows it).
        widgets = {**{name: widgets[name] for name in endpoint.params if name in widgets}, **widgets}
        self.tab_inputs[endpoint.name] = {**images, **widgets}
        inputs = [images[name] if name in images else widgets[name] for name in endpoint.names]
        start = run.click
        if before_run is not None:
            fn, before_inputs, before_outputs = before_run
            start = run.click(fn, before_inputs, before_outputs, queue=False, show_progress="hidden",
                              api_visibility="private").then
        event = start(
            self.handler(endpoint), [*inputs, panel.history], [*panel.results(), panel.history],
            api_name=endpoint.name, concurrency_id="dream", concurrency_limit=self.concurrency,
            show_progress="hidden")
        event.success(_gallery_items, panel.history, panel.gallery, queue=False,
                      api_visibility="private", show_progress="hidden")
        panel.stop.click(self.stopper(endpoint), None, None, api_name=f"stop_{endpoint.name}",
                         api_description=f"Stops this session's running {endpoint.name} request "
                                         f"at its next step; it then returns the frames made so "
                                         f"far (PNG, GIF, settings) like a finished run.",
                         queue=False, show_progress="hidden")
        self.run_buttons.append((run, endpoint.model))
        if picker is not None:
            self._wire_preset(endpoint, picker, description, widgets, preset_keys)
        self._wire_gallery(endpoint, panel, widgets, restore)
        if "objective" in widgets:
            self._wire_objective(endpoint, widgets)
        for name in ("layer", "content_layer"):
            if name in widgets:
                self.layer_dropdowns.append(widgets[name])
        if "style_layers" in widgets:
            self.layer_dropdowns.append(widgets["style_layers"])
        if "class_name" in widgets:
            self.class_dropdowns.append(widgets["class_name"])

    def _wire_preset(self, endpoint: Endpoint, picker: gr.Dropdown, description: gr.Markdown,
                     widgets: dict, keys: tuple[str, ...] | None) -> None:
        names = list(widgets)

        def apply(name: str | None):
            chosen = dream.presets.PRESETS_BY_NAME.get(name) if name else None
            if chosen is None:
                return [gr.skip()] * len(names) + [gr.Markdown(visible=False)]
            values = endpoint.preset_values(chosen)
            description = chosen.description
            if keys is not None:
                values = {key: value for key, value in values.items() if key in keys}
                description += " Here it chooses only what to dream of; the rest stays as set."
            return ([values[key] if key in values else gr.skip() for key in names]
                    + [gr.Markdown(f"*{description}*", visible=True)])

        picker.change(apply, picker, [*widgets.values(), description],
                      api_name=f"{endpoint.name}_preset", api_visibility="undocumented", queue=False)

    def _wire_gallery(self, endpoint: Endpoint, panel: Panel, widgets: dict, extra: Any = None) -> None:
        names = list(widgets)
        extra_outputs, extra_values, extra_inputs = extra or ([], None, [])

        def restore(history: list, shown: Any, selected: gr.SelectData):
            if not history or selected is None or not 0 <= selected.index < len(history):
                return [gr.skip()] * (len(names) + 6 + len(extra_outputs))
            entry = history[selected.index]
            extra_updates = extra_values(entry["values"], shown) if extra_values else []
            return ([entry["values"].get(key, gr.skip()) for key in names]
                    + [entry["png"], entry["gif"], entry["mp4"],
                       [entry["png"], entry["gif"], entry["mp4"]], entry["settings"], entry["notes"]]
                    + list(extra_updates))

        # `shown`: what the extra updates also need from the page (the photo, under which the
        # painting goes back), or the history again when they need nothing.
        panel.gallery.select(restore, [panel.history, *(extra_inputs[:1] or [panel.history])],
                             [*widgets.values(), panel.image, panel.gif, panel.video, panel.files,
                              panel.settings, panel.notes, *extra_outputs],
                             api_visibility="private", queue=False, show_progress="hidden")

    def _wire_objective(self, endpoint: Endpoint, widgets: dict) -> None:
        def show(objective: str):
            return (gr.Dropdown(visible=objective != "class"), gr.Number(visible=objective == "channel"),
                    gr.Dropdown(visible=objective == "class"), gr.Checkbox(visible=objective == "layer"),
                    gr.Checkbox(visible=objective == "channel"))

        widgets["objective"].change(
            show, widgets["objective"], [widgets[name] for name in ("layer", "channel", "class_name",
                                                                    "squared", "pre_relu")],
            api_name=f"{endpoint.name}_objective_fields", api_visibility="undocumented", queue=False,
            show_progress="hidden")
        widgets["layer"].change(
            lambda layer: gr.Number(**controls.channel_update(self.model, layer)), widgets["layer"],
            widgets["channel"], api_name=f"{endpoint.name}_channel_range",
            api_visibility="undocumented", queue=False, show_progress="hidden")

    # --- the model's state

    def refresh(self) -> tuple:
        """Status, timer, Retry and every model-dependent widget, for the current state."""
        model, state = self.model, self.holder.state
        style = self.holders["style"]
        busy = "loading" in (state, style.state) or self.holder.warming
        return (self.status_markdown(),
                gr.Timer(active=busy),
                gr.Button(visible=state == "unavailable"),
                *[gr.Button(interactive=self.holders[kind].model is not None)
                  for _, kind in self.run_buttons],
                *[style.status_markdown() for _ in self.style_statuses],
                *[gr.Button(visible=style.state == "unavailable") for _ in self.style_retries],
                *[gr.Dropdown(choices=layer_choices(model)) for _ in self.layer_dropdowns],
                *[gr.Dropdown(choices=class_choices(model)) for _ in self.class_dropdowns])

    def status_markdown(self) -> str:
        """The model's state, and where requests are dreamed when that is not here."""
        text = self.holder.status_markdown(self.max_side, self.limit, device=self.pool is None)
        if self.pool is not None:
            text += f" Dreaming on {self.pool.describe()}."
        return text

    def refresh_outputs(self, status: gr.Markdown, timer: gr.Timer, retry: gr.Button) -> list:
        return [status, timer, retry, *(button for button, _ in self.run_buttons),
                *self.style_statuses, *self.style_retries, *self.layer_dropdowns,
                *self.class_dropdowns]

    def retry(self) -> tuple:
        """Looks for the models again (e.g. after one has been put in place), then refreshes."""
        for holder in self.holders.values():
            if holder.state == "unavailable":
                holder.retry(timeout=60)
        return self.refresh()


def waiting_text(waiting: Waiting) -> str:
    """"Waiting for a free worker: 3 ahead of you (4 workers)"."""
    ahead = "next in line" if waiting.ahead == 0 else f"{waiting.ahead} ahead of you"
    return f"Waiting for a free worker: {ahead} ({waiting.workers} worker{'s' * (waiting.workers != 1)})"


def agent_description(endpoint: Endpoint) -> str:
    """What an MCP agent reads about the endpoint's tool."""
    return (f"{endpoint.description} {agents.INPUT_NOTE} Returns the final picture (a PNG "
            f"image), links to the animation as GIF and MP4, and a plain-text summary: notes, "
            f"the links and the settings used (seed included: the same settings give the same "
            f"result). {endpoint.duration_hint}")


def _gallery_items(history: list | None) -> list[tuple[str, str]]:
    return [(entry["png"], entry["label"]) for entry in history or []]
