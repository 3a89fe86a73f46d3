"""Named presets: the seed project's animations and a few known-good settings, as data.

Each preset names a technique and the keyword arguments of its function
(`deep_dream`, `fractal_zoom`, `guided_dream`, `style_transfer`), with the schedule's
fields flattened in (`steps`, `octaves`, …). `run_preset` turns one into a result, so
the app, the tests and a script all reproduce the same thing.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from dream.deepdream import DEFAULT_SCHEDULE, deep_dream, dream_objective, fractal_zoom
from dream.engine import ProgressCallback, Schedule
from dream.guided import GUIDED_SCHEDULE, guided_dream
from dream.limits import DEFAULT_LIMITS, Limits
from dream.model import InceptionModel
from dream.result import DreamResult
from dream.style import CONTENT_LAYER, STYLE_LAYERS, STYLE_SCHEDULE, style_transfer

TECHNIQUES = ("deep_dream", "fractal_zoom", "guided", "style_transfer")
SCHEDULE_FIELDS = tuple(f.name for f in fields(Schedule))
BASE_SCHEDULES = {"deep_dream": DEFAULT_SCHEDULE, "fractal_zoom": DEFAULT_SCHEDULE,
                  "guided": GUIDED_SCHEDULE, "style_transfer": STYLE_SCHEDULE}
_FUNCTIONS = {"deep_dream": deep_dream, "fractal_zoom": fractal_zoom, "guided": guided_dream,
              "style_transfer": style_transfer}


@dataclass(frozen=True)
class Preset:
    name: str
    technique: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    # Guided only: dream on the guide itself (the seed's first guided animation).
    guide_is_dream: bool = False

    def schedule(self) -> Schedule:
        overrides = {k: v for k, v in self.settings.items() if k in SCHEDULE_FIELDS}
        return replace(BASE_SCHEDULES[self.technique], **overrides)

    def options(self) -> dict[str, Any]:
        """The technique function's keyword arguments other than the schedule."""
        return {k: v for k, v in self.settings.items() if k not in SCHEDULE_FIELDS}


_GUIDED_DOT = dict(layer="mixed4c", similarity="dot", direction="toward", smoothness=10.0,
                   smoothness_norm="l2", frames=6, steps=5)

PRESETS: tuple[Preset, ...] = (
    # --- Deep Dream
    Preset("Jellyfish (class neuron)", "deep_dream",
           "Ascends the 'jellyfish' logit: translucent bells and tentacles everywhere.",
           dict(class_name="jellyfish", frames=8, steps=6, octaves=4, octave_scale=1.4,
                step_size=1.5)),
    Preset("Inceptionism (mixed4c)", "deep_dream",
           "The classic look: everything the middle of the network sees, amplified.",
           dict(layer="mixed4c", frames=8, steps=4, octaves=4, octave_scale=1.4)),
    Preset("Textures (mixed3b)", "deep_dream",
           "An early layer: strokes, swirls and patterns rather than objects.",
           dict(layer="mixed3b", frames=8, steps=4, octaves=3, octave_scale=1.4)),
    Preset("Flowers (mixed4d_3x3_bottleneck_pre_relu, channel 139)", "deep_dream",
           "One feature detector, made famous by the DeepDream notebook.",
           dict(layer="mixed4d_3x3_bottleneck_pre_relu", channel_index=139, frames=8, steps=5,
                octaves=4, laplacian_levels=4)),
    # --- Fractal zoom
    Preset("Fractal zoom (mixed4c)", "fractal_zoom",
           "Dream, zoom in a little, dream again: an endless dive.",
           dict(layer="mixed4c", frames=24, zoom=0.04, steps=3, octaves=2, octave_scale=1.4)),
    Preset("Jellyfish zoom", "fractal_zoom",
           "The zoom with the jellyfish class neuron.",
           dict(class_name="jellyfish", frames=24, zoom=0.04, steps=3, octaves=2)),
    # --- Guided hallucination: the seed's seven animations
    Preset("1. Guide dreams of itself (dot, smooth)", "guided",
           "The guide is also the dream: its own features are amplified, anchored to it.",
           dict(_GUIDED_DOT), guide_is_dream=True),
    Preset("2. Toward the guide (dot, smooth)", "guided",
           "The dream takes on the guide's features (dot product), kept smooth.",
           dict(_GUIDED_DOT)),
    Preset("3. Toward the guide (dot, no smoothness)", "guided",
           "As 2, without the smoothness term: crisper and noisier.",
           dict(_GUIDED_DOT, smoothness=0.0)),
    Preset("4. Away from the guide (L1, smooth)", "guided",
           "What would make the dream different from the guide (L1 distance ascended).",
           dict(_GUIDED_DOT, similarity="l1", direction="away")),
    Preset("5. Away from the guide (L2, smooth)", "guided",
           "As 4 with the L2 distance.",
           dict(_GUIDED_DOT, similarity="l2", direction="away")),
    Preset("6. Toward the guide (L1, smooth)", "guided",
           "The L1 feature distance to the guide descended.",
           dict(_GUIDED_DOT, similarity="l1", direction="toward")),
    Preset("7. Toward the guide (L2, smooth)", "guided",
           "The L2 feature distance to the guide descended.",
           dict(_GUIDED_DOT, similarity="l2", direction="toward")),
    Preset("Best match (Google's guided dream)", "guided",
           "Each spot of the dream pulls toward the guide feature it resembles most.",
           dict(_GUIDED_DOT, similarity="best_match")),
    # --- Style transfer: the seed's two weightings, content early and style late
    Preset("Seed A: content-leaning", "style_transfer",
           "Content at mixed3a, style at mixed4a–4e; the photo stays readable.",
           dict(content_layer="mixed3a",
                style_layers=("mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e"),
                content_weight=1.0, style_weight=3.0, tv_weight=10.0, frames=8)),
    Preset("Seed B: style-leaning", "style_transfer",
           "Same layers, ten times the style weight: the painting takes over.",
           dict(content_layer="mixed3a",
                style_layers=("mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e"),
                content_weight=1.0, style_weight=30.0, tv_weight=10.0, frames=8)),
    Preset("Lucid layers", "style_transfer",
           "What works on this graph in Lucid: style conv2d2…mixed4c, content mixed3b.",
           dict(content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS, content_weight=1.0,
                style_weight=10.0, tv_weight=10.0, frames=8)),
)

PRESETS_BY_NAME = {preset.name: preset for preset in PRESETS}

# What each tab of the app starts with, on top of the technique function's own defaults
# and its base schedule: cut where those would take longer than ~20 s at 512 px on two
# CPU cores (measured on the full-size graph: 8 feedback frames of 4 steps × 3 octaves
# ≈ 57 full-size steps ≈ 16 s). One place, so the app, the benchmarks and scripts agree.
TAB_OVERRIDES: dict[str, dict[str, Any]] = {
    "deep_dream": dict(frames=8),
    "fractal_zoom": dict(frames=12, steps=3, octaves=2, zoom=0.04),
    "guided": dict(frames=5),
    "style_transfer": dict(frames=6, steps=8),
}


def _function_defaults(function) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty and name not in ("on_progress", "limits")}


def technique_defaults(technique: str) -> dict[str, Any]:
    """Every keyword value a tab starts with: the technique function's defaults, its base
    schedule's fields (flattened), then `TAB_OVERRIDES`."""
    if technique not in TECHNIQUES:
        raise ValueError(f"Unknown technique {technique!r}: use {', '.join(TECHNIQUES)}.")
    values = {**_function_defaults(_FUNCTIONS[technique]), **asdict(BASE_SCHEDULES[technique])}
    values.pop("schedule", None)
    values.update(TAB_OVERRIDES[technique])
    return values


def presets_for(technique: str) -> list[Preset]:
    if technique not in TECHNIQUES:
        raise ValueError(f"Unknown technique {technique!r}: use {', '.join(TECHNIQUES)}.")
    return [preset for preset in PRESETS if preset.technique == technique]


def preset(name: str) -> Preset:
    if name not in PRESETS_BY_NAME:
        raise ValueError(f"Unknown preset {name!r}.")
    return PRESETS_BY_NAME[name]


def run_preset(
    model: InceptionModel, name: str, image, second_image=None, *,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
    max_side: int | None = None, **overrides: Any,
) -> DreamResult:
    """Runs preset `name`. `image` is the photo (Deep Dream, zoom), the guide (guided) or
    the content (style); `second_image` is the dream (guided) or the style (style)."""
    chosen = preset(name)
    settings = {**chosen.settings, **overrides}
    chosen = replace(chosen, settings=settings)
    options, schedule = chosen.options(), chosen.schedule()
    common = dict(on_progress=on_progress, limits=limits, max_side=max_side)
    if chosen.technique in ("deep_dream", "fractal_zoom"):
        objective_keys = ("layer", "channel_index", "class_name", "squared")
        objective = dream_objective(model, **{k: options.pop(k) for k in objective_keys if k in options})
        run = deep_dream if chosen.technique == "deep_dream" else fractal_zoom
        return run(model, image, objective, schedule, **options, **common)
    if chosen.technique == "guided":
        if second_image is None and not chosen.guide_is_dream:
            raise ValueError(f"{name} needs a dream image besides the guide.")
        dream_image = image if chosen.guide_is_dream else second_image
        return guided_dream(model, dream_image, image, schedule=schedule, **options, **common)
    if second_image is None:
        raise ValueError(f"{name} needs a style image.")
    return style_transfer(model, image, second_image, schedule=schedule, **options, **common)
