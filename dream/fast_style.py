"""Fast style transfer: any painting's style in one forward pass, through TensorFlow Hub.

Ghiasi, Lee, Kudlur, Dumoulin and Shlens, "Exploring the structure of a real-time,
arbitrary neural artistic stylization network" (BMVC 2017): a style-prediction network
maps the style image to a 100-d embedding, and a transformer network paints the content
with it, in one pass instead of the optimisation of `dream.style` (Gatys et al.).
Magenta publishes it as `magenta/arbitrary-image-stylization-v1-256`. Only its public
contract is relied on (the TF Hub tutorial, Magenta's `export_hub.py`):

    outputs = module(content, style)   # float32 [1, H, W, 3] and [1, 256, 256, 3], in 0..1
    stylised = outputs[0]              # float32 [1, H', W', 3], in 0..1

The style is shown at 256×256, the size the network was trained at, after a 3×3 box
blur (as the tutorial does). H', W' is the content's size rounded up to a multiple of 4
(two stride-2 convolutions round up), so the result is cropped back to H×W.

Strength, the two-style blend and the sweep are mixtures of *pixels*: the published
SavedModel has one function and one signature, (content, style) → image; its 100-d style
embedding is an internal tensor, reachable only by graph surgery on undocumented names,
and Magenta publishes the split networks (style → embedding, embedding → image) only as
TFLite files. Blending the stylised image with the content is exact at both ends
(strength 0 is the content itself), costs no extra pass, and every frame of the sweep is
a blend of the same two images.

The model is found in this order (like inception5h's, `dream.model`):

1. a path given to `load_style_model(path)`: a SavedModel folder, or its .tar.gz;
2. the environment variable `DREAM_STYLE_MODEL_DIR` (same forms);
3. the cache, `<cache root>/tfhub_modules/` (the cache root of `dream.model`:
   `$DREAM_CACHE_DIR`, else `~/.cache/deep-dream-studio`), laid out as TF Hub lays out
   `$TFHUB_CACHE_DIR`;
4. `hub.load` of the published handle (`$DREAM_STYLE_MODEL_URL` overrides it), which
   downloads the compressed model into that cache.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dream import images
from dream.colours import luminance, with_colours_of
from dream.engine import Progress, ProgressCallback, to_uint8
from dream.limits import DEFAULT_LIMITS, Limits, check_range
from dream.model import ModelUnavailable, _cache_root
from dream.result import DreamResult

STYLE_MODEL_HANDLE = "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2"
STYLE_MODEL_NAME = "magenta/arbitrary-image-stylization-v1-256"
STYLE_MODEL_DIR_VARIABLE = "DREAM_STYLE_MODEL_DIR"
STYLE_MODEL_URL_VARIABLE = "DREAM_STYLE_MODEL_URL"
SAVED_MODEL_FILE = "saved_model.pb"
# The style network was trained on 256×256 styles; the tutorial also softens them with a
# 3×3 box blur, which keeps JPEG blocks and single-pixel noise out of the style.
STYLE_SIZE = 256
STYLE_BLUR = 3
DEFAULT_FRAMES = 8  # the sweep: content, then this many steps up to the chosen strength
# Sweep frames cost no compute but hold full-size images (30 at 1024 px: 94 MB).
MAX_SWEEP_FRAMES = 30

# TF Hub reads its cache folder from $TFHUB_CACHE_DIR only; it is pointed at ours for
# the duration of a load, one load at a time.
_HUB_ENVIRONMENT_LOCK = threading.Lock()


class StyleModelUnavailable(ModelUnavailable):
    """The fast style model could be neither found locally nor downloaded."""


def _enable_hint() -> str:
    return (f"Download {STYLE_MODEL_HANDLE}?tf-hub-format=compressed on a machine with "
            f"internet and set {STYLE_MODEL_DIR_VARIABLE} to that .tar.gz or to the folder "
            f"it extracts to (the one holding {SAVED_MODEL_FILE}).")


def style_model_handle() -> str:
    # Overridable so the download path can be exercised against a loopback server.
    return os.environ.get(STYLE_MODEL_URL_VARIABLE) or STYLE_MODEL_HANDLE


def hub_cache_dir() -> Path:
    return _cache_root() / "tfhub_modules"


# ----------------------------------------------------------------------------- finding it


def _saved_model_in(folder: Path) -> Path | None:
    """`folder`, or a folder directly inside it, that holds a SavedModel (archives made by
    hand often nest one)."""
    for candidate in (folder, *sorted(p for p in folder.glob("*") if p.is_dir())):
        if (candidate / SAVED_MODEL_FILE).is_file():
            return candidate
    return None


def _is_archive(path: Path) -> bool:
    return path.is_file() and tarfile.is_tarfile(path)


def _extract(archive: Path, into: Path) -> None:
    partial = into.with_name(into.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            _extract_safely(tar, partial)
    except (tarfile.TarError, OSError, EOFError) as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise StyleModelUnavailable(f"{archive} is not a readable .tar.gz archive ({error}).") from error
    shutil.rmtree(into, ignore_errors=True)
    partial.rename(into)


def _extract_safely(tar: tarfile.TarFile, into: Path) -> None:
    """Extracts regular files and folders only, all inside `into`."""
    if hasattr(tarfile, "data_filter"):
        # Refuses absolute paths, links leaving the folder and device files.
        tar.extractall(into, filter="data")
        return
    for member in tar.getmembers():  # Python < 3.10.12 / 3.11.4: the same checks by hand
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"refusing the archive member {member.name!r}")
    tar.extractall(into)


def _from_user_path(path: Path) -> Path:
    """The SavedModel folder at a folder or archive the user pointed at; no download."""
    path = path.expanduser()
    if _is_archive(path):
        target = hub_cache_dir() / "extracted" / f"{path.name}-{path.stat().st_mtime_ns}"
        if _saved_model_in(target) is None:
            _extract(path, target)
        path = target
    elif path.is_file():
        raise StyleModelUnavailable(
            f"{path} is neither a SavedModel folder nor a .tar.gz archive. {_enable_hint()}")
    if path.is_dir() and (found := _saved_model_in(path)):
        return found
    raise StyleModelUnavailable(f"No {SAVED_MODEL_FILE} found at {path}. {_enable_hint()}")


def _resolve(path: str | os.PathLike | None = None) -> Path | str:
    """The local SavedModel folder for an explicit path or `$DREAM_STYLE_MODEL_DIR`, else the
    TF Hub handle to load through the cache (see the module docstring)."""
    if path is not None:
        return _from_user_path(Path(path))
    if os.environ.get(STYLE_MODEL_DIR_VARIABLE):
        return _from_user_path(Path(os.environ[STYLE_MODEL_DIR_VARIABLE]))
    return style_model_handle()


# ----------------------------------------------------------------------------- loading it


@dataclass(frozen=True)
class FastStyleModel:
    """A loaded arbitrary-stylisation network: `stylise(content, style)` → image."""

    module: Any   # what hub.load returned; called as module(content, style)[0]
    name: str     # for settings and messages: the handle, or the folder's or archive's name

    def stylise(self, content: np.ndarray, style: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 content and uint8 256×256×3 style → uint8 H×W×3 stylised image."""
        content_batch = tf.constant(content[None], tf.float32) / 255.0
        style_batch = tf.nn.avg_pool2d(tf.constant(style[None], tf.float32) / 255.0,
                                       STYLE_BLUR, 1, "SAME")
        outputs = self.module(content_batch, style_batch)
        stylised = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        stylised = np.asarray(stylised)
        if stylised.ndim != 4 or stylised.shape[0] != 1 or stylised.shape[-1] != 3:
            raise StyleModelUnavailable(
                f"The style model {self.name} returned an array of shape {stylised.shape}, not "
                f"one RGB image. {_enable_hint()}")
        image = to_uint8(np.nan_to_num(stylised[0]) * 255.0)
        return _to_size(image, content.shape[:2])


def _to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The network's output brought to the content's size: cropped where the strided
    convolutions rounded the size up (the extra rows and columns are at the bottom and
    right), resized in any other case."""
    height, width = size
    if image.shape[0] >= height and image.shape[1] >= width:
        return np.ascontiguousarray(image[:height, :width])
    return images.resize_to(image, size)


def _hub():
    """tensorflow_hub, imported on first use: it imports tf_keras, seconds the app need not
    spend until the fast model is wanted."""
    try:
        import tensorflow_hub as hub
    except ImportError as error:
        # tensorflow-hub 0.16.1 imports pkg_resources, which setuptools 82 removed.
        fix = ("install setuptools<82" if "pkg_resources" in str(error) else
               "install the app's requirements (tensorflow-hub, and tf-keras for it)")
        raise StyleModelUnavailable(
            f"tensorflow_hub could not be imported ({type(error).__name__}: {error}); {fix} "
            f"to enable fast style transfer.") from error
    return hub


def _load_folder(folder: Path, name: str) -> FastStyleModel:
    """hub.load of a local SavedModel, then one tiny pass that checks the call contract."""
    hub = _hub()
    try:
        module = hub.load(str(folder))
    except Exception as error:  # noqa: BLE001 - a damaged SavedModel raises many kinds
        raise StyleModelUnavailable(
            f"The style model {name} could not be loaded ({type(error).__name__}: {error}). "
            f"{_enable_hint()}") from error
    model = FastStyleModel(module, name)
    probe = np.full((32, 32, 3), 128, np.uint8)
    try:
        model.stylise(probe, np.full((STYLE_SIZE, STYLE_SIZE, 3), 128, np.uint8))
    except StyleModelUnavailable:
        raise
    except Exception as error:  # noqa: BLE001
        raise StyleModelUnavailable(
            f"The style model {name} cannot be called as module(content, style) "
            f"({type(error).__name__}: {error}). {_enable_hint()}") from error
    return model


@functools.lru_cache(maxsize=2)
def _load_cached(folder: Path, mtime_ns: int, name: str) -> FastStyleModel:
    return _load_folder(folder, name)


def _owner_is_gone(lock_file: Path) -> bool:
    """TF Hub's lock file names its owner as "host.pid.task"; True when that process is
    on this machine and no longer runs (killed mid-download: a restarted Space, a stopped
    test server)."""
    try:
        host, pid, _task = lock_file.read_text().rsplit(".", 2)
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return host == socket.gethostname()
    except (OSError, ValueError):
        return False
    return False


def _remove_stale_locks(cache: Path) -> None:
    """A lock left by a dead process would make TF Hub wait ten minutes without progress
    before it takes the lock over (`resolver._wait_for_lock_to_disappear`), and every load
    of this process waits behind it: remove such locks and their half-downloaded folders."""
    for lock_file in cache.glob("*.lock"):
        if _owner_is_gone(lock_file):
            for partial in cache.glob(f"{lock_file.stem}.*.tmp"):
                shutil.rmtree(partial, ignore_errors=True)
            lock_file.unlink(missing_ok=True)


class _HubCache:
    """Points TF Hub's cache ($TFHUB_CACHE_DIR) at ours while a handle is resolved."""

    def __enter__(self):
        _HUB_ENVIRONMENT_LOCK.acquire()
        self._previous = os.environ.get("TFHUB_CACHE_DIR")
        os.environ["TFHUB_CACHE_DIR"] = str(hub_cache_dir())
        _remove_stale_locks(hub_cache_dir())
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is None:
            os.environ.pop("TFHUB_CACHE_DIR", None)
        else:
            os.environ["TFHUB_CACHE_DIR"] = self._previous
        _HUB_ENVIRONMENT_LOCK.release()


def _resolve_handle(handle: str) -> Path:
    """hub.resolve: the cached copy if there is one, else a download into the cache."""
    hub = _hub()
    with _HubCache():
        try:
            return Path(hub.resolve(handle))
        except Exception as error:  # noqa: BLE001 - any network/IO failure means "unavailable"
            raise StyleModelUnavailable(
                f"The fast style model ({STYLE_MODEL_NAME}) is not cached and could not be "
                f"downloaded from {handle} ({type(error).__name__}: {error}). "
                f"{_enable_hint()}") from error


def _load_from_handle(handle: str) -> FastStyleModel:
    folder = _resolve_handle(handle)
    try:
        return _load_cached(folder, folder.stat().st_mtime_ns, handle)
    except StyleModelUnavailable:
        # A damaged cached copy: fetch it once more rather than failing forever.
        shutil.rmtree(folder, ignore_errors=True)
        folder = _resolve_handle(handle)
        return _load_cached(folder, folder.stat().st_mtime_ns, handle)


def load_style_model(path: str | os.PathLike | None = None) -> FastStyleModel:
    """The fast style model, loaded once per process per folder (see module docstring).

    Raises `StyleModelUnavailable` (a `dream.ModelUnavailable`) with a message that says
    how to provide the model when it can be neither found nor downloaded.
    """
    resolved = _resolve(path)
    if isinstance(resolved, Path):
        name = Path(path or os.environ[STYLE_MODEL_DIR_VARIABLE]).name
        return _load_cached(resolved.resolve(), resolved.stat().st_mtime_ns, name)
    return _load_from_handle(resolved)


# ----------------------------------------------------------------------------- using it


def style_input(style: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The style as the network sees it: its central square at 256×256 (uint8), and a note
    when that square leaves out much of the image."""
    height, width = style.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    notes = []
    if side < 0.9 * max(height, width):
        notes.append(f"only its central {side}×{side} square was used (the style network "
                     f"looks at square {STYLE_SIZE}×{STYLE_SIZE} styles).")
    square = np.ascontiguousarray(style[top:top + side, left:left + side])
    return images.resize_to(square, (STYLE_SIZE, STYLE_SIZE)), notes


def blend(content: np.ndarray, stylised: np.ndarray, strength: float) -> np.ndarray:
    """(1 − strength)·content + strength·stylised, as uint8; strength 0 gives the content."""
    if strength == 0.0:
        return content.copy()
    mixed = (1.0 - strength) * content.astype(np.float32) + strength * stylised.astype(np.float32)
    return to_uint8(mixed)


def _mix(weighted: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """The share-weighted mean of stylised images (the two-style blend), as uint8."""
    total = sum(share for share, _ in weighted)
    return to_uint8(sum(share * image.astype(np.float32) for share, image in weighted) / total)


def _prepared(source, what: str, limits: Limits, max_side: int | None = None):
    """`images.prepare`, its errors saying which of the uploads they are about."""
    try:
        return images.prepare(source, limits, max_side)
    except images.ImageError as error:
        raise images.ImageError(f"{what}: {error}") from error


def fast_style_transfer(
    style_model: FastStyleModel, content_image, style_image, *,
    strength: float = 1.0, second_style_image=None, second_style_share: float = 0.5,
    preserve_colors: bool = False, frames: int = DEFAULT_FRAMES, max_side: int | None = None,
    on_progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
) -> DreamResult:
    """Repaints `content_image` in the style of `style_image` with one pass of the network.

    `strength` (0..1) blends the stylised image with the content; a second style is mixed
    in at `second_style_share` (one more pass); `preserve_colors` keeps the content's
    colours (the style is seen in luminance only and the result takes the content's
    chroma, as in `dream.style`). The animation sweeps the strength from 0 (the content)
    to `strength` in `frames` steps. `on_progress` hears of each pass, with a preview;
    asking to stop skips the second style's pass.
    """
    check_range("strength", strength, 0.0, 1.0)
    check_range("second_style_share", second_style_share, 0.0, 1.0)
    check_range("frames", frames, 1, min(limits.max_frames, MAX_SWEEP_FRAMES))
    frames = int(frames)

    content, notes = _prepared(content_image, "Content image", limits, max_side)
    styles = [(1.0, style_image, "Style")]
    if second_style_image is not None:
        styles = [(1.0 - second_style_share, style_image, "Style"),
                  (second_style_share, second_style_image, "Second style")]
    passes = []
    for share, source, what in styles:
        style, style_notes = _prepared(source, f"{what} image", limits)
        if preserve_colors:
            style = to_uint8(luminance(style))
        square, square_notes = style_input(style)
        notes += [f"{what}: {note}" for note in style_notes + square_notes]
        # A pass whose share is 0, or any pass at strength 0, would not change the result.
        if share > 0.0 and strength > 0.0:
            passes.append((share, square))

    def finish(stylised: np.ndarray) -> np.ndarray:
        return with_colours_of(stylised, content) if preserve_colors else stylised

    done: list[tuple[float, np.ndarray]] = []
    stopped = False
    for share, square in passes:
        done.append((share, style_model.stylise(content, square)))
        if on_progress is not None:
            preview = blend(content, finish(_mix(done)), strength)
            if on_progress(Progress(len(done), len(passes), preview)) and len(done) < len(passes):
                stopped = True
                notes.append("Stopped before the second style was applied; the result shows "
                             "the first style only.")
                break
    stylised = finish(_mix(done)) if done else content

    sweep = [blend(content, stylised, strength * step / frames) for step in range(frames + 1)]
    settings = {
        "technique": "fast_style_transfer", "model": style_model.name,
        "strength": float(strength),
        "second_style_share": float(second_style_share) if second_style_image is not None else 0.0,
        "preserve_colors": bool(preserve_colors), "frames": frames,
        "style_size": STYLE_SIZE, "size": [int(content.shape[1]), int(content.shape[0])],
    }
    return DreamResult(sweep[-1], sweep, settings, notes, stopped)
