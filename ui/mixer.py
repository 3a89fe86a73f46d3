"""The artist's controls shared by the dreaming tabs: more objectives mixed into the main
one, a brush to paint where each dreams, and keeping the photo's colours.

The endpoint takes the mix as one list (`mix`) and the painting as one image (`mask`), as
an API caller sends them (`dream.mixer`). The page shows friendlier widgets, a row per
term and an image editor, and turns them into those two values just before each run
(`Mixer.collect`, the run button's first step), so what the page runs is exactly what
an API call with the same values runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

import dream
from dream import mixer
from dream.endpoints import PARAMS

from ui import controls, ids
from ui.model_holder import class_choices, layer_choices

KINDS = [("Off", "off"), ("Whole layer", "layer"), ("One channel", "channel"),
         ("Class neuron", "class")]
HOW_TO_PAINT = (
    "**Mix** up to three more things into the dream, each with a weight from −1 to 1 (its "
    "share of the step; negative suppresses it, e.g. *jellyfish − dog*). **Paint** where each "
    "dreams: **red** is the main objective above, **green**, **blue** and **yellow** are terms "
    "1, 2 and 3. A term you do not paint dreams everywhere; where no term dreams, the photo "
    "stays as it is. The painted edge fades in over a few pixels.")


@dataclass
class Term:
    """One row of the mixer."""

    kind: gr.Dropdown
    layer: gr.Dropdown
    channel: gr.Number
    class_name: gr.Dropdown
    weight: gr.Slider

    @property
    def widgets(self) -> list:
        return [self.kind, self.layer, self.channel, self.class_name, self.weight]


@dataclass
class Mixer:
    terms: list[Term]
    mix: gr.JSON                          # the endpoint's `mix` (hidden)
    mask: gr.Image | None                 # the endpoint's `mask` (hidden)
    painting: gr.ImageEditor | None       # where the user paints
    photo: gr.Image | None = None         # the tab's photo, the painting's background
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, gr.components.Component]:
        """The endpoint's parameters this mixer supplies, by name."""
        return {"mix": self.mix, **({"mask": self.mask} if self.mask is not None else {})}

    @property
    def inputs(self) -> list:
        return [w for term in self.terms for w in term.widgets] + (
            [self.painting] if self.painting is not None else [])

    @property
    def outputs(self) -> list:
        return [self.mix] + ([self.mask] if self.mask is not None else [])

    def collect(self, *values: Any) -> Any:
        """The rows as the endpoint's `mix`, and the painted layers as its `mask`."""
        rows = [values[i:i + 5] for i in range(0, 5 * len(self.terms), 5)]
        mix = [term_value(*row) for row in rows if row[0] and row[0] != "off"]
        if self.painting is None:
            return mix
        return mix, painted_layers(values[5 * len(self.terms)])

    @property
    def restore(self) -> tuple:
        """(outputs, (values, photo) → their updates, [photo]): a gallery item sets the rows
        from its `mix`, and the painting from its `mask`, under the photo shown now (the
        gallery keeps the photo; the painting is fitted to it)."""
        widgets = [w for term in self.terms for w in term.widgets]

        def updates(values: dict, photo: Any) -> list:
            mix = list(values.get("mix") or ())
            out: list = []
            for k in range(len(self.terms)):
                if k >= len(mix):
                    out += ["off"] + [gr.skip()] * 4
                    continue
                term = mix[k] if isinstance(mix[k], dict) else vars(mix[k])
                out += [term.get("objective", "layer"), term.get("layer") or gr.skip(),
                        term.get("channel") if term.get("channel") is not None else gr.skip(),
                        term.get("class_name") or gr.skip(), term.get("weight", 1.0)]
            if self.painting is not None:
                out.append(_painting_on(photo, values.get("mask")))
            return out

        outputs = widgets + ([self.painting] if self.painting is not None else [])
        return outputs, updates, ([self.photo] if self.photo is not None else [])

    def wire(self, studio) -> None:
        for term in self.terms:
            term.kind.change(_shown_fields, term.kind, [term.layer, term.channel, term.class_name],
                             queue=False, show_progress="hidden", api_visibility="private")
            studio.layer_dropdowns.append(term.layer)
            studio.class_dropdowns.append(term.class_name)


def term_value(kind: str, layer: Any, channel: Any, class_name: Any, weight: Any) -> dict:
    """A row as a term of `mix` (checked by the endpoint, which names what is wrong)."""
    term: dict[str, Any] = {"weight": weight}
    if kind == "class":
        term["class_name"] = class_name
    else:
        term["layer"] = layer
        if kind == "channel":
            term["channel"] = channel
    return term


def painted_layers(value: Any) -> Image.Image | None:
    """The editor's painted layers over a transparent canvas (the photo left out), or None
    when nothing was painted."""
    if not isinstance(value, dict):
        return None
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    if not layers:
        return None
    canvas = Image.new("RGBA", Image.fromarray(np.asarray(layers[0])).size, (0, 0, 0, 0))
    for layer in layers:
        canvas = Image.alpha_composite(canvas, Image.fromarray(np.asarray(layer)).convert("RGBA"))
    if canvas.getchannel("A").getextrema()[1] == 0:
        return None
    return canvas


def _shown_fields(kind: str):
    return (gr.Dropdown(visible=kind in ("layer", "channel")), gr.Number(visible=kind == "channel"),
            gr.Dropdown(visible=kind == "class"))


def _term_row(prefix: str, k: int, model: dream.InceptionModel | None) -> Term:
    colour = mixer.TERM_COLOUR_NAMES[k]
    with gr.Row(equal_height=True):
        kind = gr.Dropdown(KINDS, value="off", label=f"Term {k} (paints {colour})",
                           elem_id=ids.term_element(prefix, k, "kind"), scale=2)
        layer = gr.Dropdown(layer_choices(model), value="mixed4a", label="Layer", visible=False,
                            allow_custom_value=True, filterable=True, scale=3,
                            elem_id=ids.term_element(prefix, k, "layer"))
        channel = gr.Number(0, precision=0, minimum=0, label="Channel", visible=False, scale=1,
                            elem_id=ids.term_element(prefix, k, "channel"))
        class_name = gr.Dropdown(class_choices(model), value="jellyfish", label="Class",
                                 visible=False, allow_custom_value=True, filterable=True, scale=3,
                                 elem_id=ids.term_element(prefix, k, "class"))
        weight = gr.Slider(-1.0, 1.0, value=0.5, step=0.05, label="Weight", scale=2,
                           elem_id=ids.term_element(prefix, k, "weight"))
    return Term(kind, layer, channel, class_name, weight)


def build(prefix: str, model: dream.InceptionModel | None, photo: gr.Image | None) -> Mixer:
    """The mixer accordion; with `photo`, an editor to paint on it (its background follows
    the photo). Call `Mixer.wire` once the tab is wired."""
    with gr.Accordion("Mix and paint: more objectives, and where each dreams", open=False,
                      elem_id=ids.element(prefix, "mixer")):
        gr.Markdown(HOW_TO_PAINT if photo is not None else HOW_TO_PAINT.split(" **Paint**")[0])
        terms = [_term_row(prefix, k, model) for k in range(1, mixer.MAX_MIXED + 1)]
        painting = None
        if photo is not None:
            painting = gr.ImageEditor(
                label="Where each term dreams",
                type="numpy", image_mode="RGBA", sources=(), transforms=(), layers=False,
                brush=gr.Brush(colors=[_hex(c) for c in mixer.TERM_COLOURS],
                               default_color=_hex(mixer.TERM_COLOURS[0]), color_mode="fixed"),
                elem_id=ids.element(prefix, "paint"), height=420)
            photo.change(_background, photo, painting, queue=False, show_progress="hidden",
                         api_visibility="private")
        mix = gr.JSON([], visible=False)
        controls.checked_by_handler(mix, "mix", PARAMS["mix"])
        mask = None
        if photo is not None:
            mask = controls.photo("Mask painting", ids.element(prefix, "mask"), "mask",
                                  visible=False, format="png")
    return Mixer(terms, mix, mask, painting, photo)


def _background(photo: str | None):
    """A fresh canvas on the new photo (the old painting belonged to the old one)."""
    if not photo:
        return None
    return {"background": photo, "layers": [], "composite": photo}


def _painting_on(photo: str | None, mask: str | None) -> Any:
    """The editor showing a run's painting (`mask`, the painted layers) over `photo`, the
    layer fitted to it; a run without one gives a clean canvas."""
    if not photo:
        return gr.skip()
    layers = []
    if mask:
        try:
            with Image.open(photo) as shown, Image.open(mask) as painted:
                layers.append(np.asarray(painted.convert("RGBA").resize(shown.size, Image.NEAREST)))
        except (OSError, ValueError):  # a file gone from the cache: the terms come back alone
            layers = []
    return {"background": photo, "layers": layers, "composite": None}


def _hex(colour: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in colour)


def keep_colours(prefix: str, value: bool) -> gr.Checkbox:
    """'Keep the photo's colours' (the endpoint's `preserve_colors`)."""
    return controls.widget("preserve_colors", value, prefix)
