"""Animation loops: what happens to the picture between two frames, and closing a loop.

The fractal zoom crops a margin and scales back up before every frame. Like
pytorch-deepdream's "ouroboros" videos (gordicaleksa/pytorch-deepdream, whose
`utils.transform_frame` moves each frame before dreaming it again), the move may also
turn and slide: zoom, rotation about the centre and translation make one affine warp, so
the picture is resampled once per frame (three resamplings would blur it three times
over a long loop).

A loop that plays forever jumps from its last frame back to its first. `seamless_loop`
dreams a few frames more and crossfades them into the opening frames, so the last frame
leads into the first as naturally as any frame leads into the next.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import tensorflow as tf

from dream.engine import resize
from dream.limits import LimitError

# Per-frame moves beyond these tear the picture apart faster than a frame can dream it
# back together: 15° a frame is a full turn in 24 frames, 64 px a quarter of a 256 px side.
MAX_ROTATE = 15.0  # degrees per frame, either way
MAX_SHIFT = 64.0   # pixels per frame at the working size, each axis, either way


def zoom_margins(height: int, width: int, zoom: float) -> tuple[int, int]:
    """Pixels cropped from each side (top/bottom, left/right) by a zoom of `zoom`; at
    least one, so that the smallest zoom still moves."""
    return max(1, round(height * zoom)), max(1, round(width * zoom))


def zoom_in(image: np.ndarray, margin: float) -> np.ndarray:
    """Crops `margin` (a fraction of each side) from every edge and scales back up."""
    height, width = image.shape[:2]
    dy, dx = zoom_margins(height, width, margin)
    cropped = tf.constant(image[dy:height - dy, dx:width - dx], tf.float32)
    return resize(cropped, (height, width)).numpy()


def frame_transform(image: np.ndarray, zoom: float, rotate_deg: float = 0.0,
                    shift_xy: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """`image` (H×W×C) zoomed in by `zoom` of each side, turned `rotate_deg` degrees
    counter-clockwise about its centre, then moved by `shift_xy` = (dx, dy) pixels (right,
    down), as float32.

    Without rotation or shift this is `zoom_in` exactly (the fractal zoom's frames stay as
    they were). Otherwise one bilinear `cv2.warpAffine`, whose corners, uncovered by a
    turn or a slide, are filled by reflecting the picture (BORDER_REFLECT_101): a mirror
    continues the picture's own texture, where a constant colour would leave a flat patch
    for the next frame to dream on. `zoom` 0 turns or slides without zooming.
    """
    image = np.asarray(image, np.float32)
    dx, dy = float(shift_xy[0]), float(shift_xy[1])
    if rotate_deg == 0 and dx == 0 and dy == 0:
        return zoom_in(image, zoom) if zoom > 0 else image.copy()
    height, width = image.shape[:2]
    margin_y, margin_x = zoom_margins(height, width, zoom) if zoom > 0 else (0, 0)
    # The same scale as zoom_in's crop: the kept (W − 2·margin) px fill W px.
    scale = np.diag([width / (width - 2 * margin_x), height / (height - 2 * margin_y)])
    # Pixel centres sit at integers, so the centre is ((W − 1) / 2, (H − 1) / 2).
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    turn = np.deg2rad(rotate_deg)
    # cv2.getRotationMatrix2D's sense: positive angles turn counter-clockwise on screen
    # (y points down).
    rotation = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    # source point p → centre + R·S·(p − centre) + shift: zoom, then turn, then slide.
    linear = rotation @ scale
    offset = centre + np.array([dx, dy]) - linear @ centre
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float64)
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT_101)
    # OpenCV drops the channel axis of a one-channel image.
    return warped.reshape(image.shape)


def loop_overlap(frames: int) -> int:
    """Frames dreamed beyond `frames` to close a loop: a quarter of them, at least one."""
    return max(1, frames // 4)


def check_loop_frames(frames: int, max_frames: int) -> int:
    """The frames a seamless loop of `frames` dreams (`frames` + `loop_overlap`), refused
    with the most that fit when that is over `max_frames`."""
    dreamed = frames + loop_overlap(frames)
    if dreamed > max_frames:
        most = max_frames
        while most > 1 and most + loop_overlap(most) > max_frames:
            most -= 1
        raise LimitError(f"A seamless loop dreams a quarter more frames to blend them: ask for "
                         f"at most {most} frames.")
    return dreamed


def seamless_loop(frames: Sequence[np.ndarray], overlap: int) -> list[np.ndarray]:
    """Closes a loop: recorded frames r_0 … r_{N+K} (the input first, K = `overlap`
    frames dreamed beyond the N wanted) → N + 1 frames out_0 … out_N that play in a loop.

    out_i = (i/K)·r_i + (1 − i/K)·r_{N+1+i} for i < K, and r_i for K ≤ i ≤ N. A loop's
    jump is from its last frame back to its first; here the first frame is r_{N+1}, the
    frame that naturally follows the last one (r_N), and over the first K frames (a
    quarter of the loop, by `loop_overlap`) it fades into the loop's own frames. The
    jump between where the dream ended up and where it began is spread over K steps
    instead of landing in one.
    """
    count = len(frames) - 1 - overlap  # N
    if overlap < 1 or count < 1:
        raise ValueError(f"A loop needs an overlap of at least 1 frame and at least "
                         f"{overlap + 2} recorded frames (got {len(frames)} frames, "
                         f"overlap {overlap}).")
    looped = []
    for i in range(count + 1):
        if i < overlap:
            weight = i / overlap
            mixed = weight * frames[i].astype(np.float32) + (1.0 - weight) * frames[count + 1 + i]
            looped.append(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))
        else:
            looped.append(np.asarray(frames[i], np.uint8))
    return looped
