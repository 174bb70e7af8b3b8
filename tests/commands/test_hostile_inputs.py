"""Bad flags, edited artifacts and foreign files: each gets one clear line and exit 2, never a traceback
and never a silently wrong answer."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import pytorch_lightning as pl

from ltr_cos.cli import main
from ltr_cos.errors import InputError
from ltr_cos.export import export_ranker, load_artifact
from ltr_cos.training import BackboneSettings, CosDpoModule, ReferenceModule, load_ranker_from_checkpoint
from tests.training.helpers import data_info, loader, make_lists

pytestmark = pytest.mark.usefixtures("one_thread")
N_SOURCE = 8
INFO = data_info(6, feature_ids=[1, 2, 3, 5, 6, 8], n_source_features=N_SOURCE)


def _trainer(root):
    return pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=root)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    pl.seed_everything(0)
    reference = ReferenceModule(INFO, BackboneSettings(hidden_sizes=[8]))
    trainer = _trainer(root)
    trainer.fit(reference, loader(make_lists(16)))
    trainer.save_checkpoint(root / "reference.ckpt")
    policy = CosDpoModule(reference_ckpt=str(root / "reference.ckpt"), data_info=INFO)
    trainer = _trainer(root)
    trainer.fit(policy, loader(make_lists(16, seed=1)))
    trainer.save_checkpoint(root / "policy.ckpt")
    return root


@pytest.fixture(scope="module")
def artifact(checkpoints):
    loaded = load_ranker_from_checkpoint(checkpoints / "policy.ckpt")
    return export_ranker(loaded.ranker, checkpoints / "artifact", info=loaded.info, reference=loaded.reference)


def _one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("ltr-cos: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("flags,message", [
    (["--grid-step", "0"], "--grid-step must be > 0"),
    (["--grid-step", "0.3"], "must divide 1"),
    (["--grid-step", "-0.1"], "--grid-step must be > 0"),
    (["--k", "0"], "--k must be >= 1"),
    (["--beta", "nan"], "--beta must be finite and > 0"),
    (["--beta", "0"], "--beta must be finite and > 0"),
])
def test_pareto_refuses_bad_numbers_before_loading_anything(tmp_path, capsys, flags, message):
    code = main(["pareto", "--ckpt", str(tmp_path / "missing.ckpt"), "--data", str(tmp_path), "--out",
                 str(tmp_path / "out"), *flags])
    assert message in _one_line_error(capsys, code)


def test_random_bytes_and_missing_checkpoints_are_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    err = _one_line_error(capsys, main(["export", "--ckpt", str(junk), "--out", str(tmp_path / "a")]))
    assert "not a readable checkpoint file" in err and "pytorch" not in err.lower()
    err = _one_line_error(capsys, main(["export", "--ckpt", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "b")]))
    assert "checkpoint not found" in err


def test_fit_with_a_wrong_reference_is_one_line(checkpoints, tmp_path, capsys, monkeypatch):
    from tests.reliability.helpers import make_dataset

    data = make_dataset(tmp_path, train_queries=8, vali_queries=4)  # 134 features, not 6
    monkeypatch.chdir(tmp_path)
    for reference, message in ((checkpoints / "reference.ckpt", "the reference ranker takes 6 features but the "
                                                                  "dataset has 134"),
                               (checkpoints / "policy.ckpt", "must be a stage-1 (ReferenceModule) checkpoint"),
                               (tmp_path / "missing.ckpt", "reference checkpoint not found")):
        code = main(["fit", "--model", "ltr_cos.training.CosDpoModule", "--model.init_args.reference_ckpt",
                     str(reference), "--data.data_dir", str(data), "--trainer.max_epochs", "1"])
        assert message in _one_line_error(capsys, code)


def test_fit_with_a_missing_or_corrupt_ckpt_path_is_one_line(tmp_path, capsys, monkeypatch):
    from tests.reliability.helpers import make_dataset

    data = make_dataset(tmp_path, train_queries=8, vali_queries=4)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt.ckpt").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    for path, message in ((tmp_path / "missing.ckpt", "checkpoint not found"),
                          (tmp_path / "corrupt.ckpt", "not a readable checkpoint file")):
        code = main(["fit", "--model", "ltr_cos.training.ReferenceModule", "--data.data_dir", str(data),
                     "--trainer.max_epochs", "1", "--ckpt_path", str(path)])
        assert message in _one_line_error(capsys, code)


def test_export_of_a_stage_1_checkpoint(checkpoints, tmp_path, capsys):
    assert main(["export", "--ckpt", str(checkpoints / "reference.ckpt"), "--out", str(tmp_path / "ref")]) == 0
    assert "no beta input" in capsys.readouterr().out


@pytest.mark.parametrize("field,value", [("feature_ids", [1, 2, 3, 4, 5, 6]), ("trained_beta", 2.0),
                                         ("n_features", 7), ("format", "onnx"), ("objective_names", ["a", "b", "c"])])
def test_every_sidecar_edit_is_refused(artifact, tmp_path, field, value):
    copy = tmp_path / "edited"
    shutil.copytree(artifact, copy)
    info = json.loads((copy / "ranker.json").read_text())
    (copy / "ranker.json").write_text(json.dumps({**info, field: value}, indent=2))
    with pytest.raises(InputError, match="edited after export"):
        load_artifact(copy)


def test_model_file_outside_the_artifact_is_refused(artifact, tmp_path):
    from ltr_cos.export.sidecar import content_hash

    copy = tmp_path / "art"
    shutil.copytree(artifact, copy)
    (tmp_path / "other").mkdir()
    shutil.copy(copy / "model.pt", tmp_path / "other" / "model.pt")
    info = json.loads((copy / "ranker.json").read_text())
    info["model_file"] = "../other/model.pt"
    info["content_sha256"] = content_hash(info)  # even with a consistent hash
    (copy / "ranker.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="must be a file inside the artifact folder"):
        load_artifact(copy)


def _libsvm(path, n_features, rows=4, comment=True):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(rows):
        values = " ".join(f"{j}:{v:.3f}" for j, v in enumerate(rng.random(n_features) + 0.1, start=1))
        lines.append(f"{i % 2} qid:{1 + i // 2} {values}" + (f" #docid = D{i} inc = 1" if comment else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rank_refuses_files_whose_feature_ids_do_not_match(artifact, tmp_path, capsys):
    base = ["rank", "--model", str(artifact), "--weights", "0.5,0.5"]
    narrow = _libsvm(tmp_path / "narrow.txt", 5)  # the model reads ids 6 and 8 too
    err = _one_line_error(capsys, main([*base, "--input", str(narrow), "--out", str(tmp_path / "a.tsv")]))
    assert "missing ids 6, 8" in err and not (tmp_path / "a.tsv").exists()
    wide = _libsvm(tmp_path / "wide.txt", 12)  # the training data stopped at id 8
    err = _one_line_error(capsys, main([*base, "--input", str(wide), "--out", str(tmp_path / "b.tsv")]))
    assert "extra ids 9-12" in err


def test_rank_carries_docids_and_keeps_an_existing_output(artifact, tmp_path, capsys):
    data = _libsvm(tmp_path / "in.txt", N_SOURCE)
    out = tmp_path / "ranked.tsv"
    argv = ["rank", "--model", str(artifact), "--weights", "0.5,0.5", "--input", str(data), "--out", str(out)]
    assert main(argv) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][-1] == "docid" and sorted(r[-1] for r in rows[1:]) == ["D0", "D1", "D2", "D3"]
    first = out.read_bytes()
    assert "pass --overwrite" in _one_line_error(capsys, main(argv))
    assert out.read_bytes() == first
    assert main([*argv, "--overwrite"]) == 0


def test_rank_negative_weights_reach_the_weights_check(artifact, tmp_path, capsys):
    data = _libsvm(tmp_path / "in.txt", N_SOURCE)
    code = main(["rank", "--model", str(artifact), "--input", str(data), "--weights", "-0.5,1.5", "--out",
                 str(tmp_path / "o.tsv")])
    assert "--weights must be non-negative, got [-0.5, 1.5]" in _one_line_error(capsys, code)


def test_loader_checks_the_columns_feature_ids(artifact):
    model = load_artifact(artifact)
    x = np.random.default_rng(0).random((2, 3, 6), dtype=np.float32)
    ids = [1, 2, 3, 5, 6, 8]
    reordered = model.score(x[..., ::-1], weights=[0.5, 0.5], feature_ids=ids[::-1])
    np.testing.assert_allclose(reordered, model.score(x, weights=[0.5, 0.5]), rtol=1e-6)
    with pytest.raises(InputError, match=r"missing ids 8; extra ids 4"):
        model.score(x, weights=[0.5, 0.5], feature_ids=[1, 2, 3, 4, 5, 6])


def test_unwritable_and_odd_output_paths(checkpoints, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    code = main(["export", "--ckpt", str(checkpoints / "reference.ckpt"), "--out", str(a_file / "out")])
    assert "a parent of the output path is a file" in _one_line_error(capsys, code)
    assert a_file.read_text() == "mine"
    code = main(["export", "--ckpt", str(checkpoints / "reference.ckpt"), "--out", str(a_file), "--overwrite"])
    assert "exists and is a file" in _one_line_error(capsys, code)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(checkpoints, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code = main(["export", "--ckpt", str(checkpoints / "reference.ckpt"), "--out", str(locked / "out")])
    assert "not writable" in _one_line_error(capsys, code)
