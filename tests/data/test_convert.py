"""LibSVM -> Parquet conversion: the folder contract of docs/internals.md, MQ2008 sizes, train-only
fitting, atomic output and recovery from interrupted runs, and dataset layouts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_svmlight_file

from ltr_cos.data.convert import convert_dataset, is_complete, read_meta
from ltr_cos.data.layouts import assign_files, detect_layout, fold_table, split_of_name
from ltr_cos.errors import InputError
from ltr_cos.objectives import ObjectiveSpec


def _write(path: Path, qids, labels, features) -> Path:
    lines = []
    for q, y, row in zip(qids, labels, features):
        fields = " ".join(f"{j + 1}:{v:.6g}" for j, v in enumerate(row) if v != 0)
        lines.append(f"{y:g} qid:{q} {fields}".rstrip())
    path.write_text("\n".join(lines) + "\n")
    return path


def _dataset(tmp_path: Path, name: str, n_queries: int, shift: float, seed: int, first_qid: int = 1):
    rng = np.random.default_rng(seed)
    qids = np.repeat(np.arange(first_qid, first_qid + n_queries), 5)
    features = np.round(rng.normal(shift, 1.0, (len(qids), 4)), 4)
    features[:, 3] = np.round(rng.random(len(qids)) * 10, 2)  # objective column (id 4)
    labels = rng.integers(0, 3, len(qids))
    return _write(tmp_path / name, qids, labels, features), qids, labels, features


def test_mq2008_s1_to_s5(shared_real, tmp_path):
    files = [shared_real / "mq2008" / f"S{i}.txt" for i in range(1, 6)]
    meta = convert_dataset({"train": files}, tmp_path / "mq", objectives="mq2008", progress=False)
    assert meta["splits"]["train"]["rows"] == 15_211
    assert meta["splits"]["train"]["queries"] == 784
    assert meta["n_source_features"] == 46
    assert meta["n_features"] == 44 and meta["feature_ids"] == list(range(1, 45))
    table = pq.read_table(tmp_path / "mq" / "train.parquet")
    assert table.num_rows == 15_211
    assert table.schema.field("qid").type == pa.int64()
    assert table.schema.field("labels").type == pa.list_(pa.float32(), 3)
    assert table.schema.field("features").type == pa.list_(pa.float32(), 44)
    # rows in source order, features raw (not normalised), objective columns removed
    x, y, q = load_svmlight_file(str(files[0]), query_id=True)
    got = np.asarray(table.column("features").combine_chunks().flatten()).reshape(-1, 44)[: len(y)]
    np.testing.assert_array_equal(got, x.toarray()[:, :44].astype(np.float32))
    labels = np.asarray(table.column("labels").combine_chunks().flatten()).reshape(-1, 3)
    np.testing.assert_array_equal(labels[: len(y), 0], y.astype(np.float32))
    np.testing.assert_array_equal(table.column("qid").to_numpy()[: len(q)], q)
    # auxiliary labels are grades; short_url is inverted: longer URLs never get a better grade
    short_url = labels[:, 1]
    assert set(np.unique(short_url)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    x_all = np.concatenate([load_svmlight_file(str(f), query_id=True)[0].toarray() for f in files])
    order = np.argsort(x_all[:, 44], kind="stable")
    assert np.all(np.diff(short_url[order]) <= 0)


def test_folder_contract(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 6, 0.0, 0)
    vali, *_ = _dataset(tmp_path, "vali.txt", 3, 0.0, 1, first_qid=100)
    specs = [ObjectiveSpec("relevance"), ObjectiveSpec("aux", 4, "quantile")]
    meta = convert_dataset({"train": [train], "vali": [vali]}, tmp_path / "ds", objectives=specs, progress=False)
    out = tmp_path / "ds"
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "meta.json", "train.parquet", "vali.parquet"]
    assert is_complete(out)
    on_disk = read_meta(out)
    assert on_disk == json.loads(json.dumps(meta))
    assert set(on_disk) >= {"format_version", "ltr_cos_version", "sources", "splits", "n_features", "feature_ids",
                            "n_source_features", "objectives", "objective_names", "normalization"}
    assert on_disk["format_version"] == 1
    assert on_disk["objective_names"] == ["relevance", "aux"]
    assert on_disk["objectives"][1]["fitted"]["kind"] == "quantile"
    assert on_disk["feature_ids"] == [1, 2, 3] and on_disk["n_features"] == 3
    for split, path in (("train", train), ("vali", vali)):
        src = on_disk["sources"][split][0]
        assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert src["bytes"] == path.stat().st_size
        s = on_disk["splits"][split]
        assert s["sha256"] == hashlib.sha256((out / s["file"]).read_bytes()).hexdigest()
    assert on_disk["splits"]["vali"] == {**on_disk["splits"]["vali"], "rows": 15, "queries": 3}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_normalisation_and_transforms_fitted_on_train_only(tmp_path):
    train, _, _, train_x = _dataset(tmp_path, "a_train.txt", 20, 0.0, 2)
    test, _, _, test_x = _dataset(tmp_path, "a_test.txt", 20, 50.0, 3, first_qid=500)  # shifted far away
    specs = [ObjectiveSpec("relevance"), ObjectiveSpec("aux", 4, "quantile")]
    meta = convert_dataset({"train": [train], "test": [test]}, tmp_path / "ds", objectives=specs, progress=False)
    kept = train_x[:, :3].astype(np.float32).astype(np.float64)
    t = np.sign(kept) * np.log1p(np.abs(kept))
    norm = meta["normalization"]
    assert norm["fitted_on"] == "train" and norm["rows"] == 100
    np.testing.assert_allclose(norm["mean"], t.mean(0), rtol=1e-9)
    np.testing.assert_allclose(norm["std"], t.std(0), rtol=1e-9)
    cuts = meta["objectives"][1]["fitted"]["cuts"]
    expected = np.quantile(train_x[:, 3].astype(np.float32).astype(np.float64), [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(cuts, expected, rtol=1e-12)
    # the shifted test features are stored raw
    got = np.asarray(pq.read_table(tmp_path / "ds" / "test.parquet").column("features").combine_chunks().flatten())
    np.testing.assert_allclose(got.reshape(-1, 3), test_x[:, :3], rtol=1e-6)


def test_no_train_split_fits_on_all_and_says_so(tmp_path):
    test, *_ = _dataset(tmp_path, "t.txt", 4, 0.0, 4)
    meta = convert_dataset({"test": [test]}, tmp_path / "ds", progress=False)
    assert meta["normalization"]["fitted_on"] == "all" and "no train split" in meta["note"]


def test_small_chunks_give_identical_parquet(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 30, 0.0, 5)
    convert_dataset({"train": [train]}, tmp_path / "big", progress=False)
    convert_dataset({"train": [train]}, tmp_path / "small", progress=False, chunk_bytes=300)
    # no cache between the passes: everything is parsed twice, same result
    convert_dataset({"train": [train]}, tmp_path / "twice", progress=False, chunk_bytes=300, cache_bytes=0)
    a = pq.read_table(tmp_path / "big" / "train.parquet")
    assert a.num_rows == 150
    for other in ("small", "twice"):
        assert a.equals(pq.read_table(tmp_path / other / "train.parquet"))


def test_interrupted_conversion_leaves_nothing_and_reruns_cleanly(tmp_path, monkeypatch):
    train, *_ = _dataset(tmp_path, "train.txt", 10, 0.0, 6)
    vali, *_ = _dataset(tmp_path, "vali.txt", 3, 0.0, 7, first_qid=100)
    real_write = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def failing(self, table, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # train written, vali half way
            raise KeyboardInterrupt
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(KeyboardInterrupt):
        convert_dataset({"train": [train], "vali": [vali]}, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(pq.ParquetWriter, "write_table", real_write)
    meta = convert_dataset({"train": [train], "vali": [vali]}, tmp_path / "ds", progress=False)
    assert is_complete(tmp_path / "ds") and meta["splits"]["vali"]["rows"] == 15


def test_leftovers_of_a_killed_run_are_removed(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 3, 0.0, 8)
    # a temporary folder from a process that no longer exists (pid far above pid_max)
    stale = tmp_path / ".ds.tmp-999999999-deadbeef"
    stale.mkdir()
    (stale / "train.parquet").write_bytes(b"partial")
    convert_dataset({"train": [train]}, tmp_path / "ds", progress=False)
    assert not stale.exists() and is_complete(tmp_path / "ds")


def test_temporaries_of_a_running_conversion_are_kept(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 3, 0.0, 8)
    live = tmp_path / f".ds.tmp-{os.getpid()}-cafecafe"  # this process is alive
    live.mkdir()
    convert_dataset({"train": [train]}, tmp_path / "ds", progress=False)
    assert live.is_dir() and is_complete(tmp_path / "ds")


def test_existing_output_needs_overwrite(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 3, 0.0, 9)
    convert_dataset({"train": [train]}, tmp_path / "ds", progress=False)
    before = (tmp_path / "ds" / "meta.json").read_text()
    with pytest.raises(InputError, match="already exists"):
        convert_dataset({"train": [train]}, tmp_path / "ds", progress=False)
    assert (tmp_path / "ds" / "meta.json").read_text() == before
    convert_dataset({"train": [train]}, tmp_path / "ds", objectives=[ObjectiveSpec("relevance"),
                    ObjectiveSpec("aux", 4)], overwrite=True, progress=False)
    assert read_meta(tmp_path / "ds")["objective_names"] == ["relevance", "aux"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input_leaves_no_output(tmp_path):
    train, *_ = _dataset(tmp_path, "train.txt", 3, 0.0, 10)
    bad = tmp_path / "vali.txt"
    bad.write_text("1 qid:5 1:1\n1 qid:5 1:x\n")
    with pytest.raises(InputError, match=f"{bad}:2: "):
        convert_dataset({"train": [train], "vali": [bad]}, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()
    with pytest.raises(InputError, match="uses feature 45 but the data has feature ids 1..4"):
        convert_dataset({"train": [train]}, tmp_path / "ds", objectives="mq2008", progress=False)
    with pytest.raises(InputError, match="unknown objectives preset"):
        convert_dataset({"train": [train]}, tmp_path / "ds", objectives="nope", progress=False)
    assert not (tmp_path / "ds").exists()


def test_sparse_file_whose_ids_grow_late(tmp_path):
    # the widest id appears only in the last chunk: earlier blocks are padded with zeros
    rows = "".join(f"1 qid:{q} 1:{q}\n" for q in range(1, 60)) + "0 qid:60 9:2.5\n"
    (tmp_path / "train.txt").write_text(rows)
    for cache in (0, 1 << 20):
        out = tmp_path / f"ds{cache}"
        meta = convert_dataset({"train": [tmp_path / "train.txt"]}, out, progress=False, chunk_bytes=64,
                               cache_bytes=cache)
        assert meta["n_features"] == 9
        x = np.asarray(pq.read_table(out / "train.parquet").column("features").combine_chunks().flatten())
        x = x.reshape(-1, 9)
        np.testing.assert_array_equal(x[:59, 0], np.arange(1, 60))
        assert not x[:59, 1:].any() and x[59, 8] == 2.5 and x[59, :8].sum() == 0


def test_query_split_across_files_of_a_split_is_refused(tmp_path):
    a = _write(tmp_path / "a.txt", [1, 2], [1, 0], [[1.0], [2.0]])
    b = _write(tmp_path / "b.txt", [2, 3], [1, 0], [[1.0], [2.0]])
    with pytest.raises(InputError) as info:
        convert_dataset({"train": [a, b]}, tmp_path / "ds", progress=False)
    assert str(info.value).startswith(f"{b}:1: qid 2 also appears in {a} (line 2)")


def test_file_without_qid_needs_query_file(tmp_path):
    data = tmp_path / "rank.train"
    data.write_text("1 1:1\n0 1:2\n1 1:3\n")
    with pytest.raises(InputError, match=r"rank.train:1: row has no qid"):
        convert_dataset({"train": [data]}, tmp_path / "ds", progress=False)
    groups = tmp_path / "groups.txt"
    groups.write_text("1\n2\n")
    meta = convert_dataset({"train": [data]}, tmp_path / "ds", query_files={data: groups}, progress=False)
    assert meta["splits"]["train"]["queries"] == 2
    assert meta["sources"]["train"][0]["query_file"]["path"] == str(groups.resolve())


# ---------------------------------------------------------------------------------------------------
# layouts


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("0 qid:1 1:1\n")
    return path


def test_split_names():
    assert split_of_name("train.txt") == "train"
    assert split_of_name("trainingset.txt") == "train"
    assert split_of_name("vali.txt") == "vali"
    assert split_of_name("set1.valid.txt") == "vali"
    assert split_of_name("validationset.txt") == "vali"
    assert split_of_name("testset.txt.gz") == "test"
    assert split_of_name("S1.txt") is None
    with pytest.raises(InputError, match="several splits"):
        split_of_name("train_test.txt")


def test_fold_table_matches_letor_readme():
    assert fold_table(1) == {"train": [1, 2, 3], "vali": [4], "test": [5]}
    assert fold_table(2) == {"train": [2, 3, 4], "vali": [5], "test": [1]}
    assert fold_table(4) == {"train": [4, 5, 1], "vali": [2], "test": [3]}
    assert fold_table(5) == {"train": [5, 1, 2], "vali": [3], "test": [4]}


def test_fold_folders(tmp_path):
    root = tmp_path / "MSLR-WEB10K"
    for k in (1, 2):
        for s in ("train", "vali", "test"):
            _touch(root / f"Fold{k}" / f"{s}.txt")
    lay = detect_layout(root, fold=2)
    assert lay.kind == "folds" and lay.fold == 2
    assert lay.splits == {s: [root / "Fold2" / f"{s}.txt"] for s in ("test", "train", "vali")}
    # an archive that unpacks into one named folder
    assert detect_layout(tmp_path).splits["train"] == [root / "Fold1" / "train.txt"]
    with pytest.raises(InputError, match="no Fold3 folder"):
        detect_layout(root, fold=3)


def test_letor3_names(tmp_path):
    for name in ("trainingset.txt", "validationset.txt", "testset.txt"):
        _touch(tmp_path / "OHSUMED" / "Data" / "Fold1" / name)
    lay = detect_layout(tmp_path / "OHSUMED" / "Data")
    assert {s: [p.name for p in ps] for s, ps in lay.splits.items()} == {
        "train": ["trainingset.txt"], "vali": ["validationset.txt"], "test": ["testset.txt"]}


def test_parts_and_yahoo(tmp_path):
    for i in range(1, 6):
        _touch(tmp_path / "mq" / f"S{i}.txt")
    lay = detect_layout(tmp_path / "mq", fold=3)
    assert [p.name for p in lay.splits["train"]] == ["S3.txt", "S4.txt", "S5.txt"]
    assert [p.name for p in lay.splits["vali"]] == ["S1.txt"] and [p.name for p in lay.splits["test"]] == ["S2.txt"]
    loose = assign_files([tmp_path / "mq" / f"S{i}.txt" for i in range(1, 6)])
    assert list(loose.splits) == ["train"] and len(loose.splits["train"]) == 5
    assert assign_files([tmp_path / "mq" / f"S{i}.txt" for i in range(1, 6)], fold=2).splits["test"][0].name == "S1.txt"
    for s in ("train", "valid", "test"):
        _touch(tmp_path / "yahoo" / f"set1.{s}.txt")
        _touch(tmp_path / "yahoo" / f"set2.{s}.txt")
    (tmp_path / "yahoo" / "readme.txt").write_text("x")
    lay = detect_layout(tmp_path / "yahoo", fold=2)
    assert lay.kind == "yahoo" and lay.splits["vali"] == [tmp_path / "yahoo" / "set2.valid.txt"]


def test_istella_archive_layout(tmp_path):
    # istella-letor.tar.gz: full/{train,test}.txt beside the licence agreement
    _touch(tmp_path / "full" / "train.txt")
    _touch(tmp_path / "full" / "test.txt")
    (tmp_path / "istella-letor-LA.txt").write_text("licence")
    lay = detect_layout(tmp_path)
    assert lay.splits == {"test": [tmp_path / "full" / "test.txt"], "train": [tmp_path / "full" / "train.txt"]}


def test_unrecognised_folder(tmp_path):
    _touch(tmp_path / "x" / "data.bin")
    _touch(tmp_path / "x" / "other.bin")
    with pytest.raises(InputError, match="no dataset layout recognised"):
        detect_layout(tmp_path / "x")


def test_data_convert_command_imports_no_heavy_modules(tmp_path):
    # the command's start-up counts for small files: no torch, Lightning, pandas, pyarrow.compute's
    # wrappers, tqdm (without a bar) or the fetch module's network stack
    train, *_ = _dataset(tmp_path, "train.txt", 3, 0.0, 11)
    heavy = ("torch", "pytorch_lightning", "pandas", "pyarrow.compute", "tqdm", "ltr_cos.data.fetch")
    code = (
        "import sys; from ltr_cos.cli import main;"
        f"status = main(['data', 'convert', {str(train)!r}, '--out', {str(tmp_path / 'ds')!r}, '--no-progress']);"
        f"print(status, ','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 " and is_complete(tmp_path / "ds")
