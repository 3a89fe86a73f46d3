"""Deep Dream Studio — the Gradio UI (placeholder until the full app lands)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402

import dream  # noqa: E402


def dream_image(image, layer: str):
    model = dream.load_model()
    objective = dream.dream_objective(model, layer)
    result = dream.deep_dream(model, image, objective, frames=4)
    return result.image


def main() -> gr.Blocks:
    with gr.Blocks(title="Deep Dream Studio") as demo:
        gr.Markdown("# Deep Dream Studio")
        with gr.Row():
            source = gr.Image(label="Photo", type="numpy")
            output = gr.Image(label="Dream", format="png")
        layer = gr.Dropdown(["mixed3b", "mixed4a", "mixed4c", "mixed4d", "mixed5a"],
                            value="mixed4c", label="Layer")
        gr.Button("Dream").click(dream_image, [source, layer], output, api_name="deep_dream")
    return demo


if __name__ == "__main__":
    main().queue().launch()
