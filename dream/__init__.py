"""Deep Dream Studio's techniques on Google's inception5h GoogLeNet; no UI code here.

    import dream
    model = dream.load_model()                       # DREAM_MODEL_DIR, cache or download
    objective = dream.dream_objective(model, class_name="jellyfish")
    result = dream.deep_dream(model, "photo.jpg", objective, frames=8)
    result.save_png("dream.png"); result.save_gif("dream.gif")

    dream.guided_dream(model, "photo.jpg", "guide.jpg", similarity="l2", direction="away")
    dream.style_transfer(model, "photo.jpg", "painting.jpg", style_weight=10)
    dream.run_preset(model, "Jellyfish (class neuron)", "photo.jpg")
"""

from dream.animation import write_gif
from dream.deepdream import DEFAULT_SCHEDULE, deep_dream, dream_objective, fractal_zoom
from dream.engine import Engine, Progress, Schedule, engine_for
from dream.guided import guided_dream
from dream.images import ImageError, prepare
from dream.limits import DEFAULT_LIMITS, LimitError, Limits
from dream.model import InceptionModel, ModelUnavailable, load_model
from dream.objectives import Objective, channel, class_logit, layer_mean, total_variation
from dream.presets import PRESETS, Preset, presets_for, run_preset
from dream.result import DreamResult
from dream.style import style_transfer

__all__ = [
    "DEFAULT_LIMITS", "DEFAULT_SCHEDULE", "PRESETS", "DreamResult", "Engine", "ImageError",
    "InceptionModel", "LimitError", "Limits", "ModelUnavailable", "Objective", "Preset",
    "Progress", "Schedule", "channel", "class_logit", "deep_dream", "dream_objective",
    "engine_for", "fractal_zoom", "guided_dream", "layer_mean", "load_model", "prepare",
    "presets_for", "run_preset", "style_transfer", "total_variation", "write_gif",
]
