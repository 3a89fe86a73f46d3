"""The artist's controls as a person uses them: headless Chromium on the page the app
serves, with the small generated model (the fixtures and helpers of tests/test_browser.py).

On Deep Dream: terms mixed in through the mixer's rows and painted with the editor's brush
(red for the main objective, green for term 1) reach the run as its `mix` and `mask`, and
the settings say so; where nothing is painted and every term is confined, the photo stays
exactly as it was; Stop works with a mix and "Keep the photo's colours". On Fractal Zoom: the
loops' turn and seamless close. On a phone: the mixer, its rows and the editor fit.

Screenshots go to artifacts/browser-artist-*.png (gitignored): look at them. Waits are on
conditions with the suite's patience; the only fixed pause is the second before Stop.
"""

from __future__ import annotations

import json
import re

import imageio.v3 as iio
import numpy as np
import test_browser
from test_browser import (ARTIFACTS, DD, MAX_SIDE, PHONE, STOP_TIMEOUT, TABS, expect,
                          expect_final_files, fetch_png, open_page, open_tab, pick_example,
                          set_number, shot, status, wait_for_status)

from dream import images
from dream.endpoints import SERVER_LIMITS

# The browser tests' fixtures: Chromium, a page in a fresh context, the app served.
browser, new_page, page, url = test_browser.browser, test_browser.new_page, test_browser.page, test_browser.url

pytest_plugins = ("app_fixtures",)  # app_holder

FZ = TABS[1]
assert FZ.technique == "fractal_zoom"

# The brush's colours, in the order of the editor's swatches (dream.mixer.TERM_COLOURS).
RED, GREEN, BLUE, YELLOW = range(4)
SWATCH_RGB = ("rgb(255, 0, 0)", "rgb(0, 255, 0)", "rgb(0, 0, 255)", "rgb(255, 255, 0)")

# Every change of the status line or of the result image, as the page showed it: a
# MutationObserver (no sampling, so a short run is seen as well as a long one).
RECORDER = """([imageId, statusId]) => {
  window.__shown = [];
  const box = document.getElementById(imageId), line = document.getElementById(statusId);
  const record = () => {
    const img = box.querySelector('img');
    window.__shown.push({status: line.innerText.trim(), src: img ? img.getAttribute('src') : null});
  };
  for (const element of [box, line])
    new MutationObserver(record).observe(element, {subtree: true, childList: true,
                                                   attributes: true, characterData: true});
}"""


# ----------------------------------------------------------------------------- helpers


def tiny_run(page, tab, frames: int = 2, steps: int = 2) -> None:
    set_number(page, tab, "max-side", MAX_SIDE)
    set_number(page, tab, "frames", frames)
    set_number(page, tab, "steps", steps)


def open_mixer(page, tab) -> None:
    mixer = page.locator(tab.id("mixer"))
    mixer.scroll_into_view_if_needed()
    mixer.get_by_text("Mix and paint", exact=False).first.click()
    expect(page.locator(tab.id("term1-kind"))).to_be_visible()


def term(tab, k: int, part: str) -> str:
    return tab.id(f"term{k}-{part}")


def choose(page, selector: str, option: str) -> None:
    """Picks `option` of a dropdown as a person does: open it, click the option."""
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f"{selector} input")).to_have_value(option)


def type_into_dropdown(page, selector: str, value: str) -> None:
    """A searchable dropdown (layers, classes): type, Enter; the shown value starts with it
    (layers show their channel count: "mixed4a (64 channels)")."""
    box = page.locator(f"{selector} input")
    box.fill(value)
    box.press("Enter")
    expect(box).to_have_value(re.compile("^" + re.escape(value)))


def set_weight(page, tab, k: int, value: float) -> None:
    box = page.locator(f"{term(tab, k, 'weight')} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))
    expect(page.locator(f"{term(tab, k, 'weight')} input[type=range]")).to_have_value(str(value))


def set_channel_term(page, tab, k: int, layer: str, channel: int, weight: float) -> None:
    choose(page, term(tab, k, "kind"), "One channel")
    expect(page.locator(term(tab, k, "channel"))).to_be_visible()
    expect(page.locator(term(tab, k, "class"))).to_be_hidden()
    type_into_dropdown(page, term(tab, k, "layer"), layer)
    box = page.locator(f"{term(tab, k, 'channel')} input")
    box.fill(str(channel))
    box.press("Enter")
    expect(box).to_have_value(str(channel))
    set_weight(page, tab, k, weight)


def set_layer_term(page, tab, k: int, layer: str, weight: float) -> None:
    choose(page, term(tab, k, "kind"), "Whole layer")
    expect(page.locator(term(tab, k, "channel"))).to_be_hidden()
    type_into_dropdown(page, term(tab, k, "layer"), layer)
    set_weight(page, tab, k, weight)


def set_class_term(page, tab, k: int, class_name: str, weight: float) -> None:
    choose(page, term(tab, k, "kind"), "Class neuron")
    expect(page.locator(term(tab, k, "class"))).to_be_visible()
    expect(page.locator(term(tab, k, "layer"))).to_be_hidden()
    type_into_dropdown(page, term(tab, k, "class"), class_name)
    set_weight(page, tab, k, weight)


def editor_canvas(page, tab):
    """The canvas the brush paints on (Gradio 6's ImageEditor draws with PixiJS; a second
    canvas, .pixi-target-crop, is for cropping)."""
    return page.locator(f"{tab.id('paint')} .pixi-target canvas")


def pick_colour(page, tab, colour: int) -> None:
    """The brush tool, then one of the four fixed colours from the editor's swatches."""
    editor = page.locator(tab.id("paint"))
    brush = editor.get_by_role("button", name="Brush", exact=True)
    if "highlight" not in (brush.get_attribute("class") or ""):
        brush.click()
    expect(brush).to_have_class(re.compile(r"\bhighlight\b"))
    colour_button = editor.get_by_role("button", name="Color", exact=True)
    colour_button.click()
    swatches = editor.locator("menu.swatch button")
    expect(swatches).to_have_count(4)
    swatches.nth(colour).click()
    # The colour button shows the brush's colour; the swatches stay open until the canvas
    # is touched (`paint_stroke`).
    expect(colour_button).to_have_attribute("style", re.compile(re.escape(f"color: {SWATCH_RGB[colour]}")))


def paint_stroke(page, tab, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drags the mouse over the canvas from `start` to `end` (fractions of its box). The
    stroke must not start on the open swatches, which the press on the canvas closes."""
    canvas = editor_canvas(page, tab)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(fraction: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + fraction[0] * box["width"], box["y"] + fraction[1] * box["height"]

    swatches = page.locator(f"{tab.id('paint')} menu.swatch")
    if swatches.count():
        x, y = at(start)
        covered = swatches.bounding_box()
        assert not (covered["x"] <= x <= covered["x"] + covered["width"]
                    and covered["y"] <= y <= covered["y"] + covered["height"]), \
            f"the stroke would start on the swatches: start it elsewhere than {start}"
    page.mouse.move(*at(start))
    page.mouse.down()
    for i in range(1, 13):
        t = i / 12
        page.mouse.move(*at((start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)))
    page.mouse.up()
    expect(swatches).to_have_count(0)


def painted_pixels(page, tab) -> dict[str, int]:
    """How many pixels of the editor, as the eye sees it, are in each brush colour."""
    seen = iio.imread(editor_canvas(page, tab).screenshot(), extension=".png")[:, :, :3].astype(int)
    r, g, b = seen[:, :, 0], seen[:, :, 1], seen[:, :, 2]
    return {"red": int(((r > 230) & (g < 40) & (b < 40)).sum()),
            "green": int(((g > 230) & (r < 40) & (b < 40)).sum())}


def settings(page, tab) -> str:
    """The settings JSON as the page shows it, one token a line, joined again."""
    box = page.locator(tab.id("settings"))
    if not box.is_visible():
        page.get_by_text("Settings used (the seed", exact=False).locator("visible=true").first.click()
    expect(box).to_contain_text('"technique"')
    return "".join(line.strip() for line in box.inner_text().splitlines())


def setting(text: str, key: str):
    """The value of the first (top-level) `key` in the joined settings text."""
    start = text.index(f'"{key}":') + len(key) + 3
    return json.JSONDecoder().raw_decode(text, start)[0]


def watch(page, tab) -> None:
    page.evaluate(RECORDER, [tab.id("image")[1:], tab.id("status")[1:]])


def previews_seen(page) -> list[str]:
    """The result image's sources while the status said "Dreaming: step"."""
    return [shown["src"] for shown in page.evaluate("window.__shown")
            if shown["status"].startswith("Dreaming: step") and shown["src"]]


def notes(page, tab) -> str:
    return page.locator(f"{tab.id('notes')} textarea").input_value()


def photo_as_dreamed(page, tab) -> np.ndarray:
    """The photo on the page, fitted to the run's size as the server fits it."""
    src = page.locator(f"{tab.id('input')} img").get_attribute("src")
    picture, _notes = images.prepare(page.request.get(src).body(), SERVER_LIMITS, MAX_SIDE)
    return picture


def save_difference(name: str, photo: np.ndarray, result: np.ndarray, difference: np.ndarray) -> None:
    """Photo | result | difference (×8), three times the size, for the eye."""
    amplified = np.repeat(np.clip(difference * 8, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    strip = np.hstack([photo, result, amplified])
    ARTIFACTS.mkdir(exist_ok=True)
    iio.imwrite(ARTIFACTS / f"browser-{name}.png", strip.repeat(3, axis=0).repeat(3, axis=1))


# ----------------------------------------------------------------------------- Deep Dream


def test_mixed_terms_and_painted_regions_reach_the_run(page, url):
    """The issue's flow: a channel (green) and a class (not painted, so everywhere) mixed
    into the main objective (red); the brush's strokes are on the canvas, the run streams
    previews, and its settings list the three terms and the two that were painted."""
    open_page(page, url)
    open_tab(page, DD)
    pick_example(page, DD)
    tiny_run(page, DD)
    open_mixer(page, DD)
    set_channel_term(page, DD, 1, "mixed4a", 3, 0.5)
    set_class_term(page, DD, 2, "jellyfish", -0.5)
    expect(editor_canvas(page, DD)).to_be_visible()

    pick_colour(page, DD, RED)
    paint_stroke(page, DD, (0.2, 0.35), (0.35, 0.65))
    pick_colour(page, DD, GREEN)
    paint_stroke(page, DD, (0.65, 0.35), (0.8, 0.65))
    painted = painted_pixels(page, DD)
    assert painted["red"] > 500 and painted["green"] > 500, f"the strokes are not on the canvas: {painted}"
    shot(page, "artist-painted")

    watch(page, DD)
    page.locator(DD.id("run")).scroll_into_view_if_needed()
    page.locator(DD.id("run")).click()
    wait_for_status(page, DD, "Finished: 2 frames")
    assert previews_seen(page), "no preview was shown while dreaming"
    png_src, _gif = expect_final_files(page, DD)
    result = fetch_png(page, png_src)
    photo = photo_as_dreamed(page, DD)
    assert result.shape == photo.shape
    difference = np.abs(result.astype(int) - photo.astype(int)).max(axis=2)
    assert (difference > 2).mean() > 0.05, "the result is the photo: nothing was dreamed"
    save_difference("artist-painted-difference", photo, result, difference)

    text = notes(page, DD)
    assert text.startswith("Finished: 2 frames"), text
    assert not re.search(r"error|Mask:|unknown|must be", text, re.IGNORECASE), text
    used = settings(page, DD)
    mix = setting(used, "mix")
    assert mix == ["+1 × mixed4c", "+0.5 × mixed4a channel 3", "-0.5 × class 'jellyfish'"], mix
    assert setting(used, "masked_terms") == mix[:2]  # red and green painted, the class not
    assert setting(used, "normalization") == "each_term"
    assert setting(used, "preserve_colors") is False
    page.locator(DD.id("image")).scroll_into_view_if_needed()
    shot(page, "artist-painted-final", full_page=True)


def test_stop_works_with_the_mixer_on(page, url):
    open_page(page, url)
    open_tab(page, DD)
    pick_example(page, DD)
    set_number(page, DD, "max-side", MAX_SIDE)
    set_number(page, DD, "frames", 60)  # the most a run may have
    set_number(page, DD, "steps", DD.stop_steps)
    open_mixer(page, DD)
    set_layer_term(page, DD, 1, "mixed3b", 0.5)
    set_class_term(page, DD, 2, "jellyfish", -0.5)
    colours = page.locator(DD.id("colours")).get_by_role("checkbox")  # "Keep the photo's colours"
    colours.check()
    expect(colours).to_be_checked()
    page.locator(DD.id("run")).scroll_into_view_if_needed()
    page.locator(DD.id("run")).click()
    wait_for_status(page, DD, "Dreaming: step")
    page.wait_for_timeout(1000)  # deliberate: Stop one second after the first preview
    assert status(page, DD).inner_text().startswith("Dreaming"), \
        "the long run ended by itself before Stop: make it longer"
    shot(page, "artist-stop-mid")
    page.locator(DD.id("stop")).click()

    wait_for_status(page, DD, "Stopped after", timeout=STOP_TIMEOUT)
    match = re.search(r"Stopped after (\d+) of (\d+) frames", status(page, DD).inner_text())
    assert match and int(match[1]) < int(match[2]) == 60, status(page, DD).inner_text()
    expect_final_files(page, DD)
    expect(page.locator(f"{DD.id('notes')} textarea")).to_have_value(re.compile(r"^Stopped after"))
    used = settings(page, DD)
    assert setting(used, "stopped_early") is True
    assert setting(used, "mix") == ["+1 × mixed4c", "+0.5 × mixed3b", "-0.5 × class 'jellyfish'"]
    assert setting(used, "masked_terms") == []
    assert setting(used, "preserve_colors") is True
    shot(page, "artist-stopped", full_page=True)


def test_confined_terms_leave_the_rest_exactly_and_the_gallery_restores_the_mix(page, url):
    """Every term confined (the main one red on the left, term 1 green above it): the
    right half and the bottom of the result are the photo's pixels, exactly; the painted
    part dreamed. Then another photo and back (a new photo clears the painting) and a run
    with the term turned off; a click on the first run's thumbnail puts its term back in
    the mixer's row and its strokes back on the photo, and Dream then runs it again."""
    open_page(page, url)
    open_tab(page, DD)
    pick_example(page, DD)
    tiny_run(page, DD)
    open_mixer(page, DD)
    set_layer_term(page, DD, 1, "mixed3b", 0.5)
    pick_colour(page, DD, RED)
    paint_stroke(page, DD, (0.2, 0.4), (0.3, 0.6))
    pick_colour(page, DD, GREEN)
    paint_stroke(page, DD, (0.3, 0.3), (0.4, 0.3))
    page.locator(DD.id("run")).click()
    wait_for_status(page, DD, "Finished: 2 frames")

    used = settings(page, DD)
    assert setting(used, "masked_terms") == setting(used, "mix") == ["+1 × mixed4c", "+0.5 × mixed3b"]
    png_src, _gif = expect_final_files(page, DD)
    result = fetch_png(page, png_src)
    photo = photo_as_dreamed(page, DD)
    difference = np.abs(result.astype(int) - photo.astype(int)).max(axis=2)
    save_difference("artist-confined-difference", photo, result, difference)
    height, width = difference.shape
    # The strokes are in the canvas's left 40% and its middle band; the photo fills the
    # canvas's width but for a margin, so its right half and bottom fifth are unpainted.
    assert difference[:, width // 2:].max() == 0, "the right half (not painted) changed"
    assert difference[int(height * 0.8):, :].max() == 0, "the bottom (not painted) changed"
    assert (difference[:, :width // 2] > 2).sum() > 0.02 * height * width, "the painted part did not dream"
    shot(page, "artist-confined-final", full_page=True)

    examples = page.locator(f"{DD.id('examples')} button.gallery-item, {DD.id('examples')} tr.tr-body")
    shown = page.locator(f"{DD.id('input')} img")
    for example in (1, 0):  # another photo (a clean canvas), then the first again, unpainted
        before = shown.get_attribute("src")
        examples.nth(example).click()
        expect(shown).not_to_have_attribute("src", before)
    choose(page, term(DD, 1, "kind"), "Off")
    page.locator(DD.id("run")).click()
    thumbnails = page.locator(f"{DD.id('gallery')} button.thumbnail-item")
    expect(thumbnails).to_have_count(2, timeout=test_browser.RUN_TIMEOUT)
    used = settings(page, DD)
    assert setting(used, "mix") == ["+1 × mixed4c"]
    assert setting(used, "masked_terms") == [], "the painting outlived its photo"
    thumbnails.nth(1).click()  # newest first: the mixed, painted run
    expect(page.locator(f"{term(DD, 1, 'kind')} input")).to_have_value("Whole layer")
    expect(page.locator(f"{term(DD, 1, 'layer')} input")).to_have_value(re.compile("^mixed3b"))
    used = settings(page, DD)
    assert setting(used, "mix") == ["+1 × mixed4c", "+0.5 × mixed3b"]
    assert "/tmp" not in used  # no server path in what the page shows
    shot(page, "artist-restored-painting", full_page=True)
    page.locator(DD.id("run")).click()
    expect(thumbnails).to_have_count(3, timeout=test_browser.RUN_TIMEOUT)
    used = settings(page, DD)
    assert setting(used, "mix") == ["+1 × mixed4c", "+0.5 × mixed3b"]
    assert setting(used, "masked_terms") == ["+1 × mixed4c", "+0.5 × mixed3b"], \
        "the gallery did not put the run's painting back"
    again = fetch_png(page, expect_final_files(page, DD)[0])
    moved = np.abs(again.astype(int) - photo.astype(int)).max(axis=2)
    assert moved[:, width // 2:].max() == 0, "the restored painting dreamed where it was not painted"


# ----------------------------------------------------------------------------- Fractal Zoom


def test_zoom_turns_and_closes_its_loop(page, url):
    open_page(page, url)
    open_tab(page, FZ)
    pick_example(page, FZ)
    tiny_run(page, FZ, frames=4, steps=1)
    page.get_by_text("Loops: turn, move, close the loop", exact=False).locator("visible=true").first.click()
    expect(page.locator(FZ.id("rotate"))).to_be_visible()
    expect(page.locator(FZ.id("shift-x"))).to_be_visible()
    expect(page.locator(FZ.id("shift-y"))).to_be_visible()
    # The accordion renders its sliders as it opens; a value typed while it still does
    # was seen to be dropped (1 run in 4 under load), so type again until it holds.
    rotate = page.locator(f"{FZ.id('rotate')} input[type=number]")
    for _ in range(10):
        rotate.fill("5")
        rotate.press("Enter")
        page.wait_for_timeout(300)
        if rotate.input_value() == "5":
            break
    set_number(page, FZ, "rotate", 5)
    seamless = page.locator(FZ.id("seamless")).get_by_role("checkbox")
    seamless.check()
    expect(seamless).to_be_checked()
    page.locator(FZ.id("run")).click()
    wait_for_status(page, FZ, "Finished: 4 frames")
    expect_final_files(page, FZ)
    assert not re.search(r"error", notes(page, FZ), re.IGNORECASE), notes(page, FZ)
    used = settings(page, FZ)
    assert setting(used, "technique") == "fractal_zoom"
    assert setting(used, "rotate") == 5
    assert setting(used, "shift") == [0, 0]
    assert setting(used, "seamless") is True
    assert setting(used, "loop_overlap") == 1  # a quarter of 4 frames
    shot(page, "artist-zoom-loop", full_page=True)


# ----------------------------------------------------------------------------- phone


def within_phone(locator) -> dict:
    locator.scroll_into_view_if_needed()
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, box
    return box


def test_the_mixer_and_the_editor_fit_a_phone(new_page, url):
    page = new_page(PHONE)
    open_page(page, url)
    tappable = [tab for tab in page.get_by_role("tab", name="Deep Dream", exact=True).all()
                + page.get_by_role("button", name="Deep Dream", exact=True).all()
                if (box := tab.bounding_box()) and box["height"] >= 20
                and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]]
    assert tappable, "no tappable Deep Dream tab at 390 px"
    tappable[0].click()
    expect(page.locator(DD.id("run"))).to_be_visible()
    pick_example(page, DD)
    open_mixer(page, DD)
    for k in (1, 2, 3):
        within_phone(page.locator(term(DD, k, "kind")))
        within_phone(page.locator(term(DD, k, "weight")))
    set_channel_term(page, DD, 1, "mixed4a", 3, 0.5)
    within_phone(page.locator(term(DD, 1, "layer")))
    within_phone(page.locator(term(DD, 1, "channel")))
    set_class_term(page, DD, 2, "jellyfish", -0.5)
    within_phone(page.locator(term(DD, 2, "class")))

    within_phone(page.locator(DD.id("paint")))
    within_phone(editor_canvas(page, DD))
    for name in ("Brush", "Erase", "Color", "Undo", "Clear canvas"):
        within_phone(page.locator(DD.id("paint")).get_by_role("button", name=name, exact=True))
    pick_colour(page, DD, RED)
    paint_stroke(page, DD, (0.3, 0.4), (0.5, 0.6))
    assert painted_pixels(page, DD)["red"] > 200, "the stroke is not on the canvas"
    shot(page, "artist-phone")
