"""Untrusted files: checkpoints load with ``torch.load(weights_only=True)``, so a pickled object payload is
refused before it can run; a dataset folder whose meta.json does not match its files is refused.

The payload writes a marker file when unpickled; one test shows that it really does so under a plain
``torch.load(weights_only=False)``, so the refusals below are refusals of a live payload.
(Exported artifacts: tests/export/test_loader.py checks the sidecar's sha256 of the model file.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from ltr_cos.data.convert import convert_dataset
from ltr_cos.data.datamodule import RankingDataModule
from ltr_cos.data.dataset import RankingDataset
from ltr_cos.data.synthetic import write_synthetic_libsvm
from ltr_cos.errors import InputError
from ltr_cos.training import CosDpoModule, ReferenceModule, data_info_from_meta, load_ranker_from_checkpoint
from ltr_cos.training.checkpoint import CHECKPOINT_FORMAT_VERSION

REPO = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this runs ``exec``: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("untrusted")
    for split, seed, queries in (("train", 0, 24), ("vali", 1, 8)):
        write_synthetic_libsvm(tmp / f"{split}.txt", n_queries=queries, seed=seed, docs_per_query=(2, 6))
    convert_dataset({"train": [tmp / "train.txt"], "vali": [tmp / "vali.txt"]}, tmp / "data", objectives="mslr2",
                    progress=False)
    return tmp / "data"


def _reference_checkpoint(dataset: Path, path: Path, extra: dict | None = None) -> Path:
    data = RankingDataModule(str(dataset))
    module = ReferenceModule(data_info_from_meta(data.meta))
    hparams = dict(module.hparams)
    hparams.update(extra or {})
    record = {"format_version": CHECKPOINT_FORMAT_VERSION, **module.checkpoint_record()}
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams, "ltr_cos": record,
                "pytorch-lightning_version": "2"}, path)
    return path


def test_the_payload_is_live_under_an_unsafe_load(dataset, tmp_path):
    marker = tmp_path / "marker"
    ckpt = _reference_checkpoint(dataset, tmp_path / "evil.ckpt", {"note": Payload(marker)})
    torch.load(ckpt, weights_only=False)
    assert marker.read_text() == "ran"


def test_a_plain_checkpoint_loads(dataset, tmp_path):
    loaded = load_ranker_from_checkpoint(_reference_checkpoint(dataset, tmp_path / "good.ckpt"))
    assert loaded.info["stage"] == "reference" and loaded.reference is None


def test_checkpoint_with_a_pickled_object_is_refused_by_every_loader(dataset, tmp_path):
    marker = tmp_path / "marker"
    ckpt = _reference_checkpoint(dataset, tmp_path / "evil.ckpt", {"note": Payload(marker)})
    with pytest.raises(InputError, match=r"cannot read checkpoint safely: .*Weights only load failed") as info:
        load_ranker_from_checkpoint(ckpt)
    assert info.value.path == str(ckpt)
    data = RankingDataModule(str(dataset))
    with pytest.raises(InputError, match="cannot read checkpoint safely"):
        CosDpoModule(reference_ckpt=str(ckpt), data_info=data_info_from_meta(data.meta))
    assert not marker.exists(), "the payload ran"


@pytest.mark.slow
def test_fit_refuses_to_resume_from_a_checkpoint_with_a_pickled_object(dataset, tmp_path):
    marker = tmp_path / "marker"
    ckpt = _reference_checkpoint(dataset, tmp_path / "evil.ckpt", {"note": Payload(marker)})
    env = dict(os.environ, PYTHONUNBUFFERED="1", LTR_COS_RUN_VERSION="v0")
    result = subprocess.run(
        [sys.executable, "-m", "ltr_cos.cli", "fit", "--model", "ltr_cos.training.ReferenceModule",
         "--data.data_dir", str(dataset), "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
         "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
         "--checkpoint.dirpath", str(tmp_path / "ckpt"), "--ckpt_path", str(ckpt)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode != 0
    assert "Weights only load failed" in result.stderr, result.stderr[-3000:]
    assert not marker.exists(), "the payload ran"


# ----------------------------------------------------------------------------------------------------
# meta.json against the files
# ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def copy(dataset, tmp_path) -> Path:
    """A private copy of the dataset folder (no cache) that a test may damage."""
    out = tmp_path / "copy"
    out.mkdir()
    for name in ("meta.json", "_SUCCESS", "train.parquet", "vali.parquet"):
        (out / name).write_bytes((dataset / name).read_bytes())
    return out


def _edit_meta(root: Path, edit) -> None:
    meta = json.loads((root / "meta.json").read_text())
    edit(meta)
    (root / "meta.json").write_text(json.dumps(meta))


def test_changed_values_with_the_same_counts_are_refused(copy):
    path = copy / "train.parquet"
    table = pq.read_table(path)
    features = table.column("features").combine_chunks()
    flat = features.flatten().to_numpy().copy()
    flat[7] += 1.0  # one value; rows, queries and schema stay as meta.json says
    changed = table.set_column(table.schema.get_field_index("features"), "features",
                               pa.FixedSizeListArray.from_arrays(pa.array(flat), features.type.list_size))
    pq.write_table(changed, path)
    with pytest.raises(InputError, match="split 'train': the file's sha256 differs from meta.json") as info:
        RankingDataset(copy, "train")
    assert info.value.path == str(path)
    data = RankingDataModule(str(copy))  # meta.json itself is fine: reading it works...
    with pytest.raises(InputError, match="sha256 differs"):
        data.prepare_data()  # ...but the data behind it is refused before anything is trained on it
    assert RankingDataset(copy, "vali").info["queries"] == 8  # the untouched split still loads


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["splits"]["train"].update(rows=m["splits"]["train"]["rows"] + 1), "rows but meta.json says"),
        (lambda m: m["splits"]["vali"].update(queries=9), "8 queries but meta.json says 9"),
        (lambda m: m.update(format_version=2), "format_version 2 is not supported"),
        (lambda m: m.update(n_features=m["n_features"] - 1), "column 'features' has type"),
        (lambda m: m["splits"]["train"].update(file="missing.parquet"), "file missing.parquet is missing"),
        (lambda m: m.pop("normalization"), "key 'normalization' is missing"),
    ],
    ids=["rows", "queries", "version", "features", "file", "key"],
)
def test_meta_json_that_does_not_match_the_files_is_refused(copy, edit, message):
    _edit_meta(copy, edit)
    with pytest.raises(InputError, match=message):
        RankingDataModule(str(copy))


def test_a_folder_without_its_completion_marker_or_meta_is_refused(copy):
    (copy / "_SUCCESS").unlink()
    with pytest.raises(InputError, match="no _SUCCESS marker"):
        RankingDataModule(str(copy))
    (copy / "_SUCCESS").write_text("")
    (copy / "meta.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        RankingDataModule(str(copy))
