"""Every element id the page gives its components, in one place.

Browser tests, the screenshot script and the page's CSS find components by these ids, so
they stay stable. Each technique tab has a short prefix (`dd`, `fz`, `gd`, `st`); a new tab
picks a new prefix and gets the same ids.
"""

from __future__ import annotations

MODEL_STATUS = "model-status"
MODEL_RETRY = "model-retry"

# Per-tab parts: f"{prefix}-{part}".
PARTS = (
    "run", "run-alternative", "stop", "status", "mode", "fast-status", "fast-retry", "image", "gif", "video", "files", "notes", "settings", "gallery",
    "preset", "preset-description", "examples", "input", "max-side", "frames", "steps",
    "layer", "channel", "class", "objective", "exact",
    # second and third images of the guided and style tabs
    "guide", "style", "style2",
    # the artist's controls (ui.mixer) and the zoom's loops
    "mixer", "paint", "mask", "colours", "rotate", "shift-x", "shift-y", "seamless",
) + tuple(f"term{k}-{part}" for k in range(1, 4)
          for part in ("kind", "layer", "channel", "class", "weight"))
PREFIXES = {"deep_dream": "dd", "fractal_zoom": "fz", "guided": "gd", "style_transfer": "st",
            "dream_video": "vd"}
TABS = {"deep_dream": "tab-deep-dream", "fractal_zoom": "tab-fractal-zoom",
        "guided": "tab-guided", "style_transfer": "tab-style-transfer", "dream_video": "tab-video",
        "atlas": "tab-atlas", "inside": "tab-inside", "about": "tab-about"}
# The atlas tab's elements (it is not a technique panel): at-view, at-layer, at-query,
# at-page, at-run, at-stop, at-photo, at-examples, at-rank, at-status, at-gallery,
# at-selection, at-open, at-dream.
ATLAS_PREFIX = "at"
# The "Inside my photo" tab's: in-photo, in-layer, in-run, in-grid, in-dictionary, …
INSIDE_PREFIX = "in"


def element(prefix: str, part: str) -> str:
    """The id of one part of a tab, e.g. element("dd", "run") == "dd-run"."""
    if part not in PARTS:
        raise ValueError(f"Unknown element part {part!r}; add it to ui.ids.PARTS.")
    return f"{prefix}-{part}"


def term_element(prefix: str, k: int, part: str) -> str:
    """The id of a part of the mixer's term row k (1..3), e.g. "dd-term1-weight"."""
    return element(prefix, f"term{k}-{part}")
