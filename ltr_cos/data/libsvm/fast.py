"""The fast LibSVM chunk parser: whole buffers, vectorised checks, no per-line Python.

Two paths. Plain dense text (``label [qid:Q] 1:v ... F:v``, single spaces, no comments) takes the quick
one, ``_parse_clean_grid``: words found by one byte test, ids checked as text, one Arrow cast for every
number. Everything else, and any chunk the quick path does not accept whole, takes the general one:
newline and comment positions are found with NumPy, the words are split by one Arrow kernel, numbers are
parsed by one Arrow cast, and every check is a vectorised test. A failed check raises ``_Found`` with the
chunk line it rejected; ``diagnose.py`` then finds the precise message. The heavy work is NumPy and Arrow
kernels that release the GIL, so chunks parse in parallel on threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ltr_cos.data.limits import MAX_DENSE_BLOCK_BYTES, MAX_FEATURE_ID  # noqa: F401 - MAX_FEATURE_ID re-exported

try:  # the compute kernels alone: importing pyarrow.compute also builds its Python wrappers (tens of ms)
    from pyarrow._compute import CastOptions, call_function
except ImportError:  # pragma: no cover (a pyarrow that moved them)
    from pyarrow.compute import CastOptions, call_function

_MAX_ID_DIGITS = 9  # feature ids up to 999,999,999 keep int64 arithmetic exact and cheap

_MAX_QID_DIGITS = 18
_COLON, _HASH, _NEWLINE = 58, 35, 10
_X_LOWER, _X_UPPER = ord("x"), ord("X")
# ASCII whitespace as Arrow's ascii_split_whitespace sees it (the newline is handled apart)
_IS_BLANK = np.zeros(256, bool)
_IS_BLANK[[9, 11, 12, 13, 32]] = True


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
    dense: np.ndarray | None = None  # float32 [n, F] instead of the entries when every row lists ids 1..F

    @property
    def n(self) -> int:
        return int(self.label.shape[0])

    @property
    def max_id(self) -> int:
        if self.dense is not None:
            return int(self.dense.shape[1])
        return int(self.entry_col.max()) + 1 if len(self.entry_col) else 0


def _empty_rows(n_lines: int = 0) -> _Rows:
    z64 = np.zeros(0, np.int64)
    return _Rows(z64, np.zeros(0, np.float32), np.zeros(0, bool), z64, z64, z64, np.zeros(0, np.float32), n_lines)


# ----------------------------------------------------------------------------------------------------
# The fast chunk parser
# ----------------------------------------------------------------------------------------------------


def _cast_kernel(strings: pa.Array, to: pa.DataType) -> pa.Array:
    """``pyarrow.compute.cast(strings, to)`` (a safe cast), without importing pyarrow.compute."""
    return call_function("cast", [strings], CastOptions.safe(to))


class _Found(Exception):
    """A vectorised check failed at chunk line ``line`` (0-based); the precise message comes later, or now
    when the check already knows it (``message``)."""

    def __init__(self, line: int, message: str | None = None) -> None:
        super().__init__(line)
        self.line = line
        self.message = message


def _cast_or_find(strings: pa.Array, to: pa.DataType, line_of_word) -> np.ndarray:
    """Cast the valid strings of a three-strings-per-word array to ``to``, or raise _Found.

    Returns:
        [len(strings)] NumPy array; entries at null positions are meaningless.

    The culprit of a failed cast is found by bisection over casts of halves (O(log n) cheap casts instead
    of a Python loop); its chunk line is ``line_of_word(index // 3)``.
    """
    try:
        result = _cast_kernel(strings, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        width = np.dtype(to.to_pandas_dtype())
        return np.frombuffer(result.buffers()[1], width)[result.offset : result.offset + len(result)]
    lo, hi = 0, len(strings)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            _cast_kernel(strings.slice(lo, mid - lo), to)
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


_KEY_TEMPLATES: dict[int, tuple[np.ndarray, list[tuple[int, np.ndarray]]]] = {}


def _key_template(width: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """The text of the keys 1..width: their lengths [width], and per digit place d the first key that has
    that place (keys grow in length, so keys first..width all do) and those keys' ASCII digits there."""
    if width not in _KEY_TEMPLATES:
        keys = [str(j).encode() for j in range(1, width + 1)]
        lengths = np.array([len(k) for k in keys], np.int64)
        places = []
        for d in range(int(lengths.max())):
            first = int(np.argmax(lengths > d))
            places.append((first, np.array([k[d] for k in keys[first:]], np.uint8)))
        _KEY_TEMPLATES[width] = (lengths, places)
    return _KEY_TEMPLATES[width]


def _parse_clean_grid(chunk: bytes, buf: np.ndarray, first_line: int, n_features: int | None) -> _Rows | None:
    """The quickest path, for the commonest text: every row ``label [qid:Q] 1:v 2:v ... F:v``.

    Applies only to a clean chunk: words separated by single spaces, lines by single newlines, no comments,
    no other whitespace, no blank lines. Then the words are found by one byte test (no Arrow split), the ids
    are checked as text against "1".."F" (no integer cast), and one cast parses every number.

    Returns:
        The rows, or None when the chunk is not such a grid or anything in it fails a check: the general
        path then parses it again and finds the precise problem.
    """
    if b"#" in chunk or b"x" in chunk or b"X" in chunk:
        return None
    sep = np.flatnonzero(buf <= 32)  # every space and newline, and any other control byte
    if len(sep) == 0 or sep[0] == 0:
        return None
    kind = buf[sep]
    is_newline = kind == _NEWLINE
    if not ((kind == 32) | is_newline).all() or (np.diff(sep) == 1).any():
        return None  # other whitespace, or an empty word: a run of blanks, a blank line, edge blanks
    n_words = len(sep)
    word_start = np.empty(n_words, np.int64)
    word_start[0] = 0
    word_start[1:] = sep[:-1] + 1
    row_end = np.flatnonzero(is_newline)  # last word of each row
    n_rows = len(row_end)
    row_words = int(row_end[0]) + 1
    if row_words < 2 or n_words != n_rows * row_words or not (np.diff(row_end) == row_words).all():
        return None
    starts = word_start.reshape(n_rows, row_words)
    ends = sep.reshape(n_rows, row_words)
    # Every byte of every word is either checked here (keys and their colons) or given to a cast (labels,
    # qids, values), which rejects any stray colon or other character.
    qs = starts[:, 1]
    last = len(buf) - 1
    is_qid = ends[:, 1] - qs > 4  # "qid:" and at least one digit
    for place, char in enumerate(b"qid:"):
        is_qid &= buf[np.minimum(qs + place, last)] == char
    skip = 2 if is_qid.all() else 1 if not is_qid.any() else 0
    width = row_words - skip
    if skip == 0 or width < 1 or (n_features is not None and width > n_features):
        return None
    lengths, places = _key_template(width)
    key_start = starts[:, skip:]
    colons = key_start + lengths  # where the colons must be: keys are "1".."F"
    if not ((colons < ends[:, skip:] - 1).all() and (buf[colons] == _COLON).all()):
        return None
    for place, (first, digits) in enumerate(places):
        where = key_start[:, first:] + place if place else key_start
        if not np.array_equal(buf[where], np.broadcast_to(digits, where.shape)):
            return None
    text = pa.py_buffer(chunk)
    # Two strings per word: the separator, key and colon before the value (null), then the value.
    offsets = np.empty(2 * n_words + 1, np.int64)
    offsets[0] = 0
    offsets[2::2] = sep
    value_start = offsets[1::2].reshape(n_rows, row_words)  # a view: filled in place
    value_start[:, 0] = starts[:, 0]
    value_start[:, 1] = qs + 4
    np.add(colons, 1, out=value_start[:, skip:])
    bits = np.full((2 * n_words + 7) // 8, 0xAA, np.uint8)  # the odd strings: the values
    qid = np.zeros(n_rows, np.int64)
    if skip == 2:
        _set_bits(bits, 2 * (np.arange(n_rows) * row_words + 1) + 1, False)  # qids are integers, cast apart
        qid_offsets = np.empty(2 * n_rows + 1, np.int64)
        qid_offsets[0:-1:2] = value_start[:, 1]
        qid_offsets[1::2] = ends[:, 1]
        qid_offsets[-1] = ends[-1, 1]
        try:
            qid = _cast(_string_array(qid_offsets, text, np.full((2 * n_rows + 7) // 8, 0x55, np.uint8)), pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        qid = qid[0::2].copy()
        if (np.abs(qid) >= 10**_MAX_QID_DIGITS).any():
            return None
    try:
        numbers = _cast(_string_array(offsets, text, bits), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    numbers = numbers[1::2].reshape(n_rows, row_words)
    with np.errstate(over="ignore"):  # out-of-range values become inf, and the general path reports them
        label = numbers[:, 0].astype(np.float32)
        values = numbers[:, skip:].astype(np.float32)
    if not (np.isfinite(label).all() and np.isfinite(values).all()):
        return None
    none = np.zeros(0, np.int64)
    return _Rows(lines=np.arange(first_line, first_line + n_rows, dtype=np.int64), label=label,
                 has_qid=np.full(n_rows, skip == 2), qid=qid, entry_row=none, entry_col=none,
                 entry_val=np.zeros(0, np.float32), n_lines=n_rows, dense=values)


def _cast(strings: pa.Array, to: pa.DataType) -> np.ndarray:
    """Cast the valid strings to ``to``; a NumPy view of the result (entries at nulls are meaningless)."""
    result = _cast_kernel(strings, to)
    width = np.dtype(to.to_pandas_dtype())
    return np.frombuffer(result.buffers()[1], width)[result.offset : result.offset + len(result)]


def _parse_chunk_fast(chunk: bytes, first_line: int, n_features: int | None) -> _Rows:
    buf = np.frombuffer(chunk, np.uint8)
    rows = _parse_clean_grid(chunk, buf, first_line, n_features)
    if rows is not None:
        return rows
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
    words = call_function("ascii_split_whitespace", [_string_array(offsets, pa.py_buffer(chunk), valid)])
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
    hex_mark = np.flatnonzero((data == _X_LOWER) | (data == _X_UPPER)) if b"x" in chunk or b"X" in chunk else ()
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

    # The common dense layout (every row: label, qid on all rows or none, ids 1..F in order) is a grid of
    # words: ids and values are strided views of it, and ids 1..F need no further checks.
    row_words = int(fields[0])
    skip = 1 + (1 if len(qid_rows) == n_rows else 0)  # words before the first feature
    width = row_words - skip
    grid = (len(qid_rows) in (0, n_rows) and width > 0 and (n_features is None or width <= n_features)
            and bool((fields == row_words).all()))
    if grid:
        ids = ints.reshape(n_rows, row_words, 3)[:, skip:, 0]
        grid = np.array_equal(ids, np.broadcast_to(np.arange(1, width + 1), ids.shape))
    if grid:
        numbers = _cast_or_find(_string_array(cut, text, _number_bits(n_words, qid_words)), pa.float64(),
                                line_of_word).reshape(n_rows, row_words, 3)[:, :, 2]
        with np.errstate(over="ignore"):  # out-of-range values become inf and are reported just below
            label = numbers[:, 0].astype(np.float32)
            values = numbers[:, skip:].astype(np.float32)
        finite = np.isfinite(label) & np.isfinite(values).all(axis=1)
        if not finite.all():
            raise _Found(int(row_line[np.argmin(finite)]))
        none = np.zeros(0, np.int64)
        return _Rows(lines=row_line + first_line, label=label, has_qid=has_qid, qid=qid, entry_row=none,
                     entry_col=none, entry_val=np.zeros(0, np.float32), n_lines=n_lines, dense=values)

    # Feature ids: positive integers, in range, no repeats within a row.
    if len(qid_words):
        value_word = ~is_label
        value_word[qid_words] = False
        feat = np.flatnonzero(value_word)
    else:
        feat = pair
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
    numbers = _cast_or_find(_string_array(cut, text, _number_bits(n_words, qid_words)), pa.float64(), line_of_word)
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


def _number_bits(n_words: int, qid_words: np.ndarray) -> np.ndarray:
    """Validity bitmap of the number strings: the value of every word but the qids."""
    bits = _every_third_bit(3 * n_words, 2)
    _set_bits(bits, 3 * qid_words + 2, False)
    return bits


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



@dataclass
class _Block:
    """The rows of one chunk, densified (what the reader's threads hand back).

    ``lines`` are 1-based within the chunk until the reader, which knows where the chunk starts in the
    file, shifts them.
    """

    lines: np.ndarray  # int64 [n]
    label: np.ndarray  # float32 [n]
    has_qid: np.ndarray  # bool [n]
    qid: np.ndarray  # int64 [n] (0 where has_qid is False)
    features: np.ndarray  # float32 [n, w], w = n_features when given, else max_id
    max_id: int  # the largest feature id of the chunk (0 without entries)
    n_lines: int  # text lines of the chunk, blank and comment lines included

    @property
    def n(self) -> int:
        return int(self.label.shape[0])


def _dense(rows: _Rows, n_features: int) -> np.ndarray:
    """Dense float32 [n, n_features] features of the rows (absent entries 0)."""
    n = rows.n
    if rows.dense is not None:
        if rows.dense.shape[1] == n_features:
            return rows.dense
        features = np.zeros((n, n_features), np.float32)
        features[:, : rows.dense.shape[1]] = rows.dense
        return features
    if n and len(rows.entry_col) == n * n_features and np.array_equal(
        rows.entry_col.reshape(n, n_features), np.broadcast_to(np.arange(n_features), (n, n_features))
    ):
        # every row lists ids 1..F in order (MSLR, LETOR): the values already are the matrix
        return rows.entry_val.reshape(n, n_features)
    features = np.zeros((n, n_features), np.float32)
    features[rows.entry_row, rows.entry_col] = rows.entry_val
    return features


def _parse_block(chunk: bytes, n_features: int | None, limit: int | None = None) -> _Block:
    """Parse and densify a chunk of whole lines; raises _Found (chunk line) on the first rejected line.

    ``limit`` is the largest feature id accepted (default: ``n_features``); ``n_features`` fixes the width.
    """
    rows = _parse_chunk_fast(chunk, 1, n_features if limit is None else limit)
    max_id = rows.max_id
    width = n_features if n_features is not None else max_id
    if rows.dense is None and rows.n * width * 4 > MAX_DENSE_BLOCK_BYTES:
        row = int(rows.entry_row[np.argmax(rows.entry_col)])
        raise _Found(int(rows.lines[row]) - 1,
                     f"feature id {max_id} makes every row {max_id:,} columns wide: this block's {rows.n:,} rows "
                     f"would take {rows.n * width * 4 / 2**20:,.0f} MB as a dense matrix, far more than the "
                     f"{len(rows.entry_col):,} values they hold; check this id (--max-feature-id sets the "
                     "largest id accepted)")
    features = _dense(rows, width)
    return _Block(rows.lines, rows.label, rows.has_qid, rows.qid, features, max_id, rows.n_lines)
