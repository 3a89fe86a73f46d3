"""Shared fixtures for the Deep Dream Studio test suite.

Everything here is general on purpose, so every test file can reuse it:

- the environment is isolated for the whole session: a private `DREAM_CACHE_DIR`, no
  `DREAM_MODEL_DIR` / `DREAM_STYLE_MODEL_DIR`, and model URLs that point at a closed
  loopback port, so a test can never read the user's cache nor reach the network;
- `model_dir` / `model_zip` / `model` / `engine`: a small generated stand-in of inception5h
  (`dream.synthetic_model`), loaded once per session;
- `picture`: a small, smooth, deterministic RGB photo stand-in;
- `http_server` / `unreachable_url`: a loopback HTTP server serving a folder, and a URL
  nobody listens on, for the download paths.
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import sys
import threading
from pathlib import Path

# Before TensorFlow is imported anywhere (collection imports the test modules).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from tests
# Atlas pages in the app's tests at 16 steps (the warm-up only); the atlas's
# own tests check the default settings.
os.environ.setdefault("DREAM_ATLAS_STEPS", "16")
# Uploads and results of this session in a folder of its own: Gradio's cache is shared by
# every app on the machine, and another app's hourly clean-up may delete a file that this
# session reuses by content hash.
if "GRADIO_TEMP_DIR" not in os.environ:
    import tempfile as _tempfile

    os.environ["GRADIO_TEMP_DIR"] = _tempfile.mkdtemp(prefix="dream-tests-gradio-")
# Loopback requests must never be routed through a proxy from the outer environment.
for _name in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_name, "").split(",") if h]
    os.environ[_name] = ",".join(dict.fromkeys([*_hosts, "127.0.0.1", "localhost"]))

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np
import pytest

# How long a test waits for something that must happen (a run to finish, a page to fill,
# a server to start). Generous on purpose: CI shares its machine, and a load around 20 made
# runs ten times slower than on a quiet machine. A wait costs this long only when it fails;
# a test never asserts that something was fast (benchmarks measure speed).
PATIENCE_S = 900.0

# Small enough that a step takes milliseconds, large enough that every layer has
# several channels and gradients are informative (see test_engine).
MODEL_WIDTH = 0.125
MODEL_SEED = 0
PICTURE_SHAPE = (160, 208)  # height, width


def pytest_configure(config) -> None:
    # `.ci/run` runs the suite in two passes: everything else on two processes
    # (pytest-xdist), then these one at a time, alone on the machine.
    config.addinivalue_line(
        "markers", "ray: starts or uses a local Ray cluster (run in the one-at-a-time pass)")


def _closed_port_url(path: str = "inception5h.zip") -> str:
    """A loopback URL on a port that was free a moment ago: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """No test sees the user's cache, model folder or download URL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DREAM_CACHE_DIR", str(tmp_path_factory.mktemp("dream-cache")))
        patch.delenv("DREAM_MODEL_DIR", raising=False)
        patch.setenv("DREAM_MODEL_URL", _closed_port_url())
        patch.delenv("DREAM_STYLE_MODEL_DIR", raising=False)
        patch.setenv("DREAM_STYLE_MODEL_URL", _closed_port_url("arbitrary-image-stylization"))
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture
def unreachable_url() -> str:
    """A loopback URL that refuses connections (no download can succeed)."""
    return _closed_port_url()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty `DREAM_CACHE_DIR` for this test only (model resolution tests)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DREAM_CACHE_DIR", str(cache))
    return cache


# ----------------------------------------------------------------------------- model


@pytest.fixture(scope="session")
def model_width() -> float:
    """The width the session's generated model was built with (channels ∝ width)."""
    return MODEL_WIDTH


@pytest.fixture(scope="session")
def model_seed() -> int:
    return MODEL_SEED


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A folder with a generated tensorflow_inception_graph.pb and label file."""
    from dream import synthetic_model

    return synthetic_model.write_model_dir(
        tmp_path_factory.mktemp("inception5h"), width=MODEL_WIDTH, seed=MODEL_SEED)


@pytest.fixture(scope="session")
def model_zip(tmp_path_factory) -> Path:
    """inception5h.zip (the two files at the top level), same graph as `model_dir`."""
    from dream import synthetic_model

    folder = tmp_path_factory.mktemp("inception5h-zip")
    return synthetic_model.write_model_zip(
        folder / "inception5h.zip", width=MODEL_WIDTH, seed=MODEL_SEED)


@pytest.fixture(scope="session")
def model(model_dir):
    import dream

    return dream.load_model(model_dir)


@pytest.fixture(scope="session")
def engine(model):
    import dream

    return dream.engine_for(model)


# ----------------------------------------------------------------------------- images


def smooth_picture(height: int = PICTURE_SHAPE[0], width: int = PICTURE_SHAPE[1]) -> np.ndarray:
    """A deterministic, smooth uint8 RGB image (sinusoids), like a blurry photo."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        128 + 60 * np.sin(x / 13.0) + 20 * np.cos(y / 29.0),
        128 + 60 * np.cos(y / 17.0) + 20 * np.sin(x / 31.0),
        128 + 50 * np.sin((x + y) / 23.0),
    ]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def picture_factory():
    """`picture_factory(height, width)` → a smooth uint8 RGB image of that size."""
    return smooth_picture


@pytest.fixture
def picture() -> np.ndarray:
    """A fresh copy each test (160×208), so a test may modify it."""
    return smooth_picture()


# ----------------------------------------------------------------------------- loopback HTTP


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


class LoopbackServer:
    """http.server in a thread on 127.0.0.1, serving one folder; counts GET requests."""

    def __init__(self, directory: str | os.PathLike) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.requests = []
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self.running = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def requests(self) -> list[str]:
        """Paths of the GET requests received so far."""
        return list(self._server.requests)

    def stop(self) -> None:
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self.running = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def http_server():
    """`http_server(directory)` → a running `LoopbackServer`; all are stopped afterwards."""
    servers: list[LoopbackServer] = []

    def start(directory: str | os.PathLike) -> LoopbackServer:
        server = LoopbackServer(directory)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
