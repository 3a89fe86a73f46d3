"""Deep Dream Studio as a person sees it: headless Chromium (Debian's, through Playwright)
on the page the app serves, with the small generated model.

Per technique tab (Deep Dream, Fractal Zoom, Guided, Style Transfer and Video): an example
and the first preset, a run whose preview stays visible (nothing painted over it) and
whose PNG has the size the controls show; Stop one second after the first preview, the
partial result, the next run and the gallery that restores a run's settings. Then errors
that stay on the page, the hidden-channel sequence, a phone-sized screen and a missing
model that Retry picks up. Screenshots go to artifacts/browser-*.png (gitignored): look at
them. Skipped where no Chromium is installed (`apt-get install -y chromium`).

Waits are on conditions (`expect(...)` with generous timeouts: the machine is shared);
the only fixed pauses are the one second before Stop and the ten seconds an error must
stay. Runs are kept tiny: images of MAX_SIDE px.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import pytest
from app_fixtures import running_app

import app
import dream
from tests.conftest import PATIENCE_S
from ui import ids

pytest_plugins = ("app_fixtures",)  # app_holder

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
MAX_SIDE = 160          # px: what the tests type into "Max image side" (the page starts at 512)
RUN_TIMEOUT = int(PATIENCE_S * 1000)  # ms: a tiny run takes seconds, but the machine is shared
# ms: Stop shows its result 0.1–0.5 s after the click on a quiet machine (printed by the
# test); the bound is only for a Stop that never arrives, whatever the machine's load.
STOP_TIMEOUT = 120_000
# ms: how long an action or an expectation waits for the page (each page's default).
ACTION_TIMEOUT = 120_000
# The preview must be what the eye sees while dreaming. An overlay painted over it (the
# fault this catches) hides it in nearly every sample; a busy machine may catch Gradio
# between two previews now and then, so half the samples is a wide margin.
MIN_VISIBLE_SHARE = 0.5
ERROR_STAYS_S = 10      # the toast is gone by then; the status line must not be


@dataclass(frozen=True)
class Tab:
    technique: str
    inputs: tuple[str, ...]   # what an example fills, e.g. "input img": waited for
    stop_steps: int           # steps per octave of the long run that is stopped
    frames_control: bool = True  # False: the frame count comes from the clip
    input_in_gif: bool = True    # the GIF opens with the input (not a clip's: it is the dream)

    @property
    def prefix(self) -> str:
        return ids.PREFIXES[self.technique]

    def id(self, part: str) -> str:
        return "#" + ids.element(self.prefix, part)

    @property
    def button(self) -> str:
        return f"#{ids.TABS[self.technique]}-button"

    @property
    def file_prefix(self) -> str:
        """Result files start with the technique: deep-dream-mixed4c-seed0-….png."""
        return self.technique.replace("_", "-")


# The long run that is stopped: 60 frames (the most) and steps that stay within the total
# step budget with each tab's preset octaves (frames × octaves × steps ≤ 1500).
TABS = (
    Tab("deep_dream", ("input img",), stop_steps=6),                  # 4 octaves
    Tab("fractal_zoom", ("input img",), stop_steps=10),               # 2 octaves
    Tab("guided", ("input img", "guide img"), stop_steps=8),          # 3 octaves
    Tab("style_transfer", ("input img", "style img"), stop_steps=20),  # 1 octave
    Tab("dream_video", ("input video",), stop_steps=12, frames_control=False,  # 36 frames
        input_in_gif=False),
)
DD = TABS[0]
TAB_IDS = [tab.technique for tab in TABS]

# One sample of the preview, taken in the page every 50 ms: is its <img> what the eye sees
# at its centre, and how tall is its box. Gradio's progress overlay ignores the mouse
# (pointer-events: none), so every element is made hit-testable for the probe; an element
# stacked above the image covers it when it paints there (a background, text, a picture).
SAMPLER = """([imageId, statusId]) => {
  const probe = document.createElement('style');
  probe.textContent = '* { pointer-events: auto !important; }';
  const paints = (e) => {
    const style = getComputedStyle(e);
    const background = style.backgroundColor.match(/[\\d.]+/g) || [];
    return (background.length === 4 ? parseFloat(background[3]) > 0.1 : background.length === 3)
      || ['IMG', 'SVG', 'svg', 'CANVAS', 'VIDEO'].includes(e.tagName)
      || [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  };
  const opacity = (e) => { let o = 1; for (; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; };
  window.__samples = [];
  const take = () => {
    const status = document.getElementById(statusId);
    const box = document.getElementById(imageId);
    const img = box && box.querySelector('img');
    const sample = {status: status ? status.innerText.trim() : '', visible: false, height: 0,
                    src: img ? img.getAttribute('src') : null, covers: []};
    if (img) {
      const r = img.getBoundingClientRect();
      sample.height = box.getBoundingClientRect().height;
      document.head.appendChild(probe);
      const stack = document.elementsFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      probe.remove();
      const above = stack.indexOf(img) < 0 ? stack : stack.slice(0, stack.indexOf(img));
      sample.covers = above.filter(e => paints(e) && opacity(e) > 0.1)
                           .map(e => e.tagName + '.' + String(e.className.baseVal ?? e.className));
      sample.visible = stack.includes(img) && sample.covers.length === 0 && opacity(img) >= 0.9;
    }
    window.__samples.push(sample);
  };
  // Every 50 ms, and at every change of the status or the picture: on a loaded machine
  // the timer can starve for seconds, a change is still seen when the page makes it.
  window.__sampler = setInterval(take, 50);
  window.__observer = new MutationObserver(take);
  for (const id of [imageId, statusId]) {
    const element = document.getElementById(id);
    if (element) window.__observer.observe(element, {subtree: true, childList: true,
                                                     characterData: true, attributes: true});
  }
}"""
STOP_SAMPLER = """() => { clearInterval(window.__sampler); window.__observer.disconnect();
                      return window.__samples; }"""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"No Chromium at {CHROMIUM} (install it with `apt-get install -y chromium`).")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def url(app_holder):
    with running_app(app_holder) as address:
        yield address


@pytest.fixture
def new_page(browser):
    """`new_page(viewport=DESKTOP)`: a page in a fresh browser context (its own session)."""
    contexts = []

    def make(viewport: dict = DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(ACTION_TIMEOUT)  # each action; `expect` below likewise
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


# ----------------------------------------------------------------------------- helpers


def expect(locator):
    """Playwright's `expect` with the suite's patience: its own default is 5 s whatever the
    context's timeout, which a loaded machine outlasts (a wait costs this only on failure)."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=ACTION_TIMEOUT)
    return playwright_expect(locator)


def open_page(page, url: str) -> None:
    page.goto(url)
    expect(page.locator(f"#{ids.MODEL_STATUS}")).to_contain_text("Model ready", timeout=RUN_TIMEOUT)


def open_tab(page, tab: Tab) -> None:
    page.locator(tab.button).click()
    expect(page.locator(tab.id("run"))).to_be_visible()


def pick_example(page, tab: Tab) -> None:
    """The first example; waits for every input it fills (a run started before an upload
    has arrived receives nothing)."""
    page.locator(f"{tab.id('examples')} button.gallery-item, {tab.id('examples')} tr.tr-body").first.click()
    for selector in tab.inputs:
        expect(page.locator(f"#{tab.prefix}-{selector}")).to_be_visible()


def pick_first_preset(page, tab: Tab) -> dream.Preset:
    """The first preset of the tab's list; its description appears under the picker."""
    page.locator(f"{tab.id('preset')} input").click()
    first = page.get_by_role("option").first
    preset = dream.presets.PRESETS_BY_NAME[first.get_attribute("aria-label")]
    first.click()
    expect(page.locator(tab.id("preset-description"))).to_contain_text(preset.description)
    return preset


def number_box(page, tab: Tab, part: str):
    return page.locator(f"{tab.id(part)} input[type=number]")


def set_number(page, tab: Tab, part: str, value: int) -> None:
    """Types into a slider's number box, as a person would, and checks the slider took it."""
    box = number_box(page, tab, part)
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))
    expect(page.locator(f"{tab.id(part)} input[type=range]")).to_have_value(str(value))


def prepared_tab(page, url: str, tab: Tab) -> dream.Preset:
    """The tab with its first example, its first preset and small images."""
    open_page(page, url)
    open_tab(page, tab)
    pick_example(page, tab)
    size = number_box(page, tab, "max-side").input_value()
    preset = pick_first_preset(page, tab)
    # Presets leave the image size alone (they used to drop it to the slider's 64 px).
    expect(number_box(page, tab, "max-side")).to_have_value(size)
    set_number(page, tab, "max-side", MAX_SIDE)
    return preset


def status(page, tab: Tab):
    return page.locator(tab.id("status"))


def wait_for_status(page, tab: Tab, text: str, timeout: float = RUN_TIMEOUT) -> None:
    """Until the status line says `text`; an error there fails at once, with its words."""
    page.wait_for_function(
        """([id, text]) => { const line = document.getElementById(id);
             return line && (line.innerText.includes(text) || line.querySelector('.dream-status.error')); }""",
        arg=[ids.element(tab.prefix, "status"), text], timeout=timeout)
    error = page.locator(f"{tab.id('status')} .dream-status.error")
    assert error.count() == 0, f"waiting for {text!r}, the page says: {error.inner_text()}"


def image_src(page, tab: Tab, part: str = "image") -> str:
    return page.locator(f"{tab.id(part)} img").get_attribute("src") or ""


def fetch_png(page, src: str):
    return iio.imread(page.request.get(src).body(), extension=".png")


def fetch_gif(page, src: str):
    return iio.imread(page.request.get(src).body(), index=None, extension=".gif")


def expect_final_files(page, tab: Tab) -> tuple[str, str]:
    """The result PNG in the image box, the GIF and the MP4 beside it, and all three as
    downloads (named for the technique); returns the PNG's and the GIF's addresses."""
    named = {kind: re.compile(rf"/{tab.file_prefix}-[^/]*\.{kind}$") for kind in ("png", "gif", "mp4")}
    expect(page.locator(f"{tab.id('image')} img")).to_have_attribute("src", named["png"])
    expect(page.locator(f"{tab.id('gif')} img")).to_have_attribute("src", named["gif"])
    expect(page.locator(f"{tab.id('video')} video")).to_have_attribute("src", named["mp4"])
    links = page.locator(f"{tab.id('files')} a")
    expect(links).to_have_count(3)
    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert [kind for href in hrefs for kind, name in named.items() if name.search(href)] == \
        ["png", "gif", "mp4"], hrefs
    return image_src(page, tab), image_src(page, tab, "gif")


def shot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=full_page)


def wait_for_images(page, *selectors: str) -> None:
    """Until every <img> in these elements has loaded (for a screenshot that shows them)."""
    page.wait_for_function(
        """(selectors) => selectors.every(selector => [...document.querySelectorAll(selector + ' img')]
             .every(img => img.complete && img.naturalWidth > 0))""", arg=list(selectors))


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    return (box is not None and box["y"] >= 0 and box["x"] >= 0
            and box["y"] + box["height"] <= viewport["height"]
            and box["x"] + box["width"] <= viewport["width"])


# ----------------------------------------------------------------------------- per tab


def test_every_tab_of_the_page_is_tested_here():
    """A new technique tab needs its line in TABS (and so every test below); the atlas,
    which is not a technique panel, has tests of its own at the end of this file."""
    assert [technique for _label, technique, _build in app.TABS] == [*TAB_IDS, "atlas", "inside"]


@pytest.mark.parametrize("tab", TABS, ids=TAB_IDS)
def test_preset_run_streams_a_visible_preview_and_ends_in_a_full_size_png(page, url, tab):
    preset = prepared_tab(page, url, tab)
    if tab.frames_control:
        assert int(number_box(page, tab, "frames").input_value()) == preset.settings["frames"], \
            "the preset did not set the frame count"
    max_side = int(number_box(page, tab, "max-side").input_value())

    # The run button and the preview are on screen together, without scrolling.
    page.evaluate("window.scrollTo(0, 0)")
    assert in_viewport(page, tab.id("run")) and in_viewport(page, tab.id("image")), \
        "at 1400×1000 the run button and the preview are not both on screen"

    page.evaluate(SAMPLER, [ids.element(tab.prefix, "image"), ids.element(tab.prefix, "status")])
    page.locator(tab.id("run")).click()
    wait_for_status(page, tab, "Dreaming: step")
    shot(page, f"{tab.technique}-mid")
    wait_for_status(page, tab, "Finished:")
    samples = page.evaluate(STOP_SAMPLER)

    # While it dreamed, the preview was the image the eye sees (no overlay, not faded),
    # it changed as the previews arrived, and its box kept its size.
    dreaming = [s for s in samples if s["status"].startswith("Dreaming: step")]
    # A short run on a fast machine dreams for about a second after its compile, and a
    # loaded one starves the sampler's timer (seen: 4 samples in a run of 1 s): two samples
    # suffice, as an overlay covers the preview in every one of them.
    assert len(dreaming) >= 2, f"only {len(dreaming)} samples while dreaming: {samples[-3:]}"
    visible = sum(s["visible"] for s in dreaming) / len(dreaming)
    covered = [s["covers"] or "faded or outside the viewport" for s in dreaming if not s["visible"]]
    assert visible >= MIN_VISIBLE_SHARE, \
        f"preview visible in {visible:.0%} of samples; covered by {covered[:5]}"
    # The preview changed while it ran: the first preview replaced the starting picture,
    # and later ones replaced it in turn. On a loaded machine a short run may show a single
    # preview (at most two a second reach the page), so one change is what is required.
    running = [s for s in samples if s["status"].startswith(("Starting", "Dreaming: step"))]
    assert len({s["src"] for s in running}) >= 2, "the preview did not change while dreaming"
    heights = [s["height"] for s in dreaming]
    assert max(heights) - min(heights) <= 2, f"the preview box changed size: {sorted(set(heights))}"

    # Every frame was made; the final PNG (the file the page serves) has the size the
    # controls say; the GIF holds the start and every frame; the MP4 is served.
    text = status(page, tab).inner_text()
    frames = int(re.search(r"Finished: (\d+) frames", text)[1])
    if tab.frames_control:
        assert frames == int(number_box(page, tab, "frames").input_value()), text
    png_src, gif_src = expect_final_files(page, tab)
    png = fetch_png(page, png_src)
    assert max(png.shape[:2]) == max_side, f"PNG is {png.shape[1]}×{png.shape[0]}, controls say {max_side}"
    gif = fetch_gif(page, gif_src)
    assert gif.shape[0] == min(frames + tab.input_in_gif, 60) and max(gif.shape[1:3]) <= max_side
    mp4 = page.request.get(page.locator(f"{tab.id('video')} video").get_attribute("src"))
    assert mp4.ok and mp4.body()[4:8] == b"ftyp", "the MP4 is not served"
    expect(page.locator(f"{tab.id('notes')} textarea")).to_have_value(re.compile(r"^Finished:"))
    expect(page.locator(f"{tab.id('gallery')} button.thumbnail-item")).to_have_count(1)
    wait_for_images(page, tab.id("gif"), tab.id("gallery"))
    shot(page, f"{tab.technique}-final", full_page=True)


@pytest.mark.parametrize("tab", TABS, ids=TAB_IDS)
def test_stop_shows_the_partial_result_then_the_next_run_and_the_gallery_work(page, url, tab):
    prepared_tab(page, url, tab)
    if tab.frames_control:
        set_number(page, tab, "frames", 60)  # the most a run may have
    set_number(page, tab, "steps", tab.stop_steps)
    page.locator(tab.id("run")).click()
    wait_for_status(page, tab, "Dreaming: step")
    page.wait_for_timeout(1000)  # deliberate: Stop one second after the first preview
    assert status(page, tab).inner_text().startswith("Dreaming"), \
        "the long run ended by itself before Stop: make it longer"
    page.locator(tab.id("stop")).click()
    clicked = time.monotonic()

    wait_for_status(page, tab, "Stopped after", timeout=STOP_TIMEOUT)
    text = status(page, tab).inner_text()
    match = re.search(r"Stopped after (\d+) of (\d+) frames", text)
    assert match and int(match[1]) < int(match[2]), text
    assert int(match[2]) == 60 or not tab.frames_control, text
    made = int(match[1])
    png_src, gif_src = expect_final_files(page, tab)
    waited = time.monotonic() - clicked
    assert max(fetch_png(page, png_src).shape[:2]) == MAX_SIDE
    assert fetch_gif(page, gif_src).shape[0] == made + tab.input_in_gif  # (the start and) each frame
    expect(page.locator(f"{tab.id('notes')} textarea")).to_have_value(re.compile(r"^Stopped after"))
    print(f"{tab.technique}: stopped after {made} frames, result shown {waited:.1f} s after Stop")
    shot(page, f"{tab.technique}-stopped")

    # The next run (a short one) works.
    if tab.frames_control:
        set_number(page, tab, "frames", 2)
    set_number(page, tab, "steps", 1)
    page.locator(tab.id("run")).click()
    wait_for_status(page, tab, "Finished: 2 frames" if tab.frames_control else "Finished:")
    next_png, _ = expect_final_files(page, tab)
    assert Path(next_png).name != Path(png_src).name, "the next run did not replace the result"

    # The gallery lists both runs, newest first; a click on the stopped one restores its
    # settings and its result.
    thumbnails = page.locator(f"{tab.id('gallery')} button.thumbnail-item")
    expect(thumbnails).to_have_count(2)
    thumbnails.nth(1).click()
    expect(number_box(page, tab, "steps")).to_have_value(str(tab.stop_steps))
    if tab.frames_control:
        expect(number_box(page, tab, "frames")).to_have_value("60")
    expect(page.locator(f"{tab.id('image')} img")).to_have_attribute(
        "src", re.compile(re.escape(Path(png_src).name) + "$"))


def test_exact_arithmetic_in_advanced_runs_in_float32(page, url):
    # Guided runs in bfloat16 by default on a CPU with bfloat16 units ("auto"); the box in
    # Advanced forces float32 on any machine, and the settings the page shows say so.
    tab = TABS[2]
    assert tab.technique == "guided"
    prepared_tab(page, url, tab)
    set_number(page, tab, "frames", 1)
    set_number(page, tab, "steps", 1)
    page.get_by_text("Advanced", exact=True).locator("visible=true").first.click()
    page.locator(f"#{ids.element(tab.prefix, 'exact')}").get_by_role("checkbox").check()
    page.locator(tab.id("run")).click()
    wait_for_status(page, tab, "Finished:")
    page.get_by_text("Settings used (the seed", exact=False).locator("visible=true").first.click()
    expect(page.locator(tab.id("settings"))).to_contain_text('"precision"')
    expect(page.locator(tab.id("settings"))).to_contain_text("float32")
    shot(page, "guided-exact")


# ----------------------------------------------------------------------------- errors


def test_errors_stay_readable_on_the_page(new_page, url):
    """No image on each tab, and an unknown class on Deep Dream: the message is in the
    status line (and Notes) at once, never "Dreaming…", and still there 10 s later."""
    empty = new_page()
    open_page(empty, url)
    messages = {}
    for tab in TABS:
        open_tab(empty, tab)
        empty.locator(tab.id("run")).click()
        line = empty.locator(f"{tab.id('status')} .dream-status.error")
        expect(line).to_be_visible()
        messages[tab.technique] = line.inner_text().strip()
        assert messages[tab.technique].startswith("Please upload"), messages[tab.technique]
        expect(empty.locator(f"{tab.id('notes')} textarea")).to_have_value(messages[tab.technique])

    bad_class = new_page()
    open_page(bad_class, url)
    open_tab(bad_class, DD)
    pick_example(bad_class, DD)
    set_number(bad_class, DD, "max-side", MAX_SIDE)
    bad_class.locator(f"{DD.id('objective')} label").filter(has_text="Class neuron").click()
    bad_class.locator(f"{DD.id('class')} input").fill("jellyfsh")
    bad_class.keyboard.press("Enter")
    bad_class.locator(DD.id("run")).click()
    expect(status(bad_class, DD)).to_contain_text("Unknown class 'jellyfsh'", timeout=RUN_TIMEOUT)
    expect(status(bad_class, DD)).to_contain_text("jellyfish")  # the suggestion
    expect(bad_class.locator(f"{DD.id('notes')} textarea")).to_have_value(re.compile("Unknown class"))

    empty.wait_for_timeout(ERROR_STAYS_S * 1000)  # deliberate: the toast has gone by now
    shot(empty, "error-no-image")
    shot(bad_class, "error-bad-class")
    # The last tab opened first (as left), then the others.
    for tab in reversed(TABS):
        open_tab(empty, tab)
        line = empty.locator(f"{tab.id('status')} .dream-status.error")
        expect(line).to_be_visible()
        expect(line).to_have_text(messages[tab.technique])
        assert "Dreaming" not in empty.locator(f"{tab.id('notes')} textarea").input_value()
    expect(bad_class.locator(f"{DD.id('status')} .dream-status.error")).to_contain_text(
        "Unknown class 'jellyfsh'")


def test_hidden_channel_never_blocks_and_the_channel_box_shows_what_is_used(page, url, app_holder):
    open_page(page, url)
    open_tab(page, DD)
    pick_example(page, DD)
    page.locator(f"{DD.id('preset')} input").click()
    page.get_by_role("option", name=re.compile("^Flowers")).click()
    channel = page.locator(f"{DD.id('channel')} input")
    expect(channel).to_have_value("139")
    set_number(page, DD, "max-side", 96)
    set_number(page, DD, "frames", 1)
    set_number(page, DD, "steps", 1)

    # Whole layer, conv2d0 (fewer than 140 channels): the hidden 139 must not matter.
    page.locator(f"{DD.id('objective')} label").filter(has_text="Whole layer").click()
    expect(channel).to_be_hidden()
    page.locator(f"{DD.id('layer')} input").fill("conv2d0")
    page.keyboard.press("Enter")
    page.locator(DD.id("run")).click()
    wait_for_status(page, DD, "Finished: 1 frame ")
    expect(page.locator(f"{DD.id('files')} a").first).to_have_attribute(
        "href", re.compile(r"deep-dream-conv2d0-"))

    # One channel of mixed4c: the box shows what was typed (not clamped) and a channel
    # beyond the layer's gets a message that names the range.
    channels = app_holder.model.layer("mixed4c").channels
    page.locator(f"{DD.id('objective')} label").filter(has_text="One channel").click()
    page.locator(f"{DD.id('layer')} input").fill("mixed4c")
    page.keyboard.press("Enter")
    expect(page.locator(DD.id("channel"))).to_contain_text(f"0 to {channels - 1}")
    channel.fill("600")
    channel.press("Enter")
    expect(channel).to_have_value("600")
    page.locator(DD.id("run")).click()
    expect(status(page, DD)).to_contain_text(f"between 0 and {channels - 1}", timeout=RUN_TIMEOUT)
    expect(status(page, DD)).to_contain_text("mixed4c")
    expect(status(page, DD)).to_contain_text("600")
    expect(channel).to_have_value("600")


# ----------------------------------------------------------------------------- layout, model


def test_every_tab_and_the_api_page_are_reachable_on_a_phone(new_page, url):
    page = new_page(PHONE)
    open_page(page, url)
    labels = {technique: label for label, technique, _build in app.TABS}
    targets = [(labels[tab.technique], tab.id("run")) for tab in TABS] + [
        (labels["atlas"], f"{ATLAS}-run"), (labels["inside"], f"{INSIDE}-run"),
        ("About", f"#{ids.TABS['about']}")]
    for label, selector in targets:
        # The button a person can tap: on screen, inside the phone's width, of tappable
        # size (Gradio also keeps a hidden row of the same buttons for measuring).
        candidates = [button for button in page.get_by_role("button", name=label, exact=True).all()
                      + page.get_by_role("tab", name=label, exact=True).all()
                      if (box := button.bounding_box()) and box["height"] >= 20
                      and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]]
        assert candidates, f"no tappable {label!r} tab at 390 px"
        candidates[0].click()
        target = page.locator(selector)
        expect(target).to_be_visible()
        box = target.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, box
    shot(page, "phone-about")
    api = page.get_by_role("button", name=re.compile(r"^Use via API"))
    api.scroll_into_view_if_needed()
    expect(api).to_be_visible()
    box = api.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    api.click()  # the API page opens and lists the techniques
    expect(page.get_by_text(re.compile(r"^/?deep_dream$")).locator("visible=true").first).to_be_visible()
    shot(page, "phone-api")


def test_without_a_model_the_buttons_are_disabled_until_retry_finds_it(new_page, model_dir, tmp_path):
    from ui.model_holder import ModelHolder

    folder = tmp_path / "inception5h"
    folder.mkdir()
    holder = ModelHolder(folder).load(timeout=PATIENCE_S)
    assert holder.state == "unavailable"
    with running_app(holder) as address:
        page = new_page()
        page.goto(address)
        model_status = page.locator(f"#{ids.MODEL_STATUS}")
        expect(model_status).to_contain_text("Dreaming is unavailable", timeout=RUN_TIMEOUT)
        text = model_status.inner_text()
        assert str(tmp_path) not in text and "`" not in text, text  # no server paths, no Markdown
        assert "Retry" in text
        for tab in TABS:
            page.locator(tab.button).click()
            expect(page.locator(tab.id("run"))).to_be_disabled()
        shot(page, "no-model")

        for source in model_dir.iterdir():  # the model is put in place…
            shutil.copy(source, folder / source.name)
        page.locator(f"#{ids.MODEL_RETRY}").click()  # …and Retry picks it up
        expect(model_status).to_contain_text("Model ready", timeout=RUN_TIMEOUT)
        expect(page.locator(f"#{ids.MODEL_RETRY}")).to_be_hidden()
        for tab in reversed(TABS):
            page.locator(tab.button).click()
            expect(page.locator(tab.id("run"))).to_be_enabled()
        # The layer list has arrived too, and a run works.
        page.locator(f"{DD.id('layer')} input").click()
        expect(page.get_by_role("option", name=re.compile(r"^mixed4c \("))).to_be_visible()
        page.keyboard.press("Escape")
        pick_example(page, DD)
        set_number(page, DD, "max-side", 64)
        set_number(page, DD, "frames", 1)
        set_number(page, DD, "steps", 1)
        page.locator(DD.id("run")).click()
        wait_for_status(page, DD, "Finished: 1 frame ")


# ----------------------------------------------------------------------------- the neuron atlas


ATLAS = "#" + ids.ATLAS_PREFIX


def test_atlas_fills_a_page_live_caches_it_and_hands_a_tile_to_deep_dream(page, url, app_holder):
    """A page of tiles fills in, the same page again comes from the cache at once, and a
    tile's "Dream my photo with this" opens Deep Dream on that channel and dreams."""
    open_page(page, url)
    open_tab(page, DD)  # a photo on the Deep Dream tab: it is kept when a tile is handed over
    pick_example(page, DD)
    set_number(page, DD, "max-side", 96)
    set_number(page, DD, "frames", 1)
    set_number(page, DD, "steps", 1)
    page.locator(f"#{ids.TABS['atlas']}-button").click()
    page.locator(f"{ATLAS}-layer input").fill("mixed3a")
    page.keyboard.press("Enter")
    page.locator(f"{ATLAS}-run").click()
    status_line = page.locator(f"{ATLAS}-status")
    expect(status_line).to_contain_text("tiles in", timeout=RUN_TIMEOUT)
    channels = min(24, app_holder.model.layer("mixed3a").channels)
    tiles = page.locator(f"{ATLAS}-gallery button.thumbnail-item")
    expect(tiles).to_have_count(channels)
    shot(page, "atlas-page")

    # The same page again: every tile from the cache, nothing computed.
    stats = dream.atlas_for(app_holder.model).stats
    rendered, from_cache = stats.rendered, stats.from_cache
    page.locator(f"{ATLAS}-run").click()
    deadline = time.monotonic() + PATIENCE_S
    while stats.from_cache < from_cache + channels:
        assert time.monotonic() < deadline, "the second request did not come from the cache"
        time.sleep(0.05)
    expect(status_line).to_contain_text("tiles in", timeout=RUN_TIMEOUT)
    assert stats.rendered == rendered, "a cached page was rendered again"

    tiles.nth(3).click()
    expect(page.locator(f"{ATLAS}-selection")).to_contain_text("mixed3a, channel 3")
    page.locator(f"{ATLAS}-dream").click()
    expect(page.locator(DD.id("channel") + " input")).to_have_value("3")
    expect(page.locator(DD.id("layer") + " input")).to_have_value(re.compile("mixed3a"))
    wait_for_status(page, DD, "Finished: 1 frame ")
    expect(page.locator(f"{DD.id('files')} a").first).to_have_attribute(
        "href", re.compile(r"deep-dream-mixed3a-ch3-"))
    shot(page, "atlas-dreamed")


def test_atlas_shows_a_channels_views_and_morphs_it_into_another(page, url):
    """Click a tile: its channel fills the views section; its views (excites, inhibits, four
    diverse) appear; an interpolation to another channel plays as a looping video."""
    open_page(page, url)
    page.locator(f"#{ids.TABS['atlas']}-button").click()
    page.locator(f"{ATLAS}-layer input").fill("mixed3a")
    page.keyboard.press("Enter")
    page.locator(f"{ATLAS}-run").click()
    expect(page.locator(f"{ATLAS}-status")).to_contain_text("tiles in", timeout=RUN_TIMEOUT)
    page.locator(f"{ATLAS}-gallery button.thumbnail-item").nth(5).click()
    expect(page.locator(f"{ATLAS}-views-channel input")).to_have_value("5")
    page.locator(f"{ATLAS}-views-run").click()
    views_status = page.locator(f"{ATLAS}-views-status")
    expect(views_status).to_contain_text("mixed3a, channel 5: what excites it most",
                                         timeout=RUN_TIMEOUT)
    expect(page.locator(f"{ATLAS}-views-gallery button.thumbnail-item")).to_have_count(6)
    expect(page.locator(f"{ATLAS}-views-gallery")).to_contain_text("inhibits it most")
    page.locator(f"{ATLAS}-views-other input").fill("9")
    page.locator(f"{ATLAS}-views-morph").click()
    expect(views_status).to_contain_text("channel 5 → 9: 8 pictures", timeout=RUN_TIMEOUT)
    expect(page.locator(f"{ATLAS}-views-video video")).to_have_attribute(
        "src", re.compile(r"mixed3a-5-to-9\.mp4$"))
    page.locator(f"{ATLAS}-views-gallery").scroll_into_view_if_needed()
    shot(page, "atlas-views")


INSIDE = "#" + ids.INSIDE_PREFIX


def test_caricature_streams_its_steps_and_stops(page, url):
    open_page(page, url)
    page.locator(f"#{ids.TABS['inside']}-button").click()
    page.locator(f"{INSIDE}-examples button.gallery-item").first.click()
    expect(page.locator(f"{INSIDE}-photo img")).to_be_visible()
    page.get_by_text("Caricature", exact=True).locator("visible=true").first.click()
    page.locator(f"{INSIDE}-caricature-run").click()
    status_line = page.locator(f"{INSIDE}-status")
    expect(status_line).to_contain_text("Caricature at mixed4d: step", timeout=RUN_TIMEOUT)
    page.locator(f"{INSIDE}-stop").click()
    expect(status_line).to_contain_text("Caricature at mixed4d (stopped)", timeout=STOP_TIMEOUT)
    expect(page.locator(f"{INSIDE}-caricature img")).to_be_visible()
    shot(page, "inside-caricature-stopped")


def test_inside_my_photo_grid_attribution_circuit_walk_and_dream(page, url):
    """Open "Inside my photo" with an example: the grid and what fires at its most active
    place, the attribution maps and the groups; a tile opens its circuit, an input walks on,
    and "Dream my photo with this channel" dreams in the Deep Dream tab."""
    open_page(page, url)
    open_tab(page, DD)
    set_number(page, DD, "max-side", 96)
    set_number(page, DD, "frames", 1)
    set_number(page, DD, "steps", 1)
    page.locator(f"#{ids.TABS['inside']}-button").click()
    page.locator(f"{INSIDE}-examples button.gallery-item").first.click()
    expect(page.locator(f"{INSIDE}-photo img")).to_be_visible()
    page.locator(f"{INSIDE}-layer input").fill("mixed4a")
    page.keyboard.press("Enter")
    page.locator(f"{INSIDE}-run").click()
    status_line = page.locator(f"{INSIDE}-status")
    expect(status_line).to_contain_text("the channels that fire most there", timeout=RUN_TIMEOUT)
    expect(page.locator(f"{INSIDE}-grid img")).to_be_visible()
    expect(page.locator(f"{INSIDE}-dictionary button.thumbnail-item")).to_have_count(4)
    expect(page.locator(f"{INSIDE}-attribution button.thumbnail-item")).to_have_count(3, timeout=RUN_TIMEOUT)
    # Six groups, each as a map and as what its direction responds to.
    expect(page.locator(f"{INSIDE}-groups-maps button.thumbnail-item")).to_have_count(12, timeout=RUN_TIMEOUT)
    shot(page, "inside-look", full_page=True)

    expect(status_line).to_contain_text("6 neuron groups: each as a map", timeout=RUN_TIMEOUT)
    # A click on the photo's centre: the place clicked (the middle cell of the grid) and its channels.
    page.locator(f"{INSIDE}-grid img").click()  # Playwright clicks the element's centre
    expect(status_line).to_contain_text(re.compile(r"at row \d+, column \d+ of .*fire most there"),
                                        timeout=RUN_TIMEOUT)
    place = re.search(r"at row (\d+), column (\d+) of (\d+)×(\d+)", status_line.inner_text())
    row, column, rows, columns = map(int, place.groups())
    assert abs(row - (rows // 2 + 1)) <= 1 and abs(column - (columns // 2 + 1)) <= 1, place[0]

    page.locator(f"{INSIDE}-dictionary button.thumbnail-item").first.click()
    title = page.locator(f"{INSIDE}-circuit-title")
    expect(title).to_contain_text("mixed4a, channel", timeout=RUN_TIMEOUT)
    inputs = page.locator(f"{INSIDE}-circuit-inputs button.thumbnail-item")
    expect(inputs).to_have_count(6, timeout=RUN_TIMEOUT)
    expect(page.locator(f"{INSIDE}-circuit-outputs button.thumbnail-item")).to_have_count(6, timeout=RUN_TIMEOUT)
    caption = inputs.first.inner_text()  # "ch 12 · +0.09", a channel of mixed3b
    walked_to = re.search(r"ch (\d+)", caption)[1]
    inputs.first.click()
    expect(title).to_contain_text(f"mixed3b, channel {walked_to}", timeout=RUN_TIMEOUT)
    expect(page.locator(f"{INSIDE}-circuit-outputs button.thumbnail-item")).to_have_count(6, timeout=RUN_TIMEOUT)
    shot(page, "inside-circuit", full_page=True)

    page.locator(f"{INSIDE}-dream").click()
    expect(page.locator(DD.id("channel") + " input")).to_have_value(walked_to)
    expect(page.locator(DD.id("layer") + " input")).to_have_value(re.compile("mixed3b"))
    wait_for_status(page, DD, "Finished: 1 frame ")
    shot(page, "inside-dreamed")


def test_atlas_finds_what_fires_on_a_photo_and_searches_classes(page, url):
    open_page(page, url)
    page.locator(f"#{ids.TABS['atlas']}-button").click()
    page.locator(f"{ATLAS}-layer input").fill("mixed3a")
    page.keyboard.press("Enter")
    page.locator(f"{ATLAS}-examples button.gallery-item").first.click()
    expect(page.locator(f"{ATLAS}-photo img")).to_be_visible()
    page.locator(f"{ATLAS}-rank").click()
    status_line = page.locator(f"{ATLAS}-status")
    expect(status_line).to_contain_text("fire most on your photo", timeout=RUN_TIMEOUT)
    # Each channel: its heat map over the photo, then its tile.
    expect(page.locator(f"{ATLAS}-gallery button.thumbnail-item")).to_have_count(2 * 8)
    shot(page, "atlas-fires")

    page.locator(f"{ATLAS}-view label").filter(has_text="ImageNet classes").click()
    query = page.locator(f"{ATLAS}-query textarea")
    query.fill("jelly")
    query.press("Enter")
    expect(status_line).to_contain_text("matching 'jelly'", timeout=RUN_TIMEOUT)
    expect(status_line).to_contain_text(re.compile(r"tiles? in"), timeout=RUN_TIMEOUT)
    page.locator(f"{ATLAS}-gallery button.thumbnail-item").first.click()
    page.locator(f"{ATLAS}-open").click()
    expect(page.locator(DD.id("class") + " input")).to_have_value("jellyfish")


# ----------------------------------------------------------------------------- fast style


def test_fast_style_mode_runs_and_says_when_its_model_is_missing(new_page, app_holder, style_model_dir):
    from ui.model_holder import StyleModelHolder

    st = next(tab for tab in TABS if tab.technique == "style_transfer")
    for ready in (True, False):
        style_holder = StyleModelHolder(style_model_dir if ready else style_model_dir / "nowhere")
        style_holder.load(timeout=PATIENCE_S)
        with running_app(app_holder, style_holder) as address:
            page = new_page()
            open_page(page, address)
            open_tab(page, st)
            pick_example(page, st)
            page.locator(st.id("mode") + " label").filter(has_text="Fast").click()
            fast_button = page.locator(st.id("run-alternative"))
            expect(fast_button).to_be_visible()
            expect(page.locator(st.id("run"))).to_be_hidden()
            if not ready:
                expect(fast_button).to_be_disabled()
                expect(status(page, st)).to_contain_text("Fast mode is unavailable")
                expect(status(page, st)).to_contain_text("DREAM_STYLE_MODEL_DIR")
                # The optimisation mode still works.
                page.locator(st.id("mode") + " label").filter(has_text="Optimisation").click()
                expect(page.locator(st.id("run"))).to_be_enabled()
                continue
            set_number(page, st, "max-side", 128)
            fast_button.click()
            wait_for_status(page, st, "Finished:")
            src = image_src(page, st)
            assert max(fetch_png(page, src).shape[:2]) == 128
            shot(page, "fast-style")
