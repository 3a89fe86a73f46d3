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

from dream.deepdream import DEFAULT_SCHEDULE, ZOOM_SCHEDULE, deep_dream, dream_objective, fractal_zoom
from dream.engine import ProgressCallback, Schedule
from dream.guided import BEST_MATCH_LAYER, GUIDED_SCHEDULE, guided_dream
from dream.limits import DEFAULT_LIMITS, Limits
from dream.model import InceptionModel
from dream.result import DreamResult
from dream.style import CONTENT_LAYER, STYLE_LAYERS, STYLE_SCHEDULE, style_transfer

TECHNIQUES = ("deep_dream", "fractal_zoom", "guided", "style_transfer")
SCHEDULE_FIELDS = tuple(f.name for f in fields(Schedule))
BASE_SCHEDULES = {"deep_dream": DEFAULT_SCHEDULE, "fractal_zoom": ZOOM_SCHEDULE,
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


# The seed's guided animations were made with CADL's guided hallucination (session 4):
# single steps on one scale, no octaves, the dot product of the features plus CADL's
# smoothness loss. Here: one octave too, CADL's loss, but each term's gradient normalised
# on its own (`smoothness` is the smoothing step's strength relative to the guide's; the
# seed normalised the summed gradient by its maximum), and a random roll every step.
_SEED_GUIDED = dict(layer="mixed4c", similarity="dot", direction="toward", smoothness=0.1,
                    smoothness_norm="cadl", frames=6, steps=10, octaves=1, step_size=1.0)
_SEED_DIFFERS = (" Differs from the seed: each term's gradient is normalised on its own and "
                 "the image rolls by a random jitter every step.")
_SEED_STYLE_DIFFERS = (" Differs from the seed: the image is optimised in Lucid's decorrelated "
                       "Fourier parametrisation under random transforms (the seed moved raw "
                       "pixels, which leaves checkerboards and colour grain), and the "
                       "smoothness weight is a ratio of step strengths (1 here ≈ the seed's 10).")

PRESETS: tuple[Preset, ...] = (
    # --- Deep Dream
    Preset("Jellyfish (class neuron)", "deep_dream",
           "Ascends the 'jellyfish' logit: translucent bells and tentacles everywhere "
           "(4 octaves × 1.4 as the DeepDream notebook).",
           dict(class_name="jellyfish", frames=8, steps=6, octaves=4, octave_scale=1.4,
                step_size=1.5)),
    Preset("Inceptionism (mixed4c)", "deep_dream",
           "The classic look: the mean square of mixed4c, as the notebook's "
           "tf.square(T('mixed4c')) and Google's objective_L2, so the strongest detectors win; "
           "4 octaves × 1.4.",
           dict(layer="mixed4c", frames=8, steps=4, octaves=4, octave_scale=1.4)),
    Preset("Textures (mixed3b)", "deep_dream",
           "An early layer (mean square): strokes, swirls and patterns rather than objects.",
           dict(layer="mixed3b", frames=8, steps=4, octaves=4, octave_scale=1.4)),
    Preset("Flowers (mixed4d_3x3_bottleneck_pre_relu, channel 139)", "deep_dream",
           "One feature detector, before its ReLU, made famous by the DeepDream notebook's "
           "render_deepdream(T(layer)[:,:,:,139], img0) (4 octaves × 1.4, 1.5 px steps). "
           "Differs: 8 GIF frames of 5 steps per octave instead of one render of 10.",
           dict(layer="mixed4d_3x3_bottleneck_pre_relu", channel_index=139, frames=8, steps=5,
                octaves=4, laplacian_levels=0)),
    # --- Fractal zoom: 1.5 % per side per frame over 5 steps × 2 octaves = 0.15 % per
    # step, between Google's zoom (2.5 % per frame over 10 steps × 4 octaves ≈ 0.06 %)
    # and CADL's (1 px per step on its ~300 px images ≈ 0.3 %).
    Preset("Fractal zoom (mixed4c)", "fractal_zoom",
           "Dream, zoom in a little, dream again: an endless dive (mean square of mixed4c; "
           "0.15 % zoom per step, between Google's and CADL's rates).",
           dict(layer="mixed4c", frames=24, zoom=0.015, steps=5, octaves=2, octave_scale=1.4)),
    Preset("Jellyfish zoom", "fractal_zoom",
           "The zoom with the jellyfish class neuron.",
           dict(class_name="jellyfish", frames=24, zoom=0.015, steps=5, octaves=2)),
    # --- Guided hallucination: the seed's seven animations
    Preset("1. Guide dreams of itself (dot, smooth)", "guided",
           "The guide is also the dream: its own features are amplified, anchored to it "
           "(CADL's dot product and smoothness loss, one scale)." + _SEED_DIFFERS,
           dict(_SEED_GUIDED), guide_is_dream=True),
    Preset("2. Toward the guide (dot, smooth)", "guided",
           "The dream takes on the guide's features (dot product), kept smooth." + _SEED_DIFFERS,
           dict(_SEED_GUIDED)),
    Preset("3. Toward the guide (dot, no smoothness)", "guided",
           "As 2, without the smoothness term: crisper and noisier." + _SEED_DIFFERS,
           dict(_SEED_GUIDED, smoothness=0.0)),
    Preset("4. Away from the guide (L1, smooth)", "guided",
           "What would make the dream different from the guide (L1 distance ascended)."
           + _SEED_DIFFERS,
           dict(_SEED_GUIDED, similarity="l1", direction="away")),
    Preset("5. Away from the guide (L2, smooth)", "guided",
           "As 4 with the L2 distance." + _SEED_DIFFERS,
           dict(_SEED_GUIDED, similarity="l2", direction="away")),
    Preset("6. Toward the guide (L1, smooth)", "guided",
           "The L1 feature distance to the guide descended." + _SEED_DIFFERS,
           dict(_SEED_GUIDED, similarity="l1", direction="toward")),
    Preset("7. Toward the guide (L2, smooth)", "guided",
           "The L2 feature distance to the guide descended." + _SEED_DIFFERS,
           dict(_SEED_GUIDED, similarity="l2", direction="toward")),
    Preset("Best match (Google's guided dream)", "guided",
           "Each spot of the dream pulls toward the guide feature it resembles most, as "
           "Google's notebook ran it: objective_guide at mixed3b (inception_3b/output), the "
           "guide seen at 224 px, 4 octaves × 1.4, no smoothness.",
           dict(layer=BEST_MATCH_LAYER, similarity="best_match", direction="toward", smoothness=0.0,
                frames=6, steps=5, octaves=4, step_size=1.5)),
    # --- Style transfer: the seed's two weightings, content early and style late
    Preset("Seed A: content-leaning", "style_transfer",
           "Content at mixed3a, style at mixed4a–4e; the photo stays readable (its fine detail "
           "stays: the smoothing acts on what the style adds, at 0.7)." + _SEED_STYLE_DIFFERS,
           dict(content_layer="mixed3a",
                style_layers=("mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e"),
                content_weight=1.0, style_weight=3.0, tv_weight=0.7, frames=8)),
    Preset("Seed B: style-leaning", "style_transfer",
           "Same layers, ten times the style weight: the painting takes over." + _SEED_STYLE_DIFFERS,
           dict(content_layer="mixed3a",
                style_layers=("mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e"),
                content_weight=1.0, style_weight=30.0, tv_weight=1.0, frames=8)),
    Preset("Lucid layers", "style_transfer",
           "Lucid's style notebook on this graph: style conv2d2…mixed4c, content mixed3b, "
           "Fourier parametrisation, its random transforms, Adam. Differs: Lucid weights an "
           "L1 content distance by 100 and uses no smoothness; 64 steps here instead of 512.",
           dict(content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS, content_weight=1.0,
                style_weight=10.0, tv_weight=1.0, frames=8)),
)

PRESETS_BY_NAME = {preset.name: preset for preset in PRESETS}

# What each tab of the app starts with, on top of the technique function's own defaults
# and its base schedule, each at 512 px on two CPU cores in float32 (measured with
# benchmarks/quality.py on the full-size graph; docs/DEFAULTS.md): Deep Dream 8 frames of
# 4 steps × 4 octaves; the zoom 12 frames of 5 steps × 2 octaves at 1.5 % per side; guided
# 5 frames of 5 steps × 3 octaves; style 6 frames of 8 Adam steps (48, one optimisation).
# One place, so the app, the benchmarks and scripts agree.
TAB_OVERRIDES: dict[str, dict[str, Any]] = {
    "deep_dream": dict(frames=8),
    "fractal_zoom": dict(frames=12, steps=5, octaves=2, zoom=0.015),
    "guided": dict(frames=5),
    "style_transfer": dict(frames=6, steps=8),
}


def _function_defaults(function) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty and name not in ("on_progress", "limits")}


# The objective's own starting values on the Deep Dream and zoom tabs (`dream_objective`'s
# defaults: the layer, the classic mean square, channels read before their ReLU).
OBJECTIVE_DEFAULT_KEYS = ("layer", "squared", "pre_relu")


def technique_defaults(technique: str) -> dict[str, Any]:
    """Every keyword value a tab starts with: the technique function's defaults (for Deep
    Dream and the zoom also `dream_objective`'s layer, squared and pre_relu), its base
    schedule's fields (flattened), then `TAB_OVERRIDES`."""
    if technique not in TECHNIQUES:
        raise ValueError(f"Unknown technique {technique!r}: use {', '.join(TECHNIQUES)}.")
    values = {**_function_defaults(_FUNCTIONS[technique]), **asdict(BASE_SCHEDULES[technique])}
    if technique in ("deep_dream", "fractal_zoom"):
        objective = _function_defaults(dream_objective)
        values.update({key: objective[key] for key in OBJECTIVE_DEFAULT_KEYS})
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
        objective_keys = ("layer", "channel_index", "class_name", "squared", "pre_relu")
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
