"""Regenerates the example images in this folder (see README.md for each one's source).

    python assets/make_assets.py                      # the procedural images
    python assets/make_assets.py --photos SKIMAGE_DATA  # + the scikit-image photos

The procedural images are drawn with NumPy and Pillow from fixed seeds, so they come out
the same every time. The photos are public-domain / CC0 images shipped inside the
scikit-image wheel (`skimage/data/`); pass that folder to re-export them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
JPEG_QUALITY = 90


def _ridge(rng: np.random.Generator, width: int, roughness: float, octaves: int = 7) -> np.ndarray:
    """A 1-D mountain profile in 0..1 (sum of random smooth waves, large to small)."""
    x = np.linspace(0.0, 1.0, width)
    profile = np.zeros(width)
    for k in range(octaves):
        frequency = 2 ** k
        phase = rng.uniform(0, 2 * np.pi)
        profile += (roughness ** k) * np.sin(2 * np.pi * frequency * x * rng.uniform(0.7, 1.3) + phase)
    profile -= profile.min()
    return profile / max(profile.max(), 1e-9)


def landscape(width: int = 512, height: int = 320, seed: int = 3) -> Image.Image:
    """Sky, sun, three mountain ranges and a lake reflecting them."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    horizon = int(height * 0.66)
    # Sky: deep blue at the top to warm orange at the horizon, with a glowing sun.
    t = np.clip(y / horizon, 0, 1)[..., None]
    sky = (1 - t) * np.array([40, 70, 150]) + t * np.array([250, 180, 120])
    sun_x, sun_y = width * 0.7, horizon * 0.55
    glow = np.exp(-(((x - sun_x) ** 2 + (y - sun_y) ** 2) / (2 * 38.0 ** 2)))[..., None]
    image = sky + glow * np.array([80, 60, 20])
    image[(x - sun_x) ** 2 + (y - sun_y) ** 2 < 18 ** 2] = [255, 240, 200]
    # Mountain ranges, far (pale) to near (dark green).
    for depth, (colour, base, amplitude) in enumerate((
        ((120, 110, 160), 0.42, 0.22), ((70, 90, 110), 0.52, 0.2), ((40, 80, 50), 0.6, 0.14),
    )):
        ridge = horizon * (base + amplitude * (1 - _ridge(rng, width, 0.5 + 0.05 * depth)))
        mask = (y >= ridge[None, :]) & (y < horizon)
        shade = np.clip(1.0 - (y - ridge[None, :]) / (horizon * 0.6), 0.55, 1.0)[..., None]
        image = np.where(mask[..., None], np.array(colour) * shade, image)
    # Lake: the scene mirrored below the horizon, darker and rippled.
    rows = np.arange(horizon, height)
    mirrored = np.clip(2 * horizon - rows, 0, horizon - 1)
    ripple = (3 * np.sin(x[horizon:] / 6.0 + rows[:, None] / 2.0)).astype(int)
    columns = np.clip(x[horizon:].astype(int) + ripple, 0, width - 1)
    image[horizon:] = image[mirrored[:, None], columns] * 0.7 + np.array([10, 30, 50]) * 0.3
    image += rng.normal(0, 3, image.shape)  # a little grain, like a photo
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def abstract(width: int = 448, height: int = 448, seed: int = 7) -> Image.Image:
    """Interfering coloured waves under a few soft circles: bright, with structure at every scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) / width
    image = np.zeros((height, width, 3))
    for channel in range(3):
        for _ in range(3):
            angle, frequency, phase = rng.uniform(0, np.pi), rng.uniform(3, 12), rng.uniform(0, 6.3)
            image[..., channel] += np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    image = 128 + 40 * image
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture, "RGBA")
    for _ in range(9):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 90)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3)) + (120,)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return picture.filter(ImageFilter.GaussianBlur(1.2))


def painting(width: int = 448, height: int = 448, seed: int = 11) -> Image.Image:
    """Short curved brush strokes following a swirling flow field: a style image."""
    rng = np.random.default_rng(seed)
    palette = np.array([(20, 40, 110), (40, 80, 170), (90, 140, 210), (230, 200, 80),
                        (250, 230, 150), (30, 30, 60)], np.float64)
    picture = Image.new("RGB", (width, height), (30, 50, 110))
    draw = ImageDraw.Draw(picture)
    centres = rng.uniform(0, 1, (4, 2)) * [width, height]

    def flow(px: float, py: float) -> float:
        angle = 0.0
        for cx, cy in centres:  # swirls around a few centres
            angle += np.arctan2(py - cy, px - cx) + np.pi / 2
        return angle / len(centres) + 0.6 * np.sin(px / 40.0) * np.cos(py / 50.0)

    for _ in range(2600):
        px, py = rng.uniform(0, width), rng.uniform(0, height)
        colour = palette[rng.integers(len(palette))] + rng.normal(0, 12, 3)
        colour = tuple(int(c) for c in np.clip(colour, 0, 255))
        points = [(px, py)]
        for _ in range(int(rng.integers(4, 10))):
            angle = flow(px, py)
            px, py = px + 4 * np.cos(angle), py + 4 * np.sin(angle)
            points.append((px, py))
        draw.line(points, fill=colour, width=int(rng.integers(3, 7)), joint="curve")
    return picture.filter(ImageFilter.SMOOTH)


def export_photos(skimage_data: Path) -> None:
    """Re-exports scikit-image's public-domain / CC0 photos as small JPEGs."""
    for source, target, side in (("chelsea.png", "cat.jpg", 451), ("coffee.png", "coffee.jpg", 480),
                                 ("rocket.jpg", "rocket.jpg", 480)):
        image = Image.open(skimage_data / source).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        image.save(HERE / target, quality=JPEG_QUALITY, optimize=True)


def pan_clip(frames: int = 36, width: int = 384, height: int = 216) -> list[np.ndarray]:
    """A slow pan and zoom across the landscape with the cat drifting the other way: motion
    for the Video tab's example (12 fps, 3 s)."""
    scene = Image.open(HERE / "landscape.jpg").convert("RGB")
    cat = Image.open(HERE / "cat.jpg").convert("RGB").resize((width // 4, height // 3))
    clip = []
    for k in range(frames):
        t = k / max(1, frames - 1)
        zoom = 1.0 + 0.15 * t
        crop_w, crop_h = scene.width / zoom * 0.8, scene.height / zoom * 0.8
        left = (scene.width - crop_w) * (0.1 + 0.8 * t)
        top = (scene.height - crop_h) * 0.5
        frame = scene.resize((width, height), Image.Resampling.BICUBIC,
                             box=(left, top, left + crop_w, top + crop_h))
        frame.paste(cat, (int((width - cat.width) * (0.9 - 0.8 * t)), height // 2))
        clip.append(np.asarray(frame))
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="scikit-image's skimage/data folder")
    args = parser.parse_args()
    landscape().save(HERE / "landscape.jpg", quality=JPEG_QUALITY, optimize=True)
    abstract().save(HERE / "abstract.jpg", quality=JPEG_QUALITY, optimize=True)
    painting().save(HERE / "painting.jpg", quality=JPEG_QUALITY, optimize=True)
    if args.photos:
        export_photos(args.photos)
    if (HERE / "cat.jpg").is_file():
        import sys

        sys.path.insert(0, str(HERE.parent))
        from dream.animation import write_mp4

        write_mp4(pan_clip(), HERE / "pan.mp4", fps=12)


if __name__ == "__main__":
    main()
