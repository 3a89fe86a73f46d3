"""The objective mixer: several things to dream of at once, each with a weight and,
optionally, a painted region where it acts.

"Flowers here, eyes there, and no dogs" is a weighted sum of Deep Dream objectives (a
whole layer, one channel, a class neuron), Lucid's `0.5 * a - b`. Two choices make the
weights mean the same on any network and for any mix of layers:

- **Each term is normalised on its own** (`Schedule(normalization="each_term")`): a
  class logit's gradient and a layer's mean square differ by orders of magnitude, so in
  a plain sum the larger would drown the other. Normalised, a weight is the term's share
  of the step (Hvass-Labs' style transfer normalises each loss the same way), and a
  negative weight is a step *down* its term at that strength: "jellyfish − dogs".
- **A painted mask confines a term** (`Engine.run(masks=…)`): its gradient is multiplied
  by its mask in image coordinates after the roll, tiles and transforms are undone, so
  the mask follows them exactly, and the step is normalised inside the mask, so a small
  region dreams as strongly as the whole picture would. A term left unpainted acts
  everywhere; where no term acts the photo stays as it is.

A painting gives the masks: one picture, the photo's shape, painted in one colour per term
(`TERM_COLOURS`: the main objective red, the mixed-in terms green, blue, yellow) and
transparent (or black) elsewhere; the page's brush paints exactly these colours.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Sequence

import cv2
import numpy as np

from dream import images
from dream.deepdream import dream_objective
from dream.engine import Schedule
from dream.model import InceptionModel
from dream.objectives import Objective, weighted_sum

MAX_MIXED = 3                    # terms besides the main objective: four in all
TERM_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))
TERM_COLOUR_NAMES = ("red", "green", "blue", "yellow")
# The mask's soft edge, as a fraction of the picture's longest side (10 px at 512): wider
# than the smallest octave's pixel (1.4³ ≈ 2.7 px at the Deep Dream defaults), so the
# edge is a ramp at every octave and the dream fades in instead of ending on a line.
FEATHER = 0.02
_TERM_KEYS = {"layer", "channel", "class_name", "class", "weight", "squared", "pre_relu",
              "objective"}


# The JSON schema of `mix`, for the API page and the MCP tools. Its limits are in the
# descriptions, as every parameter's are, not in "maximum" or "maxItems": the MCP SDK checks
# those itself and answers "3 is greater than the maximum of 1" without naming the field,
# where `check_mix` says "mix[0]: weight must be a number between -1 and 1 (got 3)".
MIX_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "properties": {
        "layer": {"type": "string", "description": "A layer, e.g. mixed4a (a layer or channel term)."},
        "channel": {"type": "integer", "description": "A channel of the layer (a channel term)."},
        "class_name": {"type": "string", "description": "An ImageNet class (a class term)."},
        "weight": {"type": "number",
                   "description": "Share of the step, -1 to 1; negative suppresses."}}},
}


class MixError(ValueError):
    """A term of the mix is malformed; the message names the term."""


@dataclass(frozen=True)
class Term:
    """One thing to dream of: a whole layer, one channel, or a class neuron, weighted."""

    objective: str = "layer"     # "layer", "channel" or "class"
    layer: str = "mixed4c"
    channel: int | None = None
    class_name: str | None = None
    weight: float = 1.0
    squared: bool = True         # a whole layer: its mean square (the notebook's)
    pre_relu: bool = True        # a channel: read before its ReLU

    @property
    def label(self) -> str:
        what = {"class": f"class '{self.class_name}'",
                "channel": f"{self.layer} channel {self.channel}"}.get(self.objective, self.layer)
        return f"{self.weight:+g} × {what}"


def main_term(values: dict[str, Any]) -> Term:
    """The tab's own objective (weight 1), from an endpoint's checked values."""
    return Term(values["objective"], values.get("layer") or "mixed4c", values.get("channel"),
                values.get("class_name"), 1.0, bool(values.get("squared", True)),
                bool(values.get("pre_relu", True)))


# ----------------------------------------------------------------------------- checking


def check_mix(value: Any, name: str = "mix") -> tuple[Term, ...]:
    """The terms an API caller sent (a list of objects, or its JSON text), checked; a
    MixError names the bad term and what is wrong with it."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise MixError(f"{name} must be a JSON list of terms ({error.msg} at character "
                           f"{error.pos}).") from None
    if not isinstance(value, (list, tuple)):
        raise MixError(f"{name} must be a list of terms such as [{{\"class_name\": \"dog\", "
                       f"\"weight\": -0.5}}] (got {type(value).__name__}).")
    if len(value) > MAX_MIXED:
        raise MixError(f"{name} takes at most {MAX_MIXED} terms besides the main objective "
                       f"(got {len(value)}).")
    return tuple(_check_term(f"{name}[{i}]", item) for i, item in enumerate(value))


def _check_term(where: str, item: Any) -> Term:
    if not isinstance(item, dict):
        raise MixError(f"{where} must be an object such as {{\"layer\": \"mixed4a\", "
                       f"\"channel\": 97, \"weight\": 0.5}} (got {item!r}).")
    unknown = sorted(set(item) - _TERM_KEYS)
    if unknown:
        raise MixError(f"{where}: unknown key {unknown[0]!r}; a term has layer, channel, "
                       f"class_name, weight, squared and pre_relu.")
    class_name = item.get("class_name", item.get("class"))
    layer, channel = item.get("layer"), item.get("channel")
    kind = item.get("objective") or ("class" if class_name is not None
                                     else "channel" if channel is not None else "layer")
    if kind not in ("layer", "channel", "class"):
        raise MixError(f"{where}: objective must be 'layer', 'channel' or 'class' (got {kind!r}).")
    if kind == "class" and not (isinstance(class_name, str) and class_name.strip()):
        raise MixError(f"{where}: a class term needs class_name, e.g. \"dog\" (got {class_name!r}).")
    if kind != "class" and not (isinstance(layer, str) and layer.strip()):
        raise MixError(f"{where}: needs a layer (e.g. \"mixed4a\") or a class_name "
                       f"(got layer {layer!r}).")
    if kind == "channel" and (isinstance(channel, bool) or not isinstance(channel, numbers.Integral)
                              and not (isinstance(channel, float) and channel.is_integer())):
        raise MixError(f"{where}: channel must be a whole number (got {channel!r}).")
    weight = item.get("weight", 1.0)
    if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
            or not math.isfinite(weight) or not -1.0 <= weight <= 1.0):
        raise MixError(f"{where}: weight must be a number between -1 and 1 (got {weight!r}).")
    for flag in ("squared", "pre_relu"):
        if not isinstance(item.get(flag, True), bool):
            raise MixError(f"{where}: {flag} must be true or false (got {item[flag]!r}).")
    return Term(kind, (layer or "mixed4c").strip() if kind != "class" else "mixed4c",
                int(channel) if kind == "channel" else None,
                class_name.strip() if kind == "class" else None, float(weight),
                item.get("squared", True), item.get("pre_relu", True))


# ----------------------------------------------------------------------------- objectives


def term_objective(model: InceptionModel, term: Term) -> Objective:
    """The term's objective on this model ("Unknown layer/class …" and channel bounds
    are checked here, against the model)."""
    if term.objective == "class":
        return dream_objective(model, class_name=term.class_name)
    layer = model.layer(term.layer)  # "Unknown layer …" with suggestions
    if term.objective == "channel":
        if not 0 <= term.channel < layer.channels:
            raise ValueError(f"channel must be between 0 and {layer.channels - 1} for "
                             f"{layer.name}, which has {layer.channels} channels (got "
                             f"{term.channel}).")
        return dream_objective(model, layer.name, channel_index=term.channel,
                               pre_relu=term.pre_relu)
    return dream_objective(model, layer.name, squared=term.squared)


def mixed_objective(model: InceptionModel, main: Objective, mix: Sequence[Term]) -> Objective:
    """main + Σ weight·term; without a mix, the main objective itself (compiled and
    normalised exactly as before the mixer existed)."""
    if not mix:
        return main
    objectives = [(1.0, main)]
    for index, term in enumerate(mix):
        try:
            objectives.append((term.weight, term_objective(model, term)))
        except ValueError as error:
            raise MixError(f"mix[{index}] ({term.label}): {error}") from None
    return weighted_sum(objectives)


def mixed_schedule(schedule: Schedule, terms: Sequence[Term], masked: bool) -> Schedule:
    """Several terms (or masks) are normalised each on its own (the module docstring)."""
    return replace(schedule, normalization="each_term") if len(terms) > 1 or masked else schedule


# ----------------------------------------------------------------------------- masks


def fit_painting(painting, size: tuple[int, int]) -> np.ndarray:
    """The painting (a path, bytes, image or array) as uint8 RGBA of `size` (h, w): the
    picture's. A painting of another shape than the picture is refused."""
    rgba = images.load_rgba(painting)
    height, width = size
    if abs(rgba.shape[1] / rgba.shape[0] - width / height) > 0.02 * width / height:
        raise images.ImageError(
            f"The mask painting is {rgba.shape[1]}×{rgba.shape[0]}, not the photo's shape "
            f"({width}×{height}): paint on the photo itself (or send a picture of its size).")
    # Nearest neighbour: a resized painting keeps pure term colours, no blends between them.
    return cv2.resize(rgba, (width, height), interpolation=cv2.INTER_NEAREST)


def masks_from_painting(painting, size: tuple[int, int], terms: int,
                        feather: float = FEATHER) -> tuple[np.ndarray | None, list[str]]:
    """([h, w, terms] masks in 0..1, notes) from a painting in the term colours, fitted to
    `size` (the picture's (h, w), `fit_painting`); None when nothing is painted for any
    term.

    A pixel is painted when it is opaque (alpha ≥ 128) and not black; it belongs to the
    term whose colour it is nearest. A term with no paint acts everywhere (its mask is
    all ones). Each painted region fades in over `feather` × the longest side from its
    edge inward, so nothing changes outside what was painted.
    """
    rgba = fit_painting(painting, size)
    height, width = size
    notes: list[str] = []
    rgb, alpha = rgba[:, :, :3].astype(np.float32), rgba[:, :, 3]
    painted = (alpha >= 128) & (rgb.max(axis=2) >= 128)
    distances = np.stack([np.square(rgb - np.float32(colour)).sum(axis=2)
                          for colour in TERM_COLOURS], axis=2)
    nearest = distances.argmin(axis=2)
    unused = sorted({int(k) for k in np.unique(nearest[painted]) if k >= terms})
    if unused:
        notes.append("The mask has paint in " + ", ".join(TERM_COLOUR_NAMES[k] for k in unused)
                     + f", a colour of no term (there are {terms}): that paint was ignored.")
    regions = [painted & (nearest == k) for k in range(terms)]
    if not any(region.any() for region in regions):
        if painted.any():
            notes.append("The mask has no paint in a term's colour: every term dreams everywhere.")
        return None, notes
    ramp = max(2.0, feather * max(height, width))
    masks = np.ones((height, width, terms), np.float32)
    for k, region in enumerate(regions):
        if region.any():
            inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
            t = np.clip(inside / ramp, 0.0, 1.0)
            masks[:, :, k] = t * t * (3.0 - 2.0 * t)  # smoothstep: no kink where it reaches 1
    return masks, notes


def blank_painting(size: tuple[int, int]) -> np.ndarray:
    """A transparent painting of `size` (h, w): nothing painted."""
    return np.zeros(size + (4,), np.uint8)


__all__ = ["FEATHER", "MAX_MIXED", "MIX_SCHEMA", "MixError", "TERM_COLOURS", "TERM_COLOUR_NAMES", "Term",
           "blank_painting", "check_mix", "fit_painting", "main_term", "masks_from_painting", "mixed_objective",
           "mixed_schedule", "term_objective"]
