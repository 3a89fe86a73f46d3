"""The Style Transfer tab: a content photo repainted in a style image's manner, either by
optimisation (Gatys et al.: slow, every layer and weight to tune) or by one pass of a
network trained for it (Magenta's arbitrary stylisation: about a second)."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS

from ui import controls, ids, outputs
from ui.studio import Studio

ENDPOINT = ENDPOINTS["style_transfer"]
FAST = ENDPOINTS["fast_style_transfer"]
PREFIX = ids.PREFIXES["style_transfer"]
EXAMPLES = [["cat.jpg", "painting.jpg"], ["landscape.jpg", "painting.jpg"], ["coffee.jpg", "abstract.jpg"]]
MODES = [("Optimisation (Gatys et al.: slow, every setting to tune)", "optimise"),
         ("Fast (one pass of Magenta's network, about a second)", "fast")]


def build(studio: Studio) -> None:
    values, fast_values = ENDPOINT.defaults(), FAST.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            with gr.Row():
                content = controls.photo("Content image", ids.element(PREFIX, "input"), "content_image")
                style = controls.photo("Style image", ids.element(PREFIX, "style"), "style_image")
            controls.examples(PREFIX, EXAMPLES, [content, style])
            mode = gr.Radio(MODES, value="optimise", label="Mode", elem_id=ids.element(PREFIX, "mode"))
            widgets = {"preserve_colors": controls.widget("preserve_colors", values["preserve_colors"])}
            with gr.Group(visible=False) as fast_group:
                with gr.Row():
                    fast_status = gr.Markdown(studio.holders["style"].status_markdown(),
                                              elem_id=ids.element(PREFIX, "fast-status"))
                    fast_retry = gr.Button("Retry", scale=0, min_width=90, visible=False,
                                           elem_id=ids.element(PREFIX, "fast-retry"))
                fast = {"strength": controls.widget("strength", fast_values["strength"]),
                        "sweep_frames": controls.widget("sweep_frames", fast_values["sweep_frames"])}
            with gr.Group() as optimise_group:
                picker, description = controls.preset_picker(PREFIX, ENDPOINT.name)
                with gr.Row():
                    widgets["style_weight"] = controls.widget("style_weight", values["style_weight"])
                    widgets["content_weight"] = controls.widget("content_weight", values["content_weight"])
                with gr.Row():
                    widgets["frames"] = controls.widget("frames", values["frames"], PREFIX)
                    widgets["steps"] = controls.widget("steps", values["steps"], PREFIX)
            widgets["max_side"] = controls.widget("max_side", values["max_side"], PREFIX)
            with gr.Accordion("Second style (optional blend)", open=False):
                second = controls.photo("Second style image", ids.element(PREFIX, "style2"),
                                        "second_style_image")
                widgets["second_style_share"] = controls.widget("second_style_share",
                                                                values["second_style_share"])
            with gr.Accordion("Advanced (optimisation)", open=False):
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
            panel = outputs.panel(PREFIX, "Transfer style", enabled=studio.model is not None,
                                  alternative_button="Fast transfer (one pass)")
    images = {"content_image": content, "style_image": style, "second_style_image": second}
    studio.wire(ENDPOINT, panel, images, widgets, picker, description)
    # The fast mode shares the images, colours, size, blend and GIF settings.
    shared = {name: widgets[name] for name in FAST.params if name in widgets}
    studio.wire(FAST, panel, images, {**shared, **fast}, None, None, run=panel.alternative_run)
    studio.style_statuses.append(fast_status)
    studio.style_retries.append(fast_retry)  # app.py wires every Retry to studio.retry

    def show(chosen: str):
        is_fast = chosen == "fast"
        fast_model = studio.holders["style"]
        # Say at once, where the button is, why the fast mode cannot run.
        line = (outputs.status_html(fast_model.status_markdown().replace("**", ""), kind="error")
                if is_fast and fast_model.state != "ready" else gr.skip())
        return (gr.Group(visible=is_fast), gr.Group(visible=not is_fast),
                gr.Button(visible=not is_fast), gr.Button(visible=is_fast), line)

    mode.change(show, mode, [fast_group, optimise_group, panel.run, panel.alternative_run,
                             panel.status],
                api_visibility="private", queue=False, show_progress="hidden")
