"""The artist's controls as a stranger calls them: `mix`, `mask`, `preserve_colors` and the
zoom's loops through gradio_client and the MCP tools, and a masked request repeated by a
worker (`dream.pool.jobs.EndpointJob`) as the front process prepared it."""

from __future__ import annotations

import base64
import io

import imageio.v3 as iio
import numpy as np
import pytest
from app_fixtures import FAST
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

pytest_plugins = ("app_fixtures",)  # app_url, client

from dream import device, images, mixer  # noqa: E402
from dream.endpoints import ENDPOINTS  # noqa: E402
from dream.pool.jobs import EndpointJob  # noqa: E402

SIZE = (96, 128)  # the photo's (h, w): small enough for a second or two


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, picture_factory) -> str:
    path = tmp_path_factory.mktemp("artist") / "photo.png"
    Image.fromarray(picture_factory(*SIZE)).save(path)
    return str(path)


def painting() -> np.ndarray:
    """Red (the main objective) on the left third, green (mix[0]) on the right third."""
    paint = np.zeros(SIZE + (4,), np.uint8)
    paint[10:86, 5:45] = (255, 0, 0, 255)
    paint[10:86, 85:123] = (0, 255, 0, 255)
    return paint


@pytest.fixture(scope="module")
def painting_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("artist") / "painting.png"
    Image.fromarray(painting()).save(path)
    return str(path)


MIX = [{"layer": "mixed4a", "channel": 3, "weight": 0.5}, {"class_name": "jellyfish", "weight": -0.5}]


def test_a_painted_mix_dreams_only_where_painted(client, photo_file, painting_file):
    png, gif, mp4, files, settings, notes = client.predict(
        image=handle_file(photo_file), **{**FAST, "max_side": 128, "steps": 2}, mix=MIX,
        mask=handle_file(painting_file), api_name="/deep_dream")
    assert notes.startswith("Finished: 2 frames"), notes
    assert settings["mix"] == ["+1 × mixed4c", "+0.5 × mixed4a channel 3", "-0.5 × class 'jellyfish'"]
    # Painted: the main term (red) and mix[0] (green); mix[1] dreams everywhere.
    assert settings["masked_terms"] == settings["mix"][:2]
    assert settings["normalization"] == "each_term"
    result = np.asarray(Image.open(png), np.float32)
    photo = np.asarray(Image.open(photo_file), np.float32)
    change = np.abs(result - photo).max(axis=2)
    # mix[1] has no paint, so it dreams everywhere: every region changes; the painted ones more.
    assert change[40:60, 15:35].mean() > change[40:60, 55:75].mean() > 0


def test_only_painted_terms_leave_the_rest_of_the_photo(client, photo_file, painting_file):
    png, *_, settings, notes = client.predict(
        image=handle_file(photo_file), **{**FAST, "max_side": 128}, mix=MIX[:1],
        mask=handle_file(painting_file), api_name="/deep_dream")
    result = np.asarray(Image.open(png), np.int16)
    photo = np.asarray(Image.open(photo_file), np.int16)
    unpainted = painting()[:, :, 3] == 0
    assert np.abs(result - photo).max(axis=2)[unpainted].max() <= 1  # the PNG's rounding
    assert np.abs(result - photo)[~unpainted].mean() > 1.0


@pytest.mark.parametrize("mix, message", [
    ([{"layer": "mixed4a", "weight": 2}], r"mix\[0\]: weight must be a number between -1 and 1 \(got 2\)"),
    ([{"layer": "mixed4a"}, {"layer": "no_such_layer"}], r"mix\[1\] \(\+1 × no_such_layer\): Unknown layer"),
    ([{}, {}, {}, {}], r"mix takes at most 3 terms"),
])
def test_a_bad_term_is_named_to_api_callers(client, photo_file, mix, message):
    with pytest.raises(AppError, match=message):
        client.predict(image=handle_file(photo_file), **FAST, mix=mix, api_name="/deep_dream")


def test_a_mask_of_another_shape_is_named(client, photo_file, tmp_path):
    path = tmp_path / "square.png"
    Image.fromarray(np.zeros((64, 64, 4), np.uint8)).save(path)
    with pytest.raises(AppError, match=r"mask: The mask painting is 64×64, not the photo's shape"):
        client.predict(image=handle_file(photo_file), **FAST, mask=handle_file(str(path)),
                       api_name="/deep_dream")


def test_colours_and_loops_through_the_api(client, photo_file):
    *_, settings, notes = client.predict(image=handle_file(photo_file), **FAST, preserve_colors=True,
                                         api_name="/deep_dream")
    assert settings["preserve_colors"] is True
    # Where it was dreamed, in words (no GPU here: the CPU's cores), and in what arithmetic.
    assert settings["device"] == f"{device.where()}, {settings['precision']}" and "CPU core" in settings["device"]
    png, gif, mp4, files, settings, notes = client.predict(
        image=handle_file(photo_file), **{**FAST, "frames": 4}, rotate=5, shift_x=2, seamless=True,
        api_name="/fractal_zoom")
    assert (settings["rotate"], settings["shift"], settings["seamless"], settings["loop_overlap"]) == (5.0, [2.0, 0.0], True, 1)
    assert iio.imread(gif, index=None).shape[0] == 5  # N + 1 frames, the loop closed
    with pytest.raises(AppError, match="ask for at most 48 frames"):
        client.predict(image=handle_file(photo_file), **{**FAST, "frames": 60}, seamless=True,
                       api_name="/fractal_zoom")
    with pytest.raises(AppError, match=r"rotate must be between -15 and 15"):
        client.predict(image=handle_file(photo_file), **FAST, rotate=90, api_name="/fractal_zoom")


def _data_uri(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_an_agent_mixes_and_paints_with_data_uris(app_url, picture_factory):
    from test_agents import call, mcp, texts

    listed = mcp(app_url, lambda session: session.list_tools()).tools
    schema = next(tool for tool in listed if tool.name == "deep_dream").inputSchema["properties"]
    assert "weight" in str(schema["mix"]) and "mask" in schema
    result = call(app_url, "deep_dream", {
        "image": _data_uri(picture_factory(*SIZE)), "mask": _data_uri(painting()), "mix": MIX[:1],
        "frames": 1, "steps": 1, "max_side": 128, "octaves": 1})
    assert not result.isError, texts(result)
    assert '"masked_terms"' in texts(result)[0] and "mixed4a channel 3" in texts(result)[0]


def test_a_worker_repeats_a_masked_request_exactly(model, picture_factory):
    endpoint = ENDPOINTS["deep_dream"]
    values = endpoint.check({**endpoint.defaults(), **FAST, "max_side": 128, "mix": MIX[:1],
                             "image": picture_factory(*SIZE), "mask": painting()})
    plan = endpoint.prepare(model, values)
    job = EndpointJob.from_plan("deep_dream", values, plan.inputs)
    here, there = plan.run(lambda progress: None), job.run({"inception": model}, lambda progress: None)
    np.testing.assert_array_equal(here.image, there.image)
    assert there.settings["masked_terms"] == here.settings["masked_terms"] != []
    # What travels is the painting fitted to the photo, not a path on the front's disk.
    assert plan.inputs["mask"].shape == SIZE + (4,)
    assert np.array_equal(mixer.fit_painting(painting(), SIZE), plan.inputs["mask"])
    assert images.load_rgba(plan.inputs["mask"]).shape == SIZE + (4,)


def test_a_clip_is_dreamed_with_a_mix(model, tmp_path):
    from test_video import moving_clip, write_clip

    path = tmp_path / "clip.mp4"
    write_clip(path, moving_clip(3), fps=10)
    endpoint = ENDPOINTS["dream_video"]
    values = endpoint.check({**endpoint.defaults(), "video": str(path), "steps": 1, "octaves": 1,
                             "max_side": 96, "mix": [{"layer": "mixed4a", "channel": 3, "weight": -1}],
                             "preserve_colors": True})
    result = endpoint.prepare(model, values).run(lambda progress: None)
    assert result.settings["objective"].endswith("-1·mixed4a_pre_relu channel 3")
    assert result.settings["normalization"] == "each_term" and result.settings["preserve_colors"]
    assert result.dreamed_frames == 3


def test_the_page_says_where_it_dreams(client):
    status = client.predict(api_name="/model_status")[0]
    assert f"Dreaming on {device.where()} (" in status
