"""Progress bars on terminals only: a log file or a CI transcript gets no bar (no carriage-return lines)."""

from __future__ import annotations

import sys
from typing import IO, Any


def on_terminal(stream: IO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where tqdm draws) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress_bar(iterable: Any = None, enabled: bool = True, **kwargs: Any):
    """A tqdm bar, drawn only when ``enabled`` and stderr is a terminal (otherwise a silent pass-through)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not (enabled and on_terminal()), **kwargs)
