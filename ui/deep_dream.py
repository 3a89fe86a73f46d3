"""The Deep Dream tab: one photo, what to dream of, and the feedback loop."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS

from ui import controls, guide, ids, outputs
from ui import mixer as mixer_ui
from ui.studio import Studio

ENDPOINT = ENDPOINTS["deep_dream"]
PREFIX = ids.PREFIXES["deep_dream"]
EXAMPLES = [["cat.jpg"], ["landscape.jpg"], ["rocket.jpg"], ["abstract.jpg"]]


def build(studio: Studio) -> None:
    values = ENDPOINT.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            photo = controls.photo("Photo", ids.element(PREFIX, "input"), "image")
            controls.examples(PREFIX, EXAMPLES, [photo])
            picker, description = controls.preset_picker(PREFIX, ENDPOINT.name)
            widgets = controls.objective_widgets(PREFIX, values, studio.model)
            widgets.update(controls.amount_widgets(PREFIX, values))
            widgets["preserve_colors"] = mixer_ui.keep_colours(PREFIX, values["preserve_colors"])
            mix = mixer_ui.build(PREFIX, studio.model, photo)
            widgets.update(mix.params)
            with gr.Accordion("Advanced", open=False):
                widgets.update(controls.schedule_controls(PREFIX, values, ENDPOINT.params))
            with gr.Accordion("New to Deep Dream? A short guide", open=False):
                gr.Markdown(guide.STUDENT_GUIDE)
        with gr.Column(scale=6):
            panel = outputs.panel(PREFIX, "Dream", enabled=studio.model is not None)
    studio.wire(ENDPOINT, panel, {"image": photo}, widgets, picker, description,
                before_run=(mix.collect, mix.inputs, mix.outputs), restore=mix.restore)
    mix.wire(studio)
