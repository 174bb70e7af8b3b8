"""The exact error diagnosis: which line of a chunk is bad, and why, in words.

Runs only after the fast parser (``fast.py``) rejected a chunk, so well-formed files never pay for it.
The per-line rules here are the documented grammar; the fast parser's vectorised checks accept exactly
the rows these rules accept.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ltr_cos.data.libsvm.fast import _MAX_ID_DIGITS, _MAX_QID_DIGITS, _NEWLINE, _Found, _parse_chunk_fast, _Rows
from ltr_cos.errors import InputError

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# What Arrow's string -> float64 cast accepts; the slow scan uses it so both paths agree on a bad number.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NONFINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_INT = re.compile(r"\d+")
_QID = re.compile(r"-?\d+")



def _number_problem(text: str) -> str | None:
    """Why ``text`` is not a finite number (None when it is one)."""
    if _NONFINITE.fullmatch(text):
        return f"{text!r} is not a finite number (NaN and infinity are not allowed)"
    if not _NUMBER.fullmatch(text):
        return f"{text!r} is not a number"
    value = float(text)
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        return f"{text!r} does not fit in float32"
    return None


def _line_problem(text: str, n_features: int | None) -> str | None:
    """Describe the first problem of one row (None when the row is well formed)."""
    body = text.split("#", 1)[0].split()
    if not body:
        return None
    problem = _number_problem(body[0])
    if ":" in body[0]:
        return f"expected a numeric label as the first field, got {body[0]!r}"
    if problem:
        return f"label {problem}"
    seen: dict[int, int] = {}
    for pos, token in enumerate(body[1:], start=2):
        if token.count(":") != 1:
            return f"field {pos} {token!r}: expected id:value"
        key, value = token.split(":")
        if not key or not value:
            return f"field {pos} {token!r}: expected id:value"
        if key == "qid":
            if pos != 2:
                return f"field {pos} {token!r}: qid: must directly follow the label"
            if not _QID.fullmatch(value) or len(value.lstrip("-")) > _MAX_QID_DIGITS:
                return f"field {pos} {token!r}: qid must be an integer"
            continue
        if not _INT.fullmatch(key):
            return f"field {pos} {token!r}: feature id {key!r} is not a positive integer"
        if len(key.lstrip("0")) > _MAX_ID_DIGITS:
            return f"field {pos} {token!r}: feature id {key} is too large"
        fid = int(key)
        if fid == 0:
            return f"field {pos} {token!r}: feature ids are 1-based, got 0"
        if n_features is not None and fid > n_features:
            return f"field {pos} {token!r}: feature id {fid} is out of range (expected 1..{n_features})"
        if fid in seen:
            return f"field {pos} {token!r}: feature id {fid} repeats field {seen[fid]}"
        seen[fid] = pos
        problem = _number_problem(value)
        if problem:
            return f"field {pos} {token!r}: value {problem}"
    return None


def _parse_chunk(chunk: bytes, first_line: int, path: str, n_features: int | None) -> _Rows:
    """Parse a chunk of whole lines (ending with a newline) that starts at 1-based line ``first_line``."""
    try:
        return _parse_chunk_fast(chunk, first_line, n_features)
    except _Found as found:
        _raise_first_error(chunk, first_line, path, n_features, found.line)
        raise AssertionError("unreachable") from None  # pragma: no cover


def _raise_first_error(chunk: bytes, first_line: int, path: str, n_features: int | None, line: int) -> None:
    """Raise the InputError for the first bad line of ``chunk``.

    A vectorised check reports the first line that *it* rejects; an earlier line may break a different
    check, so the prefix before that line is parsed again first (each round drops at least one kind of
    check, so this recurses only a few levels).
    """
    buf = np.frombuffer(chunk, np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    start = int(newlines[line - 1]) + 1 if line > 0 else 0
    if line > 0:
        _parse_chunk(chunk[:start], first_line, path, n_features)
    stop = int(newlines[line]) if line < len(newlines) else len(chunk)
    text = chunk[start:stop].decode("utf-8", errors="replace")
    problem = _line_problem(text, n_features) or "malformed row"
    raise InputError(problem, path, first_line + line)
