"""What an MCP agent gets from the studio: each technique as a tool that takes images as
data URIs or URLs and answers with the picture, links to its animations and one short
plain-text summary.

Gradio serves every public endpoint as an MCP tool (`launch(mcp_server=True)`); its bridge
(gradio 6.31) needs three corrections for tools like ours, made in `DreamMCPServer`, a
subclass installed in its place by `install()`:

- A tool with several outputs fails ("pop index out of range") when the client sends no
  progress token, because the bridge wraps the endpoint's tuple of outputs in a list.
- Every output becomes an item: the page's HTML status line, the downloads list and the
  settings as Python reprs, server paths among them; a GIF becomes a still image. Here the
  final picture is an image, the GIF and MP4 (and atlas tiles) are resource links, and the
  notes, status and settings make one plain-text summary.
- Tool descriptions say to use an `upload_file_to_gradio` tool; here they say what to send
  (a data URI or an http(s) URL), what comes back and how long it takes
  (`agent_description`), and a data URI that cannot be decoded gets a message saying so.

The stop endpoints are not tools: a tool call returns only when its run ends.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import gradio as gr
import gradio.mcp as gradio_mcp
from gradio.components import State

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".webp": "image/webp", ".gif": "image/gif", ".mp4": "video/mp4"}
STILL_IMAGES = (".png", ".jpg", ".jpeg", ".webp")
INPUT_NOTE = ("Images are given as a data URI (data:image/png;base64,…) or as a public "
              "http(s) URL.")


def hidden_from_agents(fn):
    """Marks an event function as not an MCP tool (its HTTP endpoint stays)."""
    fn._mcp_type = "hidden"
    return fn


def describe_for_agents(fn, description: str):
    """The description the tool listing shows instead of the function's docstring."""
    fn._agent_description = description
    return fn


@dataclass
class Output:
    """One output of a tool call with the component that made it."""

    component: Any
    value: Any


def _text_of_status(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", value)).strip()


class DreamMCPServer(gradio_mcp.GradioMCPServer):
    """Gradio's MCP bridge with the corrections listed in the module docstring."""

    async def _execute_tool_without_progress(self, job: Any) -> list[Any]:
        result = await gradio_mcp.run_sync(job.result)
        return list(result) if isinstance(result, tuple) else [result]

    def pop_returned_state(self, components, data: Any) -> list:  # type: ignore[override]
        return [Output(component, value) for component, value in zip(components, data)
                if not isinstance(component, State)]

    def get_fn_description(self, block_fn, tool_name: str) -> tuple[str, dict[str, str]]:
        description, parameters = super().get_fn_description(block_fn, tool_name)
        own = getattr(block_fn.fn, "_agent_description", None)
        if own is not None:
            description = own
        return description, parameters

    def convert_strings_to_filedata(self, value: Any, filedata_positions: list) -> Any:
        try:
            return super().convert_strings_to_filedata(value, filedata_positions)
        except ValueError as error:
            if "Invalid file data format" in str(error):
                raise ValueError(f"A file parameter got text that is neither a data URI nor an "
                                 f"http(s) URL. {INPUT_NOTE}") from None
            raise ValueError(f"A data URI could not be decoded ({error}). {INPUT_NOTE}") from None
        except Exception as error:  # noqa: BLE001 - binascii and friends
            raise ValueError(f"A data URI could not be decoded ({type(error).__name__}). "
                             f"{INPUT_NOTE}") from None

    def postprocess_output_data(self, data: Any, root_url: str) -> list:
        if not data or not all(isinstance(item, Output) for item in data):
            return super().postprocess_output_data(data, root_url)
        return AgentResult(self, root_url).build(data)


class AgentResult:
    """Turns one call's outputs into MCP content: images, links, one summary."""

    def __init__(self, server: DreamMCPServer, root_url: str) -> None:
        self.server, self.root_url = server, root_url.rstrip("/")
        self.images: list = []
        self.links: list = []
        self.files: list[str] = []
        self.texts: list[str] = []
        self.status: str | None = None
        self.settings: Any = None

    def public_url(self, file: dict) -> str:
        """The file's URL as the agent reaches this server (the bridge's own calls go
        to localhost)."""
        parsed = urlparse(file.get("url") or "")
        return f"{self.root_url}{parsed.path}" + (f"?{parsed.query}" if parsed.query else "")

    def add_file(self, file: dict | None, title: str, inline: bool = False) -> None:
        """A link to the file; `inline`: the file itself, as the call's one image."""
        if not isinstance(file, dict) or not file.get("path"):
            return
        types = self.server.types
        suffix = Path(file["path"]).suffix.lower()
        url = self.public_url(file)
        if inline and suffix in STILL_IMAGES and not self.images:
            data = base64.b64encode(Path(file["path"]).read_bytes()).decode("ascii")
            self.images.append(types.ImageContent(type="image", data=data,
                                                  mimeType=MIME_TYPES[suffix]))
        else:
            self.links.append(types.ResourceLink(
                type="resource_link", uri=url, name=Path(file["path"]).name, title=title,
                mimeType=MIME_TYPES.get(suffix, "application/octet-stream")))
        self.files.append(f"{title}: {url}")

    def add(self, output: Output) -> None:
        component, value = output.component, output.value
        if value is None or isinstance(component, gr.File):  # downloads repeat the files
            return
        if isinstance(component, gr.Video):  # a file, or {"video": file, "subtitles": …}
            file = value.get("video", value) if isinstance(value, dict) else None
            self.add_file(file, "the animation as MP4")
        elif isinstance(component, gr.Image):
            gif = str(value.get("path", "")).lower().endswith(".gif")
            self.add_file(value, "the animation as GIF" if gif else "the final picture", inline=True)
        elif isinstance(component, gr.Gallery):
            for item in value or []:
                file = item.get("image") if isinstance(item, dict) else None
                self.add_file(file, item.get("caption") or "tile")
        elif isinstance(component, gr.JSON):
            self.settings = value
        elif getattr(component, "skip_api", False):  # the page's status line
            self.status = _text_of_status(str(value))
        elif isinstance(value, str) and value.strip():
            self.texts.append(value.strip())

    def build(self, outputs: list[Output]) -> list:
        for output in outputs:
            self.add(output)
        lines = self.texts or ([self.status] if self.status else [])
        if self.files:
            lines.append("Files: " + "; ".join(self.files) + ".")
        if self.settings is not None:
            lines.append("Settings: " + json.dumps(self.settings, separators=(", ", ": "),
                                                   default=str))
        summary = self.server.types.TextContent(type="text", text="\n".join(lines) or "Done.")
        return [*self.images, *self.links, summary]


def install() -> None:
    """Makes Gradio build `DreamMCPServer` for apps launched with `mcp_server=True`."""
    gradio_mcp.GradioMCPServer = DreamMCPServer
