"""The studio as an agent sees it: the official `mcp` client (streamable HTTP) against the
app's MCP endpoint, images given as data URIs and URLs."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import urllib.request

import imageio.v3 as iio
import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from PIL import Image

pytest_plugins = ("app_fixtures",)

from dream.endpoints import ENDPOINTS  # noqa: E402

SMALL = {"frames": 2, "steps": 1, "max_side": 96, "octaves": 1}


def data_uri(picture: np.ndarray, kind: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format=kind)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def mcp(app_url: str, action):
    """Runs `action(session)` in a fresh MCP session with the app; returns its result."""
    async def run():
        async with streamablehttp_client(f"{app_url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await action(session)

    return asyncio.run(run())


def call(app_url: str, tool: str, arguments: dict):
    return mcp(app_url, lambda session: session.call_tool(tool, arguments))


def texts(result) -> list[str]:
    return [item.text for item in result.content if item.type == "text"]


@pytest.fixture(scope="module")
def photo_uri(picture_factory) -> str:
    return data_uri(picture_factory(90, 120))


def test_the_tools_are_the_techniques_and_say_what_they_return(app_url):
    listed = mcp(app_url, lambda session: session.list_tools()).tools
    names = {tool.name for tool in listed}
    assert names == {*ENDPOINTS, "atlas_page", "rank_channels", "channel_views",
                     "channel_interpolation", "semantic_dictionary", "spatial_attribution",
                     "neuron_groups", "caricature", "circuit"}  # no stop tools
    for tool in listed:
        assert "Returns" in tool.description and "on two CPU cores" in tool.description, tool.name
        assert "upload_file_to_gradio" not in tool.description
        if tool.name not in ("atlas_page", "channel_views", "channel_interpolation", "circuit"):
            # every other tool takes an image or a clip
            assert "data URI" in tool.description, tool.name
    seed = next(tool for tool in listed if tool.name == "deep_dream").inputSchema["properties"]["seed"]
    assert {"type": "null"} in seed["anyOf"]  # optional values may be null


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_deep_dream_from_a_data_uri_returns_picture_animations_and_a_summary(app_url, kind, picture_factory):
    result = call(app_url, "deep_dream", {"image": data_uri(picture_factory(90, 120), kind), **SMALL})
    assert not result.isError, texts(result)
    images = [item for item in result.content if item.type == "image"]
    links = {item.mimeType: item for item in result.content if item.type == "resource_link"}
    assert len(images) == 1 and images[0].mimeType == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size == (96, 72)
    assert set(links) == {"image/gif", "video/mp4"}
    for mime, frames in (("image/gif", 3), ("video/mp4", 3)):  # the photo, then two frames
        with urllib.request.urlopen(str(links[mime].uri), timeout=30) as response:
            body = response.read()
        decoded = iio.imread(body, index=None, extension=".gif" if "gif" in mime else ".mp4")
        assert decoded.shape[0] == frames, mime
    [summary] = texts(result)
    assert summary.startswith("Finished: 2 frames") and "Settings:" in summary and '"seed": 0' in summary
    assert "<" not in summary  # no HTML
    # Server paths appear only inside the files' URLs.
    without_urls = re.sub(r"https?://\S+", "", summary)
    assert "/tmp" not in without_urls and "gradio" not in without_urls


@pytest.mark.parametrize("seed", ["omitted", None])
def test_optional_values_may_be_left_out_or_null(app_url, photo_uri, seed):
    arguments = {"image": photo_uri, **SMALL, **({} if seed == "omitted" else {"seed": seed})}
    result = call(app_url, "deep_dream", arguments)
    assert not result.isError, texts(result)
    assert '"seed": 0' in texts(result)[0]


@pytest.mark.parametrize("url, cause", [
    ("http://127.0.0.1:9/photo.png", "private, loopback or link-local address"),
    ("http://no-such-host.invalid/photo.png", "could not be found"),
    ("/etc/hostname", "neither a data URI nor an http(s) URL"),
    ("data:image/png;base64,@@@not-base64@@@", "could not be decoded"),
])
def test_an_image_that_cannot_be_had_is_named(app_url, url, cause):
    result = call(app_url, "deep_dream", {"image": url, **SMALL})
    assert result.isError
    [message] = texts(result)
    assert cause in message and "data URI" in message, message


FILE_SLOTS = [(endpoint.name, image.name) for endpoint in ENDPOINTS.values()
              for image in endpoint.images] + [("rank_channels", "photo")]


@pytest.mark.parametrize("tool, slot", FILE_SLOTS, ids=[f"{t}-{s}" for t, s in FILE_SLOTS])
def test_no_tool_reads_a_server_file(app_url, photo_uri, tool, slot):
    """A file parameter takes a data URI or a URL, never a path on the server."""
    required = [image.name for image in ENDPOINTS[tool].images] if tool in ENDPOINTS else []
    result = call(app_url, tool, {**{name: photo_uri for name in required}, slot: "/etc/hostname"})
    assert result.isError
    assert "neither a data URI nor an http(s) URL" in texts(result)[0]


def test_bad_values_are_named_for_agents_too(app_url, photo_uri):
    result = call(app_url, "deep_dream", {"image": photo_uri, **SMALL, "steps": 400})
    assert result.isError and "steps must be between 1 and 50 (got 400)" in texts(result)[0]
    # A mix term's weight, and a mix of too many terms, are named too (not by the SDK's
    # schema check, whose message names no field).
    result = call(app_url, "deep_dream", {"image": photo_uri, **SMALL,
                                          "mix": [{"layer": "mixed3b", "weight": 3}]})
    assert result.isError and "mix[0]: weight must be a number between -1 and 1 (got 3)" in texts(result)[0]
    result = call(app_url, "deep_dream", {"image": photo_uri, **SMALL,
                                          "mix": [{"layer": "mixed3b"}] * 4})
    assert result.isError and "at most 3 terms" in texts(result)[0]


def test_channel_views_answer_agents_with_six_links(app_url):
    result = call(app_url, "channel_views", {"layer": "mixed3a", "channel": 6})
    assert not result.isError, texts(result)
    links = [item for item in result.content if item.type == "resource_link"]
    assert len(links) == 6 and {link.mimeType for link in links} == {"image/png"}
    assert links[1].title == "inhibits it most"
    assert "mixed3a, channel 6" in texts(result)[-1]
    result = call(app_url, "channel_views", {"layer": "mixed3a", "channel": 100_000})
    assert result.isError and "channel must be between 0 and" in texts(result)[0]


def test_the_atlas_answers_agents_with_tile_links(app_url):
    result = call(app_url, "atlas_page", {"view": "classes", "layer": "mixed4c", "page": 1,
                                          "query": "jellyfish"})
    assert not result.isError, texts(result)
    links = [item for item in result.content if item.type == "resource_link"]
    assert len(links) == 1 and links[0].mimeType == "image/png" and "jellyfish" in links[0].title
    assert "1 class matching 'jellyfish'" in texts(result)[0]
