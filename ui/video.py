"""The Video tab: Deep Dream on every frame of a clip, steady from frame to frame."""

from __future__ import annotations

import gradio as gr

from dream.endpoints import ENDPOINTS, SERVER_VIDEO_LIMITS

from ui import controls, ids, outputs
from ui import mixer as mixer_ui
from ui.studio import Studio

ENDPOINT = ENDPOINTS["dream_video"]
PREFIX = ids.PREFIXES["dream_video"]
EXAMPLES = [["pan.mp4"]]
FRAME_SIDE = SERVER_VIDEO_LIMITS.max_side  # follows the operator's DREAM_MAX_SIDE


def build(studio: Studio) -> None:
    values = ENDPOINT.defaults()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            clip = controls.clip("Video clip (MP4, WebM, MOV or GIF; at most 20 s)",
                                 ids.element(PREFIX, "input"), "video")
            controls.examples(PREFIX, EXAMPLES, [clip])
            picker, description = controls.preset_picker(PREFIX, "deep_dream")
            widgets = controls.objective_widgets(PREFIX, values, studio.model)
            with gr.Row():
                widgets["steps"] = controls.widget("steps", values["steps"], PREFIX)
                widgets["max_side"] = controls.widget(
                    "max_side", values["max_side"], PREFIX, maximum=FRAME_SIDE,
                    info=f"Frames are shrunk so their longest side is this (at most "
                         f"{FRAME_SIDE} for a clip); work grows with the pixels.")
            with gr.Row():
                widgets["blend"] = controls.widget("blend", values["blend"])
                widgets["flow"] = controls.widget("flow", values["flow"])
            widgets["fps"] = controls.widget("fps", values["fps"])
            widgets["preserve_colors"] = mixer_ui.keep_colours(PREFIX, values["preserve_colors"])
            mix = mixer_ui.build(PREFIX, studio.model, None)
            widgets.update(mix.params)
            with gr.Accordion("Advanced", open=False):
                widgets.update(controls.schedule_controls(PREFIX, values, ENDPOINT.params))
        with gr.Column(scale=6):
            panel = outputs.panel(PREFIX, "Dream the clip", enabled=studio.model is not None,
                                  result_label="Last frame (PNG; the frame being dreamed while "
                                               "it runs)",
                                  animation_label="Dreamed clip (MP4, with the clip's sound)")
    # Deep Dream's presets choose what to dream of; the clip keeps its lighter schedule.
    studio.wire(ENDPOINT, panel, {"video": clip}, widgets, picker, description,
                preset_keys=("objective", "layer", "channel", "class_name", "squared", "pre_relu",
                             "laplacian_levels"),
                before_run=(mix.collect, mix.inputs, mix.outputs), restore=mix.restore)
    mix.wire(studio)
