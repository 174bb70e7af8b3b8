"""Hostile or mistaken data: bounded memory, one clear line naming file and line, nothing left behind."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from ltr_cos.data.convert import convert_dataset
from ltr_cos.data.libsvm import MAX_FEATURE_ID, read_libsvm
from ltr_cos.errors import InputError


def _rows(n, extra=""):
    return [f"{i % 3} qid:{1 + i // 4} 1:0.5 2:{i / 10:.1f}" for i in range(n)] + ([extra] if extra else [])


def test_a_feature_id_above_the_limit_is_refused_with_its_line(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("\n".join(_rows(40, "0 qid:99 1:0.1 10000000:1")) + "\n")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match=r"big.txt:41: .*feature id 10000000 is out of range .*--max-feature-id"):
        read_libsvm(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KB: no huge allocation
    assert MAX_FEATURE_ID == 1_000_000


def test_the_feature_id_limit_is_settable(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("1 qid:1 1:0.5 300:1\n0 qid:1 1:0.1\n")
    with pytest.raises(InputError, match=r"ids.txt:1: .*feature id 300 is out of range \(expected 1..200\)"):
        read_libsvm(path, max_feature_id=200)
    assert read_libsvm(path, max_feature_id=300).features.shape == (2, 300)


def test_a_sparse_id_that_would_make_a_huge_dense_block_is_refused(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_text("\n".join(_rows(120, "0 qid:99 1:0.1 999999:1")) + "\n")
    with pytest.raises(InputError, match=r"wide.txt:121: feature id 999999 makes every row 999,999 columns wide"):
        read_libsvm(path)


def test_one_long_line_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "long.txt"
    values = " ".join(f"{i}:{(i % 7) / 7:.3f}" for i in range(1, 200_001))
    path.write_text(f"1 qid:1 {values}\n0 qid:1 1:0.5\n")
    table = read_libsvm(path)
    assert table.features.shape == (2, 200_000) and table.features[1, 0] == np.float32(0.5)


def test_negative_labels_are_refused_unless_allowed(tmp_path):
    path = tmp_path / "neg.txt"
    path.write_text("1 qid:1 1:0.5\n-1 qid:1 1:0.1\n")
    with pytest.raises(InputError, match=r"neg.txt:2: label -1 is negative"):
        convert_dataset({"train": [path]}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["neg.txt"]
    meta = convert_dataset({"train": [path]}, tmp_path / "ok", progress=False, allow_negative_labels=True)
    assert meta["splits"]["train"]["rows"] == 2


def test_a_split_wider_than_train_is_refused(tmp_path):
    (tmp_path / "train.txt").write_text("1 qid:1 1:0.5 2:0.3\n0 qid:1 1:0.1 2:0.2\n")
    (tmp_path / "vali.txt").write_text("1 qid:5 1:0.5 2:0.3\n0 qid:5 1:0.1 2:0.2 5:0.9\n")
    with pytest.raises(InputError, match=r"vali.txt:2: the vali split uses feature ids up to 5, but the train "
                                          r"split only 1..2"):
        convert_dataset({"train": [tmp_path / "train.txt"], "vali": [tmp_path / "vali.txt"]}, tmp_path / "out",
                        progress=False)


def test_overwrite_replaces_only_a_dataset_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "train.txt").write_text("1 qid:1 1:0.5 2:0.3\n0 qid:1 1:0.1 2:0.2\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(InputError, match="replaces only folders that ltr_cos wrote"):
        convert_dataset({"train": [tmp_path / "train.txt"]}, mine, overwrite=True, progress=False)
    assert (mine / "notes.txt").read_text() == "precious"
    (tmp_path / "plain").write_text("data")
    with pytest.raises(InputError, match="exists and is a file"):
        convert_dataset({"train": [tmp_path / "train.txt"]}, tmp_path / "plain", overwrite=True, progress=False)
    assert (tmp_path / "plain").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "plain", "train.txt"]  # no hidden .old-*
