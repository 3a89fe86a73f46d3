"""What each of the app's endpoints accepts, checked in one place, and the call it makes.

The web page and the HTTP API reach the techniques through the same door: an `Endpoint`
lists its images and parameters (in API order); `Endpoint.check` turns whatever a caller
sent into typed values or raises a `ParameterError` that names the parameter, its allowed
range or choices and what was received; `Endpoint.prepare` loads the images, builds the
objective and checks the work budget, all before any dreaming, and returns the work to
do. Nothing here knows about Gradio: the page builds its widgets from the same `PARAMS`
table (ranges, labels, help texts), so a slider and the check behind it cannot disagree.
"""

from __future__ import annotations

import logging
import math
import os
import numbers
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from dream import guided as guided_module
from dream import images
from dream import style as style_module
from dream.deepdream import deep_dream, fractal_zoom
from dream.engine import ProgressCallback, Schedule
from dream.frames import check_request
from dream.guided import guided_dream
from dream.limits import Limits
from dream.model import InceptionModel
from dream.objectives import Objective
from dream.presets import BASE_SCHEDULES, technique_defaults
from dream.result import DreamResult
from dream.style import style_transfer
from dream import device
from dream import fast_style as fast_style_module
from dream import loops
from dream import mixer
from dream import video as video_module

# The server's caps, whatever a caller sends. One step on mixed4c at 512² (0.26 MP) takes
# ~0.17–0.35 s on two CPU cores, so 100 megapixel-steps is a few minutes at most at the
# default 1024 px cap; the tabs' defaults need ~10–15. The operator may move the cap
# (`DREAM_MAX_SIDE`): the work budget follows the pixels (× (cap / 1024)²), so a request
# at the new cap may take as many steps as one at 1024 px could.
BASE_MAX_SIDE = 1024
MAX_SIDE_RANGE = (256, 4096)


def operator_max_side(environ: Mapping[str, str] = os.environ) -> int:
    """`$DREAM_MAX_SIDE` (the operator's cap on any image's longest side), or 1024."""
    raw = environ.get("DREAM_MAX_SIDE", "").strip()
    if not raw:
        return BASE_MAX_SIDE
    low, high = MAX_SIDE_RANGE
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"DREAM_MAX_SIDE must be a whole number of pixels from {low} to "
                         f"{high} (got {raw!r}).")
    return int(raw)


def server_limits(max_side: int) -> Limits:
    """The caps of a server whose images are at most `max_side` px on their longest side."""
    return Limits(
        max_side=max_side,     # longest side of any image; larger ones are downscaled
        min_side=16,
        max_steps=50,          # per octave and frame
        max_octaves=6,
        max_frames=60,
        max_total_steps=1500,  # frames × octaves × steps
        max_gif_side=512,      # GIF frames are downscaled to this (the PNG keeps full size)
        max_tile_size=1024,    # bounds one gradient's memory whatever the image's size
        max_megapixel_steps=100.0 * (max_side / BASE_MAX_SIDE) ** 2,
    )


def server_video_limits(max_side: int) -> video_module.VideoLimits:
    """A video's caps on a server whose images are at most `max_side` px. A request may take
    longer than an image's (a clip is many pictures) but stays a few minutes at most: ~0.5 s
    a frame at the defaults on two cores, so 300 megapixel-steps and 20 s of clip bound it to
    ~3–4 minutes at the default cap. Frames are half the image cap (512 px at 1024), never
    under 256; the work budget follows their pixels as the image budget does."""
    frame_side = min(max_side, max(256, max_side // 2))
    return video_module.VideoLimits(
        max_duration_s=20.0, max_fps=12.0, max_side=frame_side, max_frames=240,
        max_megapixel_steps=300.0 * (frame_side / 512) ** 2)


SERVER_LIMITS = server_limits(operator_max_side())
SERVER_VIDEO_LIMITS = server_video_limits(SERVER_LIMITS.max_side)
DEFAULT_MAX_SIDE = min(512, SERVER_LIMITS.max_side)  # px: what the page starts with
DEFAULT_LAYER = "mixed4c"  # the notebook's favourite; Deep Dream's starting layer
GIF_MAX_FRAMES = 60

# What a preset leaves alone: the user's image size and GIF choices.
# and the artist's controls (colours, the mix and its masks, the loop's motion).
KEPT_BY_PRESETS = ("max_side", "frame_duration_ms", "hold_last_ms", "pingpong", "exact",
                   "preserve_colors", "mix", "mask", "rotate", "shift_x", "shift_y", "seamless")
SCHEDULE_KEYS = ("steps", "step_size", "octaves", "octave_scale", "tile_size", "jitter",
                 "laplacian_levels", "optimizer", "seed")


LOG = logging.getLogger("deep-dream-studio")


class ParameterError(ValueError):
    """A request parameter has the wrong type or value; the message names it."""


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One request parameter: its type, allowed values, and the words that explain it."""

    kind: str                     # "int", "float", "bool", "choice", "text", "layers",
                                  # "mix" (`dream.mixer`), "image" (a file, loaded later)
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    help: str = ""
    step: float | None = None     # the page's slider step

    def check(self, name: str, value: Any) -> Any:
        """`value` as this parameter's Python type, or a ParameterError naming `name`."""
        checker = getattr(self, f"_check_{self.kind}")
        return checker(name, value)

    # --- one rule per kind

    def _range_text(self) -> str:
        return f"between {self.low:g} and {self.high:g}"

    def _number(self, name: str, value: Any, whole: bool) -> float:
        what = "a whole number" if whole else "a number"
        if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(f"{name} must be {what} {self._range_text()} (got {value!r}).")
        if not math.isfinite(float(value)):
            raise ParameterError(f"{name} must be a finite number {self._range_text()} (got {value!r}).")
        if whole and float(value) != int(value):
            raise ParameterError(f"{name} must be a whole number {self._range_text()} (got {value!r}).")
        if not self.low <= value <= self.high:
            raise ParameterError(f"{name} must be {self._range_text()} (got {value!r}).")
        return value

    def _check_int(self, name: str, value: Any) -> int:
        return int(self._number(name, value, whole=True))

    def _check_float(self, name: str, value: Any) -> float:
        return float(self._number(name, value, whole=False))

    def _check_bool(self, name: str, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ParameterError(f"{name} must be true or false (got {value!r}).")

    def _check_choice(self, name: str, value: Any) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, self.choices))} "
                             f"(got {value!r}).")

    def _check_text(self, name: str, value: Any) -> str:
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise ParameterError(f"{name} must be a non-empty text (got {value!r}).")

    def _check_layers(self, name: str, value: Any) -> tuple[str, ...]:
        """A list of layer names; a comma-separated text is accepted too."""
        if isinstance(value, str):
            value = [part for part in re.split(r"[,\s]+", value) if part]
        if (isinstance(value, (list, tuple)) and value
                and all(isinstance(item, str) and item.strip() for item in value)):
            return tuple(dict.fromkeys(item.strip() for item in value))
        raise ParameterError(f"{name} must be a list of layer names, e.g. "
                             f"['mixed3a', 'mixed4a'] (got {value!r}).")

    def _check_mix(self, name: str, value: Any) -> tuple:
        try:
            return mixer.check_mix(value, name)
        except mixer.MixError as error:
            raise ParameterError(str(error)) from None

    def _check_image(self, name: str, value: Any) -> Any:
        """Passed on: the page's upload checks have run, and `prepare` loads it."""
        return value


LIMITS = SERVER_LIMITS
PARAMS: dict[str, Param] = {
    # --- what to dream of (Deep Dream, Fractal Zoom)
    "objective": Param("choice", choices=("layer", "channel", "class"), label="Dream of…",
                       help="Whole layer ('layer'): amplify everything a layer sees. One channel "
                            "('channel'): a single feature detector of that layer. Class neuron "
                            "('class'): the network's score for one ImageNet class."),
    "layer": Param("text", label="Layer",
                   help="A layer of Inception, e.g. mixed4c. Early layers (conv2d0–2, mixed3a/b) "
                        "paint strokes and textures; later ones (mixed4a–e, mixed5a/b) eyes, "
                        "animals and buildings."),
    "channel": Param("int", 0, 1023, label="Channel", step=1,
                     help="Which channel of the layer (0 to the layer's channel count − 1); "
                          "used when objective is 'channel'."),
    "squared": Param("bool", label="Classic look: square the activations",
                     help="Dream a whole layer on the mean of its squared activations (Google's "
                          "notebook): the strongest detectors win, for the eyes-and-dogs look. "
                          "Off: the plain mean, gentler and more even."),
    "pre_relu": Param("bool", label="Read the channel before its ReLU",
                      help="Dream one channel on its value before the ReLU cuts negatives to "
                           "zero (the notebook's *_pre_relu tensors): it works even where the "
                           "channel is silent on the photo."),
    "class_name": Param("text", label="ImageNet class",
                        help="An ImageNet class name, e.g. jellyfish or 'tree frog' (any case); "
                             "used when objective is 'class'."),
    # --- how much
    "frames": Param("int", 1, LIMITS.max_frames, label="Frames", step=1,
                    help="Frames of the animation; each continues from the one before."),
    "steps": Param("int", 1, LIMITS.max_steps, label="Steps per octave", step=1,
                   help="Optimisation steps at each scale (octave), for every frame."),
    "max_side": Param("int", 64, LIMITS.max_side, label="Max image side (px)", step=32,
                      help=f"Larger images are shrunk so their longest side is this (at most "
                           f"{LIMITS.max_side}); work grows with the pixels."),
    # --- the optimisation schedule
    "step_size": Param("float", 0.1, 50.0, label="Step size", step=0.1,
                       help="How far each step moves the pixels (in 0–255 units) after the "
                            "gradient is normalised (style transfer: Adam's step, larger)."),
    "octaves": Param("int", 1, LIMITS.max_octaves, label="Octaves", step=1,
                     help="How many scales are dreamed, from small to full size: more octaves "
                          "make larger motifs."),
    "octave_scale": Param("float", 1.1, 2.0, label="Octave scale", step=0.05,
                          help="Size ratio between one octave and the next."),
    "tile_size": Param("int", 128, LIMITS.max_tile_size, label="Tile size (px)", step=64,
                       help="Gradients are computed tile by tile, so memory stays bounded on "
                            "large images; the random shift each step hides the seams."),
    "jitter": Param("int", 0, 64, label="Jitter (px)", step=1,
                    help="Largest random shift of the image before each step; it keeps the "
                         "patterns from locking onto the pixel grid."),
    "laplacian_levels": Param("int", 0, 6, label="Laplacian levels", step=1,
                              help="0: plain normalised gradient. 1–6: the gradient's frequency "
                                   "bands are evened out (Mordvintsev's Laplacian pyramid), "
                                   "which favours smooth, colourful, larger patterns."),
    "exact": Param("bool", label="Exact arithmetic (float32)",
                   help="Run the network in float32. Without it, a technique whose pictures "
                        "are as good in bfloat16 runs in bfloat16 on a CPU with bfloat16 units "
                        "(faster; its result differs from float32's no more than a half-pixel "
                        "nudge of the photo changes it) and in float32 elsewhere."),
    "seed": Param("int", 0, 2**31 - 1, label="Random seed", step=1,
                  help="Seeds the random shifts (and noise): the same seed and settings give "
                       "the same result."),
    # --- the animation file
    "frame_duration_ms": Param("int", 20, 1000, label="GIF frame duration (ms)", step=10,
                               help="How long each frame of the GIF is shown."),
    "hold_last_ms": Param("int", 0, 3000, label="Hold the last frame (ms)", step=100,
                          help="Extra time the final frame stays on screen before the GIF loops."),
    "pingpong": Param("bool", label="Ping-pong GIF",
                      help="Play forward, then backward, for a seamless loop."),
    # --- fractal zoom
    "zoom": Param("float", 0.005, 0.25, label="Zoom per frame", step=0.005,
                  help="Fraction of each side cropped away before every frame, then scaled "
                       "back up: larger zooms faster (and blurs more)."),
    # --- loops (fractal zoom)
    "rotate": Param("float", -loops.MAX_ROTATE, loops.MAX_ROTATE, label="Rotate per frame (°)",
                    step=0.5, help="Turns the picture by this many degrees before every frame "
                                   "(with the zoom: a spiralling dive); negative turns clockwise."),
    "shift_x": Param("float", -loops.MAX_SHIFT, loops.MAX_SHIFT, label="Move right per frame (px)",
                     step=1, help="Moves the picture this many pixels right before every frame "
                                  "(negative: left); the edge that opens up is mirrored in."),
    "shift_y": Param("float", -loops.MAX_SHIFT, loops.MAX_SHIFT, label="Move down per frame (px)",
                     step=1, help="Moves the picture this many pixels down before every frame "
                                  "(negative: up)."),
    "seamless": Param("bool", label="Seamless loop",
                      help="The animation's last frame blends into its first, so it loops "
                           "without a jump (a quarter more frames are dreamed to blend them)."),
    # --- the objective mixer and its painted masks
    "mix": Param("mix", label="Mix in more objectives",
                 help=f"Up to {mixer.MAX_MIXED} more things to dream of, mixed with the main "
                      f"objective (weight 1): a list of terms such as [{{\"class_name\": "
                      f"\"dog\", \"weight\": -0.5}}, {{\"layer\": \"mixed4a\", \"channel\": 97, "
                      f"\"weight\": 0.5}}, {{\"layer\": \"mixed3b\"}}]. Each term is a layer, a "
                      f"channel of a layer or a class, with a weight from -1 to 1: its share "
                      f"of the step; a negative weight suppresses it. [] or null: none."),
    "mask": Param("image", label="Where each term dreams (a painting)",
                  help="Optional: a picture of the photo's shape, painted red where the main "
                       "objective dreams and green, blue, yellow where the mix's first, "
                       "second and third terms dream; transparent or black elsewhere. A term with no paint dreams "
                       "everywhere; where no term dreams, the photo stays as it is."),
    # --- guided hallucination
    "guide_is_dream": Param("bool", label="Dream on the guide itself",
                            help="Ignore the image to dream on and amplify the guide's own "
                                 "features."),
    "similarity": Param("choice", choices=guided_module.SIMILARITIES, label="Similarity",
                        help="How the dream's features are compared with the guide's: 'dot' "
                             "(dot product), 'l1' / 'l2' (feature distances), 'best_match' "
                             "(Google's notebook: each spot follows the guide feature it "
                             "resembles most)."),
    "direction": Param("choice", choices=guided_module.DIRECTIONS, label="Direction",
                       help="'toward': take on the guide's features; 'away': become what the "
                            "guide is not."),
    "smoothness": Param("float", 0.0, 2.0, label="Smoothness", step=0.01,
                        help="Strength of the smoothing step relative to the guide's (each is "
                             "normalised on its own): 0 none, 1 as strong as the guide. Higher "
                             "gives smoother pixels and fewer speckles."),
    "smoothness_norm": Param("choice", choices=guided_module.SMOOTHNESS_NORMS,
                             label="Smoothness measure",
                             help="How neighbouring-pixel differences are penalised: 'l2' "
                                  "(squares: smooth gradients), 'l1' (absolute values: flat "
                                  "areas, sharp edges), or 'cadl': mean((dx²+dy²)^1.2), the "
                                  "form of Parag Mital's CADL course (the default)."),
    "guide_weight": Param("float", 0.0, 10.0, label="Guide weight", step=0.1,
                          help="Strength of the pull toward (or away from) the guide, "
                               "relative to the smoothness."),
    # --- style transfer
    "style_weight": Param("float", 0.0, 100.0, label="Style weight", step=0.5,
                          help="How strongly the style image's textures (Gram matrices) are "
                               "imposed, relative to the content."),
    "content_weight": Param("float", 0.0, 10.0, label="Content weight", step=0.1,
                            help="How strongly the content photo's features are kept."),
    "preserve_colors": Param("bool", label="Keep the photo's colours",
                             help="The result keeps the photo's own colours and takes only "
                                  "the brightness of what was dreamed (neural-dream's "
                                  "-original_colors; in style transfer: only the style's "
                                  "brushwork)."),
    "second_style_share": Param("float", 0.0, 1.0, label="Share of the second style", step=0.05,
                                help="With a second style image: how much of the blend it "
                                     "makes up (0 to 1)."),
    "style_layers": Param("layers", label="Style layers",
                          help="Layers whose textures are copied from the style image: early "
                               "ones for fine brushwork, later ones for larger motifs."),
    "content_layer": Param("text", label="Content layer",
                           help="The layer whose features must stay like the content photo's: "
                                "an earlier layer keeps more detail."),
    "tv_weight": Param("float", 0.0, 10.0, label="Smoothness (TV) weight", step=0.1,
                       help="Total-variation penalty, relative to the style's step: higher "
                            "suppresses pixel noise."),
    # --- fast style transfer
    "strength": Param("float", 0.0, 1.0, label="Style strength", step=0.05,
                      help="How much of the stylised picture is mixed into the content photo: "
                           "0 is the photo, 1 the network's full stylisation."),
    "sweep_frames": Param("int", 1, fast_style_module.MAX_SWEEP_FRAMES, label="Animation frames",
                          step=1, help="Frames of the animation, which sweeps the strength from 0 "
                                       "(the photo) to the chosen value."),
    # --- video
    "blend": Param("float", 0.0, 0.95, label="Blend with the previous dream", step=0.05,
                   help="Share of the previous dreamed frame in where each frame starts "
                        "(DeepDreamVideo's blend): higher is steadier, 0 dreams every frame "
                        "on its own."),
    "flow": Param("bool", label="Follow the motion (optical flow)",
                  help="Move the previous dream along the motion between source frames "
                       "before blending, so the patterns travel with the picture."),
    "fps": Param("float", 0.0, SERVER_VIDEO_LIMITS.max_fps, label="Frames per second", step=1,
                 help=f"0: the clip's own rate, at most {SERVER_VIDEO_LIMITS.max_fps:g}; lower "
                      f"dreams fewer frames (faster)."),
    "init": Param("choice", choices=style_module.INITS, label="Start from",
                  help="'content': start from the photo; 'noise': start from random grey "
                       "noise."),
}

# Parameters every dreaming endpoint takes after its own, in this order.
SCHEDULE_PARAMS = ("step_size", "octaves", "octave_scale", "tile_size", "jitter",
                   "laplacian_levels", "seed")
GIF_PARAMS = ("frame_duration_ms", "hold_last_ms", "pingpong")
# After the others in every dreaming endpoint, so callers passing the others by position
# keep working; what came later (the artist's controls) follows it.
PRECISION_PARAMS = ("exact",)
ARTIST_PARAMS = ("preserve_colors", "mix", "mask")
LOOP_PARAMS = ("rotate", "shift_x", "shift_y", "seamless")


# ----------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Image:
    """An image an endpoint takes: its parameter name and how messages call it."""

    name: str
    role: str                 # "the photo", "the guide image", …
    required: bool = True


Work = Callable[[ProgressCallback], DreamResult]


@dataclass(frozen=True)
class Plan:
    """A checked request: the work to run, the picture it starts from (uint8 RGB), the
    request's files as the work uses them, and what was noticed while fitting them.

    `inputs` maps each image parameter to its fitted array (a clip to its file): with them
    in place of the uploads, `prepare` gives the same work again, which is how a worker
    process repeats a request the front process has checked (`dream.pool`)."""

    work: Work                 # the dreaming; its result does not carry `notes` yet
    start: np.ndarray | None   # None: not known before the work starts (a video's frames)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # How the work is shared out over a pool when it is more than one worker's job (a
    # clip's pieces); None: one worker repeats the whole request.
    on_pool: Callable[[Any], Work] | None = None

    def run(self, on_progress: ProgressCallback) -> DreamResult:
        """Does the work; the result's notes open with the inputs' notes."""
        return self.noted(self.work(on_progress))

    def noted(self, result: DreamResult) -> DreamResult:
        """The result with the inputs' notes first, and the device it was dreamed on
        (where `run` ran: a worker's own, on a pool)."""
        if "precision" in result.settings and "device" not in result.settings:
            result.settings["device"] = device.describe(result.settings["precision"])
        return replace(result, notes=[*self.notes, *result.notes]) if self.notes else result


@dataclass(frozen=True)
class Endpoint:
    name: str                                   # the API name and the technique
    description: str
    images: tuple[Image, ...]
    params: tuple[str, ...]                     # after the images, in API order
    prepare_fn: Callable[["Endpoint", Any, dict], Plan]
    label_fn: Callable[[dict], str]             # a short name for files and the gallery
    model: str = "inception"                    # which model it needs: "inception" or "style"
    warm_up: bool = True                        # run once at start-up to compile its steps
    # How long a request at the defaults takes on two CPU cores (measured with
    # benchmarks/bench_endpoints.py on the full-size graph), for the tool descriptions.
    seconds_at_defaults: float = 0.0
    measured_on: str = "a photo fitted into 512 px"
    # What a parameter means here when it differs from PARAMS' help (the API page and the
    # MCP tool's description show it).
    help_here: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration_hint(self) -> str:
        return (f"At the defaults ({self.measured_on}) it takes about "
                f"{self.seconds_at_defaults:.0f} s on two CPU cores; a smaller max_side and "
                f"fewer steps or frames are faster.")

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of the API, images first."""
        return tuple(image.name for image in self.images) + self.params

    def defaults(self) -> dict[str, Any]:
        """The values the page starts with (images left out)."""
        page = {"max_side": DEFAULT_MAX_SIDE, "frame_duration_ms": 120, "hold_last_ms": 600,
                "pingpong": False, "objective": "layer", "channel": 0, "class_name": "jellyfish",
                "layer": DEFAULT_LAYER, "guide_is_dream": False, "squared": True, "pre_relu": True,
                "exact": False, "preserve_colors": False, "mix": [], "mask": None,
                "rotate": 0.0, "shift_x": 0.0, "shift_y": 0.0, "seamless": False}
        own = {"dream_video": _video_defaults, "fast_style_transfer": _fast_style_defaults}
        values = {**page, **(own[self.name]() if self.name in own else technique_defaults(self.name))}
        values["max_side"] = values["max_side"] or DEFAULT_MAX_SIDE
        if "style_layers" in values:
            values["style_layers"] = list(values["style_layers"])
        return {name: values[name] for name in self.params if name in values}

    def check(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values for every parameter, or a ParameterError naming the first bad one.

        A parameter sent as None (null) takes its default, as one left out does. Values
        the chosen mode ignores (the channel of a whole-layer dream, the class of a
        channel dream, …) are not checked, so a hidden control never blocks a run.
        """
        defaults = self.defaults()
        given = {name: defaults.get(name) if raw.get(name) is None else raw.get(name)
                 for name in self.params}
        values: dict[str, Any] = {image.name: raw.get(image.name) for image in self.images}
        for name in self.params:
            if name in _unused_in(self.name, given):
                values[name] = given[name]
                continue
            values[name] = PARAMS[name].check(name, given[name])
        return values

    def preset_values(self, preset: Any) -> dict[str, Any]:
        """Every parameter a preset (`dream.presets.Preset`) sets: the defaults, then the
        preset's own settings (seed included), except the image size and GIF options,
        which stay as the user chose (`KEPT_BY_PRESETS`)."""
        values = {**self.defaults(), **asdict(preset.schedule()), **preset.options()}
        if "objective" in self.params:
            if values.get("class_name") and "class_name" in preset.settings:
                values["objective"] = "class"
            elif values.get("channel_index") is not None:
                values.update(objective="channel", channel=values["channel_index"])
            else:
                values["objective"] = "layer"
        if self.name == "guided":
            values["guide_is_dream"] = preset.guide_is_dream
        if "style_layers" in values:
            values["style_layers"] = list(values["style_layers"])
        return {key: value for key, value in values.items()
                if key in self.params and key not in KEPT_BY_PRESETS and value is not None}

    def prepare(self, model: Any, values: dict[str, Any]) -> Plan:
        """Loads the images and checks everything against the model and the budget."""
        return self.prepare_fn(self, model, values)

    def label(self, values: dict[str, Any]) -> str:
        return self.label_fn(values)

    def docstring(self) -> str:
        """The endpoint's description with one line per parameter (the API page shows it)."""
        lines = [self.description, "", "Args:"]
        for image in self.images:
            optional = "" if image.required else " Optional."
            lines.append(f"    {image.name}: {image.role[0].upper()}{image.role[1:]} (an image "
                         f"file).{optional}")
        for name in self.params:
            param = PARAMS[name]
            lines.append(f"    {name}: {self.help_here.get(name, param.help)}{_range_hint(param)}")
        return "\n".join(lines)


def _range_hint(param: Param) -> str:
    if param.kind in ("int", "float") and param.low is not None:
        kind = "whole number" if param.kind == "int" else "number"
        return f" ({kind}, {param.low:g} to {param.high:g})"
    return ""


def _unused_in(technique: str, raw: Mapping[str, Any]) -> set[str]:
    """Parameters the chosen mode ignores, so they are not validated."""
    unused: set[str] = set()
    if technique in ("deep_dream", "fractal_zoom", "dream_video"):
        objective = raw.get("objective")
        if objective == "class":
            unused |= {"layer", "channel", "squared", "pre_relu"}
        elif objective == "channel":
            unused |= {"class_name", "squared"}
        elif objective == "layer":
            unused |= {"channel", "class_name", "pre_relu"}
    return unused


def fit_image(source, max_side: int, role: str) -> tuple[np.ndarray, list[str]]:
    """The upload as an RGB array fitted into `max_side`, with notes that name the image."""
    if source is None or (isinstance(source, str) and not source.strip()):
        raise images.ImageError(f"Please upload {role} (or click one of the examples).")
    try:
        picture, notes = images.prepare(source, SERVER_LIMITS, int(max_side))
    except images.ImageError as error:
        raise images.ImageError(f"{role[0].upper()}{role[1:]}: {error}") from error
    return picture, [f"{role[0].upper()}{role[1:]}: {note}" for note in notes]


def schedule_from(technique: str, values: Mapping[str, Any]) -> Schedule:
    """The technique's base schedule with the request's values."""
    return _with_values(BASE_SCHEDULES[technique], values)


def _with_values(base: Schedule, values: Mapping[str, Any]) -> Schedule:
    """`base` with the request's schedule values; "exact" forces float32 (otherwise the
    base's precision stands: "auto" where bfloat16's pictures were measured as good)."""
    given = {key: values[key] for key in SCHEDULE_KEYS if key in values}
    if values.get("exact"):
        given["precision"] = "float32"
    return replace(base, **given)


def _given(source: Any) -> bool:
    """Whether an optional image was sent (a file, or an array when a worker repeats it)."""
    return source is not None and not (isinstance(source, str) and not source.strip())


def dream_target(model: InceptionModel, values: Mapping[str, Any]) -> Objective:
    """What Deep Dream and the zoom amplify: a whole layer, one channel, or a class neuron,
    and the mix's terms with their weights (`dream.mixer`)."""
    try:
        main = mixer.term_objective(model, mixer.main_term(values))
        return mixer.mixed_objective(model, main, values.get("mix") or ())
    except mixer.MixError as error:
        raise ParameterError(str(error)) from None


def _painted_masks(values: Mapping[str, Any], picture: np.ndarray
                   ) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """(the painting fitted to the picture, its masks, notes); Nones without a painting."""
    if not _given(values.get("mask")):
        return None, None, []
    try:
        painting = mixer.fit_painting(values["mask"], picture.shape[:2])
    except images.ImageError as error:
        raise images.ImageError(f"mask: {error}") from error
    terms = 1 + len(values.get("mix") or ())
    masks, notes = mixer.masks_from_painting(painting, picture.shape[:2], terms)
    return painting, masks, [f"Mask: {note}" for note in notes]


def _prepare_dream(endpoint: Endpoint, model: InceptionModel, values: dict) -> Plan:
    picture, notes = fit_image(values["image"], values["max_side"], "the photo")
    target = dream_target(model, values)
    painting, masks, mask_notes = _painted_masks(values, picture)
    terms = (mixer.main_term(values),) + tuple(values.get("mix") or ())
    schedule = mixer.mixed_schedule(schedule_from(endpoint.name, values), terms, masks is not None)
    extra: dict[str, Any] = {"preserve_colors": values["preserve_colors"], "masks": masks}
    frames = values["frames"]
    if endpoint.name == "fractal_zoom":
        extra.update(zoom=values["zoom"], rotate=values["rotate"], seamless=values["seamless"],
                     shift=(values["shift_x"], values["shift_y"]))
        if values["seamless"]:  # the frames dreamed to blend the loop count too
            frames = loops.check_loop_frames(frames, SERVER_LIMITS.max_frames)
    schedule = check_request(picture.shape[:2], schedule, frames, SERVER_LIMITS)
    technique = deep_dream if endpoint.name == "deep_dream" else fractal_zoom

    def work(on_progress: ProgressCallback) -> DreamResult:
        result = technique(model, picture, target, schedule, frames=values["frames"],
                           on_progress=on_progress, limits=SERVER_LIMITS, **extra)
        result.settings["mix"] = [term.label for term in terms]
        result.settings["masked_terms"] = ([] if masks is None else
                                           [term.label for k, term in enumerate(terms)
                                            if masks[:, :, k].min() < 1.0])
        return result

    return Plan(work, picture, {"image": picture, "mask": painting}, tuple(notes + mask_notes))


def _prepare_guided(endpoint: Endpoint, model: InceptionModel, values: dict) -> Plan:
    guide, notes = fit_image(values["guide_image"], values["max_side"], "the guide image")
    picture = None
    if not values["guide_is_dream"]:
        picture, dream_notes = fit_image(values["dream_image"], values["max_side"],
                                         "the image to dream on")
        notes += dream_notes
    inputs = {"dream_image": picture, "guide_image": guide}
    picture = guide if picture is None else picture
    model.layer(values["layer"])
    schedule = check_request(picture.shape[:2], schedule_from("guided", values),
                             values["frames"], SERVER_LIMITS)
    options = {key: values[key] for key in ("layer", "similarity", "direction", "smoothness",
                                            "smoothness_norm", "guide_weight", "frames")}

    def work(on_progress: ProgressCallback) -> DreamResult:
        return guided_dream(model, picture, guide, schedule=schedule, on_progress=on_progress,
                            limits=SERVER_LIMITS, preserve_colors=values["preserve_colors"],
                            **options)

    return Plan(work, picture, inputs, tuple(notes))


def _prepare_style(endpoint: Endpoint, model: InceptionModel, values: dict) -> Plan:
    content, notes = fit_image(values["content_image"], values["max_side"], "the content image")
    # Styles are seen at the content's scale by the package; fit them to the hard cap only.
    style, style_notes = fit_image(values["style_image"], SERVER_LIMITS.max_side, "the style image")
    notes += style_notes
    second = None
    if _given(values.get("second_style_image")):
        second, second_notes = fit_image(values["second_style_image"], SERVER_LIMITS.max_side,
                                         "the second style image")
        notes += second_notes
    for name in ("style_layers", "content_layer"):
        for layer in (values[name] if name == "style_layers" else (values[name],)):
            try:
                model.layer(layer)
            except ValueError as error:
                raise ParameterError(f"{name}: {error}") from error
    schedule = check_request(content.shape[:2], schedule_from("style_transfer", values),
                             values["frames"], SERVER_LIMITS)
    options = {key: values[key] for key in ("style_layers", "content_layer", "content_weight",
                                            "style_weight", "tv_weight", "second_style_share",
                                            "preserve_colors", "init", "frames")}

    def work(on_progress: ProgressCallback) -> DreamResult:
        return style_transfer(model, content, style, second_style_image=second,
                              schedule=schedule, on_progress=on_progress, limits=SERVER_LIMITS,
                              **options)

    inputs = {"content_image": content, "style_image": style, "second_style_image": second}
    return Plan(work, content, inputs, tuple(notes))


def video_schedule(values: Mapping[str, Any]) -> Schedule:
    """The video endpoint's schedule for its checked values."""
    return _with_values(video_module.DEFAULT_VIDEO_SCHEDULE, values)


def _video_defaults() -> dict[str, Any]:
    return {**asdict(video_module.DEFAULT_VIDEO_SCHEDULE), "blend": video_module.DEFAULT_BLEND,
            "flow": video_module.DEFAULT_FLOW, "fps": 0.0,
            "max_side": min(video_module.DEFAULT_VIDEO_SIDE, SERVER_VIDEO_LIMITS.max_side)}


def _prepare_video(endpoint: Endpoint, model: InceptionModel, values: dict) -> Plan:
    source = values["video"]
    if source is None or (isinstance(source, str) and not source.strip()):
        raise video_module.VideoError("Please upload a video clip (or click the example).")
    target = dream_target(model, values)
    terms = (mixer.main_term(values),) + tuple(values.get("mix") or ())
    schedule = mixer.mixed_schedule(video_schedule(values), terms, False)
    options = dict(fps=values["fps"] or None, max_side=values["max_side"], limits=SERVER_LIMITS,
                   video_limits=SERVER_VIDEO_LIMITS)
    # Not a video, too long, too much work: refused from the metadata, before "Dreaming…".
    video_module.check_video(source, schedule, **options)

    def work(on_progress: ProgressCallback, runs=None) -> DreamResult:
        return video_module.dream_video(model, source, target, schedule, blend=values["blend"],
                                        flow=values["flow"], on_progress=on_progress, runs=runs,
                                        preserve_colors=values["preserve_colors"], **options)

    def on_pool(pool) -> Work:
        """The clip read here, cut into pieces dreamed on the pool's workers at once."""
        from dream.pool.video_pieces import pieces_on

        return lambda on_progress: work(on_progress, runs=pieces_on(pool, values))

    return Plan(work, video_module.first_frame(source, values["max_side"]), {"video": source},
                on_pool=on_pool)


def _fast_style_defaults() -> dict[str, Any]:
    return {"strength": 1.0, "preserve_colors": False, "second_style_share": 0.5,
            "sweep_frames": fast_style_module.DEFAULT_FRAMES, "frame_duration_ms": 150,
            "hold_last_ms": 1200}


def _prepare_fast_style(endpoint: Endpoint, style_model: Any, values: dict) -> Plan:
    content, notes = fit_image(values["content_image"], values["max_side"], "the content image")
    style, style_notes = fit_image(values["style_image"], SERVER_LIMITS.max_side, "the style image")
    second = None
    if _given(values.get("second_style_image")):
        second, second_notes = fit_image(values["second_style_image"], SERVER_LIMITS.max_side,
                                         "the second style image")
        style_notes += second_notes
    notes += style_notes

    def work(on_progress: ProgressCallback) -> DreamResult:
        return fast_style_module.fast_style_transfer(
            style_model, content, style, strength=values["strength"], second_style_image=second,
            second_style_share=values["second_style_share"],
            preserve_colors=values["preserve_colors"], frames=values["sweep_frames"],
            on_progress=on_progress, limits=SERVER_LIMITS)

    inputs = {"content_image": content, "style_image": style, "second_style_image": second}
    return Plan(work, content, inputs, tuple(notes))


def _dream_label(values: Mapping[str, Any]) -> str:
    if values.get("objective") == "class":
        return str(values.get("class_name"))
    if values.get("objective") == "channel":
        return f"{values.get('layer')}-ch{values.get('channel')}"
    return str(values.get("layer"))


_DREAM_PARAMS = ("objective", "layer", "channel", "class_name", "squared", "pre_relu", "frames",
                 "steps", "max_side")

ENDPOINTS: dict[str, Endpoint] = {
    endpoint.name: endpoint for endpoint in (
        Endpoint(
            "deep_dream",
            "Deep Dream (feedback loop): amplifies what a layer, one of its channels or a class "
            "neuron sees in the photo; each frame dreams on the one before.",
            (Image("image", "the photo"),),
            _DREAM_PARAMS + SCHEDULE_PARAMS + GIF_PARAMS + PRECISION_PARAMS + ARTIST_PARAMS,
            _prepare_dream, _dream_label,
            seconds_at_defaults=60),
        Endpoint(
            "fractal_zoom",
            "Fractal zoom: dream, zoom in by `zoom` of each side, dream again, `frames` times.",
            (Image("image", "the photo"),),
            _DREAM_PARAMS[:7] + ("zoom",) + _DREAM_PARAMS[7:] + SCHEDULE_PARAMS + GIF_PARAMS
            + PRECISION_PARAMS + ARTIST_PARAMS + LOOP_PARAMS,
            _prepare_dream, _dream_label, seconds_at_defaults=136),
        Endpoint(
            "guided",
            "Guided hallucination: dreams an image toward (or away from) what a guide image "
            "shows, compared in one layer's features.",
            # Required in the signature (the API lists it first); ignored (send None) when
            # guide_is_dream is true.
            (Image("dream_image", "the image to dream on (None when guide_is_dream)"),
             Image("guide_image", "the guide image")),
            ("guide_is_dream", "layer", "similarity", "direction", "smoothness", "frames",
             "steps", "max_side", "smoothness_norm", "guide_weight") + SCHEDULE_PARAMS + GIF_PARAMS
            + PRECISION_PARAMS + ("preserve_colors",),
            _prepare_guided, lambda v: f"{v.get('similarity')}-{v.get('direction')}",
            seconds_at_defaults=53),
        Endpoint(
            "style_transfer",
            "Neural style transfer (Gatys et al.): the content image repainted in the style "
            "image's textures.",
            (Image("content_image", "the content image"), Image("style_image", "the style image"),
             Image("second_style_image", "the second style image (optional blend)",
                   required=False)),
            ("style_weight", "content_weight", "preserve_colors", "frames", "steps", "max_side",
             "second_style_share", "style_layers", "content_layer", "tv_weight", "init",
             "step_size", "octaves", "octave_scale", "tile_size", "jitter", "seed")
            + GIF_PARAMS + PRECISION_PARAMS,
            _prepare_style, lambda v: "style", seconds_at_defaults=69),
        Endpoint(
            "dream_video",
            "Deep Dream on a video clip: every frame is dreamed, starting from the source frame "
            "blended with the previous dream (moved along the motion), so the patterns stay "
            "steady; returns the clip as MP4 with its audio.",
            (Image("video", "the video clip"),),
            _DREAM_PARAMS[:6] + ("steps", "max_side", "blend", "flow", "fps", "step_size",
                                 "octaves", "octave_scale", "tile_size", "jitter",
                                 "laplacian_levels", "seed") + PRECISION_PARAMS
            + ("preserve_colors", "mix"),
            # Its steps are Deep Dream's (same objective and options), warmed up there.
            _prepare_video, _dream_label, warm_up=False, seconds_at_defaults=83,
            measured_on="a 3 s clip of 36 frames at 384 px",
            help_here={"max_side": (
                f"Frames are shrunk so their longest side is this; a video's frames are at "
                f"most {SERVER_VIDEO_LIMITS.max_side} px (a larger value dreams at "
                f"{SERVER_VIDEO_LIMITS.max_side}); work grows with the pixels.")}),
        Endpoint(
            "fast_style_transfer",
            "Fast style transfer (Ghiasi et al. 2017, Magenta's arbitrary image stylisation "
            "network): the content photo repainted in the style image's manner in one pass of "
            "a network, in about a second; the animation sweeps the strength up from the photo.",
            (Image("content_image", "the content image"), Image("style_image", "the style image"),
             Image("second_style_image", "the second style image (optional blend)",
                   required=False)),
            ("strength", "preserve_colors", "second_style_share", "sweep_frames", "max_side")
            + GIF_PARAMS,
            _prepare_fast_style, lambda v: "fast", model="style", seconds_at_defaults=5),
    )
}

def save_files(result: DreamResult, stem: str | Path, values: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    """The result's full-size PNG, its GIF and its MP4 at `stem`.png/.gif/.mp4, the
    animations timed by the request's GIF parameters (a video keeps its own timing)."""
    stem = Path(stem)
    png = result.save_png(stem.with_suffix(".png"))
    if "frame_duration_ms" not in values:
        return png, result.save_gif(stem.with_suffix(".gif")), result.save_mp4(stem.with_suffix(".mp4"))
    timing = dict(frame_duration_ms=values["frame_duration_ms"], pingpong=values["pingpong"],
                  hold_last_ms=values["hold_last_ms"], max_frames=GIF_MAX_FRAMES)
    animation = result.save_gif(stem.with_suffix(".gif"), max_side=SERVER_LIMITS.max_gif_side, **timing)
    # The MP4 shows the same frames as the GIF, at full size (H.264 stays small).
    video = result.save_mp4(stem.with_suffix(".mp4"), max_side=SERVER_LIMITS.max_side, **timing)
    return png, animation, video


# Each tab's first request at its defaults, tiny: running it compiles the step function that
# request will use (the first call of a new objective traces and optimises its graph, ~8 s
# on two cores), so the first user sees their first preview as fast as later ones do.
WARM_UP_SIDE = 96


def warm_up(model: Any, kind: str = "inception", stop: Callable[[], bool] = lambda: False) -> None:
    """Runs each endpoint that dreams with `kind`'s model once, tiny (see WARM_UP_SIDE); a
    failure is logged and only costs the first user time. Ends early once `stop()` is true
    (the process is exiting)."""
    picture = np.full((WARM_UP_SIDE, WARM_UP_SIDE, 3), 128, np.uint8)
    for endpoint in ENDPOINTS.values():
        if endpoint.model != kind or not endpoint.warm_up:
            continue
        if stop():
            return
        values = {**endpoint.defaults(), "frames": 1, "steps": 1, "octaves": 1}
        values.update({image.name: picture for image in endpoint.images if image.required})
        try:
            endpoint.prepare(model, values).run(lambda progress: None)
        except Exception:  # noqa: BLE001
            LOG.exception("Warming up %s failed", endpoint.name)


def slug(text: str) -> str:
    """A file-name-safe version of `text`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "dream"


__all__ = ["DEFAULT_MAX_SIDE", "ENDPOINTS", "Endpoint", "GIF_MAX_FRAMES", "PARAMS", "Param",
           "ParameterError", "SERVER_LIMITS", "dream_target", "fit_image", "schedule_from", "slug",
           "warm_up"]
