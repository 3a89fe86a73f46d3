"""The Guided Hallucination tab: dream one image toward (or away from) a guide image."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS

from ui import controls, ids, outputs
from ui.studio import Studio

ENDPOINT = ENDPOINTS["guided"]
PREFIX = ids.PREFIXES["guided"]
EXAMPLES = [["cat.jpg", "coffee.jpg"], ["landscape.jpg", "painting.jpg"], ["rocket.jpg", "abstract.jpg"]]


def build(studio: Studio) -> None:
    values = ENDPOINT.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            with gr.Row():
                dream_image = controls.photo("Image to dream on", ids.element(PREFIX, "input"), "dream_image")
                guide_image = controls.photo("Guide image", ids.element(PREFIX, "guide"), "guide_image")
            controls.examples(PREFIX, EXAMPLES, [dream_image, guide_image])
            picker, description = controls.preset_picker(PREFIX, ENDPOINT.name)
            widgets = {"guide_is_dream": controls.widget("guide_is_dream", values["guide_is_dream"])}
            with gr.Row():
                widgets["layer"] = controls.layer_dropdown("layer", values["layer"], studio.model, PREFIX)
                widgets["similarity"] = controls.widget("similarity", values["similarity"])
            with gr.Row():
                widgets["direction"] = controls.widget("direction", values["direction"])
                widgets["smoothness"] = controls.widget("smoothness", values["smoothness"])
            widgets.update(controls.amount_widgets(PREFIX, values))
            widgets["preserve_colors"] = controls.widget("preserve_colors", values["preserve_colors"],
                                                         PREFIX)
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    widgets["smoothness_norm"] = controls.widget("smoothness_norm", values["smoothness_norm"])
                    widgets["guide_weight"] = controls.widget("guide_weight", values["guide_weight"])
                widgets.update(controls.schedule_controls(PREFIX, values, ENDPOINT.params))
        with gr.Column(scale=6):
            panel = outputs.panel(PREFIX, "Dream", enabled=studio.model is not None)
    studio.wire(ENDPOINT, panel, {"dream_image": dream_image, "guide_image": guide_image},
                widgets, picker, description)
