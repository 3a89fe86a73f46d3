"""Deep Dream Studio in a real browser (Debian's Chromium through Playwright).

Uploads an example photo, presses Dream and waits for the final PNG and the animated GIF.
The page's screenshot is saved to artifacts/browser-deep-dream.png (gitignored).
Skipped only where no Chromium is installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
from app_fixtures import fast_defaults, running_app

pytest_plugins = ("app_fixtures",)  # app_holder

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def fast_app_url(app_holder):
    """The app with every tab's defaults cut to a few steps on ~128 px images."""
    with running_app(app_holder, defaults=fast_defaults()) as url:
        yield url


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip(f"No Chromium at {CHROMIUM} (install it with `apt-get install -y chromium`).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def test_deep_dream_in_the_browser(fast_app_url, page):
    from playwright.sync_api import expect

    page.goto(fast_app_url)
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=30_000)

    page.locator("#dd-input input[type=file]").set_input_files(str(ROOT / "assets" / "cat.jpg"))
    # The handler receives None if the button is pressed before the upload has finished.
    expect(page.locator("#dd-input img")).to_be_visible(timeout=30_000)
    page.locator("#dd-run").click()

    gif = page.locator("#dd-gif img")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif"), timeout=90_000)
    final = page.locator("#dd-image img")
    expect(final).to_have_attribute("src", re.compile(r"\.png"))
    expect(page.locator("#dd-settings")).to_contain_text("seed")

    # What the page shows is a real animation and the PNG is the full fitted size (128 px).
    frames = iio.imread(page.request.get(gif.get_attribute("src")).body(), index=None, extension=".gif")
    assert frames.shape[0] > 1
    png = iio.imread(page.request.get(final.get_attribute("src")).body(), extension=".png")
    assert max(png.shape[:2]) == 128

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-deep-dream.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # A long run, then Stop: the engine (in this process) stops within a step or two.
    page.locator("#dd-frames input[type=number]").fill("60")
    page.locator("#dd-steps input[type=number]").fill("10")
    page.locator("#dd-steps input[type=number]").press("Enter")
    page.locator("#dd-run").click()
    _wait_until(lambda: _dream_workers(), "the long run never started")
    page.wait_for_timeout(1000)
    assert _dream_workers(), "the 60-frame run ended by itself: the frame count did not reach it"
    page.locator("#dd-stop").click()
    _wait_until(lambda: not _dream_workers(), "Stop did not stop the engine")


def _dream_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dream-worker" and t.is_alive()]


def _wait_until(condition, message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)
