"""benchmarks/llm_compare.py end to end on a tiny random model (2 steps per model), and its hypervolumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.llm_compare import WEIGHTS, hypervolumes, main


def test_llm_compare_dry_run_writes_both_methods(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--base", "random:llama", "--steps", "2", "--n-heldout", "2", "--max-new-tokens", "3",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "hypervolume from the common nadir" in printed and "training CPU ratio" in printed
    result = json.loads((out / "results.json").read_text())
    assert (out / "results.md").read_text().count("| COS-DPO (one policy) |") == len(WEIGHTS)
    assert (out / "front.png").read_bytes()[:4] == b"\x89PNG"
    cos, per = result["methods"]["cos_dpo"], result["methods"]["per_weight"]
    assert cos["models_trained"] == 1 and per["models_trained"] == len(WEIGHTS)
    assert [len(losses) for losses in cos["train_loss"] + per["train_loss"]] == [2] * (1 + len(WEIGHTS))
    for run in (cos, per):
        assert [p["weights"] for p in run["points"]] == [list(w) for w in WEIGHTS]
        assert run["train_cpu_s"] > 0
        for p in run["points"]:
            assert len(p["responses"]) == 2 and 0 <= p["correct"] <= 1
            assert set(p["pair_accuracy"]) == {"brevity", "courtesy"}
    # the common nadir is the worst value of each reward over the 10 points
    every = [(p["brevity"], p["courtesy"]) for p in cos["points"] + per["points"]]
    assert list(result["hypervolume"]["common_nadir"]["point"].values()) == list(np.min(every, axis=0))
    assert result["settings"]["steps_per_model"] == 2 and result["cpu_ratio_cos_dpo_over_per_weight"] > 0


def test_hypervolumes_share_one_reference_point():
    points = {"cos_dpo": np.array([[-1.0, 0.0], [-3.0, 2.0]]), "per_weight": np.array([[-2.0, 1.0], [-4.0, 0.0]])}
    hv = hypervolumes(points)
    # nadir (-4, 0): COS-DPO's (-3, 2) spans 1 x 2 and (-1, 0) lies on the nadir; per-weight's (-2, 1) spans 2 x 1
    assert hv["common_nadir"]["point"] == {"brevity": -4.0, "courtesy": 0.0}
    assert hv["common_nadir"]["value"] == {"cos_dpo": pytest.approx(2.0), "per_weight": pytest.approx(2.0)}
    assert hv["common_nadir"]["ratio_cos_dpo_over_per_weight"] == pytest.approx(1.0)
    # moved down by a tenth of the ranges (3 and 2) to (-4.3, -0.2), the end points count: COS-DPO's boxes
    # 3.3 x 0.2 and 1.3 x 2.2 overlap in 1.3 x 0.2; per-weight's (-4, 0) lies inside the box of (-2, 1)
    assert hv["padded_nadir"]["point"] == {"brevity": pytest.approx(-4.3), "courtesy": pytest.approx(-0.2)}
    assert hv["padded_nadir"]["value"]["cos_dpo"] == pytest.approx(3.3 * 0.2 + 1.3 * 2.0)
    assert hv["padded_nadir"]["value"]["per_weight"] == pytest.approx(2.3 * 1.2)
    assert hv["padded_nadir"]["ratio_cos_dpo_over_per_weight"] == pytest.approx(3.26 / 2.76)
    with pytest.raises(KeyError):
        hypervolumes({"cos_dpo": points["cos_dpo"]})
