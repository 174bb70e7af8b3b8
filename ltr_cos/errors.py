"""Errors that the command line reports as a one-line message instead of a traceback."""

from __future__ import annotations

DEBUG_ENV = "LTR_COS_DEBUG"


class InputError(ValueError):
    """Bad user input (a file, a row, an argument). The message names the file and line where known."""

    # The newest InputError made. Some libraries (jsonargparse's Union handling) fold an exception raised in
    # a constructor into their own error text; the CLI finds it there through this reference.
    last_made: InputError | None = None

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        InputError.last_made = self


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error, or None for anything else (a bug: keep its traceback).

    User errors are ``InputError`` (also when another exception wraps it, by chaining or inside its text)
    and the file-system errors a user causes (a missing or unwritable path).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, InputError):
            return str(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    last = InputError.last_made
    if last is not None and str(last) in str(exc):
        return str(last)
    if isinstance(exc, (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
                        FileExistsError)) and exc.filename is not None:
        reason = {PermissionError: "permission denied", FileNotFoundError: "no such file or folder",
                  IsADirectoryError: "is a folder, expected a file", NotADirectoryError: "a parent is a file, not "
                  "a folder", FileExistsError: "already exists"}[type(exc)]
        return f"{exc.filename}: {reason}"
    return None
