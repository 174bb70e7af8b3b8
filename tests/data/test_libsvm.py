"""The LibSVM reader: exact agreement with scikit-learn on the real files, hand-checked small files,
gzip, LightGBM .query files, and the chunked reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_svmlight_file

from ltr_cos.data.libsvm import iter_libsvm, read_libsvm, read_query_file, scan_libsvm
from ltr_cos.data.libsvm.fast import _parse_clean_grid

REAL_FILES = [
    "mq2008/S1.txt",
    "mq2008/S2.txt",
    "mq2008/S3.txt",
    "mq2008/S4.txt",
    "mq2008/S5.txt",
    "mq2008_letor_crlf/test.txt",
    "mq2008_letor_crlf/vali.txt",
    "mslr_web_sample/mslr_sample.txt",
    "yahoo_lightgbm_sample/rank.train.qid.txt",
]


def _sklearn(path: Path):
    x, y, q = load_svmlight_file(str(path), query_id=True)
    return x.toarray().astype(np.float32), y.astype(np.float32), q.astype(np.int64)


@pytest.mark.parametrize("name", REAL_FILES)
def test_agrees_with_sklearn_on_real_files(shared_real, name):
    table = read_libsvm(shared_real / name)
    features, labels, qids = _sklearn(shared_real / name)
    assert table.features.dtype == np.float32 and table.label.dtype == np.float32
    assert table.qid.dtype == np.int64
    assert table.features.shape == features.shape
    np.testing.assert_array_equal(table.features, features)
    np.testing.assert_array_equal(table.label, labels)
    np.testing.assert_array_equal(table.qid, qids)


def test_yahoo_sample_with_query_file_agrees_with_sklearn_on_qid_version(shared_real):
    # rank.train has no qid column; rank.train.query beside it is found automatically
    table = read_libsvm(shared_real / "yahoo_lightgbm_sample" / "rank.train")
    explicit = read_libsvm(shared_real / "yahoo_lightgbm_sample" / "rank.train",
                           query_file=shared_real / "yahoo_lightgbm_sample" / "rank.train.query")
    features, labels, qids = _sklearn(shared_real / "yahoo_lightgbm_sample" / "rank.train.qid.txt")
    for t in (table, explicit):
        np.testing.assert_array_equal(t.features, features)
        np.testing.assert_array_equal(t.label, labels)
        np.testing.assert_array_equal(t.qid, qids)
    assert table.n_queries == 201


def test_real_file_sizes(shared_real):
    # figures from SOURCES.md
    assert [len(read_libsvm(shared_real / f"mq2008/S{i}.txt")) for i in range(1, 6)] == [2933, 3635, 3062, 2707, 2874]
    assert [read_libsvm(shared_real / f"mq2008/S{i}.txt").n_queries for i in range(1, 6)] == [157, 157, 157, 157, 156]
    assert read_libsvm(shared_real / "mslr_web_sample/mslr_sample.txt").n_features == 136


def test_crlf_copies_equal_their_lf_originals(shared_real):
    for crlf, lf in (("test.txt", "S5.txt"), ("vali.txt", "S4.txt")):
        a = read_libsvm(shared_real / "mq2008_letor_crlf" / crlf)
        b = read_libsvm(shared_real / "mq2008" / lf)
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.qid, b.qid)


def test_chunked_reader_matches_whole_file_and_keeps_queries_whole(shared_real):
    path = shared_real / "mq2008" / "S2.txt"
    whole = read_libsvm(path)
    blocks = list(iter_libsvm(path, n_features=46, chunk_bytes=50_000))
    assert len(blocks) > 10
    np.testing.assert_array_equal(np.concatenate([b.features for b in blocks]), whole.features)
    np.testing.assert_array_equal(np.concatenate([b.qid for b in blocks]), whole.qid)
    np.testing.assert_array_equal(np.concatenate([b.lines for b in blocks]), whole.lines)
    seen = set()
    for b in blocks:
        qids = set(np.unique(b.qid).tolist())
        assert not qids & seen, "a query was split across blocks"
        seen |= qids
    small = read_libsvm(path, chunk_bytes=4096)
    np.testing.assert_array_equal(small.features, whole.features)
    assert scan_libsvm(path, chunk_bytes=50_000) == {"rows": 3635, "queries": 157, "max_feature_id": 46}


@pytest.mark.parametrize("threads, chunk_bytes", [(2, 4096), (3, 100_000), (2, 1 << 20)])
def test_threads_and_chunk_sizes_give_what_one_thread_gives(shared_real, threads, chunk_bytes):
    for name in ("mq2008/S2.txt", "yahoo_lightgbm_sample/rank.train"):  # dense rows; sparse rows with .query
        path = shared_real / name
        one = read_libsvm(path, threads=1)
        many = read_libsvm(path, threads=threads, chunk_bytes=chunk_bytes)
        blocks = list(iter_libsvm(path, threads=threads, chunk_bytes=chunk_bytes, n_features=one.n_features))
        for got in (many, blocks):
            got = got if isinstance(got, list) else [got]
            for field in ("qid", "label", "features", "lines"):
                np.testing.assert_array_equal(np.concatenate([getattr(b, field) for b in got]), getattr(one, field))


def test_dense_and_sparse_rows_of_one_file_agree(tmp_path):
    # rows listing ids 1..F in order take the grid path; reordered or missing ids take the general one
    dense = "".join(f"{i % 3} qid:{i // 4 + 1} 1:{i} 2:0.5 3:-{i}e-3\n" for i in range(40))
    mixed = dense.replace("0 qid:3 1:9 2:0.5 3:-9e-3", "0 qid:3 3:-9e-3 1:9 2:0.5")
    sparse = dense.replace(" 2:0.5 ", " ")
    (tmp_path / "dense.txt").write_text(dense)
    (tmp_path / "mixed.txt").write_text(mixed)
    (tmp_path / "sparse.txt").write_text(sparse)
    a, b, c = (read_libsvm(tmp_path / f"{n}.txt") for n in ("dense", "mixed", "sparse"))
    assert mixed != dense
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.features[:, [0, 2]], c.features[:, [0, 2]])
    assert not c.features[:, 1].any() and a.features[:, 1].all()


@pytest.mark.parametrize("with_qid", [True, False])
def test_plain_dense_layout_reads_as_the_general_path_does(tmp_path, with_qid):
    # the plainest layout (single spaces, no comments, ids 1..F in order) has its own quick path
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 12)).round(4) * 10.0 ** rng.integers(-3, 4, (50, 12))
    rows = [f"{i % 5}{f' qid:{i // 7 - 3}' if with_qid else ''} " + " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(r))
            for i, r in enumerate(values)]
    (tmp_path / "plain.txt").write_text("\n".join(rows) + "\n")
    text = (tmp_path / "plain.txt").read_bytes()
    assert _parse_clean_grid(text, np.frombuffer(text, np.uint8), 1, None) is not None  # the quick path is taken
    rows[0] += " # comment"
    (tmp_path / "general.txt").write_text("\n".join(rows) + "\n")
    for kwargs in ({}, {"n_features": 15}):
        a, b = (read_libsvm(tmp_path / n, threads=1, **kwargs) for n in ("plain.txt", "general.txt"))
        for field in ("qid", "label", "features", "lines"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        np.testing.assert_array_equal(a.features[:, :12], values.astype(np.float32))


TINY = (
    "# a header comment\n"
    "2 qid:7 1:0.5 3:-1.25e1 # doc a\r\n"
    "\n"
    "0 qid:7 2:3   \n"
    "   1 qid:9 4:0.125 1:2\t\n"
    "1 qid:9#comment glued to the qid\n"
)


def _expect_tiny(table):
    np.testing.assert_array_equal(table.qid, np.array([7, 7, 9, 9], np.int64))
    np.testing.assert_array_equal(table.label, np.array([2, 0, 1, 1], np.float32))
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0], expected[0, 2] = 0.5, -12.5
    expected[1, 1] = 3
    expected[2, 3], expected[2, 0] = 0.125, 2
    np.testing.assert_array_equal(table.features, expected)
    np.testing.assert_array_equal(table.lines, np.array([2, 4, 5, 6]))


def test_hand_checked_tiny_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_bytes(TINY.encode())
    table = read_libsvm(path)
    assert table.n_features == 4 and table.n_queries == 2
    _expect_tiny(table)


def test_gzip_and_missing_final_newline(tmp_path):
    path = tmp_path / "tiny.txt.gz"
    with gzip.open(path, "wb") as f:
        f.write(TINY.rstrip("\n").encode())
    _expect_tiny(read_libsvm(path))


def test_n_features_pads_columns(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    table = read_libsvm(path, n_features=10)
    assert table.features.shape == (4, 10)
    assert not table.features[:, 4:].any()


def test_query_file_and_no_qid(tmp_path):
    path = tmp_path / "rank.train"
    path.write_text("1 1:1\n0 2:1\n2 1:3\n")
    (tmp_path / "rank.train.query").write_text("2\n1\n")
    table = read_libsvm(path)
    np.testing.assert_array_equal(table.qid, [1, 1, 2])
    counts, count_lines = read_query_file(tmp_path / "rank.train.query")
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_array_equal(count_lines, [1, 2])
    (tmp_path / "rank.train.query").unlink()
    # without qid and without .query: one query (qid 0), unless qids are required
    np.testing.assert_array_equal(read_libsvm(path).qid, [0, 0, 0])


def test_blocks_with_sparse_width_grow(tmp_path):
    path = tmp_path / "sparse.txt"
    path.write_text("1 qid:1 1:1\n0 qid:2 5:2\n")
    blocks = list(iter_libsvm(path, chunk_bytes=8))
    assert [b.n_features for b in blocks] == [1, 5]
    assert np.concatenate([b.qid for b in blocks]).tolist() == [1, 2]
