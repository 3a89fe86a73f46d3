"""Turning exceptions into words a user can read: no server paths, no Markdown, no traces."""

from __future__ import annotations

import logging
import re

import dream
from dream.endpoints import ParameterError
from dream.pool import PoolUnavailable, WorkerLost

LOG = logging.getLogger("deep-dream-studio")

# An absolute POSIX or Windows path (as a whole word): replaced by its last part.
_PATH = re.compile(r"(?<![\w/:.])(?:[A-Za-z]:\\|/)(?:[^\s'\"(),;/\\]+[/\\])+([^\s'\"(),;]*)")


def without_paths(text: str) -> str:
    """`text` with every absolute path cut to its file name (server paths stay private)."""
    return _PATH.sub(lambda match: match.group(1) or "(a folder on the server)", text)


def plain(text: str) -> str:
    """Markdown code marks removed: toasts show text as it is."""
    return text.replace("`", "")


EXPECTED = (ParameterError, dream.ImageError, dream.LimitError, dream.ModelUnavailable, ValueError,
            WorkerLost, PoolUnavailable)


def user_message(error: BaseException) -> str:
    """What to tell the user about `error`; unexpected ones are logged with their trace."""
    if isinstance(error, EXPECTED):
        return plain(without_paths(str(error)))
    LOG.error("Dream failed", exc_info=error)
    return (f"The dream failed unexpectedly ({type(error).__name__}). The server keeps running: "
            f"try again, perhaps with a smaller image or fewer steps.")
