"""The user's whole path through the commands: synth -> convert -> fit (two stages) -> pareto -> export -> rank.

Tiny data and models (max_epochs 1), every step through ``ltr_cos.cli.main`` as on the command line.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ltr_cos.cli import main

pytestmark = pytest.mark.slow

WEIGHTS = (0.3, 0.7)


def _cli(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def _fit(config: str, version: str, monkeypatch, *overrides: str) -> None:
    # one run folder per stage: the CLI reuses the version in this variable for every logger
    monkeypatch.setenv("LTR_COS_RUN_VERSION", version)
    _cli(
        "fit", "--config", config, "--data.data_dir", "data", "--data.batch_size", "16",
        "--data.max_list_length", "32", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--checkpoint.dirpath", f"runs/{version}", *overrides,
    )  # fmt: skip


def test_fit_pareto_export_rank(tmp_path, monkeypatch):
    from ltr_cos.data.libsvm import read_libsvm
    from ltr_cos.training import load_ranker_from_checkpoint

    monkeypatch.chdir(tmp_path)
    for split, queries, seed in (("train", 48, 0), ("vali", 16, 1), ("test", 16, 2)):
        _cli("data", "synth", "--queries", str(queries), "--seed", str(seed), "--docs-per-query", "5", "20",
             "--out", f"synth/{split}.txt")  # fmt: skip
    _cli("data", "convert", "synth", "--objectives", "mslr2", "--out", "data", "--no-progress")
    meta = json.loads((tmp_path / "data/meta.json").read_text())
    assert meta["objective_names"] == ["relevance", "quality", "url_clicks"]

    (tmp_path / "reference.yaml").write_text(
        "model:\n  class_path: ltr_cos.training.ReferenceModule\n"
        "  init_args: {backbone: {arch: mlp, hidden_sizes: [16]}, optim: {lr: 0.01}}\n"
    )
    (tmp_path / "cos_dpo.yaml").write_text(
        "model:\n  class_path: ltr_cos.training.CosDpoModule\n"
        "  init_args: {conditioning: {kind: film, cond_hidden: 8}, beta: 0.5, optim: {lr: 0.01},"
        " evaluation: {val_grid_steps: 2},"
        " reference_ckpt: runs/reference/best.ckpt}\n"
    )
    _fit("reference.yaml", "reference", monkeypatch)
    assert (tmp_path / "runs/reference/best.ckpt").is_file()
    _fit("cos_dpo.yaml", "cos_dpo", monkeypatch)
    ckpt = tmp_path / "runs/cos_dpo/best.ckpt"
    assert ckpt.is_file()

    # pareto: the documented files and summary keys, one grid row per lattice point and beta
    from ltr_cos.pareto import plots

    drawn = {}
    original = plots.plot_front
    monkeypatch.setattr(plots, "plot_front", lambda tables, **kw: drawn.update(tables=list(tables), **kw) or
                        original(tables, **kw))
    _cli("pareto", "--ckpt", str(ckpt), "--data", "data", "--split", "test", "--grid-step", "0.25",
         "--beta", "0.5", "2", "--out", "pareto")  # fmt: skip
    out = tmp_path / "pareto"
    assert {"pareto.csv", "front.csv", "summary.json", "front.png"} <= {p.name for p in out.iterdir()}
    assert drawn["tables"] == ["COS-DPO, beta=0.5", "COS-DPO, beta=2"] and "beta 0.5, 2" in drawn["title"]
    assert {"scatter_matrix_beta0.5.png", "scatter_matrix_beta2.png"} <= {p.name for p in out.iterdir()}
    grid = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    assert len(grid) == 5 * 2 and {float(r["beta"]) for r in grid} == {0.5, 2.0}
    for name in meta["objective_names"]:
        assert all(0.0 <= float(r[f"ndcg@10/{name}"]) <= 1.0 for r in grid)
    assert 1 <= len(list(csv.DictReader((out / "front.csv").read_text().splitlines()))) <= len(grid)
    summary = json.loads((out / "summary.json").read_text())
    for key in ("hypervolume", "main_ndcg", "empty_rule", "k", "grid_size", "model", "data",
                "reference_ranker_ndcg", "by_beta"):  # fmt: skip
        assert key in summary, key
    assert summary["grid_size"] == 5 and summary["k"] == 10 and summary["empty_rule"] == "drop"
    for reference in ("reference_model", "origin"):
        block = summary["hypervolume"][reference]
        assert set(block) >= {"point", "auxiliary", "with_main"} and block["auxiliary"] >= 0
    assert set(summary["main_ndcg"]) == {"mean", "std"}
    assert len(summary["model"]["sha256"]) == 64 and len(summary["data"]["split_sha256"]) == 64

    # export (both formats) -> rank; rank's scores equal the checkpoint's eager scores
    loaded = load_ranker_from_checkpoint(ckpt)
    table = read_libsvm("synth/test.txt")
    x = torch.from_numpy(table.features[:, np.asarray(meta["feature_ids"]) - 1].astype(np.float32))
    for fmt, beta in (("torchscript", None), ("onnx", 2.0)):
        _cli("export", "--ckpt", str(ckpt), "--format", fmt, "--out", f"art-{fmt}")
        sidecar = json.loads((tmp_path / f"art-{fmt}/ranker.json").read_text())
        assert sidecar["n_features"] == meta["n_features"] and sidecar["beta_control"] == "rescale"
        assert sidecar["weighted_objectives"] == ["quality", "url_clicks"]
        argv = ["rank", "--model", f"art-{fmt}", "--input", "synth/test.txt", "--weights", "0.3,0.7"]
        _cli(*argv, *(["--beta", str(beta)] if beta else []), "--out", f"ranked-{fmt}.tsv")
        rows = [line.split("\t") for line in (tmp_path / f"ranked-{fmt}.tsv").read_text().splitlines()]
        assert rows[0] == ["qid", "doc_index", "score", "rank", "docid"] and len(rows) - 1 == len(table.qid)
        ranked = np.array([row[:4] for row in rows[1:]], dtype=np.float64)
        for q in np.unique(table.qid):
            idx = np.flatnonzero(table.qid == q)
            features, mask = x[idx][None], torch.ones(1, len(idx), dtype=torch.bool)
            with torch.no_grad():
                expected = loaded.ranker(features, mask, torch.tensor([WEIGHTS]))
                if beta is not None:
                    from ltr_cos.losses import rescale_temperature

                    expected = rescale_temperature(expected, loaded.reference(features, mask), 0.5, beta)
            mine = ranked[ranked[:, 0] == q]
            got = np.empty(len(idx))
            got[mine[:, 1].astype(int)] = mine[:, 2]
            np.testing.assert_allclose(got, expected[0].numpy(), rtol=0, atol=1e-5)
            assert mine[:, 3].tolist() == list(range(1, len(idx) + 1))
