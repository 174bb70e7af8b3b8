"""The temperature-axis benchmark end to end on tiny generated data (one seed, one epoch per model)."""

import json

import numpy as np
import pytest
import torch
from scipy import stats

from benchmarks import temperature


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("temperature_out")
    code = temperature.main(["--seeds", "0", "--synthetic-queries", "30,8,12", "--docs-per-query", "4,10",
                             "--ref-epochs", "1", "--policy-epochs", "1", "--betas", "0.5,1",
                             "--compare-betas", "2", "--out", str(out), "--run", "tiny", "--no-progress"])
    assert code == 0
    return out / "tiny"


def test_files_and_keys(written):
    assert sorted(p.name for p in written.iterdir()) == ["beta_front.png", "fronts.png", "results.json",
                                                         "results.md"]
    for name in ("beta_front.png", "fronts.png"):
        assert (written / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((written / "results.json").read_text())
    assert res["objectives"] == ["relevance", "quality", "url_clicks"]
    assert res["runtime_betas"] == [0.5, 1.0, 2.0]  # compared betas are evaluated on the front too
    assert res["compare_betas"] == [2.0] and res["trained_beta"] == 1.0 and res["beta_range"] == [0.1, 10.0]
    assert set(res["beta_front"]) == {"0.5", "1.0", "2.0"}
    assert set(res["beta_front"]["1.0"]) >= {"main_ndcg_mean", "hv_nadir_aux", "hv_reference_aux", "ndcg_mean"}
    entry = res["property"]["2.0"]
    assert set(entry) == {"rescaled", "trained", "retrained", "temperature", "rescaled_vs_trained",
                          "retrained_vs_trained", "temperature_vs_trained"}
    assert set(entry["rescaled_vs_trained"]) == {"mean_abs_diff", "max_abs_diff", "hv_nadir_aux_ratio",
                                                 "hv_reference_aux_ratio", "spearman", "kendall"}
    (run,) = res["runs"]
    assert len(run["beta_front"]["0.5"]) == len(res["grid"]) == 11
    assert set(run["trained"]) == set(run["retrained"]) == set(run["rescaled"]) == {"2.0"}
    assert set(run["weight_cos_dpo"]) == {"1.0", "2.0"}
    job = run["temperature_cos_dpo"]  # job_temperature_cos_dpo's result, the shape of the harness's jobs
    assert set(job) == {"grid", "models_trained", "train_wall_s", "train_cpu_s", "peak_rss_mb", "rss_at_start_mb",
                        "epochs", "steps", "best_epoch"}
    assert job["models_trained"] == 1 and job["train_cpu_s"] >= 0
    # its grid at the benchmark's beta is the model's front at run-time beta 1
    assert [r["weights"] for r in job["grid"]] == [r["weights"] for r in run["beta_front"]["1.0"]]
    for own, front in zip(job["grid"], run["beta_front"]["1.0"]):
        assert own["ndcg"] == pytest.approx(front["ndcg"], abs=1e-6)
    assert res["cost"]["cpu_s"] > 0
    assert set(res["hv_reference_points"]["common_nadir"]) == set(res["objectives"])
    md = (written / "results.md").read_text()
    assert "## 1. One Temperature-COS-DPO model" in md and "## 2. The linear temperature property" in md
    assert "python -m benchmarks.temperature --seeds 0" in md


def test_rank_agreement_matches_scipy():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 9, generator=gen), torch.randn(5, 9, generator=gen)
    mask = torch.arange(9).expand(5, 9) < torch.tensor([[9], [6], [2], [1], [4]])
    rho, tau, n = temperature.rank_agreement(a, b, mask)
    assert n == 4  # the one-document query is skipped
    rows = [(a[i][mask[i]].numpy(), b[i][mask[i]].numpy()) for i in range(5) if mask[i].sum() >= 2]
    assert rho == pytest.approx(sum(stats.spearmanr(x, y)[0] for x, y in rows), abs=1e-9)
    assert tau == pytest.approx(sum(stats.kendalltau(x, y)[0] for x, y in rows), abs=1e-9)
    same, _, _ = temperature.rank_agreement(a, a, mask)
    reverse, _, _ = temperature.rank_agreement(a, -a, mask)
    assert np.isclose(same, 4) and np.isclose(reverse, -4)


def test_rescaled_scores_follow_the_linear_property():
    class Loaded:  # a Weight-COS-DPO model trained at beta = 1 (policy = reference + 1)
        info = {"temperature_conditioning": False, "beta": 1.0}

        class ranker:  # noqa: N801
            @staticmethod
            def score_grid(features, mask, grid, log_beta=None):
                return features.sum(-1).unsqueeze(0).expand(len(grid), -1, -1) + 1.0

        @staticmethod
        def reference(features, mask):
            return features.sum(-1)

    features = torch.randn(2, 3, 4)
    grid = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    scores = temperature.grid_scores(Loaded, features, None, grid, 4.0)
    assert torch.allclose(scores, features.sum(-1).unsqueeze(0) + 0.25)  # ref + (1 / 4) * (policy - ref)
    assert torch.allclose(temperature.grid_scores(Loaded, features, None, grid, 1.0), features.sum(-1) + 1.0)
