"""Property tests of the LibSVM reader: valid files round-trip exactly, corrupted ones fail at their line.

Valid rows are written with float text that identifies one float32 exactly (``repr`` of the value as a
double, or 9 significant digits), with random decorations (comments, CRLF, blank and comment-only lines,
spaces and tabs, shuffled feature ids), and read back bit for bit. A corrupted file has exactly one bad
row; reading it must raise :class:`InputError` naming the file and that row's line, and nothing else.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltr_cos.data.libsvm import read_libsvm
from ltr_cos.errors import InputError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FLOAT_FORMATS = (lambda v: repr(float(v)), lambda v: f"{float(v):.9e}", lambda v: f"{float(v):.9g}")
BAD_NUMBERS = ("abc", "1.2.3", "nan", "NaN", "inf", "-inf", "1e39", "-4e38", "0x10", "--1", "1e", ".")
BAD_IDS = ("0", "-3", "a", "1.5", "", "1234567890", "+2")


@st.composite
def ranking_files(draw):
    """A valid ranking file: (text, expected qid, label, dense features, data line of each row)."""
    n_features = draw(st.integers(1, 10))
    n_queries = draw(st.integers(1, 5))
    qids = draw(st.lists(st.integers(-(10**6), 10**12), min_size=n_queries, max_size=n_queries, unique=True))
    crlf = draw(st.booleans())
    values = st.floats(width=32, allow_nan=False, allow_infinity=False)
    blank = st.sampled_from(["", " ", "\t", "  \t"])
    lines: list[str] = []
    exp_qid, exp_label, exp_rows, exp_lines = [], [], [], []
    for qid in qids:
        for _ in range(draw(st.integers(1, 5))):
            while draw(st.booleans()) and draw(st.booleans()):  # blank or comment-only lines in between
                lines.append(draw(st.sampled_from(["", "   ", "# a comment: 1:2 qid:3", "\t#"])))
            label = np.float32(draw(values))
            ids = draw(st.lists(st.integers(1, n_features), unique=True, max_size=n_features))
            row = np.zeros(n_features, np.float32)
            fields = [draw(st.sampled_from(FLOAT_FORMATS))(label), f"qid:{qid}"]
            for fid in ids:
                value = np.float32(draw(values))
                row[fid - 1] = value
                fields.append(f"{fid}:{draw(st.sampled_from(FLOAT_FORMATS))(value)}")
            text = draw(blank) + draw(st.sampled_from([" ", "\t", "  "])).join(fields) + draw(blank)
            if draw(st.booleans()):
                text += "# doc " + draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12))
            lines.append(text)
            exp_qid.append(qid)
            exp_label.append(label)
            exp_rows.append(row)
            exp_lines.append(len(lines))
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    features = np.stack(exp_rows)
    # the width is the largest id *written*; an id written with value 0 also counts
    written = [int(f.split(":")[0]) for line in lines for f in line.split("#")[0].split()[2:]]
    width = max(written, default=0)
    return text, np.asarray(exp_qid), np.asarray(exp_label, np.float32), features[:, :width], exp_lines


def _write(text: str | bytes) -> tuple[tempfile.TemporaryDirectory, Path]:
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "data.txt"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return folder, path


@SETTINGS
@given(ranking_files(), st.sampled_from([64, 256, 1 << 20]))
def test_valid_files_round_trip_exactly(data, chunk_bytes):
    text, qid, label, features, lines = data
    folder, path = _write(text)
    with folder:
        table = read_libsvm(path, chunk_bytes=chunk_bytes)
    np.testing.assert_array_equal(table.qid, qid)
    assert table.label.dtype == np.float32 and table.label.tobytes() == label.tobytes()
    assert table.features.shape == features.shape and table.n_features == features.shape[1]
    # bit-for-bit, except that -0.0 and 0.0 both stand for an absent entry
    np.testing.assert_array_equal(table.features + 0.0, features + 0.0)
    assert np.array_equal(np.signbit(table.features) & (table.features != 0), np.signbit(features) & (features != 0))
    np.testing.assert_array_equal(table.lines, lines)


def _corrupt(fields: list[str], kind: str, bad: str, rng: np.random.Generator) -> list[str] | None:
    """One bad row made from a good row's fields (label, qid:Q, id:value...); None if not applicable."""
    fields = list(fields)
    features = list(range(2, len(fields)))
    if kind == "label":
        fields[0] = bad
    elif kind == "value":
        if not features:
            fields.append(f"1:{bad}")
        else:
            j = int(rng.choice(features))
            fields[j] = fields[j].split(":")[0] + ":" + bad
    elif kind == "id":
        fields.append(f"{bad}:1.0")
    elif kind == "no_colon":
        fields.append("7")
    elif kind == "two_colons":
        fields.append("3:1:2")
    elif kind == "label_colon":
        fields[0] = "1:2"
    elif kind == "bad_qid":
        fields[1] = "qid:" + bad
    elif kind == "qid_late":
        if not features:
            return None
        fields = [fields[0], *fields[2:], fields[1]]
    elif kind == "repeat_id":
        if not features:
            return None
        fields.append(fields[int(rng.choice(features))].split(":")[0] + ":0.5")
    elif kind == "no_qid":
        del fields[1]
    return fields


KINDS = ("label", "value", "id", "no_colon", "two_colons", "label_colon", "bad_qid", "qid_late", "repeat_id", "no_qid")


@SETTINGS
@given(ranking_files(), st.sampled_from(KINDS), st.sampled_from(BAD_NUMBERS + BAD_IDS), st.integers(0, 2**32 - 1),
       st.sampled_from([64, 1 << 20]))
def test_one_corrupted_row_raises_input_error_at_its_line(data, kind, bad, seed, chunk_bytes):
    text, _, _, _, lines = data
    rng = np.random.default_rng(seed)
    newline = "\r\n" if text.endswith("\r\n") else "\n"
    all_lines = text[: -len(newline)].split(newline)
    row = int(rng.integers(len(lines)))
    if kind == "no_qid" and row == 0:
        row = len(lines) - 1  # without qid on the first row the error is on the next row with one
        if row == 0:
            return
    if kind == "bad_qid" and bad in ("0", "-3", "1234567890"):
        bad = "x"  # these are valid qids
    if kind in ("value", "label") and bad in BAD_IDS:
        bad = "abc"
    if kind == "id" and bad in BAD_NUMBERS:
        bad = "0"
    line_text = all_lines[lines[row] - 1]
    body, sep, comment = line_text.partition("#")
    fields = _corrupt(body.split(), kind, bad, rng)
    if fields is None:
        return
    all_lines[lines[row] - 1] = " ".join(fields) + (f" #{comment}" if sep else "")
    folder, path = _write(newline.join(all_lines) + newline)
    with folder, pytest.raises(InputError) as info:
        read_libsvm(path, chunk_bytes=chunk_bytes)
    err = info.value
    assert err.path == str(path) and err.line == lines[row], (str(err), kind, bad, lines[row])
    assert str(err).startswith(f"{path}:{lines[row]}: ")


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_parse_or_raise_input_error(blob):
    folder, path = _write(blob)
    with folder:
        try:
            table = read_libsvm(path)
        except InputError as err:
            assert err.path is not None
        else:  # whatever parsed is well formed: finite float32, one row per data line
            assert np.isfinite(table.features).all() and np.isfinite(table.label).all()
            assert len(table.lines) == len(table.qid) == len(table.label) == table.features.shape[0]
