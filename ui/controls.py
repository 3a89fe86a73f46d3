"""The widgets of the technique tabs, built from `dream.endpoints.PARAMS`.

Every parameter widget shows the same label and help text the API page shows, and hands
the handler what it received untouched: `Endpoint.check` is the one place that validates
(and names the parameter), instead of Gradio's own checks ("Value 61 is greater than
maximum value 60.") or its silent rounding of 2.5 to 2.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import gradio as gr
import pydantic
from gradio.data_classes import FileData, ImageData
from gradio_client.utils import is_http_url_like

import dream
from dream import mixer
from dream.endpoints import PARAMS, Param

from ui import ids, uploads
from ui.model_holder import class_choices, layer_channels, layer_choices

ASSETS = Path(__file__).resolve().parents[1] / "assets"

# Labels the page shows for each choice value (the API takes the values).
CHOICE_LABELS = {
    "objective": {"layer": "Whole layer", "channel": "One channel", "class": "Class neuron"},
    "similarity": {"dot": "Dot product", "l1": "L1 distance", "l2": "L2 distance",
                   "best_match": "Best match (Google's notebook)"},
    "direction": {"toward": "Toward the guide", "away": "Away from the guide"},
    "smoothness_norm": {"l2": "L2 (smooth gradients)", "l1": "L1 (flat areas, sharp edges)",
                        "course": "CADL course's form", "cadl": "CADL course's form"},
    "init": {"content": "The content image", "noise": "Noise"},
}


def _raw(component: gr.components.Component, payload: Any) -> Any:
    """`preprocess` that passes the value on as sent (see the module docstring)."""
    return payload


def _describe(component: gr.components.Component, name: str, schema: dict[str, Any],
              param: Param | None = None) -> None:
    """Gives the API page `schema` for this widget, with the help text as its description,
    and has the widget hand its value on untouched (the handler checks it)."""
    param = param or PARAMS[name]
    schema = {**schema, "description": param.help, "additional_description": param.help}
    component.api_info = lambda: schema
    component.api_info_as_input = lambda: schema
    component.preprocess = types.MethodType(_raw, component)


def _schema(name: str, param: Param) -> dict[str, Any]:
    """The parameter's JSON schema; null is allowed too and means its default
    (`Endpoint.check`), so an agent may send null for any optional value."""
    if param.kind == "int":
        schema = {"type": "integer"}
    elif param.kind == "float":
        schema = {"type": "number"}
    elif param.kind == "bool":
        schema = {"type": "boolean"}
    elif param.kind == "choice":
        schema = {"type": "string", "enum": list(param.choices)}
    elif param.kind == "layers":
        schema = {"type": "array", "items": {"type": "string"}}
    elif param.kind == "mix":
        schema = mixer.MIX_SCHEMA
    else:
        schema = {"type": "string"}
    return {"anyOf": [schema, {"type": "null"}]}


def checked_by_handler(component: gr.components.Component, name: str, param: Param) -> None:
    """A widget outside `PARAMS` (e.g. the atlas's page number) described by `param` and
    checked by its handler, so a wrong type gets a message naming `name`."""
    _describe(component, name, _schema(name, param), param)


def widget(name: str, value: Any, prefix: str | None = None, **options: Any) -> gr.components.Component:
    """The page's widget for parameter `name`: a slider, checkbox, radio or text field."""
    param = PARAMS[name]
    common = dict(label=param.label, info=param.help, value=value)
    part = {"max_side": "max-side", "frames": "frames", "steps": "steps", "objective": "objective",
            "layer": "layer", "channel": "channel", "class_name": "class", "exact": "exact",
            "preserve_colors": "colours", "rotate": "rotate", "shift_x": "shift-x",
            "shift_y": "shift-y", "seamless": "seamless"}.get(name)
    if prefix and part:
        common["elem_id"] = ids.element(prefix, part)
    low, high = options.pop("minimum", param.low), options.pop("maximum", param.high)
    common.update(options)
    if param.kind == "int" and param.high - param.low > 100_000:  # e.g. the seed
        component = gr.Number(precision=0, minimum=low, maximum=high, **common)
    elif param.kind in ("int", "float"):
        component = gr.Slider(low, high, step=param.step,
                              precision=0 if param.kind == "int" else None, **common)
    elif param.kind == "bool":
        component = gr.Checkbox(**common)
    elif param.kind == "choice":
        labels = CHOICE_LABELS.get(name, {})
        component = gr.Radio([(labels.get(c, c), c) for c in param.choices], **common)
    else:
        component = gr.Textbox(**common)
    _describe(component, name, _schema(name, param))
    return component


def layer_dropdown(name: str, value: Any, model: dream.InceptionModel | None,
                   prefix: str | None = None, multiselect: bool = False, **options: Any) -> gr.Dropdown:
    """A searchable layer picker; the API page says "a layer name" instead of 132 of them."""
    param = PARAMS[name]
    component = gr.Dropdown(layer_choices(model), value=value, label=param.label, info=param.help,
                            allow_custom_value=True, filterable=True, multiselect=multiselect,
                            elem_id=ids.element(prefix, "layer") if prefix and name == "layer" else None,
                            **options)
    _describe(component, name, _schema(name, param))
    return component


def class_dropdown(value: Any, model: dream.InceptionModel | None, prefix: str,
                   **options: Any) -> gr.Dropdown:
    param = PARAMS["class_name"]
    component = gr.Dropdown(class_choices(model), value=value, label=f"{param.label} (type to search)",
                            info=param.help, allow_custom_value=True, filterable=True,
                            elem_id=ids.element(prefix, "class"), **options)
    _describe(component, "class_name", _schema("class_name", param))
    return component


def channel_number(value: Any, layer: str, model: dream.InceptionModel | None,
                   prefix: str, visible: bool) -> gr.Number:
    """The channel as a number box bounded by the chosen layer (`channel_update`).

    A number box rather than a slider: the value shown is the value used (a slider clamps
    what was typed while showing it), and the layer-dependent bound is checked when the
    channel is actually used, never while it is hidden.
    """
    component = gr.Number(value, precision=0, minimum=0, visible=visible,
                          **channel_update(model, layer), elem_id=ids.element(prefix, "channel"))
    _describe(component, "channel", _schema("channel", PARAMS["channel"]))
    return component


def channel_update(model: dream.InceptionModel | None, layer: str) -> dict[str, Any]:
    channels = layer_channels(model, layer)
    if channels is None:
        return dict(label="Channel", info=PARAMS["channel"].help)
    return dict(label="Channel", info=f"0 to {channels - 1}: one of the {channels} channels of {layer}.")


def _checked_upload_model(name: str, base: type = ImageData, what: str = "image") -> type:
    """Gradio's data model of an upload (`base`), but a value that is not an uploaded file
    (a bare path text, a number) gets a message naming the parameter, not a blank error,
    and a file outside the upload folder is refused (`ui.uploads.check_uploaded_path`)."""

    def model_validate(cls, obj, **options):
        try:
            value = base.model_validate(obj, **options)
        except pydantic.ValidationError:
            raise gr.Error(f"{name} must be {uploads.a('uploaded ' + what)} file (with "
                           f"gradio_client: handle_file('path'); from an agent: a data URI or "
                           f"an http(s) URL); got {type(obj).__name__} {str(obj)[:60]!r}.",
                           title=f"Not {uploads.a(what)} file", print_exception=False) from None
        uploads.check_uploaded_path(name, value.path, what)
        return value

    return type(base)(base.__name__, (base,), {
        "__module__": base.__module__, "model_validate": classmethod(model_validate)})


def _fetching_urls(component: gr.components.Component, name: str, what: str) -> None:
    """An http(s) URL given for `component` is fetched by `ui.uploads.fetch_url` (bounded,
    public addresses only, failures named); other files go to Gradio's cache as usual."""
    stock = component.async_move_resource_to_block_cache

    async def move(url_or_file_path):
        if isinstance(url_or_file_path, str) and is_http_url_like(url_or_file_path):
            path = await uploads.fetch_url(name, url_or_file_path, uploads.MAX_UPLOAD_BYTES, what)
            component.temp_files.add(path)
            return path
        return await stock(url_or_file_path)

    component.async_move_resource_to_block_cache = move


def photo(label: str, elem_id: str, name: str, **options: Any) -> gr.Image:
    """An image input that hands the handler the uploaded file's path as it is.

    Gradio's own preprocessing opens the file with PIL first, so an unreadable upload fails
    there with a generic error; the dream package's loader gives a clear one (and sees EXIF,
    modes and decompression bombs in the original file). Gradio has already checked that the
    path is a file the user uploaded.
    """
    image = gr.Image(label=label, type="filepath", image_mode=None, elem_id=elem_id,
                     sources=["upload", "webcam", "clipboard"], height=260, **options)
    image.preprocess = types.MethodType(_untouched_upload, image)
    if name in PARAMS:  # an image that is also a described parameter (the mixer's mask)
        stock_info = image.api_info
        image.api_info = lambda: {**stock_info(), "description": PARAMS[name].help,
                                  "additional_description": PARAMS[name].help}
    image.data_model = _checked_upload_model(name)
    image.param_name = name
    _fetching_urls(image, name, "image")
    return image


def _untouched_upload(image: gr.Image, payload):
    if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
        return str(payload.path)
    try:
        return gr.Image.preprocess(image, payload)
    except Exception as error:  # noqa: BLE001
        raise gr.Error(f"{image.param_name}: could not read the uploaded image "
                       f"({type(error).__name__}).", print_exception=False) from error


def clip(label: str, elem_id: str, name: str) -> gr.Video:
    """A video input that hands the handler the uploaded file's path as it is (no
    conversion: `dream.video` reads MP4, WebM, MOV and GIF itself and says what is wrong)."""
    # format=None: Gradio converts nothing (it would need an ffmpeg binary).
    video = gr.Video(label=label, sources=["upload"], elem_id=elem_id, height=260,
                     format=None, include_audio=True)
    video.data_model = _checked_upload_model(name, FileData, "video")
    video.param_name = name
    _fetching_urls(video, name, "video")
    return video


def examples(prefix: str, rows: list[list[str]], inputs: list, label: str = "Examples (click one)") -> None:
    rows = [[str(ASSETS / name) for name in row] for row in rows
            if all((ASSETS / name).is_file() for name in row)]
    if rows:
        example_set = gr.Examples(rows, inputs, label=label, cache_examples=False,
                                  examples_per_page=8)
        example_set.dataset.elem_id = ids.element(prefix, "examples")


def preset_picker(prefix: str, technique: str) -> tuple[gr.Dropdown, gr.Markdown]:
    picker = gr.Dropdown([p.name for p in dream.presets_for(technique)], value=None,
                         label="Preset (optional)", elem_id=ids.element(prefix, "preset"),
                         info="Fills in the settings of a known-good recipe; your photo and "
                              "image size stay as they are.")
    description = gr.Markdown(visible=False, elem_id=ids.element(prefix, "preset-description"))
    return picker, description


def schedule_controls(prefix: str, values: dict[str, Any], names: tuple[str, ...]) -> dict:
    """The Advanced accordion's optimisation and GIF widgets (those of `names` it has)."""
    rows = (("step_size", "octaves", "octave_scale"), ("tile_size", "jitter", "laplacian_levels"),
            ("seed", "frame_duration_ms", "hold_last_ms", "pingpong"), ("exact",))
    controls = {}
    for row in rows:
        with gr.Row():
            for name in row:
                if name in names:
                    controls[name] = widget(name, values[name], prefix)
    return controls



def objective_widgets(prefix: str, values: dict[str, Any], model: dream.InceptionModel | None) -> dict:
    """What to dream of: a whole layer, one of its channels, or an ImageNet class neuron."""
    objective = values["objective"]
    widgets = {"objective": widget("objective", objective, prefix)}
    with gr.Row():
        widgets["layer"] = layer_dropdown("layer", values["layer"], model, prefix,
                                          visible=objective != "class")
        widgets["channel"] = channel_number(values["channel"], values["layer"], model, prefix,
                                            visible=objective == "channel")
        widgets["class_name"] = class_dropdown(values["class_name"], model, prefix,
                                               visible=objective == "class")
    with gr.Row():
        widgets["squared"] = widget("squared", values["squared"], visible=objective == "layer")
        widgets["pre_relu"] = widget("pre_relu", values["pre_relu"], visible=objective == "channel")
    return widgets


def amount_widgets(prefix: str, values: dict[str, Any], frames_help: str | None = None) -> dict:
    """Frames, steps and the image size: how much work a run is."""
    widgets = {}
    with gr.Row():
        widgets["frames"] = widget("frames", values["frames"], prefix,
                                   **({"info": frames_help} if frames_help else {}))
        widgets["steps"] = widget("steps", values["steps"], prefix)
    widgets["max_side"] = widget("max_side", values["max_side"], prefix)
    return widgets
