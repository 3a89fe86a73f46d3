"""Deep Dream Studio: Deep Dream, fractal zoom, guided hallucination and style transfer on
Google's inception5h GoogLeNet, in the browser.

    python app.py            # serves on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT)
    python app.py --share    # also asks Gradio for a public link (or DREAM_SHARE=1)
    python app.py --workers 4                          # dreams on 4 worker processes (Ray)
    DREAM_RAY_ADDRESS=auto python app.py --workers 8   # … on a running Ray cluster

This file is the table of contents: load the model, build the tabs, launch. Each tab is a
module of `ui/` (a new tab is one new module and one line in `TABS`); the parameters,
their checks and the calls into the `dream` package live in `dream.endpoints`.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402
import httpx  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from dream import atlas as atlas_module  # noqa: E402
from dream.endpoints import DEFAULT_MAX_SIDE, SERVER_LIMITS  # noqa: E402
from dream.pool import PoolSettings, PoolUnavailable  # noqa: E402
from ui import agents, atlas, deep_dream, fractal_zoom, guide, guided, ids, inside, outputs, style_transfer, uploads, video  # noqa: E402
from ui.upload_quota import UploadQuota  # noqa: E402
from ui.model_holder import ModelHolder, StyleModelHolder  # noqa: E402
from ui.studio import Studio  # noqa: E402

LOG = logging.getLogger("deep-dream-studio")
ROOT = Path(__file__).resolve().parent
QUEUE_MAX_SIZE = 16

# (tab label, technique id, module): the order of the tabs on the page.
TABS: tuple[tuple[str, str, Callable[[Studio], None]], ...] = (
    ("Deep Dream", "deep_dream", deep_dream.build),
    ("Fractal Zoom", "fractal_zoom", fractal_zoom.build),
    ("Guided", "guided", guided.build),
    ("Style Transfer", "style_transfer", style_transfer.build),
    ("Video", "dream_video", video.build),
    ("Neuron Atlas", "atlas", atlas.build),  # after Deep Dream: it hands tiles over to it
    ("Inside my photo", "inside", inside.build),
)

CSS = """
#model-status { padding: 0.3rem 0.8rem; border-radius: 8px; background: var(--block-background-fill); }
#model-status p { margin: 0; }
.header h1 { margin: 0 0 0.2rem 0; font-size: 1.6rem; }
.header p { margin: 0; }
.status-line { min-height: 2.6rem; }
/* Early previews are the small octaves: shown at the box's size, so nothing jumps. */
.preview img { width: 100%; height: 100%; object-fit: contain; }
.dream-status p { margin: 0.15rem 0 0 0; font-size: 0.9rem; }
.dream-status.error p { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.dream-status.done p { color: var(--body-text-color); font-weight: 600; }
.dream-bar { height: 6px; border-radius: 3px; background: var(--border-color-primary); overflow: hidden; }
.dream-bar span { display: block; height: 100%; background: var(--color-accent); transition: width 0.4s; }
/* Every tab stays reachable on a phone: the tabs that do not fit, which Gradio moves into
   a "…" menu, are shown as ordinary buttons on a second line instead. */
@media (max-width: 720px) {
  .tab-wrapper { flex-wrap: wrap !important; height: auto !important; }
  .tab-wrapper .overflow-menu { display: contents !important; }
  .tab-wrapper .overflow-menu > button { display: none !important; }
  .tab-wrapper .overflow-dropdown, .tab-wrapper .overflow-dropdown.hide {
    display: flex !important; flex-wrap: wrap; position: static !important; box-shadow: none !important;
    border: none !important; background: none !important; padding: 0 !important; min-width: 0 !important; }
  .tab-wrapper .overflow-dropdown button { width: auto !important; padding: var(--size-1) var(--size-4) !important; }
  /* The painting editor: a photo fills a phone's width at about half its height, so the
     canvas is shorter; its label would sit under the zoom bar (the text above says it). */
  [id$="-paint"].block { height: 300px !important; }
  [id$="-paint"].block > label { display: none !important; }
}
"""
# Outside the app's container (custom CSS is scoped to it): Gradio hides "Use via API" on
# narrow screens; the API is for everyone.
HEAD = """<style>
@media (max-width: 640px) { footer .show-api, footer .show-api-divider { display: flex !important; } }
</style>"""


def build_app(holder: ModelHolder | None = None,
              style_holder: StyleModelHolder | None = None, pool=None) -> gr.Blocks:
    """The whole page; `holder` loads (or has loaded) the inception5h model, `style_holder`
    the optional fast style network; `pool` (`dream.pool`), when given, does the dreaming."""
    holder = holder or ModelHolder(warm_up=True).start()
    style_holder = style_holder or StyleModelHolder().start()
    studio = Studio(holder, DEFAULT_MAX_SIDE, SERVER_LIMITS.max_side, style_holder, pool)

    with gr.Blocks(title="Deep Dream Studio",
                   delete_cache=(outputs.OUTPUT_MAX_AGE_S, outputs.OUTPUT_MAX_AGE_S)) as demo:
        gr.Markdown("# Deep Dream Studio\nSee what Google's Inception network sees: upload a photo "
                    "(or click an example), press the big button, watch it dream.",
                    elem_classes=["header"])
        with gr.Row(equal_height=True):
            status = gr.Markdown(studio.status_markdown(), elem_id=ids.MODEL_STATUS)
            retry = gr.Button("Retry loading the model", elem_id=ids.MODEL_RETRY, scale=0,
                              visible=holder.state == "unavailable", min_width=200)
        with gr.Tabs() as tabs:
            studio.tabs = tabs
            for label, technique, build in TABS:
                with gr.Tab(label, id=technique, elem_id=ids.TABS[technique]) as tab:
                    studio.tab_objects[technique] = tab
                    build(studio)
            with gr.Tab("About", id="about", elem_id=ids.TABS["about"]):
                guide.build_about(SERVER_LIMITS.max_side, SERVER_LIMITS.max_megapixel_steps)

        # The page follows the model's state: loading → ready (or unavailable → Retry).
        timer = gr.Timer(2.0, active=holder.state == "loading" or holder.warming)
        watched = studio.refresh_outputs(status, timer, retry)
        timer.tick(studio.refresh, None, watched, api_name="model_status_tick",
                   api_visibility="undocumented", queue=False, show_progress="hidden")
        demo.load(studio.refresh, None, watched, api_name="model_status",
                  api_visibility="undocumented", queue=False, show_progress="hidden")
        retry.click(studio.retry, None, watched, api_name="retry_model",
                    api_visibility="undocumented", show_progress="minimal")
        for button in studio.style_retries:
            button.click(studio.retry, None, watched, api_visibility="private",
                         show_progress="minimal")

    demo.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE * (pool.size if pool else 1))
    uploads.name_refused_references(demo)
    return demo


def launch_options() -> dict[str, Any]:
    """Options `main` launches with; tests pass them too, so they see the same page."""
    agents.install()  # the MCP tools' corrections (ui/agents.py)
    # The atlas's tiles are served straight from its disk cache.
    allowed = [str(ROOT / "assets"), str(atlas_module.default_cache_dir())]
    return dict(theme=gr.themes.Soft(), css=CSS, head=HEAD, allowed_paths=allowed,
                max_file_size=uploads.MAX_UPLOAD_BYTES, mcp_server=True,
                app_kwargs={"middleware": [Middleware(UploadQuota)]}, **_without_self_check())


def _without_self_check() -> dict[str, Any]:
    """Gradio's launch checks that it can reach its own URL (up to five HEAD requests with
    a 3 s time-out, and the first time-out ends the check) and raises when it cannot, to
    demand a share link on hosted notebooks. On a machine whose load stayed around 20 that
    request timed out and the app exited right after loading the model. The check decides
    nothing else, so it is skipped (gradio 6's `_frontend` switch) and `watch_local_url`
    checks patiently in the background instead."""
    if "_frontend" in inspect.signature(gr.Blocks.launch).parameters:
        return {"_frontend": False}
    return {}


def watch_local_url(demo: gr.Blocks, patience_s: float = 120.0) -> None:
    """Logs a warning if the app cannot be reached at its local URL within `patience_s`
    (a proxy setting or a firewall in the way), without stopping it."""
    def watch() -> None:
        started = time.monotonic()
        while time.monotonic() - started < patience_s:
            url = getattr(demo, "local_url", None)
            if url:
                try:
                    if httpx.head(url, timeout=30, verify=False).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(2)
        LOG.warning("The app did not answer at %s within %.0f s: check proxy settings "
                    "(NO_PROXY) and firewalls, or launch with --share.",
                    getattr(demo, "local_url", "its local URL"), patience_s)

    threading.Thread(target=watch, name="local-url-check", daemon=True).start()


def start_pool(settings, holder: ModelHolder):
    """The worker pool `settings` asks for, dreaming with the model `holder` has loaded (its
    files travel to the workers); None without a model. Ray is imported only here."""
    from dream import pool as pool_module
    from dream.model import resolve_model_files
    from dream.pool.ray_pool import read_model_files

    if holder.load().model is None:
        LOG.error("No worker pool: the model could not be loaded (%s).", holder.error)
        return None
    files = read_model_files(*resolve_model_files(holder.path))
    return pool_module.start_pool(settings, model_files=files,
                                  style_model_dir=os.environ.get("DREAM_STYLE_MODEL_DIR"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deep Dream Studio (Gradio app)")
    parser.add_argument("--share", action="store_true",
                        help="ask Gradio for a public link (also DREAM_SHARE=1)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="dream on N worker processes (a local Ray; with DREAM_RAY_ADDRESS, "
                             "on that Ray cluster); default: in this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    share = args.share or os.environ.get("DREAM_SHARE", "").lower() in ("1", "true", "yes")
    settings = PoolSettings.from_environment(args.workers)

    # With a pool the workers dream; this process only checks requests, so it does not warm up.
    holder = ModelHolder(warm_up=not settings.enabled).start()
    # A local model loads in a second or two: waiting briefly lets the page be built with
    # its layer and class lists; a download continues in the background.
    holder.load(timeout=20)
    LOG.info("Model: %s", holder.state if holder.error is None else holder.error)
    pool = None
    if settings.enabled:
        try:
            pool = start_pool(settings, holder)
        except PoolUnavailable as error:
            raise SystemExit(f"Deep Dream Studio did not start: {error}") from None
    demo = build_app(holder, pool=pool)
    watch_local_url(demo)
    demo.launch(share=share, **launch_options())


if __name__ == "__main__":
    main()
