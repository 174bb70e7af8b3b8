"""Every kind of bad input gets an InputError naming the file and the 1-based line, and what was expected."""

from __future__ import annotations

import gzip
import re

import pytest

from ltr_cos.data.libsvm import read_libsvm
from ltr_cos.errors import InputError

GOOD = "1 qid:1 1:0.5 2:0.25 # first\n0 qid:1 1:0.1 3:2\n"  # lines 1-2; the bad row goes on line 3


def _error(tmp_path, text: str, name: str = "data.txt", **kwargs) -> InputError:
    path = tmp_path / name
    path.write_bytes(text.encode())
    with pytest.raises(InputError) as info:
        read_libsvm(path, **kwargs)
    return info.value


def _assert_at(err: InputError, path, line: int, *words: str) -> None:
    message = str(err)
    assert message.startswith(f"{path}:{line}: "), message
    assert err.line == line and err.path == str(path)
    for w in words:
        assert w in message, message


@pytest.mark.parametrize(
    "row, words",
    [
        ("x qid:2 1:1", ["label", "'x'", "not a number"]),
        ("1:2 qid:2 1:1", ["numeric label"]),
        ("1 qid:2 1:abc", ["field 3", "'abc'", "not a number"]),
        ("1 qid:2 1:1.2.3", ["'1.2.3'", "not a number"]),
        ("1 qid:2 1-2", ["field 3", "expected id:value"]),
        ("1 qid:2 1:2:3", ["'1:2:3'", "expected id:value"]),
        ("1 qid:2 1:", ["'1:'", "expected id:value"]),
        ("1 qid:2 :4", ["':4'", "expected id:value"]),
        ("1 qid:2 a:4", ["feature id 'a'", "positive integer"]),
        ("1 qid:2 1.5:4", ["feature id '1.5'", "positive integer"]),
        ("1 qid:2 -3:4", ["feature id '-3'", "positive integer"]),
        ("1 qid:2 0:4", ["1-based", "got 0"]),
        ("1 qid:2 2:4 1:3 2:5", ["field 5", "feature id 2 repeats field 3"]),
        ("1 qid:2 2:nan", ["'nan'", "not a finite number"]),
        ("1 qid:2 2:-inf", ["'-inf'", "not a finite number"]),
        ("inf qid:2 2:1", ["label", "not a finite number"]),
        ("1 qid:2 2:1e39", ["'1e39'", "float32"]),
        ("1 1:2 qid:2", ["qid: must directly follow the label"]),
        ("1 qid:x 1:2", ["'qid:x'", "qid must be an integer"]),
        ("1 qid:1.5 1:2", ["qid must be an integer"]),
    ],
)
def test_malformed_row_names_its_line(tmp_path, row, words):
    err = _error(tmp_path, GOOD + row + "\n" + GOOD.replace("qid:1", "qid:3"))
    _assert_at(err, tmp_path / "data.txt", 3, *words)


def test_feature_id_out_of_range(tmp_path):
    err = _error(tmp_path, GOOD + "1 qid:2 9:4\n", n_features=5)
    _assert_at(err, tmp_path / "data.txt", 3, "feature id 9", "out of range", "1..5")


def test_missing_qid_in_mixed_rows(tmp_path):
    err = _error(tmp_path, GOOD + "1 2:1\n")
    _assert_at(err, tmp_path / "data.txt", 3, "no qid:", "line 1", "every row or on none")
    err = _error(tmp_path, "1 2:1\n1 qid:4 2:1\n", name="other.txt")
    _assert_at(err, tmp_path / "other.txt", 2, "has a qid:")


def test_missing_qid_where_required(tmp_path):
    err = _error(tmp_path, "1 2:1\n0 1:1\n", require_qid=True)
    _assert_at(err, tmp_path / "data.txt", 1, "no qid:", ".query")


def test_non_contiguous_qid_blocks(tmp_path):
    err = _error(tmp_path, GOOD + "1 qid:2 1:2\n1 qid:1 1:2\n")
    _assert_at(err, tmp_path / "data.txt", 4, "qid 1 appears again", "line 1", "contiguous")


def test_non_contiguous_qid_across_chunks(tmp_path):
    rows = "".join(f"1 qid:{q} 1:{i}\n" for q in range(1, 40) for i in range(3)) + "0 qid:5 1:1\n"
    err = _error(tmp_path, rows, chunk_bytes=64)
    _assert_at(err, tmp_path / "data.txt", 118, "qid 5 appears again", "line 13")


def test_error_line_is_right_after_many_chunks(tmp_path):
    rows = "".join(f"1 qid:{q} 1:{q} 2:0.5\n" for q in range(1, 500)) + "1 qid:900 2:oops\n"
    err = _error(tmp_path, rows, chunk_bytes=100)
    _assert_at(err, tmp_path / "data.txt", 500, "'oops'")


def test_first_error_wins_over_later_errors_of_other_kinds(tmp_path):
    # line 3 has a bad value; line 4 a broken structure, which the fast checks see first
    text = GOOD + "1 qid:2 1:zz\n1 qid:2 1:2:3\n"
    _assert_at(_error(tmp_path, text), tmp_path / "data.txt", 3, "'zz'")
    text = GOOD + "1 qid:2 5:1 5:1\n1 qid:2 1:nan\n"
    _assert_at(_error(tmp_path, text), tmp_path / "data.txt", 3, "repeats")


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_first_bad_line_of_the_file_wins_on_any_number_of_threads(tmp_path, threads):
    # three bad rows in different chunks; worker threads may reject a later chunk first
    rows = [f"{i % 3} qid:{i // 5 + 1} 1:{i}.5 2:0.25" for i in range(2000)]
    rows[1700] = "1 qid:341 1:1 1:2"
    rows[1500] = "1 qid:301 1:abc 2:0.25"
    rows[900] = "1 qid:181 1:nan 2:0"
    err = _error(tmp_path, "\n".join(rows) + "\n", chunk_bytes=2048, threads=threads)
    _assert_at(err, tmp_path / "data.txt", 901, "not a finite number")


def test_bad_line_before_a_read_error_is_reported_first(tmp_path):
    rows = [f"1 qid:{i // 4 + 1} 1:{i} 2:0.5" for i in range(400)]
    rows[2] = "1 qid:1 1:oops"
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode())[:-30])  # a truncated download
    with pytest.raises(InputError) as info:
        read_libsvm(path, chunk_bytes=256, threads=2)
    _assert_at(info.value, path, 3, "'oops'")
    rows[2] = "1 qid:1 1:3 2:0.5"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode())[:-30])
    with pytest.raises(InputError, match="cannot read"):
        read_libsvm(path, chunk_bytes=256, threads=2)


def test_empty_and_comment_only_files(tmp_path):
    err = _error(tmp_path, "")
    assert str(err) == f"{tmp_path / 'data.txt'}: file has no data rows (empty, or only blank and comment lines)"
    err = _error(tmp_path, "# nothing\n\n   \n")
    assert "no data rows" in str(err) and err.path == str(tmp_path / "data.txt")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'nope.txt'}: file not found")):
        read_libsvm(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="not a regular file"):
        read_libsvm(tmp_path)


def test_query_file_counts_too_small(tmp_path):
    (tmp_path / "rank.train.query").write_text("2\n1\n")
    err = _error(tmp_path, "1 1:1\n0 1:1\n1 1:1\n1 1:2\n", name="rank.train")
    _assert_at(err, tmp_path / "rank.train", 4, "row 4", "beyond the 3 rows", "rank.train.query")


def test_query_file_counts_too_large(tmp_path):
    (tmp_path / "rank.train.query").write_text("2\n2\n5\n")
    err = _error(tmp_path, "1 1:1\n0 1:1\n1 1:1\n", name="rank.train")
    # the count on line 2 of the .query file goes past the 3 rows of the data
    _assert_at(err, tmp_path / "rank.train.query", 2, "add up to 9", "has 3 rows")


def test_query_file_bad_count(tmp_path):
    (tmp_path / "rank.train.query").write_text("2\nzero\n")
    err = _error(tmp_path, "1 1:1\n0 1:1\n1 1:1\n", name="rank.train")
    _assert_at(err, tmp_path / "rank.train.query", 2, "positive document count", "'zero'")
    (tmp_path / "rank.train.query").write_text("2\n0\n")
    err = _error(tmp_path, "1 1:1\n0 1:1\n1 1:1\n", name="rank.train")
    _assert_at(err, tmp_path / "rank.train.query", 2, "positive document count")


def test_query_file_given_for_rows_with_qid(tmp_path):
    (tmp_path / "q.query").write_text("2\n")
    err = _error(tmp_path, GOOD, query_file=tmp_path / "q.query")
    _assert_at(err, tmp_path / "data.txt", 1, "query file", "one or the other")


def test_bad_gzip(tmp_path):
    path = tmp_path / "broken.txt.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(InputError, match="cannot read"):
        read_libsvm(path)


@pytest.mark.parametrize("bad", [
    "1 qid:3 1:abc 2:0.25", "1 qid:3 1:nan 2:0.25", "1 qid:3 1:1e39 2:0.25", "inf qid:3 1:1 2:0.25",
    "1 qid:3 01:1 01:0.25", "1 qid:3 1:1 2:", "1 qid:3 1:1 :0.25", "1 qid:3 1:1 1:0.25",
    "1 qid:3 1::1 2:0.25", "1:1 qid:3 1:1 2:0.25", "1 qid:3.5 1:1 2:0.25", "1 qid:0x3 1:1 2:0.25",
    "1 qid:99999999999999999999 1:1 2:0.25", "1 qi:3 1:1 2:0.25", "1 1:1 2:0.25 3:1", "1 qid:3 1:1 2:0x1",
    "1 qid:3 1:1 2:1,5", "1 qid:3 1:1 2:+-1",
])
def test_bad_row_among_clean_dense_rows_gets_the_general_paths_message(tmp_path, bad):
    # well-formed rows in the plainest layout take the quickest path; a bad row among them must get the
    # same error as when the chunk is parsed the general way (a comment on line 1 forces that way)
    good = [f"{i % 2} qid:{i // 3 + 1} 1:{i}.5 2:0.25" for i in range(6)]
    rows = good + [bad] + [f"0 qid:{q} 1:1 2:2" for q in range(4, 8)]
    plain = _error(tmp_path, "\n".join(rows) + "\n", name="plain.txt", threads=1)
    rows[0] += " # comment"
    general = _error(tmp_path, "\n".join(rows) + "\n", name="general.txt", threads=1)
    assert plain.line == general.line == 7
    assert str(plain).replace("plain.txt", "general.txt") == str(general)
