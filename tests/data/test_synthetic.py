"""Synthetic MSLR-like generator: determinism, file format, and that it looks and behaves like MSLR."""

from __future__ import annotations

import gzip
import os
import re

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.datasets import load_svmlight_file

from ltr_cos.data import generate_synthetic, write_synthetic_libsvm
from ltr_cos.data.synthetic import format_stats
from ltr_cos.errors import InputError


@pytest.fixture(scope="module")
def sample():
    """400 queries (about 48k rows) of the default preset."""
    return generate_synthetic("mslr-web30k", n_queries=400, seed=11)


def _query_slices(qid):
    starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
    return [slice(s, e) for s, e in zip(starts, np.r_[starts[1:], len(qid)])]


def _mean_query_spearman(qid, a, b):
    """Independent per-query Spearman with scipy, skipping queries where a side is constant."""
    values = []
    for sl in _query_slices(qid):
        if np.ptp(a[sl]) > 0 and np.ptp(b[sl]) > 0:
            values.append(spearmanr(a[sl], b[sl]).statistic)
    return float(np.mean(values))


def test_deterministic_by_seed():
    a = generate_synthetic(n_queries=30, seed=5)
    b = generate_synthetic(n_queries=30, seed=5)
    c = generate_synthetic(n_queries=30, seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[2][:100], c[2][:100])


def test_written_file_is_mslr_layout_and_matches_memory(tmp_path):
    path = tmp_path / "synth.txt"
    stats = write_synthetic_libsvm(path, n_queries=25, seed=3)
    qid, labels, features = generate_synthetic(n_queries=25, seed=3)
    lines = path.read_text().splitlines()
    assert len(lines) == stats["rows"] == len(qid)
    row = re.compile(r"^[0-4] qid:\d+" + "".join(rf" {j}:-?\d+(\.\d+)?" for j in range(1, 137)) + "$")
    assert all(row.match(line) for line in lines[:200]), lines[0][:200]
    assert "e" not in path.read_text()  # no exponent notation anywhere
    # an independent parser reads exactly what the in-memory generator returns
    x, y, q = load_svmlight_file(str(path), n_features=136, query_id=True)
    np.testing.assert_array_equal(q, qid)
    np.testing.assert_array_equal(y.astype(np.float32), labels)
    np.testing.assert_array_equal(x.toarray().astype(np.float32), features)
    assert not list(tmp_path.glob(".*tmp"))  # temporary file renamed away
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like any newly created file


def test_gzip_output_and_stats_agree_with_scipy(tmp_path):
    path = tmp_path / "synth.txt.gz"
    stats = write_synthetic_libsvm(path, n_queries=60, seed=4, docs_per_query=(5, 40))
    with gzip.open(path, "rt") as f:
        n_lines = sum(1 for _ in f)
    qid, labels, features = generate_synthetic(n_queries=60, seed=4, docs_per_query=(5, 40))
    assert n_lines == stats["rows"] == len(qid) and stats["queries"] == 60
    lengths = np.diff(np.r_[np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]]), len(qid)])
    assert lengths.min() >= 5 and lengths.max() <= 40
    assert stats["docs_per_query"] == {"min": lengths.min(), "mean": lengths.mean(), "max": lengths.max()}
    assert stats["label_histogram"] == {str(k): int((labels == k).sum()) for k in range(5)}
    assert stats["zero_fraction"]["135:url_clicks"] == pytest.approx(float((features[:, 134] == 0).mean()))
    for fid in (132, 134, 136):
        name = next(k for k in stats["spearman_relevance"] if k.startswith(f"{fid}:"))
        expected = _mean_query_spearman(qid, labels, features[:, fid - 1])
        assert stats["spearman_relevance"][name] == pytest.approx(expected, abs=1e-9)
    text = format_stats(stats)
    assert "60 queries" in text and "Spearman" in text


def test_fixed_docs_per_query_and_bad_arguments():
    qid, _, _ = generate_synthetic(n_queries=7, seed=0, docs_per_query=9)
    assert len(qid) == 63 and np.all(np.bincount(qid)[1:] == 9)
    with pytest.raises(InputError, match="unknown synthetic preset"):
        generate_synthetic("mslr-web40k", n_queries=3)
    with pytest.raises(InputError, match="n_queries"):
        generate_synthetic(n_queries=0)
    with pytest.raises(InputError, match="docs_per_query"):
        generate_synthetic(n_queries=3, docs_per_query=0)


def test_looks_like_mslr(sample):
    qid, labels, features = sample
    lengths = np.array([sl.stop - sl.start for sl in _query_slices(qid)])
    assert 100 <= lengths.mean() <= 140 and lengths.max() > 350 and lengths.min() >= 1
    assert features.shape[1] == 136 and features.dtype == np.float32
    shares = np.bincount(labels.astype(int), minlength=5) / len(labels)
    assert 0.42 <= shares[0] <= 0.6 and 0.25 <= shares[1] <= 0.4 and shares[3] + shares[4] < 0.04
    for fid in (134, 135, 136):  # click and dwell columns are zero for most rows
        assert (features[:, fid - 1] == 0).mean() > 0.6
    assert (features[:, 133] > 0).any() and (features[:, 135] > 0).any()
    assert (features[:, 110:125] < 0).all()  # LMIR columns are negative as in MSLR
    assert np.all(features[:, 95:100] * (1 - features[:, 95:100]) == 0)  # boolean model columns are 0/1


def test_auxiliary_columns_conflict_with_relevance(sample):
    qid, labels, features = sample
    rho = {fid: _mean_query_spearman(qid, labels, features[:, fid - 1]) for fid in (132, 133, 134, 135, 136)}
    assert rho[132] < -0.1, rho  # quality falls as relevance rises: a real trade-off
    assert rho[134] > 0.05, rho  # query-url clicks are partly tied to relevance


def test_auxiliary_columns_are_learnable_from_model_inputs(sample):
    """The objective columns are removed at conversion: what is left must still predict them."""
    qid, _, features = sample
    inputs = features[:, :131].astype(np.float64)  # 132-136 are the objective columns
    inputs = np.sign(inputs) * np.log1p(np.abs(inputs))
    inputs = (inputs - inputs.mean(0)) / (inputs.std(0) + 1e-9)
    inputs = np.c_[inputs, np.ones(len(inputs))]
    half = int(np.searchsorted(qid, qid[len(qid) // 2]))  # split at a query boundary
    floors = {132: 0.4, 133: 0.3, 134: 0.1, 135: 0.2, 136: 0.2}
    for fid, floor in floors.items():
        target = np.log1p(features[:, fid - 1].astype(np.float64))
        coef, *_ = np.linalg.lstsq(inputs[:half], target[:half], rcond=None)
        held_out = _mean_query_spearman(qid[half:], inputs[half:] @ coef, target[half:])
        assert held_out > floor, (fid, held_out)
