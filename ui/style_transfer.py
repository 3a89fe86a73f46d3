"""The Style Transfer tab: a content photo repainted in a style image's textures."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS

from ui import controls, ids, outputs
from ui.studio import Studio

ENDPOINT = ENDPOINTS["style_transfer"]
PREFIX = ids.PREFIXES["style_transfer"]
EXAMPLES = [["cat.jpg", "painting.jpg"], ["landscape.jpg", "painting.jpg"], ["coffee.jpg", "abstract.jpg"]]


def build(studio: Studio) -> None:
    values = ENDPOINT.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            with gr.Row():
                content = controls.photo("Content image", ids.element(PREFIX, "input"), "content_image")
                style = controls.photo("Style image", ids.element(PREFIX, "style"), "style_image")
            controls.examples(PREFIX, EXAMPLES, [content, style])
            picker, description = controls.preset_picker(PREFIX, ENDPOINT.name)
            widgets = {}
            with gr.Row():
                widgets["style_weight"] = controls.widget("style_weight", values["style_weight"])
                widgets["content_weight"] = controls.widget("content_weight", values["content_weight"])
            widgets["preserve_colors"] = controls.widget("preserve_colors", values["preserve_colors"])
            widgets.update(controls.amount_widgets(PREFIX, values))
            with gr.Accordion("Second style (optional blend)", open=False):
                second = controls.photo("Second style image", ids.element(PREFIX, "style2"), "second_style_image")
                widgets["second_style_share"] = controls.widget("second_style_share",
                                                                values["second_style_share"])
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    widgets["style_layers"] = controls.layer_dropdown(
                        "style_layers", values["style_layers"], studio.model, multiselect=True)
                    widgets["content_layer"] = controls.layer_dropdown(
                        "content_layer", values["content_layer"], studio.model)
                with gr.Row():
                    widgets["tv_weight"] = controls.widget("tv_weight", values["tv_weight"])
                    widgets["init"] = controls.widget("init", values["init"])
                widgets.update(controls.schedule_controls(PREFIX, values, ENDPOINT.params))
        with gr.Column(scale=6):
            panel = outputs.panel(PREFIX, "Transfer style", enabled=studio.model is not None)
    studio.wire(ENDPOINT, panel, {"content_image": content, "style_image": style,
                                  "second_style_image": second}, widgets, picker, description)
