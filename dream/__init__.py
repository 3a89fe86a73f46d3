"""Deep Dream Studio's techniques on Google's inception5h GoogLeNet; no UI code here.

    import dream
    model = dream.load_model()                       # DREAM_MODEL_DIR, cache or download
    objective = dream.dream_objective(model, class_name="jellyfish")
    result = dream.deep_dream(model, "photo.jpg", objective, frames=8)
    result.save_png("dream.png"); result.save_gif("dream.gif")

    dream.guided_dream(model, "photo.jpg", "guide.jpg", similarity="l2", direction="away")
    dream.style_transfer(model, "photo.jpg", "painting.jpg", style_weight=10)
    dream.run_preset(model, "Jellyfish (class neuron)", "photo.jpg")
    dream.dream_video(model, "clip.mp4", objective).save_mp4("dreamed.mp4")
    dream.atlas_for(model).page("mixed4c")            # feature-visualisation tiles, cached
"""

import os

# On a small CPU (a free Space has 2 cores) one op at a time, each using every core, beat
# running the inception branches concurrently on the same cores (measured ~4 % per step;
# benchmarks/bench_engine.py). Read by TensorFlow when its runtime starts, so it must be
# set before the first op; an explicit setting in the environment wins.
if (os.cpu_count() or 1) <= 4:
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from dream.animation import AudioTrack, write_gif, write_mp4  # noqa: E402
from dream.atlas import Atlas, AtlasSettings, Tile, atlas_for, heat_overlay, rank_channels, search_classes  # noqa: E402
from dream.deepdream import DEFAULT_SCHEDULE, deep_dream, dream_objective, fractal_zoom  # noqa: E402
from dream.engine import Engine, Progress, Schedule, engine_for  # noqa: E402
from dream.fast_style import FastStyleModel, StyleModelUnavailable, fast_style_transfer, load_style_model  # noqa: E402
from dream.frames import check_request  # noqa: E402
from dream.guided import guided_dream  # noqa: E402
from dream.images import ImageError, prepare  # noqa: E402
from dream.limits import DEFAULT_LIMITS, LimitError, Limits  # noqa: E402
from dream.model import InceptionModel, ModelUnavailable, load_model  # noqa: E402
from dream.objectives import Objective, channel, class_logit, layer_mean, total_variation  # noqa: E402
from dream.presets import PRESETS, Preset, presets_for, run_preset  # noqa: E402
from dream.result import DreamResult  # noqa: E402
from dream.style import style_transfer  # noqa: E402
from dream.video import (DEFAULT_VIDEO_LIMITS, DEFAULT_VIDEO_SCHEDULE, VideoError, VideoLimits,  # noqa: E402
                         VideoResult, check_video, dream_video, probe_video, read_video)

__all__ = [
    "Atlas", "AtlasSettings", "Tile", "atlas_for", "heat_overlay", "rank_channels", "search_classes",
    "FastStyleModel", "StyleModelUnavailable", "fast_style_transfer", "load_style_model",
    "AudioTrack", "DEFAULT_VIDEO_LIMITS", "DEFAULT_VIDEO_SCHEDULE", "VideoError", "VideoLimits",
    "VideoResult", "check_video", "dream_video", "probe_video", "read_video", "write_mp4",
    "DEFAULT_LIMITS", "DEFAULT_SCHEDULE", "PRESETS", "DreamResult", "Engine", "ImageError",
    "InceptionModel", "LimitError", "Limits", "ModelUnavailable", "Objective", "Preset",
    "Progress", "Schedule", "channel", "check_request", "class_logit", "deep_dream", "dream_objective",
    "engine_for", "fractal_zoom", "guided_dream", "layer_mean", "load_model", "prepare",
    "presets_for", "run_preset", "style_transfer", "total_variation", "write_gif",
]
