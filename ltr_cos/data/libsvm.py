"""Fast LibSVM/SVMlight ranking-file reader.

Rows look like ``label [qid:Q] id:value id:value ... [# comment]`` with 1-based feature ids. The reader
accepts CRLF line ends, trailing spaces, blank and comment-only lines, sparse and dense rows, gzip files,
and LightGBM ``.query`` side files (one document count per line) for files without ``qid:``.

Speed comes from working on whole buffers: newline and comment positions are found with NumPy, the words
are split by one Arrow kernel, numbers are parsed by one Arrow cast, and every check is a vectorised
test. Only when a check fails does a slow line-by-line scan produce the precise message (file, line,
what was expected), so well-formed files never pay for it.
"""

from __future__ import annotations

import gzip
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ltr_cos.errors import InputError

# Chunks are cut at line ends; 8 MiB keeps the per-chunk index arrays (about 15x the text) small while
# still amortising the per-call overhead of the vectorised steps.
DEFAULT_CHUNK_BYTES = 8 << 20
_MAX_ID_DIGITS = 9  # feature ids up to 999,999,999 keep int64 arithmetic exact and cheap
_MAX_QID_DIGITS = 18
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_COLON, _HASH, _NEWLINE = 58, 35, 10
_X_LOWER, _X_UPPER = ord("x"), ord("X")
# What Arrow's string -> float64 cast accepts; the slow scan uses it so both paths agree on a bad number.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# ASCII whitespace as Arrow's ascii_split_whitespace sees it (the newline is handled apart)
_IS_BLANK = np.zeros(256, bool)
_IS_BLANK[[9, 11, 12, 13, 32]] = True
_NONFINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_INT = re.compile(r"\d+")
_QID = re.compile(r"-?\d+")


@dataclass
class LibSVMTable:
    """A parsed ranking file (or a block of whole queries of one).

    Attributes:
        qid: int64 [N], query id of each row (from ``qid:``, from the ``.query`` file as 1-based group
            numbers, or 0 for a file read as a single query).
        label: float32 [N], the row label (main objective).
        features: float32 [N, F], dense features; absent sparse entries are 0.
        n_features: F, the number of feature columns (column j holds feature id j + 1).
        path: the source file.
        lines: int64 [N], 1-based line of each row in the source file (for error messages).
    """

    qid: np.ndarray
    label: np.ndarray
    features: np.ndarray
    n_features: int
    path: str
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def n_queries(self) -> int:
        """Number of query blocks (rows of one query are contiguous)."""
        if len(self.qid) == 0:
            return 0
        return int(np.count_nonzero(self.qid[1:] != self.qid[:-1]) + 1)


@dataclass
class _Rows:
    """Sparse rows of one chunk before qid resolution and densification (all arrays per row or per entry)."""

    lines: np.ndarray  # int64 [n] 1-based file lines
    label: np.ndarray  # float32 [n]
    has_qid: np.ndarray  # bool [n]
    qid: np.ndarray  # int64 [n] (0 where has_qid is False)
    entry_row: np.ndarray  # int32/int64 [nnz] row of each id:value entry (0-based within the chunk)
    entry_col: np.ndarray  # int32/int64 [nnz] 0-based column (feature id - 1)
    entry_val: np.ndarray  # float32 [nnz]
    n_lines: int = 0  # text lines of the chunk, blank and comment lines included

    @property
    def n(self) -> int:
        return int(self.label.shape[0])

    @property
    def max_id(self) -> int:
        return int(self.entry_col.max()) + 1 if len(self.entry_col) else 0


def _empty_rows(n_lines: int = 0) -> _Rows:
    z64 = np.zeros(0, np.int64)
    return _Rows(z64, np.zeros(0, np.float32), np.zeros(0, bool), z64, z64, z64, np.zeros(0, np.float32), n_lines)


# ----------------------------------------------------------------------------------------------------
# The slow, precise per-line check (error path only)
# ----------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------
# The fast chunk parser
# ----------------------------------------------------------------------------------------------------


class _Found(Exception):
    """A vectorised check failed at chunk line ``line`` (0-based); the precise message comes later."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _cast_or_find(strings: pa.Array, to: pa.DataType, line_of_word) -> np.ndarray:
    """Cast the valid strings of a three-strings-per-word array to ``to``, or raise _Found.

    Returns:
        [len(strings)] NumPy array; entries at null positions are meaningless.

    The culprit of a failed cast is found by bisection over casts of halves (O(log n) cheap casts instead
    of a Python loop); its chunk line is ``line_of_word(index // 3)``.
    """
    try:
        result = pc.cast(strings, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        width = np.dtype(to.to_pandas_dtype())
        return np.frombuffer(result.buffers()[1], width)[result.offset : result.offset + len(result)]
    lo, hi = 0, len(strings)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(strings.slice(lo, mid - lo), to)
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    raise _Found(line_of_word(lo // 3))


def _string_array(offsets: np.ndarray, data: pa.Buffer, valid: np.ndarray | None = None) -> pa.Array:
    """Arrow strings ``data[offsets[i]:offsets[i+1]]`` without copying the text.

    Args:
        offsets: int32 or int64 [n + 1].
        data: the text buffer.
        valid: bool [n], or a ready validity bitmap (uint8, LSB first); None = all valid.
    """
    n = len(offsets) - 1
    if valid is None:
        bitmap = None
    elif valid.dtype == np.uint8:
        bitmap = pa.py_buffer(valid)
    else:
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    if offsets.dtype == np.int32:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), data, bitmap)
    if offsets[-1] < 2**31 - 1:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), data, bitmap)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int64)), data, bitmap)


_BIT_TEMPLATES: dict[int, np.ndarray] = {}


def _every_third_bit(n_bits: int, phase: int) -> np.ndarray:
    """Arrow validity bitmap (uint8, LSB first) with bits phase, phase + 3, ... set; 24 bits repeat.

    Returns a fresh array (callers edit it), copied from a cached template that grows as needed.
    """
    n_bytes = (n_bits + 7) // 8
    template = _BIT_TEMPLATES.get(phase)
    if template is None or len(template) < n_bytes:
        bits = np.zeros(24, bool)
        bits[phase::3] = True
        pattern = np.packbits(bits, bitorder="little")
        size = max(n_bytes, 1 << 16)
        template = np.tile(pattern, size // 3 + 1)
        _BIT_TEMPLATES[phase] = template
    return template[:n_bytes].copy()


def _set_bits(bitmap: np.ndarray, positions: np.ndarray, value: bool) -> None:
    """Set or clear bits of a bitmap in place (positions may share bytes)."""
    if len(positions) == 0:
        return
    masks = np.left_shift(1, positions & 7).astype(np.uint8)
    if value:
        np.bitwise_or.at(bitmap, positions >> 3, masks)
    else:
        np.bitwise_and.at(bitmap, positions >> 3, ~masks)


def _string_offsets(strings: pa.Array) -> np.ndarray:
    """The offsets of an Arrow string (int32) or large string (int64) array, [n+1], without a copy."""
    dtype = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    raw = np.frombuffer(strings.buffers()[1], dtype)
    return raw[strings.offset : strings.offset + len(strings) + 1]


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


def _parse_chunk_fast(chunk: bytes, first_line: int, n_features: int | None) -> _Rows:
    buf = np.frombuffer(chunk, np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    n_lines = len(newlines)
    if n_lines == 0:
        return _empty_rows()
    line_start = np.empty(n_lines, np.int64)
    line_start[0] = 0
    line_start[1:] = newlines[:-1] + 1
    content_end = newlines.copy()
    hashes = np.flatnonzero(buf == _HASH)
    if len(hashes):
        hash_line = np.searchsorted(newlines, hashes)
        first = np.empty(len(hashes), bool)
        first[0] = True
        np.not_equal(hash_line[1:], hash_line[:-1], out=first[1:])
        content_end[hash_line[first]] = hashes[first]
    # Trim blanks at both ends of each line's content so that the split below yields no empty words
    # (a few passes over the lines, one per trailing blank, e.g. " \r" before the newline).
    for _ in range(64):
        more = (content_end > line_start) & _IS_BLANK[buf[np.maximum(content_end - 1, 0)]]
        if not more.any():
            break
        content_end[more] -= 1
    else:
        content_end = _trim_slowly(buf, line_start, content_end, end=True)
    for _ in range(64):
        more = (content_end > line_start) & _IS_BLANK[buf[np.minimum(line_start, len(buf) - 1)]]
        if not more.any():
            break
        line_start[more] += 1
    else:
        line_start = _trim_slowly(buf, line_start, content_end, end=False)
    has_content = content_end > line_start
    row_line = np.flatnonzero(has_content)
    n_rows = len(row_line)
    if n_rows == 0:
        return _empty_rows(n_lines)

    # Each line becomes two strings: its content (valid) and the rest up to the next line's content
    # (comment, blanks, newline; null), so one split over the whole chunk skips every comment and the
    # words of all lines come out back to back in one buffer.
    offsets = np.empty(2 * n_lines + 1, np.int64)
    offsets[0:-1:2] = line_start
    offsets[1::2] = content_end
    offsets[-1] = len(chunk)  # the first string starts at the first line's content: no leading blanks
    valid = np.zeros(2 * n_lines, bool)
    valid[0::2] = has_content
    words = pc.ascii_split_whitespace(_string_array(offsets, pa.py_buffer(chunk), valid))
    list_offsets = np.frombuffer(words.buffers()[1], np.int32)[: len(words) + 1]
    flat = words.values
    text = flat.buffers()[2]
    data = np.frombuffer(text, np.uint8)
    word_offsets = _string_offsets(flat)
    n_words = len(flat)
    label_word = list_offsets[0:-1:2][has_content].astype(np.int64)  # [R] first word of each row
    fields = np.diff(np.append(label_word, n_words))  # [R] words per row, label included

    def line_of_word(index: int) -> int:
        return int(row_line[np.searchsorted(label_word, index, "right") - 1])

    # Arrow's integer cast also reads hex ("0x10" -> 16); no valid field holds an x (ids, qids and
    # numbers are decimal, "qid" has none), so one byte test keeps both paths on the documented grammar.
    hex_mark = np.flatnonzero((data == _X_LOWER) | (data == _X_UPPER))
    if len(hex_mark):
        raise _Found(line_of_word(int(np.searchsorted(word_offsets, hex_mark[0], "right")) - 1))

    is_label = np.zeros(n_words, bool)
    is_label[label_word] = True
    pair = np.flatnonzero(~is_label)
    key_start = word_offsets[pair]

    # Structure: every id:value field holds exactly one colon, not at its ends; labels hold none.
    colons = np.flatnonzero(data == _COLON)
    if len(colons) != len(pair) or not (
        np.all(colons > key_start) and np.all(colons < word_offsets[1:][pair] - 1)
    ):
        starts = word_offsets[:-1]
        counts = np.bincount(np.searchsorted(starts, colons, "right") - 1, minlength=n_words)
        bad = np.where(is_label, counts != 0, counts != 1)
        first_colon = colons[np.minimum(np.searchsorted(colons, starts), max(len(colons) - 1, 0))] \
            if len(colons) else starts
        bad |= ~is_label & ((first_colon == starts) | (first_colon == word_offsets[1:] - 1))
        raise _Found(line_of_word(int(np.argmax(bad))))

    # Cut every word into three strings, "key", ":" and "value" (a label is all value), over the words'
    # own buffer without copying. Arrow parses the ids and qids with one cast and the numbers with
    # another, each under a validity bitmap that hides the other strings; results are read back strided.
    cut = np.empty(3 * n_words + 1, word_offsets.dtype)
    cut3 = cut[:-1].reshape(n_words, 3)
    cut3[:, 0] = word_offsets[:-1]
    cut3[:, 1] = word_offsets[:-1]
    cut3[pair, 1] = colons
    np.add(cut3[:, 1], ~is_label, out=cut3[:, 2])
    cut[-1] = word_offsets[-1]

    # qid: only as the first field after the label. Elsewhere "qid" fails the id cast below, and the
    # precise message ("must directly follow the label") comes from the slow scan.
    with_fields = np.flatnonzero(fields > 1)
    cand_pair = label_word[with_fields] - with_fields  # pair index of the word after each label
    cand_start = key_start[cand_pair]
    is_qid = (colons[cand_pair] - cand_start) == 3
    if is_qid.any():
        maybe = np.flatnonzero(is_qid)
        s = cand_start[maybe]
        is_qid[maybe] = (data[s] == ord("q")) & (data[s + 1] == ord("i")) & (data[s + 2] == ord("d"))
    qid_rows = with_fields[is_qid]
    qid_words = label_word[qid_rows] + 1
    has_qid = np.zeros(n_rows, bool)
    has_qid[qid_rows] = True
    if len(qid_words):
        value_word = ~is_label
        value_word[qid_words] = False
        feat = np.flatnonzero(value_word)
    else:
        feat = pair

    int_bits = _every_third_bit(3 * n_words, 0)  # the keys of all words...
    _set_bits(int_bits, 3 * label_word, False)  # ...but labels (empty keys)
    _set_bits(int_bits, 3 * qid_words, False)  # and "qid" keys; their values are integers instead
    _set_bits(int_bits, 3 * qid_words + 2, True)
    ints = _cast_or_find(_string_array(cut, text, int_bits), pa.int64(), line_of_word)
    qid = np.zeros(n_rows, np.int64)
    qid[qid_rows] = ints[3 * qid_words + 2]
    too_long = np.abs(qid) >= 10**_MAX_QID_DIGITS
    if too_long.any():
        raise _Found(int(row_line[np.argmax(too_long)]))

    # Feature ids: positive integers, in range, no repeats within a row.
    fid = ints[0::3][feat]
    n_entries = fields - 1 - has_qid
    entry_row = np.repeat(np.arange(n_rows, dtype=np.int32 if n_rows < 2**31 else np.int64), n_entries)
    bad = (fid < 1) | (fid >= 10**_MAX_ID_DIGITS)  # the slow scan's "too large", not a huge dense block
    if n_features is not None:
        bad |= fid > n_features
    if bad.any():
        raise _Found(int(row_line[entry_row[np.argmax(bad)]]))
    if len(fid) > 1:
        rising = np.diff(fid) > 0
        row_first = np.cumsum(n_entries)[:-1]  # index of the first entry of rows 1..R-1
        rising[row_first[(row_first > 0) & (row_first < len(fid))] - 1] = True
        if not rising.all():
            # ids need not be sorted; sort (row, id) keys to find repeats
            order = np.lexsort((fid, entry_row))
            r, f = entry_row[order], fid[order]
            dup = (r[1:] == r[:-1]) & (f[1:] == f[:-1])
            if dup.any():
                raise _Found(int(row_line[r[1:][dup].min()]))

    # Numbers (labels and values): float64 as written, then float32, which must stay finite.
    number_bits = _every_third_bit(3 * n_words, 2)
    _set_bits(number_bits, 3 * qid_words + 2, False)
    numbers = _cast_or_find(_string_array(cut, text, number_bits), pa.float64(), line_of_word)
    with np.errstate(over="ignore"):  # out-of-range values become inf and are reported just below
        values32 = numbers[2::3].astype(np.float32)
    values32[qid_words] = 0.0
    finite = np.isfinite(values32)
    if not finite.all():
        raise _Found(line_of_word(int(np.argmin(finite))))
    return _Rows(
        lines=row_line + first_line,
        label=values32[label_word],
        has_qid=has_qid,
        qid=qid,
        entry_row=entry_row,
        entry_col=fid - 1,
        entry_val=values32[feat],
        n_lines=n_lines,
    )


def _trim_slowly(buf: np.ndarray, start: np.ndarray, stop: np.ndarray, end: bool) -> np.ndarray:
    """Trim lines with very long runs of blanks one line at a time (rare; keeps the loop above short)."""
    out = (stop if end else start).copy()
    blank = set(np.flatnonzero(_IS_BLANK).tolist())
    for i in range(len(start)):
        if end:
            while out[i] > start[i] and int(buf[out[i] - 1]) in blank:
                out[i] -= 1
        else:
            while out[i] < stop[i] and int(buf[out[i]]) in blank:
                out[i] += 1
    return out



# ----------------------------------------------------------------------------------------------------
# Files, chunks, query files
# ----------------------------------------------------------------------------------------------------


def _open_binary(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """Yield chunks of whole lines, each ending with a newline."""
    rest = b""
    with _open_binary(path) as handle:
        while True:
            try:
                block = handle.read(chunk_bytes)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise InputError(f"cannot read ({exc})", str(path)) from None
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            chunk, rest = block[: cut + 1], block[cut + 1 :]
            yield chunk
    if rest:
        yield rest + b"\n"


def read_query_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a LightGBM ``.query`` file (one positive document count per line).

    Returns:
        counts int64 [G] and the 1-based line of each count int64 [G].
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("query file not found", str(path))
    counts, lines = [], []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            if not _INT.fullmatch(text) or int(text) < 1:
                raise InputError(f"expected a positive document count, got {text!r}", str(path), number)
            counts.append(int(text))
            lines.append(number)
    if not counts:
        raise InputError("query file is empty", str(path))
    return np.asarray(counts, np.int64), np.asarray(lines, np.int64)


def _side_query_file(path: Path) -> Path | None:
    """LightGBM convention: ``train.txt`` -> ``train.txt.query`` (also ``train.query`` beside ``train.txt``)."""
    for cand in (Path(str(path) + ".query"), path.with_suffix(".query")):
        if cand != path and cand.is_file():
            return cand
    return None


# ----------------------------------------------------------------------------------------------------
# The readers
# ----------------------------------------------------------------------------------------------------


class _QidResolver:
    """Turns per-chunk rows into rows with final qids, checking the file-wide rules as it goes."""

    def __init__(self, path: Path, query_file: Path | None, require_qid: bool | None, explicit_query: bool):
        self.path = str(path)
        self.query_file = query_file
        self.require_qid = require_qid
        self.explicit_query = explicit_query
        self.mode: bool | None = None  # whether rows carry qid:, decided by the first row
        self.mode_line = 0
        self.rows_seen = 0
        self.first_line_of_qid: dict[int, int] = {}
        self.last_qid: int | None = None
        self.counts_end: np.ndarray | None = None
        self.counts_lines: np.ndarray | None = None

    def resolve(self, rows: _Rows) -> np.ndarray:
        """Return the final qid int64 [n] of the chunk's rows."""
        n = rows.n
        if n == 0:
            return np.zeros(0, np.int64)
        if self.mode is None:
            self.mode = bool(rows.has_qid[0])
            self.mode_line = int(rows.lines[0])
            if self.mode and self.explicit_query:
                raise InputError(
                    f"rows have qid: but a query file ({self.query_file}) was also given; use one or the other",
                    self.path, self.mode_line,
                )
            if not self.mode:
                if self.query_file is None and not self.explicit_query:
                    self.query_file = _side_query_file(Path(self.path))
                if self.query_file is not None:
                    counts, lines = read_query_file(self.query_file)
                    self.counts_end = np.cumsum(counts)
                    self.counts_lines = lines
                elif self.require_qid:
                    raise InputError(
                        "row has no qid: and there is no .query file giving the query groups "
                        f"(expected 'label qid:Q id:value ...' or a {Path(self.path).name}.query file)",
                        self.path, self.mode_line,
                    )
        deviating = rows.has_qid != self.mode
        if deviating.any():
            at = int(np.argmax(deviating))
            what = "has no qid:" if self.mode else "has a qid:"
            other = "have one" if self.mode else "have none"
            raise InputError(
                f"row {what} but the rows before it (from line {self.mode_line}) {other}; "
                "qid: must be on every row or on none",
                self.path, int(rows.lines[at]),
            )
        if self.mode:
            qid = rows.qid
        elif self.counts_end is not None:
            global_row = self.rows_seen + np.arange(n, dtype=np.int64)
            group = np.searchsorted(self.counts_end, global_row, side="right")
            if group[-1] >= len(self.counts_end):
                at = int(np.argmax(group >= len(self.counts_end)))
                raise InputError(
                    f"row {self.rows_seen + at + 1} is beyond the {int(self.counts_end[-1])} rows that the "
                    f"counts of {self.query_file} add up to",
                    self.path, int(rows.lines[at]),
                )
            qid = group + 1
        else:
            qid = np.zeros(n, np.int64)
        self._check_contiguous(qid, rows.lines)
        self.rows_seen += n
        return qid

    def _check_contiguous(self, qid: np.ndarray, lines: np.ndarray) -> None:
        starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
        run_qids = qid[starts].tolist()
        run_lines = lines[starts].tolist()
        seen = self.first_line_of_qid
        for i, (q, line) in enumerate(zip(run_qids, run_lines)):
            if i == 0 and q == self.last_qid:
                continue  # the query goes on from the previous chunk
            if q in seen:
                raise InputError(
                    f"qid {q} appears again after other queries (its rows start at line {seen[q]}); "
                    "the rows of one query must be contiguous",
                    self.path, line,
                )
            seen[q] = line
        self.last_qid = run_qids[-1]

    def finish(self) -> None:
        if self.rows_seen == 0:
            raise InputError("file has no data rows (empty, or only blank and comment lines)", self.path)
        if self.counts_end is not None and int(self.counts_end[-1]) != self.rows_seen:
            at = int(np.argmax(self.counts_end > self.rows_seen))
            raise InputError(
                f"counts add up to {int(self.counts_end[-1])} rows but {self.path} has {self.rows_seen} rows "
                f"(the count on this line goes past row {self.rows_seen})",
                str(self.query_file), int(self.counts_lines[at]),
            )


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path))
    if not path.is_file():
        raise InputError("not a regular file", str(path))
    return path


def _dense(rows: _Rows, n_features: int) -> np.ndarray:
    """Dense float32 [n, n_features] features of the rows (absent entries 0)."""
    n = rows.n
    if n and len(rows.entry_col) == n * n_features and np.array_equal(
        rows.entry_col.reshape(n, n_features), np.broadcast_to(np.arange(n_features), (n, n_features))
    ):
        # every row lists ids 1..F in order (MSLR, LETOR): the values already are the matrix
        return rows.entry_val.reshape(n, n_features)
    features = np.zeros((n, n_features), np.float32)
    features[rows.entry_row, rows.entry_col] = rows.entry_val
    return features


def _concat_rows(parts: list[_Rows]) -> _Rows:
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.n for p in parts[:-1]])
    return _Rows(
        lines=np.concatenate([p.lines for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        has_qid=np.concatenate([p.has_qid for p in parts]),
        qid=np.concatenate([p.qid for p in parts]),
        entry_row=np.concatenate([p.entry_row + o for p, o in zip(parts, offsets)]),
        entry_col=np.concatenate([p.entry_col for p in parts]),
        entry_val=np.concatenate([p.entry_val for p in parts]),
    )


def _take_rows(rows: _Rows, start: int, stop: int) -> _Rows:
    lo, hi = np.searchsorted(rows.entry_row, [start, stop])
    return _Rows(
        lines=rows.lines[start:stop],
        label=rows.label[start:stop],
        has_qid=rows.has_qid[start:stop],
        qid=rows.qid[start:stop],
        entry_row=rows.entry_row[lo:hi] - start,
        entry_col=rows.entry_col[lo:hi],
        entry_val=rows.entry_val[lo:hi],
    )


def _iter_resolved(
    path: Path,
    query_file: str | os.PathLike | None,
    n_features: int | None,
    require_qid: bool | None,
    chunk_bytes: int,
) -> Iterator[tuple[_Rows, np.ndarray]]:
    """Yield (rows, final qid) per chunk, checking everything; raises at the end for file-wide problems."""
    resolver = _QidResolver(
        path, Path(query_file) if query_file is not None else None, require_qid, query_file is not None
    )
    first_line = 1
    for chunk in _iter_chunks(path, chunk_bytes):
        rows = _parse_chunk(chunk, first_line, str(path), n_features)
        first_line += rows.n_lines
        if rows.n:
            yield rows, resolver.resolve(rows)
    resolver.finish()


def read_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> LibSVMTable:
    """Read a whole LibSVM ranking file into memory.

    Args:
        path: text file, optionally gzip-compressed.
        query_file: LightGBM ``.query`` file for a file without ``qid:``; by default ``<path>.query`` is
            used when it exists and the rows have no qid.
        n_features: number of feature columns; ids above it are an error. Default: the largest id seen.
        require_qid: True: every row needs ``qid:`` (or a query file). None/False: a file with neither is
            read as one query with qid 0. Rows with and without ``qid:`` mixed are always an error.
        chunk_bytes: text parsed per step (bounds the temporary index arrays).

    Returns:
        LibSVMTable with qid int64 [N], label float32 [N], features float32 [N, F].

    Raises:
        InputError: naming the file and 1-based line of the first bad row, or the file-wide problem.
    """
    path = _check_path(path)
    # densify chunk by chunk: dense float32 is 4 bytes per entry, the sparse triplets 16
    qids, labels, lines, dense = [], [], [], []
    for rows, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes):
        qids.append(qid)
        labels.append(rows.label)
        lines.append(rows.lines)
        dense.append(_dense(rows, n_features if n_features is not None else rows.max_id))
    width = n_features if n_features is not None else max(d.shape[1] for d in dense)
    features = np.zeros((sum(len(d) for d in dense), width), np.float32)
    start = 0
    while dense:
        block = dense.pop(0)  # release each block once copied
        features[start : start + len(block), : block.shape[1]] = block
        start += len(block)
    return LibSVMTable(
        qid=np.concatenate(qids),
        label=np.concatenate(labels),
        features=features,
        n_features=width,
        path=str(path),
        lines=np.concatenate(lines),
    )


def iter_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[LibSVMTable]:
    """Stream a LibSVM ranking file as blocks of whole queries, in bounded memory.

    Each block holds the rows of one or more complete queries in file order (a query that crosses a chunk
    boundary is carried into the next block). Arguments are those of :func:`read_libsvm`.

    Yields:
        LibSVMTable blocks; ``features`` is [n, F] with F = ``n_features`` when given, else the largest
        feature id seen so far in the file (pass ``n_features`` to get one width for every block).
    """
    path = _check_path(path)
    carry: _Rows | None = None
    carry_qid = np.zeros(0, np.int64)
    width = n_features or 0
    for rows, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes):
        if carry is not None:
            rows = _concat_rows([carry, rows])
            qid = np.concatenate([carry_qid, qid])
        # hold back the last query: its rows may continue in the next chunk
        last_start = int(np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])[-1])
        carry, carry_qid = _take_rows(rows, last_start, rows.n), qid[last_start:]
        if last_start == 0:
            continue
        done = _take_rows(rows, 0, last_start)
        width = max(width, done.max_id)
        yield LibSVMTable(qid[:last_start], done.label, _dense(done, width), width, str(path), done.lines)
    if carry is not None and carry.n:
        width = max(width, carry.max_id)
        yield LibSVMTable(carry_qid, carry.label, _dense(carry, width), width, str(path), carry.lines)


def scan_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict:
    """Check a whole file without keeping it: returns {rows, queries, max_feature_id}."""
    path = _check_path(path)
    n_rows = n_queries = max_id = 0
    last = None
    for rows, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes):
        n_rows += rows.n
        n_queries += int(np.count_nonzero(qid[1:] != qid[:-1])) + int(qid[0] != last)
        last = int(qid[-1])
        max_id = max(max_id, rows.max_id)
    return {"rows": n_rows, "queries": n_queries, "max_feature_id": max_id}
