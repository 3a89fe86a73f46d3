"""The atlas's disk cache, shared by all users and kept across restarts: a tile is a PNG at
`<cache root>/atlas/<model hash>/<layer>/<settings hash>/<channel>.png`, the model hash
being the SHA-256 of the graph file (computed once per loaded model); least recently used
tiles go first beyond a size bound."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import logging
import weakref
from pathlib import Path

import numpy as np
from PIL import Image

from dream.model import InceptionModel, _cache_root

# The disk cache's bound: least recently used tiles are deleted beyond it. A 128 px tile
# is ~35 KB, so 512 MB holds ~15 000 tiles (every block layer, branch and class).
DEFAULT_CACHE_BYTES = int(float(os.environ.get("DREAM_ATLAS_CACHE_MB", "512")) * 2 ** 20)
# After an eviction the cache is at most this share of its bound, so eviction (a walk of
# the whole cache) happens once per many writes, not on every write.
EVICT_TO = 0.9


# ----------------------------------------------------------------------------- model hash


_HASHES: "weakref.WeakKeyDictionary[InceptionModel, str]" = weakref.WeakKeyDictionary()
_HASH_LOCK = threading.Lock()


def model_hash(model: InceptionModel) -> str:
    """SHA-256 of the model's graph file (hex), computed once per loaded model.

    `load_model` loads a file anew when its modification time changes, so a replaced file
    gives a new model and a new hash. A model built in memory (no file) hashes its graph.
    """
    with _HASH_LOCK:
        if model in _HASHES:
            return _HASHES[model]
    digest = hashlib.sha256()
    source = Path(model.source) if model.source else None
    if source is not None and source.is_file():
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        digest.update(model.graph_def.SerializeToString(deterministic=True))
    with _HASH_LOCK:
        _HASHES[model] = digest.hexdigest()
        return _HASHES[model]


# ----------------------------------------------------------------------------- disk cache


class TileCache:
    """PNG tiles under `root`, bounded to `max_bytes` (least recently used go first).

    Reads touch a file's modification time, so the eviction order is the order of last
    use. Writes go to a temporary file that is then renamed, so a reader (another user,
    another process) never sees half a PNG. The running total starts from one walk of the
    folder and is corrected by the walk each eviction does, so several processes sharing
    the folder keep it within the bound too (give or take what they write meanwhile).
    """

    def __init__(self, root: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("The atlas cache needs a positive size bound.")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._total: int | None = None
        self._lock = threading.Lock()
        self._warned = False

    def read(self, path: Path) -> np.ndarray | None:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, SyntaxError):
            _remove(path)  # a damaged tile is rendered again
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return array

    def write(self, path: Path, image: np.ndarray) -> None:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as error:
            # A read-only or full disk: the tile is still served, just not kept.
            _remove(temporary)
            if not self._warned:
                self._warned = True
                logging.getLogger(__name__).warning("Atlas tiles cannot be cached in %s (%s).",
                                                    self.root, error)
            return
        with self._lock:
            total = self._walk_total() if self._total is None else self._total + len(data)
            self._total = total
            if total > self.max_bytes:
                self._total = self._evict()

    def size(self) -> int:
        """Bytes of tiles in the cache now (a walk of the folder)."""
        return sum(size for _, _, size in self._files())

    def _files(self) -> list[tuple[float, Path, int]]:
        found = []
        if not self.root.is_dir():
            return found
        for folder, _, names in os.walk(self.root):
            for name in names:
                if not name.endswith(".png"):
                    continue
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime, path, stat.st_size))
        return found

    def _walk_total(self) -> int:
        return sum(size for _, _, size in self._files())

    def _evict(self) -> int:
        files = sorted(self._files(), key=lambda item: item[0])
        total = sum(size for _, _, size in files)
        goal = self.max_bytes * EVICT_TO
        for _, path, size in files:
            if total <= goal:
                break
            _remove(path)
            total -= size
        return total


_CACHES: dict[tuple[Path, int], TileCache] = {}
_CACHES_LOCK = threading.Lock()


def tile_cache(root: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> TileCache:
    """The process's one `TileCache` for `root`, so every atlas writing there (any model,
    any settings) adds to one running total."""
    key = (Path(root).resolve(), int(max_bytes))
    with _CACHES_LOCK:
        if key not in _CACHES:
            _CACHES[key] = TileCache(key[0], key[1])
        return _CACHES[key]


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def default_cache_dir() -> Path:
    """`<cache root>/atlas`, beside the downloaded model (`DREAM_CACHE_DIR` moves both)."""
    return _cache_root() / "atlas"


