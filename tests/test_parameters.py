"""Every parameter of every endpoint, sent a value of the wrong type over raw HTTP (what an
API or MCP caller can do and a slider cannot), gets a message that names it: never "failed
unexpectedly" nor Gradio's "has not enabled verbose error reporting"."""

from __future__ import annotations

import pytest
from app_fixtures import api_call

pytest_plugins = ("app_fixtures",)

from dream.endpoints import ENDPOINTS  # noqa: E402

ATLAS = {"atlas_page": {"view": "channels", "layer": "mixed4c", "page": 1, "query": ""},
         "rank_channels": {"photo": None, "layer": "mixed4c"}}
# The objective under which a parameter is used (unused ones are not checked, by design).
USED_UNDER = {"channel": "channel", "pre_relu": "channel", "class_name": "class", "squared": "layer"}


def cases():
    for endpoint in ENDPOINTS.values():
        for name in endpoint.params:
            yield endpoint.name, name
    for api_name, values in ATLAS.items():
        for name in values:
            if name != "photo":
                yield api_name, name


def request_data(api_name: str, name: str, bad) -> list:
    if api_name in ATLAS:
        values = dict(ATLAS[api_name])
        names = list(values)
    else:
        endpoint = ENDPOINTS[api_name]
        values = {**{image.name: None for image in endpoint.images}, **endpoint.defaults()}
        if "objective" in values and name in USED_UNDER:
            values["objective"] = USED_UNDER[name]
        names = list(endpoint.names)
    values[name] = bad
    return [values[n] for n in names]


@pytest.mark.parametrize("api_name, name", list(cases()), ids=[f"{a}-{n}" for a, n in cases()])
def test_a_wrong_type_is_named(app_url, api_name, name):
    # A JSON object is the wrong type for every parameter (numbers, flags, choices, texts
    # and lists of layer names alike).
    stream = api_call(app_url, api_name, request_data(api_name, name, {"wrong": ["type"]}))
    assert "event: error" in stream, stream[-300:]
    message = stream.split("event: error", 1)[1]
    assert "unexpectedly" not in message and "verbose error" not in message, message
    assert f"{name} must" in message or f"{name}:" in message, message


@pytest.mark.parametrize("layer", [1, ["conv2d0"]])
def test_rank_channels_names_a_layer_of_the_wrong_type(client, small_photo, layer):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"layer must be a non-empty text"):
        client.predict(handle_file(small_photo), layer, api_name="/rank_channels")
