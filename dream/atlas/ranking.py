"""What fires on a photo: a layer's channels ranked by their mean activation on it, each
with a heat map over the photo (the Atlas tab's "What fires on my photo?")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from dream.atlas import RANK_MAX_SIDE, RANK_MAX_TOP
from dream.engine import to_uint8
from dream.images import fit_to_limits, load_rgb
from dream.limits import LimitError, Limits
from dream.model import InceptionModel


@dataclass(frozen=True)
class RankedChannel:
    channel: int
    rank: int                 # 0 for the channel that fires most
    mean_activation: float    # mean over the photo of the post-ReLU activation
    heat: np.ndarray          # float32 [H, W] in 0..1: where it fires (÷ its own maximum)
    overlay: np.ndarray       # uint8 [H, W, 3]: the heat map coloured over the photo


@dataclass(frozen=True)
class ChannelRanking:
    layer: str
    image: np.ndarray         # the photo as analysed, uint8 [H, W, 3] (≤ max_side)
    channels: list[RankedChannel]
    means: np.ndarray         # float32 [channels]: every channel's mean, by channel index
    notes: list[str] = field(default_factory=list)


def channel_means(model: InceptionModel, images: np.ndarray, layer: str,
                  precision: str = "float32") -> np.ndarray:
    """[N, channels] mean post-ReLU activation of each channel of `layer` on each image
    ([N, h, w, 3] pixels, 0..255)."""
    activations = _activations(model, np.asarray(images, np.float32), layer, precision)
    return activations.mean(axis=(1, 2))


def _activations(model, images, layer, precision) -> np.ndarray:
    model.layer(layer)  # a clear error for an unknown layer
    features = model.features([layer], precision)
    # ReLU: a pre-ReLU tap ranks by the part the network passes on (what "fires").
    return np.maximum(features(tf.constant(images))[layer].numpy(), 0.0)


def rank_channels(model: InceptionModel, image, layer: str, top: int = 12, *,
                  max_side: int = RANK_MAX_SIDE, precision: str = "float32") -> ChannelRanking:
    """The channels of `layer` that fire most on `image`, strongest first.

    `image`: a path, bytes, PIL image or array (as every technique takes); it is fitted
    into `max_side` (a note says so), and the heat maps have that analysed size.
    Channels are ranked by their mean **post-ReLU** activation over the photo: what the
    layer passes on, so a channel that fires strongly in one place is not pulled down by
    being very negative elsewhere (a pre-ReLU mean would be). Each heat map is the
    channel's post-ReLU map, bilinearly upsampled to the photo and divided by its own
    maximum; `overlay` colours it over the photo (`heat_overlay`).
    """
    channels = model.layer(layer).channels
    if not 1 <= top <= min(channels, RANK_MAX_TOP):
        raise LimitError(f"top must be between 1 and {min(channels, RANK_MAX_TOP)} for {layer} "
                         f"(got {top}); every channel's mean is in the ranking's `means`.")
    photo, notes = load_rgb(image)
    photo, fit_notes = fit_to_limits(photo, Limits(max_side=max(max_side, 16)), max_side)
    activations = _activations(model, photo[None].astype(np.float32), layer, precision)[0]
    means = activations.mean(axis=(0, 1))
    order = np.argsort(-means, kind="stable")[:top]
    height, width = photo.shape[:2]
    maps = tf.image.resize(activations[..., order][None], (height, width), method="bilinear")[0].numpy()
    ranked = []
    for rank, channel in enumerate(order):
        heat = maps[..., rank]
        peak = heat.max()
        heat = (heat / peak if peak > 0 else np.zeros_like(heat)).astype(np.float32)
        ranked.append(RankedChannel(int(channel), rank, float(means[channel]), heat,
                                    heat_overlay(photo, heat)))
    return ChannelRanking(layer, photo, ranked, means.astype(np.float32), notes + fit_notes)


# Matplotlib's "inferno" at 9 stops (black → purple → orange → pale yellow), interpolated:
# perceptually even, and readable by colour-blind viewers.
_INFERNO = np.float32([
    [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
    [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]])


def colorize(heat: np.ndarray) -> np.ndarray:
    """[H, W] values in 0..1 → uint8 [H, W, 3] through the inferno colour map."""
    position = np.clip(np.asarray(heat, np.float32), 0.0, 1.0) * (len(_INFERNO) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_INFERNO) - 1)
    t = (position - low)[..., None]
    return to_uint8(_INFERNO[low] * (1 - t) + _INFERNO[high] * t)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The photo (uint8 [H, W, 3]) with a heat map ([H, W], 0..1) coloured over it: where
    the channel is silent the photo shows dimmed, where it fires the colour covers it."""
    if image.shape[:2] != heat.shape:
        raise ValueError(f"The heat map is {heat.shape}, the image {image.shape[:2]}.")
    heat = np.clip(heat, 0.0, 1.0)
    weight = alpha * heat[..., None]
    photo = image.astype(np.float32) * (0.45 + 0.55 * heat[..., None])
    return to_uint8(photo * (1 - weight) + colorize(heat).astype(np.float32) * weight)


