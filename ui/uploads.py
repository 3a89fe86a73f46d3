"""What a file input accepts: only files in Gradio's upload folder, or a URL fetched with a
size cap and Gradio's protection against private addresses.

Gradio checks the upload folder only for file references that carry their `"meta"` field;
a reference sent without it reaches the handler as it is, so any file on the server could
be read. Every image and video input of the studio goes through `check_uploaded_path`
(the data models in `ui.controls`), which refuses anything outside the upload folder with
one message whatever the file is, so a caller cannot even tell an existing path from a
missing one.

An http(s) URL (what MCP agents and `gradio_client.handle_file("https://…")` send) is
fetched by `fetch_url` instead of Gradio's downloader, which reads the whole body into
memory and gives a bare "Error!" when it fails: here the host is checked with the same
`safehttpx` rules (public addresses only, each redirect checked again), the body is
streamed to the upload folder and cut at the upload cap, and each failure says what went
wrong and what to send instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlparse

import gradio as gr
import httpx
import safehttpx
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder

# Uploads larger than this are refused by the server (Gradio's max_file_size) and URLs are
# cut there: a 1024 px photo is a few MB even as an uncompressed PNG, and the largest image
# the pixel cap admits (75 MP) is shrunk anyway.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
FETCH_TIMEOUT_S = 20.0        # per network operation (connect, each read)
FETCH_MAX_REDIRECTS = 3
# What an agent should send when a URL does not work.
INSTEAD = "Send the file as a data URI (data:image/png;base64,…) or as a public http(s) URL."


class UploadError(gr.Error):
    """A file input that cannot be used; the message names the input and the cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message, title="Cannot use this file", print_exception=False)


def a(noun: str) -> str:
    """'an image', 'a video'."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def upload_folder() -> Path:
    return Path(os.path.realpath(get_upload_folder()))


def check_uploaded_path(name: str, path: str | None, what: str = "image") -> None:
    """Refuses a file reference outside the upload folder (the same words for every such
    path, existing or not)."""
    if path and not _inside_uploads(path):
        raise not_uploaded(name, what)


def not_uploaded(name: str, what: str) -> UploadError:
    return UploadError(f"{name} must be {a(what)} file uploaded to this server (with "
                       f"gradio_client: handle_file('path'); from an agent: a data URI or an "
                       f"http(s) URL); a file reference outside the upload folder is not read.")


def name_refused_references(demo: gr.Blocks) -> None:
    """A file reference *with* Gradio's "meta" field but outside the upload folder is
    refused by Gradio itself (`InvalidPathError`) before any of our code sees it, which a
    caller reads as a generic error. This names the input instead."""
    stock = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call: bool = False):
        try:
            return await stock(block_fn, inputs, state, explicit_call)
        except InvalidPathError:
            refused = [block for block, value in zip(block_fn.inputs, inputs)
                       if getattr(block, "param_name", None) and isinstance(value, dict)
                       and value.get("path") and not _inside_uploads(str(value["path"]))]
            if not refused:
                raise
            block = refused[0]
            what = "video" if isinstance(block, gr.Video) else "image"
            raise not_uploaded(block.param_name, what) from None

    demo.preprocess_data = preprocess_data


def _inside_uploads(path: str) -> bool:
    real = os.path.realpath(path)
    return os.path.commonpath([real, str(upload_folder())]) == str(upload_folder())


def _readable_size(count: int) -> str:
    return f"{count / 1e6:.0f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


async def _verified_ip(name: str, url: str, host: str) -> str:
    try:
        return await safehttpx.async_validate_url(host)
    except ValueError as error:
        if "Unable to resolve" in str(error):
            raise UploadError(f"{name}: the URL's host {host!r} could not be found (DNS). "
                              f"{INSTEAD}") from None
        raise UploadError(
            f"{name}: the URL {url} points to a private, loopback or link-local address, which "
            f"this server does not fetch (protection against server-side request forgery). "
            f"{INSTEAD}") from None


async def fetch_url(name: str, url: str, max_bytes: int, what: str = "image") -> str:
    """Downloads `url` into the upload folder (at most `max_bytes`); returns the file's
    path, or raises an UploadError that names `name` and the cause."""
    for _ in range(FETCH_MAX_REDIRECTS + 1):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UploadError(f"{name}: {url[:80]!r} is not an http(s) URL. {INSTEAD}")
        ip = await _verified_ip(name, url, parsed.hostname)
        transport = safehttpx.AsyncSecureTransport(ip)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=FETCH_TIMEOUT_S,
                                         follow_redirects=False) as client:
                async with client.stream("GET", url) as response:
                    if response.has_redirect_location:
                        url = urljoin(str(response.url), response.headers["Location"])
                        continue
                    return await _save(name, url, response, max_bytes, what)
        except httpx.TimeoutException:
            raise UploadError(f"{name}: the URL {url} did not answer within "
                              f"{FETCH_TIMEOUT_S:g} s. {INSTEAD}") from None
        except (httpx.TransportError, OSError) as error:
            raise UploadError(f"{name}: the URL {url} could not be reached "
                              f"({type(error).__name__}). {INSTEAD}") from None
    raise UploadError(f"{name}: the URL redirected more than {FETCH_MAX_REDIRECTS} times. "
                      f"{INSTEAD}")


async def _save(name: str, url: str, response: httpx.Response, max_bytes: int, what: str) -> str:
    if response.status_code != 200:
        raise UploadError(f"{name}: the URL {url} answered HTTP {response.status_code} instead "
                          f"of the {what}. {INSTEAD}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    wanted = ("image/", "video/") if what == "video" else ("image/",)
    if kind and not kind.startswith(wanted) and kind != "application/octet-stream":
        raise UploadError(f"{name}: the URL {url} returned {kind}, not {a(what)}. {INSTEAD}")
    declared = int(response.headers.get("content-length") or 0)
    too_large = (f"{name}: the file at {url} is larger than the upload limit of "
                 f"{_readable_size(max_bytes)}.")
    if declared > max_bytes:
        raise UploadError(too_large)
    folder = upload_folder() / hashlib.sha256(url.encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    filename = "".join(c for c in Path(urlparse(url).path).name if c.isalnum() or c in "._-")
    target = folder / (filename[-80:] or what)
    # Written under a name of its own, then renamed: two requests for one URL never read
    # each other's half-written file.
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".part")
    received = 0
    try:
        with os.fdopen(handle, "wb") as file:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise UploadError(too_large)
                file.write(chunk)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return str(target)
