"""What the command-line tools share: the model, where the work runs (this process, or a
worker pool), and a technique's parameters given as the API's names.

    values = request_values("deep_dream", preset="Jellyfish (class neuron)",
                            settings=["steps=5", "layer=mixed4c"])
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from dream.endpoints import ENDPOINTS, Endpoint, ParameterError
from dream.presets import PRESETS_BY_NAME


def parse_setting(text: str) -> tuple[str, Any]:
    """`name=value`: the value read as JSON when it is JSON (numbers, true, lists), else as
    text (`layer=mixed4c`)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"A setting is written name=value (got {text!r}).")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def technique_of(technique: str | None, preset: str | None) -> Endpoint:
    if preset is not None:
        if preset not in PRESETS_BY_NAME:
            raise ParameterError(f"Unknown preset {preset!r}; the presets are: "
                                 f"{', '.join(PRESETS_BY_NAME)}.")
        technique = technique or PRESETS_BY_NAME[preset].technique
    technique = technique or "deep_dream"
    if technique not in ENDPOINTS:
        raise ParameterError(f"Unknown technique {technique!r}; use one of {', '.join(ENDPOINTS)}.")
    return ENDPOINTS[technique]


def request_values(endpoint: Endpoint, preset: str | None = None,
                   settings: Sequence[str] = ()) -> dict[str, Any]:
    """The endpoint's defaults, then the preset's settings, then each `name=value`; an
    unknown name is refused with the names there are (values are checked later, by
    `Endpoint.check`, with the app's messages)."""
    values = endpoint.defaults()
    if preset is not None:
        values.update(endpoint.preset_values(PRESETS_BY_NAME[preset]))
    known = set(endpoint.names)
    for text in settings:
        name, value = parse_setting(text)
        if name not in known:
            raise ParameterError(f"{endpoint.name} has no parameter {name!r}; it has: "
                                 f"{', '.join(endpoint.names)}.")
        values[name] = value
    return values


@contextlib.contextmanager
def runner_for(workers: int | None, model_path=None, *, with_style: bool = False) -> Iterator[tuple]:
    """(the model, what runs jobs): this process (`LocalRunner`), or a pool when
    `workers` (or DREAM_WORKERS / DREAM_RAY_ADDRESS) asks for one. Closed afterwards."""
    import dream
    from dream.pool import PoolSettings, start_pool
    from dream.pool.jobs import LocalRunner

    model = dream.load_model(model_path)
    settings = PoolSettings.from_environment(workers)
    if settings.enabled:
        from dream.model import resolve_model_files
        from dream.pool.ray_pool import read_model_files

        runner = start_pool(settings, model_files=read_model_files(*resolve_model_files(model_path)))
    else:
        style = None
        if with_style:
            try:
                style = dream.load_style_model()
            except dream.ModelUnavailable:
                style = None
        runner = LocalRunner({"inception": model, "style": style})
    try:
        yield model, runner
    finally:
        runner.close()
