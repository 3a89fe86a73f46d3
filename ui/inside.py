"""The "Inside my photo" tab: what each part of a photo means to Inception, and how its
neurons connect (`dream.inside`, `dream.circuits`; Distill's "The Building Blocks of
Interpretability" and the Circuits thread, live on your own photo).

- **Look inside**: the semantic dictionary (click a place on the photo: the channels that
  fire most there, as their atlas tiles), where the top classes' evidence is (activation ×
  gradient), and the layer's neuron groups (NMF) as maps over the photo;
- **caricature**: the photo's activations exaggerated from noise (Lucid's recipe);
- **circuit**: a channel's strongest inputs and outputs by expanded weights; click one to
  walk on, or dream the photo with the current channel.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

import dream
from dream import atlas as atlas_module
from dream import circuits, inside
from dream.endpoints import PARAMS, Param

from ui import agents, controls, ids, outputs
from ui.atlas import AtlasTab
from ui.messages import user_message
from ui.studio import Studio, relay, rendering, stream

PREFIX = ids.INSIDE_PREFIX
DEFAULT_LAYER = "mixed4d"
TOP_CHANNELS = 4          # the notebook's semantic dictionary shows four per position
TOP_CLASSES = 3
DEFAULT_GROUPS = 6
CIRCUIT_TOP = 6
CARICATURE_STEPS = 256
GROUPS = Param("int", 1, inside.groups.MAX_GROUPS, label="Neuron groups", step=1,
               help="How many groups the layer's activations are factored into (NMF).")
CHANNEL = Param("int", 0, 100_000, label="Channel", step=1, help="A channel of the layer.")
INTRO = """What does Inception see in **your** photo? Pick a layer and press *Look inside*:
which channels fire at each place (click the photo to choose a place), where the evidence
for the network's top classes comes from, and the groups of neurons that work together.
Click a channel's tile to see its **circuit** — the channels it is built from and the ones
it feeds — and walk from one to the next. After Distill's *Building Blocks of
Interpretability* and the *Circuits* thread, on this very network."""


def _layer(layer) -> str:
    return PARAMS["layer"].check("layer", DEFAULT_LAYER if layer is None else layer)


def _photo(photo) -> Any:
    if photo is None or (isinstance(photo, str) and not photo.strip()):
        raise dream.ImageError("Please upload a photo (or click one of the examples).")
    return photo


def grid_picture(grid: inside.SemanticGrid, chosen: tuple[int, int]) -> np.ndarray:
    """The photo with the layer's grid drawn over it and the chosen cell outlined."""
    picture = Image.fromarray(grid.image).convert("RGB")
    draw = ImageDraw.Draw(picture, "RGBA")
    rows, columns = grid.grid
    for row in range(rows):
        for column in range(columns):
            top, left, bottom, right = grid.cell(row, column)
            draw.rectangle([left, top, right - 1, bottom - 1], outline=(255, 255, 255, 60))
    top, left, bottom, right = grid.cell(*chosen)
    draw.rectangle([left, top, right - 1, bottom - 1], outline=(255, 210, 0, 255), width=3)
    return np.asarray(picture)


def _share_caption(channel: int, share: float) -> str:
    return f"ch {channel} · {share:.0%}"


def _weight_caption(connection: circuits.Connection) -> str:
    # Short enough for a tile; the layer is in the circuit's title.
    return f"ch {connection.channel} · {connection.weight:+.2g}"


class InsideTab:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.atlas_tab = AtlasTab(studio)

    def _tiles(self, wanted: list[tuple[str, list[int]]], stop):
        """(kind, value) from rendering the tiles of each (layer, channels) in turn:
        ("report", fraction) and ("item", tile). One relay: closing it sets `stop`."""
        atlas = self.atlas_tab.atlas()

        def produce(progress):
            for layer, channels in wanted:
                if channels and not stop.is_set():
                    yield from atlas.tiles(layer, channels, should_stop=stop.is_set, progress=progress)
        return relay(produce, stop)

    def _fail(self, error: Exception, outputs_count: int):
        message = user_message(error)
        return [gr.skip()] * outputs_count + [outputs.status_html(message, kind="error")], message

    # --- the semantic dictionary

    def semantic_dictionary(self, photo: str | None, layer: str, request: gr.Request = None):
        """What fires where in my photo: the layer's grid over the photo, and at its most
        active place the 4 channels that fire most there, as their atlas tiles with their
        share of what fires there (Building Blocks' semantic dictionary).

        Args:
            photo: The photo to look inside (an image file).
            layer: The layer, e.g. mixed4d.
        """
        key, stop = self.studio._register(request)
        try:
            try:
                layer = _layer(layer)
                grid = inside.semantic_dictionary(self.studio.holder.require(), _photo(photo), layer,
                                                  top=TOP_CHANNELS)
            except Exception as error:  # noqa: BLE001
                values, message = self._fail(error, 2)
                yield (*values, gr.skip(), gr.skip())
                raise gr.Error(message, print_exception=False) from None
            yield from self._cell(grid, grid.strongest, stop)
        finally:
            self.studio._unregister(key, stop)

    def _cell(self, grid: inside.SemanticGrid, cell: tuple[int, int], stop):
        """(grid picture, tiles gallery, status, grid state, entries) for one cell, the
        tiles streaming in as they are rendered."""
        picture = grid_picture(grid, cell)
        found = grid.at(*cell)
        channels = [channel for channel, _, _ in found]
        captions = {channel: _share_caption(channel, share) for channel, _, share in found}
        entries = [("channel", grid.layer, channel) for channel in channels]
        where = f"{grid.layer} at row {cell[0] + 1}, column {cell[1] + 1} of {grid.grid[0]}×{grid.grid[1]}"
        shown: dict[int, tuple] = {}
        yield picture, [], outputs.status_html(f"{where}: rendering the tiles…", 0.0), grid, entries
        for kind, value in self._tiles([(grid.layer, channels)], stop):
            if kind == "report":
                yield gr.skip(), gr.skip(), outputs.status_html(f"{where}: rendering the tiles…", value), \
                    gr.skip(), gr.skip()
                continue
            shown[value.index] = (str(value.path) if value.path else value.image, captions[value.index])
            yield gr.skip(), [shown[c] for c in channels if c in shown], gr.skip(), gr.skip(), gr.skip()
        # The last update carries every value: it is what an API caller receives.
        yield (picture, [shown[c] for c in channels if c in shown],
               outputs.status_html(f"{where}: the channels that fire most there, with their share. "
                                   f"Click the photo for another place, a tile for its circuit.",
                                   1.0, "done"), grid, entries)

    def choose_cell(self, grid: inside.SemanticGrid | None, event: gr.SelectData, request: gr.Request = None):
        key, stop = self.studio._register(request)
        try:
            if grid is None or event is None or not event.index:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            x, y = event.index[:2]
            height, width = grid.image.shape[:2]
            rows, columns = grid.grid
            cell = (min(rows - 1, max(0, int(y) * rows // height)),
                    min(columns - 1, max(0, int(x) * columns // width)))
            yield from self._cell(grid, cell, stop)
        finally:
            self.studio._unregister(key, stop)

    # --- attribution and groups (maps over the photo)

    def spatial_attribution(self, photo: str | None, layer: str):
        """Where the evidence is: for the network's 3 most probable classes on my photo, a
        heat map of where each one's evidence comes from at the layer (activation ×
        gradient, summed over channels; Building Blocks' spatial attribution).

        Args:
            photo: The photo to look inside (an image file).
            layer: The layer, e.g. mixed4d.
        """
        try:
            found = inside.spatial_attribution(self.studio.holder.require(), _photo(photo),
                                               _layer(layer), top=TOP_CLASSES)
        except Exception as error:  # noqa: BLE001
            raise gr.Error(user_message(error), print_exception=False) from None
        items = []
        for entry in found.classes:
            heat = np.maximum(entry.map, 0.0)
            heat = heat / heat.max() if heat.max() > 0 else heat
            size = found.image.shape[:2]
            overlay = atlas_module.heat_overlay(found.image, inside.common.upsample(heat, size))
            items.append((overlay, f"{entry.name} · {entry.probability:.0%}"))
        return items

    def neuron_groups(self, photo: str | None, layer: str, groups: float, request: gr.Request = None):
        """Neuron groups: the layer's activations on my photo factored (NMF) into a few groups
        of neurons that fire together, each shown as a map over the photo and as a picture
        of what its direction in the layer responds to (rendered like the atlas's tiles).

        Args:
            photo: The photo to look inside (an image file).
            layer: The layer, e.g. mixed4d.
            groups: How many groups (1 to 12).
        """
        key, stop = self.studio._register(request)
        try:
            try:
                layer = _layer(layer)
                count = GROUPS.check("groups", DEFAULT_GROUPS if groups is None else groups)
                found = inside.neuron_groups(self.studio.holder.require(), _photo(photo), layer,
                                             groups=count)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error")
                raise gr.Error(message, print_exception=False) from None
            count = len(found.directions)
            maps = [(atlas_module.heat_overlay(found.image, found.heat(k)), f"group {k + 1}")
                    for k in range(count)]
            title = f"{layer}: {count} neuron groups"
            yield maps, outputs.status_html(f"{title}; rendering what each responds to…", 0.0)
            atlas = self.atlas_tab.atlas()
            objective = inside.group_directions(layer, found.directions)
            start = atlas_module.start_images(range(count), atlas.settings)

            pictures = yield from rendering(lambda report: atlas.optimise(objective, start, report),
                                            stop, f"{title}; rendering what each responds to…",
                                            time.monotonic())
            if pictures is None:
                yield maps, outputs.status_html(f"Stopped: {title}, shown as maps only.", kind="done")
                return
            both = [item for k in range(count)
                    for item in (maps[k], (pictures[k], f"group {k + 1}: what it responds to"))]
            yield both, outputs.status_html(f"{title}: each as a map over your photo and as what "
                                            f"its direction responds to.", 1.0, "done")
        finally:
            self.studio._unregister(key, stop)

    # --- caricature

    def caricature(self, photo: str | None, layer: str, request: gr.Request = None):
        """Caricature: a picture made from noise whose activations at the layer match my
        photo's, exaggerated (Lucid's caricature recipe): what the layer keeps of the photo.

        Args:
            photo: The photo (an image file).
            layer: The layer, e.g. mixed4d.
        """
        key, stop = self.studio._register(request)
        try:
            try:
                layer = _layer(layer)
                model = self.studio.holder.require()
                picture = _photo(photo)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), outputs.status_html(message, kind="error")
                raise gr.Error(message, print_exception=False) from None

            def work(on_progress):
                image = inside.caricature(model, picture, layer, steps=CARICATURE_STEPS,
                                          on_progress=on_progress)
                return image

            started = time.monotonic()
            runner = stream(work, stop)
            try:
                while True:
                    progress = next(runner)
                    yield progress.preview, outputs.status_html(
                        f"Caricature at {layer}: step {progress.step} of {progress.total}",
                        progress.step / progress.total)
            except StopIteration as finished:
                image = finished.value
            how = "stopped" if stop.is_set() else f"{time.monotonic() - started:.0f} s"
            yield image, outputs.status_html(f"Caricature at {layer} ({how}): what the layer keeps "
                                             f"of your photo, exaggerated.", 1.0, "done")
        finally:
            self.studio._unregister(key, stop)

    # --- circuits

    def circuit(self, layer: str, channel: float, request: gr.Request = None):
        """A channel's circuit: its strongest inputs in the previous layer and strongest
        outputs in the next, by expanded weights (Distill's "Visualizing Weights"), each as
        its atlas tile with its signed weight.

        Args:
            layer: A layer of the main path, e.g. mixed4a.
            channel: The channel of that layer, counting from 0.
        """
        key, stop = self.studio._register(request)
        try:
            try:
                model = self.studio.holder.require()
                layer = _layer(layer)
                channel = CHANNEL.check("channel", 0 if channel is None else channel)
                found = circuits.circuit(model, layer, channel, top=CIRCUIT_TOP)
            except Exception as error:  # noqa: BLE001
                message = user_message(error)
                yield gr.skip(), gr.skip(), gr.skip(), outputs.status_html(message, kind="error"), gr.skip()
                raise gr.Error(message, print_exception=False) from None
            title = f"**{found.layer}, channel {found.channel}** — built from {found.previous or 'the pixels'}, " \
                    f"feeding {found.following or 'the classifier'}"
            entries = ([("channel", c.layer, c.channel) for c in found.inputs],
                       [("channel", c.layer, c.channel) for c in found.outputs])
            items: dict[tuple[str, int], tuple] = {}

            def galleries():
                return ([items[(c.layer, c.channel)] for c in found.inputs if (c.layer, c.channel) in items],
                        [items[(c.layer, c.channel)] for c in found.outputs if (c.layer, c.channel) in items])

            yield title, [], [], outputs.status_html(f"{title.replace('**', '')}: rendering the tiles…", 0.0), entries
            captions = {(c.layer, c.channel): _weight_caption(c) for c in (*found.inputs, *found.outputs)}
            wanted = [(found.previous, [c.channel for c in found.inputs]),
                      (found.following, [c.channel for c in found.outputs])]
            for kind, value in self._tiles(wanted, stop):
                if kind == "item":
                    items[(value.layer, value.index)] = (
                        str(value.path) if value.path else value.image, captions[(value.layer, value.index)])
                    yield (gr.skip(), *galleries(), gr.skip(), gr.skip())
            yield (title, *galleries(), outputs.status_html(
                f"{found.layer}, channel {found.channel}: its {len(found.inputs)} strongest inputs and "
                f"{len(found.outputs)} strongest outputs (signed weights). Click one to walk on.",
                1.0, "done"), entries)
        finally:
            self.studio._unregister(key, stop)


agents.describe_for_agents(InsideTab.semantic_dictionary, (
    "What fires where in a photo: the layer's grid over the photo (its most active place "
    "outlined) and the 4 channels that fire most there, as their atlas tiles with their share. "
    f"{agents.INPUT_NOTE} Returns the grid picture, links to the tiles and a plain-text summary; "
    "seconds when the tiles are cached, minutes on two CPU cores when not."))
agents.describe_for_agents(InsideTab.spatial_attribution, (
    "Where the evidence is: for the network's 3 most probable classes on a photo, a heat map of "
    f"where each class's evidence comes from (activation × gradient). {agents.INPUT_NOTE} "
    "Returns links to the three heat maps (captioned with class and probability) and a summary; "
    "a few seconds on two CPU cores."))
agents.describe_for_agents(InsideTab.neuron_groups, (
    "Neuron groups: a layer's activations on a photo factored (NMF) into groups of neurons "
    "that fire together, each as a heat map over the photo and as a picture of what the group "
    f"responds to. {agents.INPUT_NOTE} Returns links to the maps and pictures and a summary; "
    "about as long as an atlas page of that many tiles on two CPU cores (minutes)."))
agents.describe_for_agents(InsideTab.caricature, (
    "Caricature: a picture made from noise whose activations at a layer match the photo's, "
    f"exaggerated (Lucid's recipe). {agents.INPUT_NOTE} Returns the picture and a summary; "
    "about a minute on two CPU cores."))
agents.describe_for_agents(InsideTab.circuit, (
    "A channel's circuit in Inception: its strongest inputs in the previous layer and outputs "
    "in the next, by expanded weights, each as its atlas tile captioned with its signed weight. "
    "Returns links to the tiles and a summary; seconds when the tiles are cached, minutes on two "
    "CPU cores when not."))


def build(studio: Studio) -> None:
    handlers = InsideTab(studio)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            gr.Markdown(INTRO)
            photo = controls.photo("Your photo", f"{PREFIX}-photo", "photo")
            controls.examples(PREFIX, [["cat.jpg"], ["landscape.jpg"], ["coffee.jpg"]], [photo])
            layer = controls.layer_dropdown("layer", DEFAULT_LAYER, studio.model)
            layer.elem_id = f"{PREFIX}-layer"
            groups = gr.Slider(1, GROUPS.high, value=DEFAULT_GROUPS, step=1, label=GROUPS.label,
                               info=GROUPS.help, elem_id=f"{PREFIX}-groups")
            controls.checked_by_handler(groups, "groups", GROUPS)
            with gr.Row():
                look = gr.Button("Look inside", variant="primary", elem_id=f"{PREFIX}-run", scale=3,
                                 interactive=studio.model is not None)
                stop = gr.Button("Stop", variant="stop", elem_id=f"{PREFIX}-stop", scale=1)
            status = outputs.StatusLine(outputs.status_html("Pick a photo and press Look inside."),
                                        elem_id=f"{PREFIX}-status", elem_classes=["status-line"])
            with gr.Accordion("Caricature", open=False):
                caricature_button = gr.Button("Make the caricature", elem_id=f"{PREFIX}-caricature-run",
                                              interactive=studio.model is not None)
                caricature = gr.Image(label="Caricature", interactive=False, format="png",
                                      elem_id=f"{PREFIX}-caricature", height=260)
        with gr.Column(scale=6):
            grid = gr.Image(label="The layer's grid over your photo (click a place)", interactive=False,
                            format="png", elem_id=f"{PREFIX}-grid", height=320)
            dictionary = gr.Gallery(label="What fires there (click a tile for its circuit)", columns=4,
                                    height=170, allow_preview=False, elem_id=f"{PREFIX}-dictionary")
            attribution = gr.Gallery(label="Where the top classes' evidence is", columns=3, height=170,
                                     allow_preview=True, format="png", elem_id=f"{PREFIX}-attribution")
            group_maps = gr.Gallery(label="Neuron groups", columns=6, height=140, allow_preview=True,
                                    format="png", elem_id=f"{PREFIX}-groups-maps")
            with gr.Accordion("Circuit", open=True):
                circuit_title = gr.Markdown("Click a channel's tile to see its circuit.",
                                            elem_id=f"{PREFIX}-circuit-title")
                inputs_gallery = gr.Gallery(label="Built from (click to walk)", columns=6, height=150,
                                            allow_preview=False, elem_id=f"{PREFIX}-circuit-inputs")
                outputs_gallery = gr.Gallery(label="Feeds (click to walk)", columns=6, height=150,
                                             allow_preview=False, elem_id=f"{PREFIX}-circuit-outputs")
                with gr.Row():
                    circuit_layer = gr.Textbox(DEFAULT_LAYER, label="Layer", elem_id=f"{PREFIX}-circuit-layer",
                                               scale=2)
                    circuit_channel = gr.Number(0, precision=0, minimum=0, label="Channel",
                                                elem_id=f"{PREFIX}-circuit-channel", scale=1)
                    controls.checked_by_handler(circuit_channel, "channel", CHANNEL)
                    circuit_button = gr.Button("Show the circuit", elem_id=f"{PREFIX}-circuit-run",
                                               interactive=studio.model is not None, scale=2)
                dream_button = gr.Button("Dream my photo with this channel", variant="primary",
                                         elem_id=f"{PREFIX}-dream", interactive=studio.model is not None)
    grid_state = gr.State(None)
    dictionary_entries = gr.State([])
    circuit_entries = gr.State(([], []))
    common = dict(concurrency_id="dream", concurrency_limit=studio.concurrency, show_progress="hidden")

    look.click(handlers.semantic_dictionary, [photo, layer],
               [grid, dictionary, status, grid_state, dictionary_entries],
               api_name="semantic_dictionary", **common).then(
        handlers.spatial_attribution, [photo, layer], attribution, api_name="spatial_attribution",
        **common).then(
        handlers.neuron_groups, [photo, layer, groups], [group_maps, status], api_name="neuron_groups",
        **common)
    grid.select(handlers.choose_cell, grid_state, [grid, dictionary, status, grid_state, dictionary_entries],
                api_visibility="private", **common)
    caricature_button.click(handlers.caricature, [photo, layer], [caricature, status],
                            api_name="caricature", **common)
    stop.click(studio.stop, None, None, api_visibility="private", queue=False)

    circuit_outputs = [circuit_title, inputs_gallery, outputs_gallery, status, circuit_entries]
    circuit_button.click(handlers.circuit, [circuit_layer, circuit_channel], circuit_outputs,
                         api_name="circuit", **common)

    def open_entry(entries, event: gr.SelectData):
        if not entries or event is None or not 0 <= event.index < len(entries):
            return gr.skip(), gr.skip()
        _, chosen_layer, index = entries[event.index]
        return chosen_layer, index

    def walk(which: int):
        def chosen(entries, event: gr.SelectData):
            return open_entry(entries[which], event)
        return chosen

    dictionary.select(open_entry, dictionary_entries, [circuit_layer, circuit_channel],
                      api_visibility="private", queue=False).then(
        handlers.circuit, [circuit_layer, circuit_channel], circuit_outputs,
        api_name="circuit_from_dictionary", api_visibility="private", **common)
    for gallery, which in ((inputs_gallery, 0), (outputs_gallery, 1)):
        gallery.select(walk(which), circuit_entries, [circuit_layer, circuit_channel],
                       api_visibility="private", queue=False).then(
            handlers.circuit, [circuit_layer, circuit_channel], circuit_outputs,
            api_name=f"circuit_walk_{which}", api_visibility="private", **common)
    _wire_dream(studio, circuit_layer, circuit_channel, photo, dream_button)
    # The photo carries over: opening this tab with no photo takes the Deep Dream tab's.
    studio.tab_objects["inside"].select(
        lambda mine, theirs: gr.skip() if mine or not theirs else theirs,
        [photo, studio.tab_inputs["deep_dream"]["image"]], photo, api_visibility="private", queue=False)
    studio.run_buttons += [(look, "inception"), (caricature_button, "inception"),
                           (circuit_button, "inception"), (dream_button, "inception")]
    studio.layer_dropdowns.append(layer)


def _wire_dream(studio: Studio, layer: gr.Textbox, channel: gr.Number, photo: gr.Image,
                button: gr.Button) -> None:
    """The circuit's channel and this photo into the Deep Dream tab, which then dreams."""
    dd = studio.tab_inputs["deep_dream"]
    targets = [dd["objective"], dd["layer"], dd["channel"], dd["pre_relu"], dd["image"], studio.tabs]

    def hand_over(chosen_layer, index, picture):
        return ["channel", chosen_layer, int(index or 0), True, picture if picture else gr.skip(),
                gr.Tabs(selected="deep_dream")]

    button.click(hand_over, [layer, channel, photo], targets, api_visibility="private",
                 queue=False).then(
        None, None, None, api_visibility="private",
        js="() => new Promise(done => setTimeout(() => { "
           f"document.getElementById('{ids.element('dd', 'run')}')?.click(); done(); }}, 400))")
