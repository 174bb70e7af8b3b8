"""The artifact loader's input validation, and the `ltr-cos export` / `ltr-cos rank` commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ltr_cos.errors import InputError
from ltr_cos.export import export_ranker, load_artifact
from ltr_cos.models import Ranker

F = 4
INFO = {
    "objective_names": ["relevance", "quality", "clicks", "dwell"],
    "weighted_objectives": ["quality", "clicks", "dwell"],
    "beta_range": [0.1, 10.0],
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def temperature_artifact(tmp_path_factory):
    torch.manual_seed(0)
    ranker = Ranker(F, hidden_sizes=(8,), conditioning="film", n_weights=3, temperature_conditioning=True)
    return export_ranker(ranker, tmp_path_factory.mktemp("a") / "temp", info=INFO)


@pytest.fixture(scope="module")
def plain_artifact(tmp_path_factory):
    torch.manual_seed(0)
    return export_ranker(Ranker(F, hidden_sizes=(8,)), tmp_path_factory.mktemp("b") / "plain", info={})


X = np.ones((2, 3, F), dtype=np.float32)
W = [0.2, 0.3, 0.5]


@pytest.mark.parametrize(
    "weights,message",
    [
        (None, "needs weights over 3 objectives"),
        ([0.5, 0.5], r"must have 3 values \(quality, clicks, dwell\), got 2"),
        ([0.2, 0.3, 0.5, 0.0], "must have 3 values"),
        ([1.2, -0.2, 0.0], "non-negative"),
        ([0.2, 0.3, 0.49], r"sum to 1 \(within 0.0001\), got sum 0.99"),
        ([float("nan"), 0.5, 0.5], "NaN"),
        ([[0.2, 0.3, 0.5]] * 3, r"\[m\] or \[B, m\] with B = 2"),
        ([[0.2, 0.3, 0.5], [0.2, 0.3, 0.6]], "sum to 1"),
    ],
)
def test_bad_weights_are_refused(temperature_artifact, weights, message):
    with pytest.raises(InputError, match=message):
        load_artifact(temperature_artifact).score(X, weights=weights, beta=1.0)


def test_weight_sum_tolerance_is_1e_4(temperature_artifact):
    artifact = load_artifact(temperature_artifact)
    assert artifact.score(X, weights=[0.2, 0.3, 0.50009], beta=1.0).shape == (2, 3)
    with pytest.raises(InputError, match="sum to 1"):
        artifact.score(X, weights=[0.2, 0.3, 0.5002], beta=1.0)


def test_bad_features_mask_and_beta_are_refused(temperature_artifact, plain_artifact):
    artifact = load_artifact(temperature_artifact)
    with pytest.raises(InputError, match="takes 4 features per candidate, got 5"):
        artifact.score(np.ones((2, 3, 5)), weights=W, beta=1.0)
    with pytest.raises(InputError, match=r"features must be \[B, L, F\]"):
        artifact.score(np.ones(F), weights=W, beta=1.0)
    with pytest.raises(InputError, match=r"mask must be \[B, L\] = \[2, 3\]"):
        artifact.score(X, np.ones((2, 4), bool), weights=W, beta=1.0)
    bad = X.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(InputError, match="finite"):
        artifact.score(bad, weights=W, beta=1.0)
    mask = np.array([[1, 0, 1], [1, 1, 1]], bool)
    assert artifact.score(bad, mask, weights=W, beta=1.0)[0, 1] == 0.0  # NaN in padding is fine
    with pytest.raises(InputError, match="pass beta"):
        artifact.score(X, weights=W)
    with pytest.raises(InputError, match="beta must be finite and > 0"):
        artifact.score(X, weights=W, beta=0.0)
    with pytest.raises(InputError, match="not both"):
        artifact.score(X, weights=W, beta=1.0, log_beta=0.0)
    with pytest.warns(UserWarning, match="outside the trained range"):
        artifact.score(X, weights=W, beta=50.0)
    plain = load_artifact(plain_artifact)
    with pytest.raises(InputError, match="not conditioned on weights"):
        plain.score(X, weights=W)
    with pytest.raises(InputError, match="not conditioned on beta.*rescale"):
        plain.score(X, beta=2.0)
    assert plain.score(X).shape == (2, 3)


def test_tampered_or_missing_files_are_refused(temperature_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(temperature_artifact, copy)
    assert load_artifact(copy / "model.pt").info["format"] == "torchscript"  # the model file works too
    with open(copy / "model.pt", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(InputError, match="sha256"):
        load_artifact(copy)
    info = json.loads((copy / "ranker.json").read_text())
    (copy / "ranker.json").write_text(json.dumps({**info, "format_version": 99}))
    with pytest.raises(InputError, match="format_version"):
        load_artifact(copy)
    (copy / "ranker.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the sidecar"):
        load_artifact(copy)
    with pytest.raises(InputError, match="no ranker.json"):
        load_artifact(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------- commands

N_SOURCE = 6
FEATURE_IDS = [1, 2, 4, 5]  # source columns 3 and 6 are objective columns, not model inputs
OBJECTIVES = ["relevance", "aux_a", "aux_b"]


def _lists(n_queries: int, seed: int):
    from ltr_cos.types import RankingBatch

    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_queries // 4):
        features = torch.randn(4, 5, F, generator=g)
        labels = torch.stack(
            [(features[..., 0] > 0).float(), (features[..., 1] > 0).float(), (features[..., 2] > 0).float()],
            -1,
        )
        mask = torch.ones(4, 5, dtype=torch.bool)
        mask[0, 3:] = False
        batches.append(RankingBatch(features, labels, mask, torch.arange(4)))
    return torch.utils.data.DataLoader(batches, batch_size=None)  # the items are whole batches already


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A COS-DPO checkpoint (prompt-conditioned transformer, temperature input) from one short fit."""
    pl = pytest.importorskip("pytorch_lightning")
    from ltr_cos.objectives import DirichletSampler
    from ltr_cos.training import (
        BackboneSettings,
        ConditioningSettings,
        CosDpoModule,
        ReferenceModule,
    )

    tmp = tmp_path_factory.mktemp("ckpt")
    kw = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "max_epochs": 1,
        "default_root_dir": tmp,
    }
    pl.seed_everything(0)
    info = {"n_features": F, "objective_names": OBJECTIVES, "normalization": None, "feature_ids": FEATURE_IDS}
    reference = ReferenceModule(
        info, BackboneSettings(arch="transformer", d_model=8, n_heads=2, n_layers=1, dim_feedforward=16)
    )
    trainer = pl.Trainer(**kw)
    trainer.fit(reference, _lists(8, 0))
    trainer.save_checkpoint(tmp / "reference.ckpt")
    policy = CosDpoModule(
        reference_ckpt=str(tmp / "reference.ckpt"),
        data_info=info,
        conditioning=ConditioningSettings("prompt", n_prompts=2, cond_hidden=8),
        sampler=DirichletSampler(beta_min=0.1, beta_max=10.0),
    )
    trainer = pl.Trainer(**kw)
    trainer.fit(policy, _lists(8, 1))
    trainer.save_checkpoint(tmp / "policy.ckpt")
    return tmp / "policy.ckpt"


def _write_libsvm(path, rng):
    """Three queries, not in qid order; labels are ignored by rank."""
    rows, qids = [], [7, 7, 7, 3, 3, 9, 9]
    features = rng.standard_normal((len(qids), N_SOURCE)).astype(np.float32).round(3)
    for q, x in zip(qids, features):
        # sparse rows: zeros are left out, as LibSVM writers do
        entries = " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(x) if v != 0)
        rows.append(f"1 qid:{q} {entries}")
    path.write_text("\n".join(rows) + "\n")
    return np.array(qids), features


def test_export_then_rank_commands(checkpoint, tmp_path):
    # TorchScript here; ONNX Runtime parity is in test_export.py and rank reaches both through load_artifact
    fmt = "torchscript"
    from ltr_cos.cli import main
    from ltr_cos.training import load_ranker_from_checkpoint

    art = tmp_path / "art"
    assert main(["export", "--ckpt", str(checkpoint), "--format", fmt, "--out", str(art)]) == 0
    info = json.loads((art / "ranker.json").read_text())
    assert info["feature_ids"] == FEATURE_IDS and info["weighted_objectives"] == ["aux_a", "aux_b"]
    assert info["temperature_conditioning"] and info["conditioning"] == "prompt" and info["format"] == fmt

    qids, source = _write_libsvm(tmp_path / "in.txt", np.random.default_rng(0))
    out = tmp_path / "ranked.tsv"
    argv = [
        "rank",
        "--model",
        str(art),
        "--input",
        str(tmp_path / "in.txt"),
        "--weights",
        "0.3,0.7",
        "--beta",
        "2.0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "qid\tdoc_index\tscore\trank\tdocid"
    table = [line.split("\t") for line in lines[1:]]
    assert [int(r[0]) for r in table] == [7, 7, 7, 3, 3, 9, 9]  # first-appearance order, all rows kept

    # oracle: the checkpoint's eager ranker on the kept columns, query by query
    loaded = load_ranker_from_checkpoint(checkpoint)
    for q in (7, 3, 9):
        rows = [r for r in table if int(r[0]) == q]
        x = torch.from_numpy(source[qids == q][:, np.array(FEATURE_IDS) - 1])[None]
        with torch.no_grad():
            expected = loaded.ranker(
                x,
                torch.ones(x.shape[:2], dtype=torch.bool),
                torch.tensor([[0.3, 0.7]]),
                torch.log(torch.tensor([2.0])),
            )[0].numpy()
        got = {int(r[1]): float(r[2]) for r in rows}
        np.testing.assert_allclose([got[i] for i in range(len(expected))], expected, rtol=0, atol=1e-5)
        assert [int(r[3]) for r in rows] == list(range(1, len(rows) + 1))
        assert [int(r[1]) for r in rows] == list(np.argsort(-expected, kind="stable"))


def test_command_errors_are_one_line(checkpoint, tmp_path, capsys):
    from ltr_cos.cli import main

    art = tmp_path / "art"
    assert main(["export", "--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(art)]) == 2
    assert "ltr-cos: error:" in capsys.readouterr().err
    assert main(["export", "--ckpt", str(checkpoint), "--out", str(art)]) == 0
    (tmp_path / "in.txt").write_text("1 qid:1 1:0.5 2:1\n0 qid:1 1:0.1\n")
    base = [
        "rank",
        "--model",
        str(art),
        "--input",
        str(tmp_path / "in.txt"),
        "--out",
        str(tmp_path / "o.tsv"),
    ]
    for extra, message in (
        (["--weights", "0.3,0.6", "--beta", "1"], "sum to 1"),
        (["--weights", "a,b", "--beta", "1"], "comma-separated"),
        (["--weights", "0.3,0.7"], "pass beta"),
    ):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o.tsv").exists()


@pytest.fixture(scope="module")
def weight_checkpoint(checkpoint):
    """A Weight-COS-DPO checkpoint (FiLM on an MLP, no temperature input) on the same data."""
    import pytorch_lightning as pl

    from ltr_cos.training import (
        BackboneSettings,
        CosDpoModule,
        OptimizerSettings,
        ReferenceModule,
    )

    tmp = checkpoint.parent
    kw = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    pl.seed_everything(0)
    info = {"n_features": F, "objective_names": OBJECTIVES, "normalization": None, "feature_ids": FEATURE_IDS}
    reference = ReferenceModule(info, BackboneSettings(hidden_sizes=[8]))
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, enable_model_summary=False, **kw)
    trainer.fit(reference, _lists(8, 0))
    trainer.save_checkpoint(tmp / "reference_mlp.ckpt")
    policy = CosDpoModule(
        reference_ckpt=str(tmp / "reference_mlp.ckpt"),
        data_info=info,
        beta=0.5,
        optim=OptimizerSettings(lr=0.05),
    )
    trainer = pl.Trainer(accelerator="cpu", max_epochs=2, enable_model_summary=False, **kw)
    trainer.fit(policy, _lists(8, 1))
    trainer.save_checkpoint(tmp / "weight_policy.ckpt")
    return tmp / "weight_policy.ckpt"


def test_rank_beta_on_a_weight_cos_dpo_model_rescales_with_the_reference(weight_checkpoint, tmp_path):
    from ltr_cos.cli import main
    from ltr_cos.losses import rescale_temperature
    from ltr_cos.training import load_ranker_from_checkpoint

    art = tmp_path / "art"
    assert main(["export", "--ckpt", str(weight_checkpoint), "--out", str(art)]) == 0
    info = json.loads((art / "ranker.json").read_text())
    assert info["beta_control"] == "rescale" and info["trained_beta"] == 0.5
    qids, source = _write_libsvm(tmp_path / "in.txt", np.random.default_rng(1))
    loaded = load_ranker_from_checkpoint(weight_checkpoint)
    x = torch.from_numpy(source[:, np.array(FEATURE_IDS) - 1])
    for beta in (None, 2.0, 0.2):
        out = tmp_path / f"ranked-{beta}.tsv"
        extra = [] if beta is None else ["--beta", str(beta)]
        argv = ["rank", "--model", str(art), "--input", str(tmp_path / "in.txt"), "--weights", "0.3,0.7"]
        assert main([*argv, *extra, "--out", str(out)]) == 0
        table = [line.split("\t") for line in out.read_text().splitlines()[1:]]
        for q in (7, 3, 9):
            rows = x[qids == q][None]
            mask = torch.ones(rows.shape[:2], dtype=torch.bool)
            with torch.no_grad():
                expected = loaded.ranker(rows, mask, torch.tensor([[0.3, 0.7]]))
                if beta is not None:
                    expected = rescale_temperature(expected, loaded.reference(rows, mask), 0.5, beta)
            got = {int(r[1]): float(r[2]) for r in table if int(r[0]) == q}
            got = [got[i] for i in range(rows.shape[1])]
            np.testing.assert_allclose(got, expected[0].numpy(), rtol=0, atol=1e-5)
    # the temperature is live: beta 0.2 moves the scores away from the trained-beta ones
    low = np.loadtxt(tmp_path / "ranked-0.2.tsv", skiprows=1)[:, 2]
    assert np.abs(low - np.loadtxt(tmp_path / "ranked-None.tsv", skiprows=1)[:, 2]).max() > 1e-4


def test_fixed_beta_export_has_no_temperature_input(weight_checkpoint, checkpoint, tmp_path, capsys):
    from ltr_cos.cli import main

    art = tmp_path / "fixed"
    assert main(["export", "--ckpt", str(weight_checkpoint), "--fixed-beta", "--out", str(art)]) == 0
    info = json.loads((art / "ranker.json").read_text())
    assert info["beta_control"] is None and [s["name"] for s in info["inputs"]][-1] == "weights"
    (tmp_path / "in.txt").write_text("1 qid:1 1:0.5 2:1\n0 qid:1 1:0.1\n")
    argv = ["rank", "--model", str(art), "--input", str(tmp_path / "in.txt"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--weights", "0.3,0.7", "--beta", "2"]) == 2
    assert "no reference ranker to rescale with" in capsys.readouterr().err
    # the file stops at feature id 2: the model's ids 4 and 5 are missing, scored as 0 only on request
    assert main([*argv, "--weights", "0.3,0.7"]) == 2
    assert "missing ids 4-5" in capsys.readouterr().err
    assert main([*argv, "--weights", "0.3,0.7", "--allow-missing-features"]) == 0
    assert "2 feature ids the file lacks were scored as 0" in capsys.readouterr().out
    assert main([*argv, "--weights", "0.3,0.7", "--allow-missing-features"]) == 2  # --out exists now
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["export", "--ckpt", str(checkpoint), "--fixed-beta", "--out", str(tmp_path / "t")]) == 2
    assert "--fixed-beta applies to Weight-COS-DPO checkpoints only" in capsys.readouterr().err
