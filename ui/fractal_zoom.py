"""The Fractal Zoom tab: dream, zoom in a little, dream again — an endless dive."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS

from ui import controls, ids, outputs
from ui import mixer as mixer_ui
from ui.studio import Studio

ENDPOINT = ENDPOINTS["fractal_zoom"]
PREFIX = ids.PREFIXES["fractal_zoom"]
EXAMPLES = [["landscape.jpg"], ["cat.jpg"], ["abstract.jpg"]]


def build(studio: Studio) -> None:
    values = ENDPOINT.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            photo = controls.photo("Photo", ids.element(PREFIX, "input"), "image")
            controls.examples(PREFIX, EXAMPLES, [photo])
            picker, description = controls.preset_picker(PREFIX, ENDPOINT.name)
            widgets = controls.objective_widgets(PREFIX, values, studio.model)
            widgets.update(controls.amount_widgets(
                PREFIX, values, "Frames of the zoom; each zooms in on the last, then dreams."))
            widgets["zoom"] = controls.widget("zoom", values["zoom"], PREFIX)
            with gr.Accordion("Loops: turn, move, close the loop", open=False):
                with gr.Row():
                    for name in ("rotate", "shift_x", "shift_y"):
                        widgets[name] = controls.widget(name, values[name], PREFIX)
                widgets["seamless"] = controls.widget("seamless", values["seamless"], PREFIX)
            widgets["preserve_colors"] = mixer_ui.keep_colours(PREFIX, values["preserve_colors"])
            mix = mixer_ui.build(PREFIX, studio.model, photo)
            widgets.update(mix.params)
            with gr.Accordion("Advanced", open=False):
                widgets.update(controls.schedule_controls(PREFIX, values, ENDPOINT.params))
        with gr.Column(scale=6):
            panel = outputs.panel(PREFIX, "Zoom", enabled=studio.model is not None)
    studio.wire(ENDPOINT, panel, {"image": photo}, widgets, picker, description,
                before_run=(mix.collect, mix.inputs, mix.outputs), restore=mix.restore)
    mix.wire(studio)
