"""The "Inside my photo" views through the API and MCP, as a developer or an agent calls them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app_fixtures import write_picture
from test_agents import call, data_uri, texts

pytest_plugins = ("app_fixtures",)  # app_holder, app_url, client
LAYER = "mixed4a"


@pytest.fixture(scope="module")
def photo(tmp_path_factory, picture_factory) -> str:
    return write_picture(tmp_path_factory.mktemp("inside") / "photo.png", picture_factory(160, 208))


def test_semantic_dictionary_gives_the_grid_and_the_top_tiles(client, photo):
    result = client.predict(handle_file(photo), LAYER, api_name="/semantic_dictionary")
    grid, tiles, *_ = result
    with Image.open(grid) as picture:
        assert picture.size == (208, 160)  # the photo as analysed, with its grid drawn
    assert len(tiles) == 4 and all(item["caption"].startswith("ch ") for item in tiles)
    with pytest.raises(AppError, match="Please upload a photo"):
        client.predict(None, LAYER, api_name="/semantic_dictionary")
    with pytest.raises(AppError, match="Unknown layer 'mixed9'"):
        client.predict(handle_file(photo), "mixed9", api_name="/semantic_dictionary")


def test_attribution_and_groups_give_maps_over_the_photo(client, photo, app_holder):
    maps = client.predict(handle_file(photo), LAYER, api_name="/spatial_attribution")
    assert len(maps) == 3 and all("%" in item["caption"] for item in maps)
    names = set(app_holder.model.labels)
    assert all(item["caption"].split(" · ")[0] in names for item in maps)
    groups = client.predict(handle_file(photo), LAYER, 4, api_name="/neuron_groups")
    assert [item["caption"] for item in groups] == [
        caption for k in range(1, 5) for caption in (f"group {k}", f"group {k}: what it responds to")]
    with pytest.raises(AppError, match="groups must be between 1 and"):
        client.predict(handle_file(photo), LAYER, 99, api_name="/neuron_groups")


def test_circuit_lists_inputs_and_outputs_with_signed_weights(client):
    title, inputs, outputs, *_ = client.predict(LAYER, 3, api_name="/circuit")
    assert "mixed4a, channel 3" in title and "mixed3b" in title and "mixed4b" in title
    assert inputs and outputs
    assert all(re.fullmatch(r"ch \d+ · [+-][0-9.e+-]+", item["caption"]) for item in inputs + outputs)
    weights = [abs(float(item["caption"].split(" · ")[1])) for item in inputs]
    assert weights == sorted(weights, reverse=True)  # strongest first
    with pytest.raises(AppError, match="channel"):
        client.predict(LAYER, 99_999, api_name="/circuit")


def test_caricature_through_mcp_with_a_data_uri(app_url, picture_factory):
    result = call(app_url, "caricature", {"photo": data_uri(picture_factory(96, 128)), "layer": LAYER})
    assert not result.isError, texts(result)
    images = [item for item in result.content if item.type == "image"]
    assert len(images) == 1 and "Caricature at mixed4a" in texts(result)[-1]


def test_tools_are_listed_for_agents_with_what_they_return(app_url):
    from test_agents import mcp

    tools = {tool.name: tool for tool in mcp(app_url, lambda session: session.list_tools()).tools}
    for name in ("semantic_dictionary", "spatial_attribution", "neuron_groups", "caricature", "circuit"):
        assert "Returns" in tools[name].description, name
    assert np.isin(["photo", "layer"], list(tools["caricature"].inputSchema["properties"])).all()
