"""RankingDataset, load_meta and collate_queries on tiny folders written by tests/data/helpers.py."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pyarrow as pa
import pytest
import torch

from ltr_cos.data import RankingDataset, collate_queries, load_meta
from ltr_cos.errors import InputError
from ltr_cos.types import RankingBatch
from tests.data.helpers import random_split, write_dataset_folder

LENGTHS = [3, 1, 5, 2, 4]


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    splits = {"train": random_split(rng, LENGTHS, n_features=3, n_objectives=2),
              "test": random_split(rng, [2, 6], n_features=3, n_objectives=2, first_qid=100)}
    # row groups of 4 rows: several queries straddle a group boundary
    root = write_dataset_folder(tmp_path / "ds", splits, ["relevance", "quality"], row_group_size=4)
    return root, splits


def test_items_round_trip_exactly(folder):
    root, splits = folder
    qid, labels, features = splits["train"]
    ds = RankingDataset(root, "train")
    assert len(ds) == len(LENGTHS)
    np.testing.assert_array_equal(ds.lengths, LENGTHS)
    start = 0
    for i, n in enumerate(LENGTHS):
        f, y, q = ds[i]
        assert f.dtype == torch.float32 and y.dtype == torch.float32 and isinstance(q, int)
        np.testing.assert_array_equal(f.numpy(), features[start:start + n])
        np.testing.assert_array_equal(y.numpy(), labels[start:start + n])
        assert q == qid[start]
        start += n
    assert ds[-1][2] == qid[-1]
    with pytest.raises(IndexError):
        ds[len(LENGTHS)]


def test_collate_pads_to_longest_of_batch(folder):
    root, _ = folder
    ds = RankingDataset(root, "train")
    batch = collate_queries([ds[1], ds[3], ds[0]])  # lengths 1, 2, 3
    assert isinstance(batch, RankingBatch)
    assert batch.features.shape == (3, 3, 3) and batch.labels.shape == (3, 3, 2)
    assert batch.mask.dtype == torch.bool and batch.qids.dtype == torch.int64
    assert batch.mask.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    np.testing.assert_array_equal(batch.qids.numpy(), [ds[1][2], ds[3][2], ds[0][2]])
    np.testing.assert_array_equal(batch.labels[1, :2].numpy(), ds[3][1].numpy())
    assert not batch.features[~batch.mask].any() and not batch.labels[~batch.mask].any()
    with pytest.raises(InputError, match="empty batch"):
        collate_queries([])
    with pytest.raises(InputError, match="inconsistent"):
        collate_queries([ds[0], (torch.zeros(2, 5), torch.zeros(2, 2), 9)])


def test_reads_a_memory_mapped_cache(tmp_path):
    rng = np.random.default_rng(1)
    lengths = [200] * 100  # 20,000 rows x 64 features = 5 MB of float32
    root = write_dataset_folder(tmp_path / "big", {"train": random_split(rng, lengths, n_features=64)},
                                ["relevance", "quality"])
    RankingDataset(root, "train")  # first open builds the cache
    caches = list((root / ".cache").glob("train-*.arrow"))
    assert len(caches) == 1
    before = pa.total_allocated_bytes()
    ds = RankingDataset(root, "train")
    # a mapped file is not allocated from Arrow's memory pool, a read Parquet table would be (5 MB)
    assert pa.total_allocated_bytes() - before < 200_000
    assert ds.cache_path == caches[0]
    view = ds._features[0]
    assert not view.flags.owndata and not view.flags.writeable
    with open(caches[0], "rb") as f:
        assert f.read(6) == b"ARROW1"  # uncompressed Arrow IPC file
    np.testing.assert_array_equal(ds[3][0].numpy(), random_split(np.random.default_rng(1), lengths, 64)[2][600:800])


def test_pickled_dataset_reopens_the_map(folder):
    root, _ = folder
    ds = RankingDataset(root, "train", max_list_length=2, train=True, seed=3)
    clone = pickle.loads(pickle.dumps(ds))
    for i in range(len(ds)):
        for a, b in zip(ds[(i, 4)][:2], clone[(i, 4)][:2]):
            assert torch.equal(a, b)


def test_train_subsampling_keeps_a_positive_and_caps_length(tmp_path):
    n, k = 30, 4
    qid = np.repeat([1, 2, 3], [n, n, 3]).astype(np.int64)
    labels = np.zeros((2 * n + 3, 1), np.float32)
    labels[17, 0] = 2.0  # query 1: exactly one positive
    features = np.arange(len(qid), dtype=np.float32)[:, None]  # the row number, to identify rows
    root = write_dataset_folder(tmp_path / "ds", {"train": (qid, labels, features)}, ["relevance"])
    ds = RankingDataset(root, "train", max_list_length=k, seed=7, train=True)
    samples = []
    for epoch in range(12):
        ds.set_epoch(epoch)
        f, y, _ = ds[0]
        assert f.shape == (k, 1) and y.shape == (k, 1)
        rows = f[:, 0].numpy()
        assert 17 in rows and y.max() == 2.0
        assert np.all(np.diff(rows) > 0)  # distinct, in source order
        samples.append(tuple(rows))
        assert ds[1][0].shape == (k, 1)  # no positive at all: still capped
        assert ds[2][0].shape == (3, 1)  # short list untouched
    assert len(set(samples)) > 6  # fresh randomness per epoch
    again = RankingDataset(root, "train", max_list_length=k, seed=7, train=True)
    assert torch.equal(again[(0, 5)][0], torch.tensor(samples[5])[:, None])  # reproducible from seed + epoch
    assert RankingDataset(root, "train", max_list_length=k, train=False)[0][0].shape == (n, 1)


def _edit_meta(root, change):
    meta = json.loads((root / "meta.json").read_text())
    change(meta)
    (root / "meta.json").write_text(json.dumps(meta))


def test_load_meta_accepts_a_good_folder(folder):
    root, _ = folder
    meta = load_meta(root, verify_hash=True)
    assert meta["splits"]["train"]["queries"] == len(LENGTHS) and meta["n_features"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["splits"]["train"].update(rows=99), "has 15 rows but meta.json says 99"),
        (lambda m: m["splits"]["train"].update(queries=4), "has 5 queries but meta.json says 4"),
        (lambda m: m.update(format_version=2), "format_version 2"),
        (lambda m: m.update(n_features=4), "'features' has type"),
        (lambda m: m["splits"]["test"].update(file="nope.parquet"), "nope.parquet is missing"),
    ],
)
def test_load_meta_refuses_mismatches(folder, change, message):
    root, _ = folder
    _edit_meta(root, change)
    with pytest.raises(InputError, match=message):
        load_meta(root)


def test_hash_mismatch_and_incomplete_folder(folder):
    root, _ = folder
    _edit_meta(root, lambda m: m["splits"]["test"].update(sha256="0" * 64))
    load_meta(root)  # hashes are only read on request
    with pytest.raises(InputError, match="split 'test': sha256 .* differs"):
        load_meta(root, verify_hash=True)
    (root / "_SUCCESS").unlink()
    with pytest.raises(InputError, match="_SUCCESS"):
        load_meta(root)


def test_unknown_split_and_bad_length(folder):
    root, _ = folder
    with pytest.raises(InputError, match=r"no split 'vali' \(it has: test, train\)"):
        RankingDataset(root, "vali")
    with pytest.raises(InputError, match="max_list_length"):
        RankingDataset(root, "train", max_list_length=0)


def test_stale_cache_is_replaced(folder):
    root, splits = folder
    first = RankingDataset(root, "train").cache_path
    qid, labels, features = splits["train"]
    write_dataset_folder(root, {"train": (qid, labels, features + 1), "test": splits["test"]},
                         ["relevance", "quality"])
    ds = RankingDataset(root, "train")
    assert ds.cache_path != first and not first.exists()
    np.testing.assert_array_equal(ds[0][0].numpy(), features[:3] + 1)
