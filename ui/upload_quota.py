"""Bounds on what callers may store on the server: per client and in total.

Gradio caps each uploaded file (`max_file_size`) but not how many a caller sends, and keeps
uploads for one to two hours (`delete_cache`): one caller could fill the disk in minutes.
`UploadQuota` is an ASGI middleware in front of the two routes that bring files in, the
upload route and the MCP endpoint (whose tool calls carry images as data URIs):

- every such request must say its size (`Content-Length`; the browser, gradio_client and
  MCP clients all do), so nothing is stored before it is counted;
- a client (its address; the first `X-Forwarded-For` hop behind a proxy such as a Space's)
  may send `per_client_bytes` in any `window_s`; past that it gets 429 and how long to wait;
- the upload folder stays under `total_bytes`: when a request would pass it, uploads older
  than `min_age_s` are deleted (oldest first) to make room, and if that is not enough the
  request gets 507. Newer files are never deleted: a run may still be reading them.

The MCP endpoint's own uploads (Gradio's MCP bridge re-uploads each decoded data URI from
the server itself) count toward the total only: the agent's request was counted already.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ui import uploads

GUARDED_PREFIXES = ("/gradio_api/upload", "/gradio_api/mcp")
MCP_USER_HEADER = (b"x-gradio-user", b"mcp")


@dataclass(frozen=True)
class QuotaSettings:
    # One address may be a whole class behind a school's NAT: 30 students × ~7 photos of
    # 5 MB an hour. The total bounds the disk whatever the addresses.
    per_client_bytes: int = 1024**3
    window_s: float = 3600.0               # Gradio keeps uploads this long at least
    total_bytes: int = 4 * 1024**3
    min_age_s: float = 600.0               # uploads younger than this are never swept
    # An MCP call carries its images in its body (base64: 4/3 of the file) plus JSON.
    max_mcp_body_bytes: int = uploads.MAX_UPLOAD_BYTES * 3 + 1024**2

    @classmethod
    def from_environment(cls) -> "QuotaSettings":
        """`DREAM_UPLOAD_PER_CLIENT_MB` and `DREAM_UPLOAD_TOTAL_MB` override the defaults."""
        values = {}
        for name, variable in (("per_client_bytes", "DREAM_UPLOAD_PER_CLIENT_MB"),
                               ("total_bytes", "DREAM_UPLOAD_TOTAL_MB")):
            if os.environ.get(variable):
                values[name] = int(float(os.environ[variable]) * 1024**2)
        return cls(**values)


def _folder_files(folder: Path) -> list[tuple[float, int, Path]]:
    """(modification time, size, path) of every file under `folder`."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((stat.st_mtime, stat.st_size, path))
    return found


class UploadLedger:
    """Who sent how much, and how full the upload folder is (thread-safe)."""

    def __init__(self, settings: QuotaSettings, folder: Callable[[], Path] = uploads.upload_folder,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.folder = folder
        self.clock = clock
        self._sent: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def client_used(self, client: str) -> tuple[int, float]:
        """(bytes sent in the window, seconds until the oldest of them leaves it)."""
        now = self.clock()
        with self._lock:
            sent = self._sent.get(client)
            if not sent:
                return 0, 0.0
            while sent and now - sent[0][0] > self.settings.window_s:
                sent.popleft()
            used = sum(size for _, size in sent)
            return used, (self.settings.window_s - (now - sent[0][0])) if sent else 0.0

    def record(self, client: str, size: int) -> None:
        with self._lock:
            self._sent[client].append((self.clock(), size))

    def make_room(self, size: int) -> bool:
        """Whether `size` more bytes fit under the total, after sweeping old uploads."""
        files = _folder_files(self.folder())
        total = sum(entry[1] for entry in files)
        if total + size <= self.settings.total_bytes:
            return True
        now = self.clock()
        for mtime, file_size, path in sorted(files):
            if now - mtime < self.settings.min_age_s or total + size <= self.settings.total_bytes:
                break
            try:
                path.unlink()
                total -= file_size
            except OSError:
                continue
            if path.parent != self.folder() and not any(path.parent.iterdir()):
                shutil.rmtree(path.parent, ignore_errors=True)
        return total + size <= self.settings.total_bytes


def _client_address(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            return value.decode("latin-1").split(",")[0].strip() or "unknown"
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _refuse(send, status: int, message: str, retry_after: float | None = None) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, int(retry_after))).encode()))
    body = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class UploadQuota:
    """The ASGI middleware (add it with `starlette.middleware.Middleware(UploadQuota)`)."""

    def __init__(self, app, ledger: UploadLedger | None = None) -> None:
        self.app = app
        self.ledger = ledger or UploadLedger(QuotaSettings.from_environment())

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or not scope.get("path", "").startswith(GUARDED_PREFIXES)):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            return await _refuse(send, 411, "Uploads must say their size (Content-Length).")
        size = int(length)
        settings = self.ledger.settings
        is_mcp = scope["path"].startswith("/gradio_api/mcp")
        if is_mcp and size > settings.max_mcp_body_bytes:
            return await _refuse(send, 413, f"This MCP request is {size / 1e6:.0f} MB; the "
                                            f"limit is {settings.max_mcp_body_bytes / 1e6:.0f} MB "
                                            f"(each image at most {uploads.MAX_UPLOAD_BYTES / 1e6:.0f} "
                                            f"MB).")
        # Gradio's MCP bridge uploading a decoded data URI: from this machine itself (the
        # socket's peer, not a header a caller could write), marked as MCP, not forwarded.
        peer = (scope.get("client") or ("",))[0]
        internal = (headers.get(MCP_USER_HEADER[0]) == MCP_USER_HEADER[1]
                    and peer in ("127.0.0.1", "::1") and b"x-forwarded-for" not in headers)
        if is_mcp and size < 64 * 1024:  # ordinary MCP messages: listing tools, small calls
            return await self.app(scope, receive, send)
        client = _client_address(scope)
        if not internal:
            used, wait = self.ledger.client_used(client)
            if used + size > settings.per_client_bytes:
                return await _refuse(
                    send, 429, f"Too many uploads from your address: {used / 1e6:.0f} MB in the "
                               f"last {settings.window_s / 60:.0f} minutes (the limit is "
                               f"{settings.per_client_bytes / 1e6:.0f} MB). Try again in about "
                               f"{max(1, wait / 60):.0f} minutes.", retry_after=wait)
        if not is_mcp and not self.ledger.make_room(size):
            return await _refuse(send, 507, "The server's upload space is full; please try "
                                            "again in a few minutes.", retry_after=300)
        if not internal:
            self.ledger.record(client, size)
        return await self.app(scope, receive, send)
