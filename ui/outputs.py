"""What every technique tab shows on its right: the Run/Stop buttons, a status line, the
live preview that becomes the final PNG, the GIF, downloads, notes, settings and this
session's gallery; and the files behind them (named for what they are, swept when old)."""

from __future__ import annotations

import html
import itertools
import shutil
import tempfile
import threading
import time
from abc import ABCMeta
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import gradio as gr

import dream
from dream.endpoints import save_files, slug

from ui import ids

OUTPUT_ROOT = Path(tempfile.gettempdir()) / "deep-dream-studio"
OUTPUT_MAX_AGE_S = 3600          # results are deleted an hour after they were made…
OUTPUT_MAX_BYTES = 2 * 1024**3   # …or sooner, oldest first, when they take more than this
SWEEP_INTERVAL_S = 300
PREVIEW_HEIGHT = 380             # px: fixed, so the box does not jump between previews
GALLERY_MAX_ITEMS = 24


# ----------------------------------------------------------------------------- status line


def _status_class():
    """gr.HTML that is left out of the API (the page's status line is not a result).

    Gradio has no per-instance switch for that, only the class property `skip_api`, and a
    subclass defined the usual way makes Gradio write a type stub beside this module; built
    through ABCMeta it does not. `is_template` makes the page render it as plain HTML.
    """
    return ABCMeta.__new__(type(gr.HTML), "HTML", (gr.HTML,), {
        "__module__": __name__, "is_template": True, "skip_api": property(lambda self: True)})


StatusLine = _status_class()


def status_html(text: str, fraction: float | None = None, kind: str = "info") -> str:
    """The status line: a slim bar (when `fraction` is known) and one line of text."""
    bar = ""
    if fraction is not None:
        bar = (f'<div class="dream-bar"><span style="width:{max(0.0, min(1.0, fraction)) * 100:.1f}%">'
               f'</span></div>')
    return f'<div class="dream-status {kind}">{bar}<p>{html.escape(text)}</p></div>'


def progress_text(step: int, total: int, elapsed: float,
                  first_report: tuple[int, float] | None) -> str:
    """"Dreaming: step 12 of 48 · 4 s · about 12 s left". The estimate uses the pace since
    the first report (the first steps also pay for compiling, so they would mislead)."""
    text = f"Dreaming: step {step} of {total} · {elapsed:.0f} s"
    if first_report is not None and step > first_report[0]:
        per_step = (elapsed - first_report[1]) / (step - first_report[0])
        text += f" · about {max(1.0, per_step * (total - step)):.0f} s left"
    return text


# ----------------------------------------------------------------------------- components


@dataclass
class Panel:
    run: gr.Button
    stop: gr.Button
    status: gr.HTML
    image: gr.Image
    gif: gr.Image
    video: gr.Video
    files: gr.File
    notes: gr.Textbox
    settings: gr.JSON
    gallery: gr.Gallery
    history: gr.State
    alternative_run: gr.Button | None = None  # a second mode's button (hidden at first)

    def results(self) -> list:
        """The run event's outputs; the API returns all but the status line."""
        return [self.image, self.gif, self.video, self.files, self.settings, self.notes,
                self.status]


def panel(prefix: str, button: str, enabled: bool, result_label: str = "Result (PNG; live "
          "preview while dreaming)", animation_label: str = "Animation (MP4)",
          alternative_button: str | None = None) -> Panel:
    """The right-hand column of a technique tab (call inside a gr.Column)."""
    alternative = None
    with gr.Row(elem_classes=["run-row"]):
        run = gr.Button(button, variant="primary", elem_id=ids.element(prefix, "run"), scale=3,
                        interactive=enabled)
        if alternative_button:
            alternative = gr.Button(alternative_button, variant="primary", scale=3, visible=False,
                                    elem_id=ids.element(prefix, "run-alternative"))
        stop = gr.Button("Stop", variant="stop", elem_id=ids.element(prefix, "stop"), scale=1)
    status = StatusLine(status_html("Ready: pick a photo (or an example) and press "
                                    f"{button}."), elem_id=ids.element(prefix, "status"),
                        elem_classes=["status-line"])
    # Short labels: they are also the output names on the "Use via API" page.
    image = gr.Image(label=result_label, format="png",
                     type="filepath", interactive=False, elem_id=ids.element(prefix, "image"),
                     elem_classes=["preview"],
                     buttons=["download", "fullscreen"], height=PREVIEW_HEIGHT)
    with gr.Row():
        video = gr.Video(label=animation_label, interactive=False, autoplay=True, loop=True,
                         elem_id=ids.element(prefix, "video"), height=240)
        gif = gr.Image(label="Animation (GIF)", type="filepath", interactive=False,
                       elem_id=ids.element(prefix, "gif"), buttons=["download", "fullscreen"],
                       height=240)
    with gr.Row():
        files = gr.File(label="Downloads", file_count="multiple", interactive=False,
                        elem_id=ids.element(prefix, "files"), height=140)
        notes = gr.Textbox(label="Notes", interactive=False, lines=3, max_lines=8,
                           elem_id=ids.element(prefix, "notes"))
    gallery = gr.Gallery(label="Your results this session (newest first; click one to restore "
                               "its settings)", elem_id=ids.element(prefix, "gallery"), columns=6,
                         rows=1, height=150, allow_preview=False, object_fit="contain",
                         fit_columns=False)
    with gr.Accordion("Settings used (the seed and every input: the same settings give the same "
                      "result)", open=False):
        settings = gr.JSON(label="Settings used", elem_id=ids.element(prefix, "settings"))
    history = gr.State([])
    return Panel(run, stop, status, image, gif, video, files, notes, settings, gallery, history,
                 alternative)


# ----------------------------------------------------------------------------- files


_counter = itertools.count(1)
_sweeper_started = threading.Event()


def file_stem(technique: str, label: str, seed: int | None) -> str:
    """`deep-dream-mixed4c-seed0-153012-7`: technique, objective, seed (if it has one), time
    and a counter, so two runs never download under the same name."""
    seeded = f"-seed{seed}" if seed is not None else ""
    return (f"{technique.replace('_', '-')}-{slug(label)}{seeded}-"
            f"{time.strftime('%H%M%S')}-{next(_counter)}")


def save_outputs(result: dream.DreamResult, technique: str, label: str,
                 values: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    """The full-size PNG, the GIF and the MP4 (`dream.endpoints.save_files`), in a folder
    of their own (one per request), named for what they are."""
    start_sweeper()
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{technique}-", dir=OUTPUT_ROOT))
    seed = result.settings.get("seed")
    stem = file_stem(technique, label, None if seed is None else int(seed))
    return save_files(result, folder / stem, values)


def sweep(now: float | None = None, max_age_s: float = OUTPUT_MAX_AGE_S,
          max_bytes: int = OUTPUT_MAX_BYTES) -> int:
    """Deletes result folders older than `max_age_s`, then the oldest until the rest fit
    in `max_bytes`; returns how many were deleted."""
    if not OUTPUT_ROOT.is_dir():
        return 0
    now = time.time() if now is None else now
    folders = []
    for folder in OUTPUT_ROOT.iterdir():
        try:
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            folders.append((folder.stat().st_mtime, size, folder))
        except OSError:
            continue
    deleted, total = 0, sum(size for _, size, _ in folders)
    for mtime, size, folder in sorted(folders):
        if now - mtime > max_age_s or total > max_bytes:
            shutil.rmtree(folder, ignore_errors=True)
            deleted, total = deleted + 1, total - size
    return deleted


def start_sweeper() -> None:
    """A background thread that sweeps the results folder every few minutes."""
    if _sweeper_started.is_set():
        return
    _sweeper_started.set()

    def loop() -> None:
        while True:
            try:
                sweep()
            except Exception:  # noqa: BLE001 - a failed sweep must not end the thread
                pass
            time.sleep(SWEEP_INTERVAL_S)

    threading.Thread(target=loop, name="results-sweeper", daemon=True).start()
