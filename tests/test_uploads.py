"""What the file inputs accept: only uploaded files (every image and video slot, over HTTP
and MCP), URLs fetched with a cap and named failures, and per-client and total bounds on
what callers may store."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from app_fixtures import api_call, running_app, write_picture
from gradio_client import handle_file

pytest_plugins = ("app_fixtures",)

from dream.endpoints import ENDPOINTS  # noqa: E402
from ui import upload_quota, uploads  # noqa: E402

# Every file input of the page: (api name, parameter, the API's parameter names in order).
SLOTS = [(endpoint.name, image.name, endpoint.names) for endpoint in ENDPOINTS.values()
         for image in endpoint.images]
SLOTS.append(("rank_channels", "photo", ("photo", "layer")))


def forged_call(app_url: str, api_name: str, slot: str, names, reference) -> str:
    defaults = ENDPOINTS[api_name].defaults() if api_name in ENDPOINTS else {"layer": "mixed4c"}
    data = [reference if name == slot else defaults.get(name) for name in names]
    return api_call(app_url, api_name, data)


# ----------------------------------------------------------------------------- only uploads


@pytest.mark.parametrize("api_name, slot, names", SLOTS, ids=[f"{a}-{s}" for a, s, _ in SLOTS])
def test_a_file_reference_outside_the_upload_folder_is_refused(app_url, tmp_path, api_name, slot, names):
    """A reference without Gradio's "meta" field skipped its upload-folder check: the file
    was read. Now it is refused, with one message whether the file exists or not."""
    paths = [write_picture(tmp_path / "secret.png", np.zeros((32, 32, 3), np.uint8)),
             str(tmp_path / "missing.png")]
    answers = [forged_call(app_url, api_name, slot, names, {"path": path}) for path in paths]
    # With the "meta" field, Gradio refuses it itself: the message names the input too.
    meta = {"_type": "gradio.FileData"}
    answers += [forged_call(app_url, api_name, slot, names, {"path": path, "meta": meta})
                for path in paths]
    for stream in answers:
        assert "event: error" in stream and "event: complete" not in stream, stream[-400:]
        assert re.search(rf"{slot} must be an? (uploaded )?(image|video) file", stream), stream[-400:]
    # Nothing tells an existing file from a missing one (but the path the caller sent).
    messages = [stream.split("event: error", 1)[1].replace(path, "PATH")
                for stream, path in zip(answers, paths * 2)]
    assert messages[0] == messages[1] and messages[2] == messages[3]


def test_an_uploaded_file_still_works_and_examples_are_uploads(client, small_photo):
    """The check lets real uploads through (an example clicked in the page is one too: Gradio
    copies example files into the upload folder)."""
    png, *_ = client.predict(handle_file(small_photo), "layer", "mixed4c", 0, "jellyfish", True,
                             True, 1, 1, 96, api_name="/deep_dream")
    assert Path(png).is_file()


# ----------------------------------------------------------------------------- URLs


def test_urls_that_cannot_be_fetched_are_named(client, small_photo):
    cases = {
        "http://127.0.0.1:9/photo.png": "private, loopback or link-local address",
        "http://169.254.169.254/latest/meta-data": "private, loopback or link-local address",
        "http://no-such-host.invalid/photo.png": "could not be found",
    }
    for url, message in cases.items():
        with pytest.raises(Exception, match=message) as refused:
            client.predict(handle_file(url), "layer", "mixed4c", 0, "jellyfish", True, True, 1, 1,
                           96, api_name="/deep_dream")
        assert "data URI" in str(refused.value)


@pytest.fixture
def loopback_allowed(monkeypatch):
    """Lets the server fetch from this machine (the tests' own file server)."""
    async def allow(hostname: str) -> str:
        return "127.0.0.1"

    monkeypatch.setattr(uploads.safehttpx, "async_validate_url", allow)


def test_a_url_is_fetched_and_dreamed(client, http_server, tmp_path, picture_factory, loopback_allowed):
    write_picture(tmp_path / "photo.png", picture_factory(80, 100))
    server = http_server(tmp_path)
    png, *_ = client.predict(handle_file(server.url("photo.png")), "layer", "mixed4c", 0,
                             "jellyfish", True, True, 1, 1, 96, api_name="/deep_dream")
    assert Path(png).is_file() and server.requests == ["/photo.png"]


def test_a_url_to_a_page_or_a_large_file_is_named(client, http_server, tmp_path, loopback_allowed,
                                                  monkeypatch):
    (tmp_path / "index.html").write_text("<html>not a picture</html>")
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * 4096)
    server = http_server(tmp_path)
    args = ("layer", "mixed4c", 0, "jellyfish", True, True, 1, 1, 96)
    with pytest.raises(Exception, match="returned text/html, not an image"):
        client.predict(handle_file(server.url("index.html")), *args, api_name="/deep_dream")
    with pytest.raises(Exception, match="answered HTTP 404"):
        client.predict(handle_file(server.url("nothing.png")), *args, api_name="/deep_dream")
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(Exception, match="larger than the upload limit"):
        client.predict(handle_file(server.url("big.png")), *args, api_name="/deep_dream")
    assert not list(Path(uploads.upload_folder()).rglob("*.part"))  # nothing half-written left


# ----------------------------------------------------------------------------- how much is stored


class Recorder:
    """A stand-in app behind the middleware: answers 200 and counts the bytes it read."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[]"})


def quota_client(tmp_path, clock, **settings):
    app = Recorder()
    ledger = upload_quota.UploadLedger(upload_quota.QuotaSettings(**settings),
                                       folder=lambda: tmp_path, clock=lambda: clock[0])
    middleware = upload_quota.UploadQuota(app, ledger)
    transport = httpx.ASGITransport(app=middleware, client=("203.0.113.7", 1234))
    return app, httpx.AsyncClient(transport=transport, base_url="http://studio")


def test_each_client_may_store_so_much_per_window(tmp_path):
    clock = [1000.0]
    app, http = quota_client(tmp_path, clock, per_client_bytes=10_000, window_s=3600)

    async def scenario():
        async with http:
            post = lambda body, **headers: http.post("/gradio_api/upload", content=body,  # noqa: E731
                                                     headers=headers)
            assert (await post(b"x" * 6000)).status_code == 200
            refused = await post(b"x" * 6000)
            assert refused.status_code == 429 and "Too many uploads" in refused.json()["error"]
            assert int(refused.headers["retry-after"]) > 3000
            # Another client (behind a proxy) is not affected…
            assert (await post(b"x" * 6000, **{"x-forwarded-for": "198.51.100.2"})).status_code == 200
            # …and the first one may send again once the window has passed.
            clock[0] += 3601
            assert (await post(b"x" * 6000)).status_code == 200
            # Pages and other routes are never counted.
            assert (await http.get("/")).status_code == 200

    asyncio.run(scenario())
    assert app.calls == 4


def test_the_upload_folder_stays_under_its_total(tmp_path):
    clock = [time.time()]
    old = tmp_path / "old-upload" / "photo.png"
    old.parent.mkdir()
    old.write_bytes(b"o" * 6000)
    os.utime(old, (clock[0] - 3000, clock[0] - 3000))
    recent = tmp_path / "recent-upload" / "photo.png"
    recent.parent.mkdir()
    recent.write_bytes(b"r" * 3000)
    app, http = quota_client(tmp_path, clock, total_bytes=10_000, min_age_s=600)

    async def scenario():
        async with http:
            # 9000 stored + 4000: the old upload is swept to make room, the recent one kept.
            assert (await http.post("/gradio_api/upload", content=b"x" * 4000)).status_code == 200
            assert not old.exists() and recent.exists()
            (tmp_path / "recent-upload" / "second.png").write_bytes(b"s" * 5000)
            full = await http.post("/gradio_api/upload", content=b"x" * 4000)
            assert full.status_code == 507 and "upload space is full" in full.json()["error"]
            assert recent.exists()

    asyncio.run(scenario())


def test_uploads_must_say_their_size_and_mcp_bodies_are_bounded(tmp_path):
    clock = [0.0]
    limit = 100_000
    app, http = quota_client(tmp_path, clock, max_mcp_body_bytes=limit)

    async def chunks():
        yield b"x" * 100

    async def scenario():
        async with http:
            unsized = await http.post("/gradio_api/upload", content=chunks())
            assert unsized.status_code == 411 and "Content-Length" in unsized.json()["error"]
            huge = await http.post("/gradio_api/mcp/", content=b"{" + b" " * limit + b"}")
            assert huge.status_code == 413 and "MCP request" in huge.json()["error"]
            small = await http.post("/gradio_api/mcp/", content=b"{}")
            assert small.status_code == 200

    asyncio.run(scenario())
    assert app.calls == 1


def test_the_served_app_refuses_a_client_past_its_quota(app_holder, tmp_path, picture_factory,
                                                        monkeypatch):
    """The middleware is in the launched app: a client past its bound gets a readable
    refusal from the upload route, and the server goes on serving."""
    photo = write_picture(tmp_path / "photo.png", picture_factory(120, 160))
    # Room for one upload of it, not two.
    monkeypatch.setenv("DREAM_UPLOAD_PER_CLIENT_MB", str(1.5 * Path(photo).stat().st_size / 1024**2))
    with running_app(app_holder) as url:
        files = {"files": ("photo.png", Path(photo).read_bytes(), "image/png")}
        assert httpx.post(f"{url}gradio_api/upload", files=files, timeout=30).status_code == 200
        refused = httpx.post(f"{url}gradio_api/upload", files=files, timeout=30)
        assert refused.status_code == 429 and "Too many uploads" in refused.text
        assert httpx.get(url, timeout=30).status_code == 200
