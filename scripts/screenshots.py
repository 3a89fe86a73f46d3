"""Screenshots of every tab of Deep Dream Studio, taken in headless Chromium.

    python scripts/screenshots.py                       # docs/screenshots/<tab>.png
    python scripts/screenshots.py --model-dir DIR       # with a real inception5h
    python scripts/screenshots.py --full-page           # the whole page, not 1400×1000
    python scripts/screenshots.py --tabs guided about   # only these (technique ids, about)

Without --model-dir the app runs on the generated stand-in model (`dream.synthetic_model`,
random weights), so the dreams are abstract textures; the page is what a visitor sees.
Each technique tab gets its first example and its first preset, is run to the end, and is
photographed with its result, MP4, GIF and downloads on screen; then the Neuron Atlas with
its first page of mixed4c tiles, and the About tab. A
tab whose run ends in an error keeps its old screenshot; the error is printed and the
script exits with status 1. Needs Debian's Chromium (`apt-get install -y chromium`) and
Playwright.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from dream import synthetic_model  # noqa: E402
from ui import ids  # noqa: E402
from ui.model_holder import ModelHolder  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
# What each tab's examples fill (a run pressed before they have arrived has no input).
INPUTS = {"deep_dream": ("input img",), "fractal_zoom": ("input img",),
          "guided": ("input img", "guide img"), "style_transfer": ("input img", "style img"),
          "dream_video": ("input video",)}
RUN_TIMEOUT_MS = 300_000
IMAGES_LOADED = """(selectors) => selectors.every(selector =>
  [...document.querySelectorAll(selector + ' img')].every(img => img.complete && img.naturalWidth > 0))"""


def shrink(path: Path) -> None:
    """256-colour PNG: a third of the size, and the page text stays crisp."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE,
                                              dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def shoot(page, path: Path, full_page: bool) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    shrink(path)
    print("wrote", path)


def run_tab(page, technique: str) -> str | None:
    """First example, first preset, run to the end; waits until the results have loaded.
    Returns the page's error message if the run failed."""
    from playwright.sync_api import expect

    prefix = ids.PREFIXES[technique]
    element = lambda part: "#" + ids.element(prefix, part)  # noqa: E731
    page.locator(f"#{ids.TABS[technique]}-button").click()
    page.locator(f"{element('examples')} button.gallery-item, {element('examples')} tr.tr-body").first.click()
    for selector in INPUTS[technique]:
        expect(page.locator(f"#{prefix}-{selector}")).to_be_visible(timeout=30_000)
    page.locator(f"{element('preset')} input").click()
    page.get_by_role("option").first.click()
    expect(page.locator(element("preset-description"))).to_be_visible()
    page.locator(element("run")).click()
    status, error = page.locator(element("status")), page.locator(f"{element('status')} .dream-status.error")
    expect(status.get_by_text("Finished:").or_(error)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    if error.count():
        return error.inner_text()
    expect(page.locator(f"{element('gallery')} button.thumbnail-item").first).to_be_visible()
    page.wait_for_function(IMAGES_LOADED, arg=[element("image"), element("gif"), element("gallery")])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--model-dir", type=Path, help="inception5h folder or zip")
    parser.add_argument("--width", type=float, default=0.125,
                        help="channel width of the generated model (when no --model-dir)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the first screen")
    parser.add_argument("--tabs", nargs="+", metavar="TAB",
                        help="only these: technique ids (deep_dream, …) and/or about")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model_dir = args.model_dir
    if model_dir is None:
        model_dir = synthetic_model.write_model_dir(tempfile.mkdtemp(prefix="inception5h-"),
                                                    width=args.width)
    holder = ModelHolder(model_dir).load()
    if holder.state != "ready":
        sys.exit(f"The model did not load: {holder.error}")
    demo = app.build_app(holder)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options())

    from playwright.sync_api import expect, sync_playwright

    wanted = set(args.tabs or [technique for _label, technique, _build in app.TABS] + ["about"])
    failed = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)

            def fresh_page():
                """A new session per screenshot: no notice of another tab's run shows."""
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url)
                expect(page.locator(f"#{ids.MODEL_STATUS}")).to_contain_text("Model ready", timeout=60_000)
                return page

            for _label, technique, _build in app.TABS:
                if technique not in wanted or technique not in ids.PREFIXES:
                    continue
                page = fresh_page()
                error = run_tab(page, technique)
                if error:
                    failed.append(technique)
                    print(f"{technique}: the run failed, screenshot not taken: {error}", file=sys.stderr)
                    continue
                shoot(page, args.out / f"{technique}.png", args.full_page)
            if "atlas" in wanted:
                page = fresh_page()
                page.locator(f"#{ids.TABS['atlas']}-button").click()
                page.locator(f"#{ids.ATLAS_PREFIX}-run").click()
                expect(page.locator(f"#{ids.ATLAS_PREFIX}-status")).to_contain_text(
                    "tiles in", timeout=RUN_TIMEOUT_MS)
                page.wait_for_function(IMAGES_LOADED, arg=[f"#{ids.ATLAS_PREFIX}-gallery"])
                shoot(page, args.out / "atlas.png", args.full_page)
            if "about" in wanted:
                page = fresh_page()
                page.locator(f"#{ids.TABS['about']}-button").click()
                expect(page.locator(f"#{ids.TABS['about']}")).to_be_visible()
                shoot(page, args.out / "about.png", args.full_page)
            browser.close()
    finally:
        demo.close()
    if failed:
        sys.exit(f"No screenshot of: {', '.join(failed)}")


if __name__ == "__main__":
    main()
