"""Fixtures for the app's tests: Deep Dream Studio served on loopback with the generated model.

Imported by tests/test_app.py and tests/test_browser.py (`from app_fixtures import ...`);
builds on conftest.py's `model_dir` (the small generated inception5h).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

# Tiny runs: a handful of steps on ~100 px images keep each request under a second or two.
FAST = dict(frames=2, steps=1, max_side=128, step_size=1.5, octaves=2, octave_scale=1.4,
            tile_size=512, jitter=8, laplacian_levels=0, seed=0, frame_duration_ms=100,
            hold_last_ms=0, pingpong=False, exact=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(holder, style_holder=None, pool=None) -> Iterator[str]:
    """Builds the page around `holder` (and `style_holder`, the fast style network; by
    default none can be found; `pool`, the workers that dream) with `app.build_app` and
    launches it, with the options `app.main` uses, on a free loopback port; yields its URL."""
    import app

    demo = app.build_app(holder, style_holder, pool)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **app.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def api_call(app_url: str, api_name: str, data: list, timeout: float = 120) -> str:
    """A raw HTTP call of an endpoint (no client-side checks); returns the event stream's
    text ("event: complete" or "event: error" and its data)."""
    body = json.dumps({"data": data}).encode()  # json writes NaN as NaN, as JavaScript can't
    request = urllib.request.Request(f"{app_url}gradio_api/call/{api_name}", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{app_url}gradio_api/call/{api_name}/{event_id}",
                                timeout=timeout) as response:
        return response.read().decode()


def stop_process(process, patience_s: float = 60.0) -> None:
    """Terminates a server started by a test, killing it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=patience_s)
    except subprocess.TimeoutExpired:
        process.kill()


def write_picture(path, array: np.ndarray, **save_options) -> str:
    Image.fromarray(array).save(path, **save_options)
    return str(path)


@pytest.fixture(scope="session")
def app_holder(model_dir):
    """The app's model holder, loaded synchronously from the generated model."""
    import app

    holder = app.ModelHolder(model_dir).load()
    assert holder.state == "ready", holder.error
    return holder


@pytest.fixture(scope="session")
def app_url(app_holder) -> Iterator[str]:
    with running_app(app_holder) as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def small_photo(tmp_path_factory, picture_factory) -> str:
    """A 120×160 smooth PNG on disk, as a user would upload it."""
    return write_picture(tmp_path_factory.mktemp("uploads") / "photo.png", picture_factory(120, 160))


@pytest.fixture(scope="session")
def style_model_dir(tmp_path_factory):
    """A small stand-in of Magenta's stylisation network (same call signature), as a folder."""
    from dream import synthetic_style_model

    return synthetic_style_model.write_saved_model(tmp_path_factory.mktemp("style-model"), width=0.125)


@pytest.fixture(scope="session")
def fast_app_url(app_holder, style_model_dir) -> Iterator[str]:
    """The app with both models: inception5h and the fast style network."""
    from ui.model_holder import StyleModelHolder

    style_holder = StyleModelHolder(style_model_dir).load()
    assert style_holder.state == "ready", style_holder.error
    with running_app(app_holder, style_holder) as url:
        yield url
