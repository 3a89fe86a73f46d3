"""The Neuron Atlas tab: what every channel and class of Inception responds to, which
channels fire on your photo, and one click from there to dreaming with one of them.

Tiles are rendered the way Lucid and OpenAI Microscope render neurons (`dream.atlas`),
several at once, and fill the page as they finish; every tile is cached on disk for all
visitors, so a page someone has looked at before appears at once.
"""

from __future__ import annotations

import time

import gradio as gr

import dream
from dream import atlas as atlas_module
from dream.endpoints import PARAMS, Param, ParameterError

from ui import agents, atlas_views, controls, ids, outputs
from ui.messages import user_message
from ui.studio import Studio, relay

PREFIX = ids.ATLAS_PREFIX
PER_PAGE = atlas_module.DEFAULT_PER_PAGE
# A class tile needs the whole network at 224 px (~2.8× a channel tile): half a page keeps
# a new page of classes near a page of channels' time.
CLASSES_PER_PAGE = 12
DEFAULT_LAYER = "mixed4c"
RANK_TOP = 8
# On the full-size graph, two older AVX2 cores (benchmarks/bench_endpoints.py): at 384
# steps 250.6 s and 105.7 s were measured on two AMX cores, ×5 (the machines' ratio on the
# techniques) for the slower ones; README, "MCP".
PAGE_SECONDS = 1250.0
RANK_SECONDS = 530.0
VIEWS = [("Channels of a layer", "channels"), ("ImageNet classes", "classes")]
# The tab's parameters, checked like the techniques' (a None takes the default).
PAGE = Param("int", 1, 10_000, label="Page", help="Which page, counting from 1.")
VIEW = Param("choice", choices=tuple(value for _, value in VIEWS), label="Show",
             help="'channels': a layer's channels; 'classes': the ImageNet class neurons.")
QUERY = Param("text", label="Class name contains",
              help="Text the class names must contain, e.g. 'dog' (view 'classes'; empty: all).")
INTRO = """Each tile is a picture the network finds irresistible: started from noise and
changed until one **channel** (one feature detector of a layer) or one **class neuron**
responds as strongly as it can — rendered as Lucid and OpenAI Microscope render neurons.
Tiles appear as they are made (a new page takes minutes on two CPU cores) and are
kept for everyone: pages seen before appear at once. Click a tile to dream with it."""


class AtlasTab:
    """The handlers behind the tab (they need the Deep Dream tab's widgets to hand over)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self._atlases: dict[int, atlas_module.Atlas] = {}

    def atlas(self) -> atlas_module.Atlas:
        book = atlas_module.atlas_for(self.studio.holder.require())
        if self.studio.pool is not None and book.renderer is None:
            book.renderer = self.studio.pool.tile_renderer(book.settings)  # tiles on the workers
        return book

    # --- rendering a page

    def atlas_page(self, view: str, layer: str, page: float, query: str, request: gr.Request = None):
        """Neuron atlas: a page of feature-visualisation tiles (128 px, cached), a layer's
        channels or the ImageNet classes whose names contain `query`.

        Args:
            view: 'channels' (a layer's channels, 24 a page) or 'classes' (ImageNet class
                neurons, 12 a page).
            layer: The layer whose channels are shown, e.g. mixed4c (view 'channels').
            page: Which page of 24, counting from 1.
            query: Text the class names must contain, e.g. 'dog' (view 'classes'; empty: all).
        """
        key, stop = self.studio._register(request)
        started = time.monotonic()
        try:
            try:
                view = VIEW.check("view", "channels" if view is None else view)
                layer = _checked_layer(layer)
                page = PAGE.check("page", 1 if page is None else page) - 1
                query = "" if query is None or query == "" else QUERY.check("query", query)
                atlas = self.atlas()
                if view == "channels":
                    pages = atlas.page_count(layer, PER_PAGE)
                    if page >= pages:
                        raise ParameterError(f"page must be between 1 and {pages} for {layer} "
                                             f"(got {page + 1}): there is no page {page + 1}.")
                    channels = atlas.page_channels(layer, page, PER_PAGE)
                    title = (f"{layer}: channels {channels[0]}–{channels[-1]} (page {page + 1} of "
                             f"{atlas.page_count(layer, PER_PAGE)})")
                    produce = lambda progress: atlas.tiles(  # noqa: E731
                        layer, channels, should_stop=stop.is_set, progress=progress)
                    entries = [("channel", layer, index) for index in channels]
                else:
                    found = atlas_module.search_classes(atlas.model, query)
                    pages = max(1, -(-len(found) // CLASSES_PER_PAGE))
                    if page >= pages:
                        raise ParameterError(f"There are {pages} pages of classes matching "
                                             f"{query!r}; there is no page {page + 1}.")
                    chosen = found[page * CLASSES_PER_PAGE:(page + 1) * CLASSES_PER_PAGE]
                    title = (f"{len(found)} class{'es' * (len(found) != 1)}"
                             + (f" matching {query!r}" if query else "")
                             + f" (page {page + 1} of {pages})")
                    produce = lambda progress: atlas.class_tiles(  # noqa: E731
                        [index for index, _ in chosen], should_stop=stop.is_set, progress=progress)
                    entries = [("class", atlas_module.CLASS_LAYER, index) for index, _ in chosen]
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error"), gr.skip()
                raise gr.Error(message, print_exception=False) from None

            shown: dict[int, tuple[str, str]] = {}
            order = [index for _, _, index in entries]
            yield [], outputs.status_html(f"{title}: starting…", 0.0), entries
            for kind, value in relay(produce, stop):
                elapsed = time.monotonic() - started
                if kind == "report":
                    text = f"{title}: {len(shown)} of {len(order)} tiles · {elapsed:.0f} s"
                    yield gr.skip(), outputs.status_html(text, value), gr.skip()
                    continue
                shown[value.index] = (str(value.path) if value.path else value.image, _caption(value))
                gallery = [shown[index] for index in order if index in shown]
                text = f"{title}: {len(shown)} of {len(order)} tiles · {elapsed:.0f} s"
                yield gallery, outputs.status_html(text, len(shown) / len(order)), gr.skip()
            done = len(shown) == len(order)
            summary = (f"{title}: {len(order)} tile{'s' * (len(order) != 1)} in {time.monotonic() - started:.0f} s. "
                       f"Click one to dream with it." if done else
                       f"Stopped: {len(shown)} of {len(order)} tiles of {title}.")
            yield ([shown[i] for i in order if i in shown],
                   outputs.status_html(summary, len(shown) / len(order), "done"),
                   [entry for entry in entries if entry[2] in shown])
        finally:
            self.studio._unregister(key, stop)

    # --- what fires on my photo

    def rank_channels(self, photo: str | None, layer: str, request: gr.Request = None):
        """What fires on my photo: the layer's 8 channels with the highest mean activation on
        the photo, strongest first; for each, its heat map over the photo, then its tile.

        Args:
            photo: The photo to analyse (an image file).
            layer: The layer whose channels are ranked, e.g. mixed4c.
        """
        key, stop = self.studio._register(request)
        try:
            try:
                layer = _checked_layer(layer)
                model = self.studio.holder.require()
                if not photo:
                    raise dream.ImageError("Please upload a photo to find what fires on it.")
                ranking = atlas_module.rank_channels(model, photo, layer, top=RANK_TOP)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error"), gr.skip()
                raise gr.Error(message, print_exception=False) from None
            channels = [ranked.channel for ranked in ranking.channels]
            items: dict[int, list] = {c: [(r.overlay, f"ch {c} · {r.mean_activation:.2g}")]
                                      for c, r in zip(channels, ranking.channels)}
            entries = [("channel", layer, c) for c in channels for _ in range(2)]

            def gallery():
                return [item for c in channels for item in items[c]]

            yield gallery(), outputs.status_html(f"{layer}: the {len(channels)} channels that fire "
                                                 f"most; rendering their tiles…", 0.0), entries
            atlas = self.atlas()
            produce = lambda progress: atlas.tiles(  # noqa: E731
                layer, channels, should_stop=stop.is_set, progress=progress)
            for kind, value in relay(produce, stop):
                if kind == "item":
                    items[value.index].append((str(value.path) if value.path else value.image,
                                               f"{_caption(value)} tile"))
                    yield gallery(), gr.skip(), gr.skip()
                else:
                    yield gr.skip(), outputs.status_html(
                        f"{layer}: rendering the tiles of the channels that fire most…", value), gr.skip()
            yield (gallery(), outputs.status_html(
                f"{layer}: the {len(channels)} channels that fire most on your photo, strongest "
                f"first (heat map, then its tile). Click one to dream with it.", 1.0, "done"),
                [("channel", layer, c) for c in channels for _ in items[c]])
        finally:
            self.studio._unregister(key, stop)


# What MCP agents read about the two tools (the times: benchmarks/bench_endpoints.py).
agents.describe_for_agents(AtlasTab.atlas_page, (
    "Neuron atlas: a page of feature-visualisation tiles, pictures of what each channel of a "
    "layer (24 a page) or each ImageNet class neuron (12 a page) responds to most, rendered "
    "as Lucid and OpenAI Microscope render neurons and cached for everyone. Returns links to "
    "the tiles (128 px PNG, named by channel or class) and a plain-text summary. A page seen "
    f"before comes back at once; a new page of channels takes about {PAGE_SECONDS:.0f} s on "
    "two CPU cores."))
agents.describe_for_agents(AtlasTab.rank_channels, (
    "What fires on a photo: the 8 channels of a layer with the highest mean activation on "
    f"the photo, strongest first, each as a heat map over the photo and as its tile. "
    f"{agents.INPUT_NOTE} Returns links to the heat maps and tiles and a plain-text summary. "
    f"About {RANK_SECONDS:.0f} s on two CPU cores when the tiles are not cached yet."))


def _checked_layer(layer) -> str:
    return PARAMS["layer"].check("layer", DEFAULT_LAYER if layer is None else layer)


def _caption(tile: atlas_module.Tile) -> str:
    """Short enough for a tile: "ch 12", or the class's name."""
    return tile.label.split(" (class")[0] if tile.layer == atlas_module.CLASS_LAYER else f"ch {tile.index}"


def _selection_text(entry) -> str:
    kind, layer, index = entry
    if kind == "class":
        return f"**Selected:** class neuron {index}"
    return f"**Selected:** {layer}, channel {index}"


def build(studio: Studio) -> None:
    handlers = AtlasTab(studio)
    layer_values = {"layer": DEFAULT_LAYER}
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            gr.Markdown(INTRO)
            view = gr.Radio(VIEWS, value="channels", label="Show", elem_id=f"{PREFIX}-view")
            with gr.Group() as channel_group:
                layer = controls.layer_dropdown("layer", layer_values["layer"], studio.model)
                layer.elem_id = f"{PREFIX}-layer"
            query = gr.Textbox(label="Class name contains", placeholder="e.g. jelly, dog, tower",
                               visible=False, elem_id=f"{PREFIX}-query")
            controls.checked_by_handler(view, "view", VIEW)
            controls.checked_by_handler(query, "query", QUERY)
            with gr.Row():
                previous = gr.Button("◀ Previous page", size="sm")
                page = gr.Number(1, precision=0, minimum=1, label="Page", elem_id=f"{PREFIX}-page",
                                 min_width=80)
                controls.checked_by_handler(page, "page", PAGE)
                following = gr.Button("Next page ▶", size="sm")
            with gr.Row():
                show = gr.Button("Show tiles", variant="primary", elem_id=f"{PREFIX}-run", scale=3,
                                 interactive=studio.model is not None)
                stop = gr.Button("Stop", variant="stop", elem_id=f"{PREFIX}-stop", scale=1)
            with gr.Accordion("What fires on my photo?", open=True):
                photo = controls.photo("Your photo", f"{PREFIX}-photo", "photo")
                controls.examples(PREFIX, [["cat.jpg"], ["landscape.jpg"], ["coffee.jpg"]], [photo])
                rank = gr.Button("Find the channels that fire on it", variant="primary",
                                 elem_id=f"{PREFIX}-rank", interactive=studio.model is not None)
        with gr.Column(scale=6):
            status = outputs.StatusLine(outputs.status_html("Pick a layer and press Show tiles."),
                                        elem_id=f"{PREFIX}-status", elem_classes=["status-line"])
            gallery = gr.Gallery(label="Tiles (click one)", columns=6, height=520,
                                 allow_preview=False, object_fit="contain",
                                 elem_id=f"{PREFIX}-gallery")
            selection = gr.Markdown("Click a tile to choose it.", elem_id=f"{PREFIX}-selection")
            with gr.Row():
                open_button = gr.Button("Open in Deep Dream", interactive=False,
                                        elem_id=f"{PREFIX}-open")
                dream_button = gr.Button("Dream my photo with this", variant="primary",
                                         interactive=False, elem_id=f"{PREFIX}-dream")
            views_channel = atlas_views.build(studio, handlers.atlas, layer)
    entries = gr.State([])   # what each gallery item is: (kind, layer, index)
    chosen = gr.State(None)  # the selected entry

    # --- the page of tiles
    def toggle(chosen_view: str):
        return gr.Group(visible=chosen_view == "channels"), gr.Textbox(visible=chosen_view == "classes"), 1

    view.change(toggle, view, [channel_group, query, page], api_visibility="private", queue=False)
    layer.change(lambda _: 1, layer, page, api_visibility="private", queue=False)
    # The one public /atlas_page is the Show button's; the other ways to a page are private
    # (each with a name of its own: Gradio would otherwise rename the public one).
    show.click(handlers.atlas_page, [view, layer, page, query], [gallery, status, entries],
               api_name="atlas_page", concurrency_id="dream", concurrency_limit=studio.concurrency,
               show_progress="hidden")
    query.submit(handlers.atlas_page, [view, layer, page, query], [gallery, status, entries],
                 api_name="atlas_page_search", api_visibility="private", concurrency_id="dream",
                 concurrency_limit=studio.concurrency, show_progress="hidden")
    for button, step, name in ((previous, -1, "atlas_page_previous"), (following, 1, "atlas_page_next")):
        button.click(lambda p, step=step: max(1, int(p or 1) + step), page, page,
                     api_visibility="private", queue=False).then(
            handlers.atlas_page, [view, layer, page, query], [gallery, status, entries],
            api_name=name, api_visibility="private", concurrency_id="dream", concurrency_limit=studio.concurrency,
            show_progress="hidden")
    stop.click(studio.stop, None, None, api_visibility="private", queue=False)
    rank.click(handlers.rank_channels, [photo, layer], [gallery, status, entries], api_name="rank_channels",
               concurrency_id="dream", concurrency_limit=studio.concurrency, show_progress="hidden")

    # --- choosing a tile, then dreaming with it
    def select(items: list, event: gr.SelectData):
        if not items or event is None or not 0 <= event.index < len(items):
            return (None, "Click a tile to choose it.", gr.Button(interactive=False),
                    gr.Button(interactive=False), gr.skip())
        entry = items[event.index]
        kind, _, index = entry
        return (entry, _selection_text(entry) + " — open it in Deep Dream, dream your photo "
                "with it at once, or see more views of it below.", gr.Button(interactive=True),
                gr.Button(interactive=True), index if kind == "channel" else gr.skip())

    gallery.select(select, entries, [chosen, selection, open_button, dream_button, views_channel],
                   api_visibility="private", queue=False)
    _wire_hand_over(studio, chosen, photo, open_button, dream_button)
    studio.run_buttons += [(show, "inception"), (rank, "inception")]
    studio.layer_dropdowns.append(layer)


def _wire_hand_over(studio: Studio, chosen: gr.State, photo: gr.Image, open_button: gr.Button,
                    dream_button: gr.Button) -> None:
    """The chosen tile's channel (or class) into the Deep Dream tab, with the photo given
    here (else the one already there), and that tab shown; "Dream my photo with this" then
    presses its Dream button."""
    dd = studio.tab_inputs["deep_dream"]
    targets = [dd["objective"], dd["layer"], dd["channel"], dd["class_name"], dd["pre_relu"],
               dd["image"], studio.tabs]

    def hand_over(entry, picture):
        if not entry:
            return [gr.skip()] * len(targets)
        kind, layer, index = entry
        model = studio.holder.model
        if kind == "class":
            name = model.labels[index] if model is not None else gr.skip()
            fields = ["class", gr.skip(), gr.skip(), name, gr.skip()]
        else:
            fields = ["channel", layer, index, gr.skip(), True]  # tiles are rendered pre-ReLU
        return [*fields, picture if picture else gr.skip(), gr.Tabs(selected="deep_dream")]

    open_button.click(hand_over, [chosen, photo], targets, api_visibility="private", queue=False)
    dream_button.click(hand_over, [chosen, photo], targets, api_visibility="private",
                       queue=False).then(
        None, None, None, api_visibility="private",
        # The Deep Dream tab is drawn once it is shown: press its button after that.
        js="() => new Promise(done => setTimeout(() => { "
           f"document.getElementById('{ids.element('dd', 'run')}')?.click(); done(); }}, 400))")
