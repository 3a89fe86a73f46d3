"""Screenshots of every tab of Deep Dream Studio, taken in headless Chromium.

    python scripts/screenshots.py                       # docs/screenshots/<tab>.png
    python scripts/screenshots.py --model-dir DIR       # with a real inception5h

Without --model-dir the app runs on the generated stand-in model (`dream.synthetic_model`,
random weights), so the dreams are abstract textures; the page is what a visitor sees.
Each tab is run once with its first example and the default settings before its
screenshot. Needs Debian's Chromium (`apt-get install -y chromium`) and Playwright.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from dream import synthetic_model  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# (tab label, file name, element-id prefix, CSS of the example to click)
TABS = (
    ("Deep Dream", "deep_dream", "dd", "#dd-examples button.gallery-item >> nth=0"),
    ("Fractal Zoom", "fractal_zoom", "fz", "#fz-examples button.gallery-item >> nth=0"),
    ("Guided Hallucination", "guided", "gd", "#gd-examples tr.tr-body >> nth=0"),
    ("Style Transfer", "style_transfer", "st", "#st-examples tr.tr-body >> nth=0"),
)


def shrink(path: Path) -> None:
    """256-colour PNG: a third of the size, and the page text stays crisp."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE,
                                              dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def shoot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    shrink(path)
    print("wrote", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--model-dir", type=Path, help="inception5h folder or zip")
    parser.add_argument("--width", type=float, default=0.125,
                        help="channel width of the generated model (when no --model-dir)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model_dir = args.model_dir
    if model_dir is None:
        model_dir = synthetic_model.write_model_dir(tempfile.mkdtemp(prefix="inception5h-"),
                                                    width=args.width)
    holder = app.ModelHolder(model_dir).load()
    demo = app.build_app(holder)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options())

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=30_000)
        for label, name, prefix, example in TABS:
            page.get_by_role("tab", name=label).click()
            page.locator(example).click()
            expect(page.locator(f"#{prefix}-input img")).to_be_visible(timeout=30_000)
            page.locator(f"#{prefix}-run").click()
            expect(page.locator(f"#{prefix}-gif img")).to_have_attribute(
                "src", re.compile(r"\.gif"), timeout=300_000)
            page.wait_for_timeout(6000)  # let the notification toasts fade
            shoot(page, args.out / f"{name}.png")
        page.get_by_role("tab", name="About").click()
        page.wait_for_timeout(500)
        shoot(page, args.out / "about.png")
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
