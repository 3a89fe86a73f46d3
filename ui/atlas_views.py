"""The Atlas's views of one channel: what excites it and what inhibits it most, four
diverse images of it, and an interpolation to another channel as a looping MP4
(`dream.atlas.views`; the "Feature Visualization" article's figures, on any channel).

A section of the Atlas tab: clicking a channel's tile fills in its channel number here.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr

from dream.atlas import views
from dream.endpoints import PARAMS, Param

from ui import agents, ids, outputs
from ui.messages import user_message
from ui.studio import Studio, rendering

PREFIX = ids.ATLAS_PREFIX
CHANNEL = Param("int", 0, 100_000, label="Channel", step=1,
                help="The channel of the layer whose views are shown (click a tile to fill it in).")
OTHER = Param("int", 0, 100_000, label="Interpolate to channel", step=1,
              help="The channel of the same layer the interpolation ends at.")
# Nothing cached, full-size graph, two older AVX2 cores: the atlas page's time per picture
# (ui.atlas.PAGE_SECONDS / 24) times 6 and 8 pictures; README, "MCP".
VIEWS_SECONDS = 330.0
INTERPOLATION_SECONDS = 430.0
CAPTIONS = ["excites it most", "inhibits it most"] + [f"diverse {k + 1}" for k in range(views.DIVERSE_COUNT)]


class ChannelViewsTab:
    def __init__(self, studio: Studio, atlas_of) -> None:
        self.studio = studio
        self.atlas_of = atlas_of  # () → the shared dream.atlas.Atlas

    def _checked(self, layer, channel, name: str = "channel", param: Param = CHANNEL):
        layer = PARAMS["layer"].check("layer", "mixed4c" if layer is None else layer)
        channel = param.check(name, 0 if channel is None else channel)
        atlas = self.atlas_of()
        count = atlas.channel_count(layer)
        if channel >= count:
            raise ValueError(f"{name} must be between 0 and {count - 1} for {layer}, which has "
                             f"{count} channels (got {channel}).")
        return atlas, layer, channel

    def channel_views(self, layer: str, channel: float, request: gr.Request = None):
        """Views of one channel: the picture that excites it most (its atlas tile), the one
        that inhibits it most, and four diverse pictures of it (pushed apart by Lucid's
        diversity objective); rendered from noise like the tiles and cached for everyone.

        Args:
            layer: The layer, e.g. mixed4c.
            channel: The channel of that layer, counting from 0.
        """
        key, stop = self.studio._register(request)
        started = time.monotonic()
        try:
            try:
                atlas, layer, channel = self._checked(layer, channel)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error")
                raise gr.Error(message, print_exception=False) from None
            title = f"{layer}, channel {channel}"
            yield [], outputs.status_html(f"{title}: rendering its views…", 0.0)
            shown = yield from rendering(
                lambda report: views.channel_views(atlas, layer, channel, report), stop,
                f"{title}: rendering its views", started)
            if shown is None:
                yield gr.skip(), outputs.status_html(f"Stopped: the views of {title}.", kind="done")
                return
            images = [shown.positive, shown.negative, *shown.diverse]
            gallery = [(image, caption) for image, caption in zip(images, CAPTIONS)]
            how = "from the cache" if shown.cached else f"in {time.monotonic() - started:.0f} s"
            yield gallery, outputs.status_html(
                f"{title}: what excites it most, what inhibits it most, and four diverse "
                f"pictures of it ({how}).", 1.0, "done")
        finally:
            self.studio._unregister(key, stop)

    def channel_interpolation(self, layer: str, channel: float, other: float, request: gr.Request = None):
        """Interpolation between two channels of a layer: 8 pictures going from what excites
        one channel to what excites the other (Lucid's channel_interpolate, held together by
        its alignment objective), as an MP4 that plays forward and back in a loop.

        Args:
            layer: The layer, e.g. mixed4c.
            channel: The channel the interpolation starts at.
            other: The channel of the same layer it ends at.
        """
        key, stop = self.studio._register(request)
        started = time.monotonic()
        try:
            try:
                atlas, layer, channel = self._checked(layer, channel)
                _, _, other = self._checked(layer, other, "other", OTHER)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error")
                raise gr.Error(message, print_exception=False) from None
            title = f"{layer}: channel {channel} → {other}"
            yield None, outputs.status_html(f"{title}: rendering…", 0.0)
            frames = yield from rendering(
                lambda report: views.interpolation(atlas, layer, channel, other, report=report),
                stop, f"{title}: rendering", started)
            if frames is None:
                yield gr.skip(), outputs.status_html(f"Stopped: {title}.", kind="done")
                return
            # Beside the techniques' results, swept the same way (an hour, a size bound).
            outputs.start_sweeper()
            outputs.OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="interpolation-", dir=outputs.OUTPUT_ROOT))
            video = views.write_loop(frames, folder / f"{layer}-{channel}-to-{other}.mp4")
            yield str(video), outputs.status_html(
                f"{title}: {len(frames)} pictures, forward and back "
                f"({time.monotonic() - started:.0f} s).", 1.0, "done")
        finally:
            self.studio._unregister(key, stop)


agents.describe_for_agents(ChannelViewsTab.channel_views, (
    "Views of one channel of Inception: the picture that excites it most (its atlas tile), the "
    "picture that inhibits it most, and four diverse pictures of it, as Lucid and the "
    "'Feature Visualization' article render them. Returns links to the six 128 px PNGs and a "
    f"plain-text summary. Cached for everyone; about {VIEWS_SECONDS:.0f} s on two CPU cores "
    "when nothing is cached."))
agents.describe_for_agents(ChannelViewsTab.channel_interpolation, (
    "An interpolation between two channels of one Inception layer: 8 pictures going from what "
    "excites the first to what excites the second, as a looping MP4 (forward and back). "
    f"Returns a link to the MP4 and a plain-text summary. About {INTERPOLATION_SECONDS:.0f} s "
    "on two CPU cores when not cached."))


def build(studio: Studio, atlas_of, layer: gr.Dropdown) -> gr.Number:
    """The section's widgets and events; returns the channel box a tile click fills."""
    from ui import controls

    handlers = ChannelViewsTab(studio, atlas_of)
    with gr.Accordion("More views of a channel", open=True):
        gr.Markdown("What most excites and most inhibits a channel, four diverse pictures of "
                    "it, and a morph from it to another channel (cached for everyone).")
        with gr.Row():
            channel = gr.Number(0, precision=0, minimum=0, label=CHANNEL.label,
                                elem_id=f"{PREFIX}-views-channel", min_width=100)
            controls.checked_by_handler(channel, "channel", CHANNEL)
            show = gr.Button("Show its views", variant="primary", elem_id=f"{PREFIX}-views-run",
                             interactive=studio.model is not None)
        with gr.Row():
            other = gr.Number(1, precision=0, minimum=0, label=OTHER.label,
                              elem_id=f"{PREFIX}-views-other", min_width=100)
            controls.checked_by_handler(other, "other", OTHER)
            morph = gr.Button("Interpolate", elem_id=f"{PREFIX}-views-morph",
                              interactive=studio.model is not None)
        status = outputs.StatusLine(outputs.status_html("Click a channel's tile, then Show its views."),
                                    elem_id=f"{PREFIX}-views-status", elem_classes=["status-line"])
        gallery = gr.Gallery(label="Views", columns=6, height=200, allow_preview=True, format="png",
                             object_fit="contain", elem_id=f"{PREFIX}-views-gallery")
        video = gr.Video(label="Interpolation (loops)", autoplay=True, loop=True, height=200,
                         elem_id=f"{PREFIX}-views-video")
    show.click(handlers.channel_views, [layer, channel], [gallery, status], api_name="channel_views",
               concurrency_id="dream", concurrency_limit=studio.concurrency, show_progress="hidden")
    morph.click(handlers.channel_interpolation, [layer, channel, other], [video, status],
                api_name="channel_interpolation", concurrency_id="dream",
                concurrency_limit=studio.concurrency, show_progress="hidden")
    studio.run_buttons += [(show, "inception"), (morph, "inception")]
    return channel
