"""Errors that the command line reports as a one-line message instead of a traceback."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (a file, a row, an argument). The message names the file and line where known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
