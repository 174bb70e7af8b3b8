"""The benchmark harness end to end on tiny generated data: every method, one seed, a schema-valid result;
and a run with three auxiliary objectives, two seeds and two concurrent (fold, seed) units."""

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from benchmarks import run as bench_run
from benchmarks.harness import GRID_METHODS, QUICK, DatasetRun, run_dataset
from benchmarks.peers.lightgbm_peer import aggregate_labels

SCHEMA = Path(__file__).resolve().parents[2] / "benchmarks" / "results_schema.json"
TINY = replace(QUICK, seeds=(0,), ref_epochs=2, policy_epochs=1, batch_size=16, max_list_length=16,
               hidden_sizes=(8,), d_model=8, n_heads=2, n_layers=1, dim_feedforward=16, grid_steps=4,
               lgb_rounds=5, lgb_early_stopping=5, lgb_leaves=4, cos_dpo_budgets=(0.25, 0.5))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench_data")
    return bench_run.synthetic_dataset(work, (40, 12, 16), seed=3, docs_per_query=(4, 12), progress=False)


@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_out") / "tiny" / "run"
    res = run_dataset(DatasetRun("tiny", [tiny_dataset], "test data"), TINY, out, "run", progress=False,
                      command="pytest")
    return out, res


def _validate(obj):
    jsonschema.validate(obj, json.loads(SCHEMA.read_text()))


def test_results_files_and_schema(results):
    out, _ = results
    written = json.loads((out / "results.json").read_text())
    _validate(written)
    assert written["methods"].keys() == set(GRID_METHODS)
    assert "allrank" in written["stage1"] and "reference" in written["stage1"]
    md = (out / "results.md").read_text()
    for label in ("COS-DPO", "DPO-LS", "DPO Soup", "MODPO", "LightGBM", "allRank"):
        assert label in md
    assert (out / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "compute.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Goals" in md and "## COS-DPO budget sweep" in md
    assert "issue" not in md.lower() and "target" not in md.lower()
    # a broken result is refused by the schema
    broken = json.loads((out / "results.json").read_text())
    del broken["methods"]["cos_dpo"]["runs"][0]["train_cpu_s"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_grid_and_cost_accounting(results):
    _, res = results
    g = len(res["grid"])
    assert g == 5  # simplex lattice of step 1/4 over 2 objectives
    expected_models = {"cos_dpo": 1, "tcos_dpo": 1, "dpo_ls": g, "dpo_soup": 2, "modpo": g, "lightgbm": g}
    for method, entry in res["methods"].items():
        (run,) = entry["runs"]
        assert run["models_trained"] == expected_models[method]
        assert len(run["grid"]) == g
        assert run["train_cpu_s"] > 0 and run["peak_rss_mb"] >= run["rss_at_start_mb"] > 0
        for row, w in zip(run["grid"], res["grid"]):
            assert list(row["weights"].values()) == pytest.approx(w)
            assert set(row["ndcg"]) == set(res["objectives"])


def test_corners_share_the_single_objective_policies(results):
    _, res = results
    runs = {m: e["runs"][0]["grid"] for m, e in res["methods"].items()}
    # Soup at e_1 / e_2 is the single-objective policy; DPO-LS trains the same run (same seed, same data)
    for corner in (0, -1):
        assert runs["dpo_soup"][corner]["ndcg"] == pytest.approx(runs["dpo_ls"][corner]["ndcg"], abs=1e-6)
    # MODPO at a one-hot weight e_k is the single policy k (not trained again)
    for corner in (0, -1):
        assert runs["modpo"][corner]["ndcg"] == pytest.approx(runs["dpo_soup"][corner]["ndcg"], abs=1e-6)


def test_budget_sweep_uses_the_main_comparisons_nadir(results):
    out, res = results
    sweep = res["budget_sweep"]["cos_dpo"]
    assert sweep["budget_scales"] == [0.25, 0.5]
    assert [r["budget_scale"] for r in sweep["runs"]] == [0.25, 0.5]
    assert all(r["policy_epochs"] == 1 and r["models_trained"] == 1 and r["train_cpu_s"] > 0 for r in sweep["runs"])
    main_nadir = res["methods"]["dpo_ls"]["runs"][0]["summary"]["hypervolume"]["common_nadir"]["point"]
    for run in sweep["runs"]:
        assert run["summary"]["hypervolume"]["common_nadir"]["point"] == main_nadir
        assert len(run["grid"]) == len(res["grid"])
    assert [a["budget_scale"] for a in sweep["aggregate"]] == [0.25, 0.5]
    assert sweep["aggregate"][0]["train_cpu_s"]["n"] == 1
    # a sweep point worse than every main method on an objective would have lowered the nadir: it must not
    names = res["objectives"]
    points = np.array([[row["ndcg"][n] for n in names] for e in res["methods"].values() for row in e["runs"][0]["grid"]])
    assert [main_nadir[n] for n in names] == pytest.approx(points.min(axis=0).tolist())
    table = (out / "results.md").read_text().split("## COS-DPO budget sweep")[1].split("##")[0]
    assert [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| 0") or
            line.startswith("| 1")] == ["0.25", "0.5", "1"]


def test_common_nadir_is_the_worst_point_of_all_methods(results):
    _, res = results
    names = res["objectives"]
    points = np.array([[row["ndcg"][n] for n in names] for e in res["methods"].values() for row in e["runs"][0]["grid"]])
    for entry in res["methods"].values():
        nadir = entry["runs"][0]["summary"]["hypervolume"]["common_nadir"]["point"]
        assert [nadir[n] for n in names] == pytest.approx(points.min(axis=0).tolist())
    assert "hv_common_nadir_auxiliary cos_dpo/dpo_ls" in res["ratios"]
    assert "train_cpu_s cos_dpo/dpo_ls" in res["ratios"]


def test_aggregated_labels_for_lambdarank():
    labels = np.array([[2.0, 4.0, 0.0], [0.0, 1.0, 3.0]], dtype=np.float32)
    y, gains = aggregate_labels(labels, [1, 2], [0.3, 0.7], steps=10)
    assert y.tolist() == [12, 24]  # 10 * (0.3 * 4 + 0.7 * 0), 10 * (0.3 * 1 + 0.7 * 3)
    assert gains[10] == pytest.approx(1.0) and gains[20] == pytest.approx(3.0)  # 2^(i/10) - 1


def test_cli_runs_a_user_folder(tiny_dataset, tmp_path):
    code = bench_run.main(["--data", tiny_dataset.data_dir, "--name", "user", "--seeds", "0", "--methods",
                           "cos_dpo,dpo_soup", "--policy-epochs", "1", "--ref-epochs", "1", "--out", str(tmp_path),
                           "--run", "r", "--no-progress", "--quick", "--cos-dpo-budgets", ""])
    assert code == 0
    written = json.loads((tmp_path / "user" / "r" / "results.json").read_text())
    _validate(written)
    assert set(written["methods"]) == {"cos_dpo", "dpo_soup"} and "allrank" not in written["stage1"]
    assert len(written["grid"]) == 11 and written["settings"]["grid_steps"] == 10  # the default rule for m = 2
    assert "budget_sweep" not in written and written["settings"]["cos_dpo_budgets"] == []


def test_per_method_artifacts_and_stage1_lightgbm(results):
    out, res = results
    kept = out / "runs" / f"{res['folds'][0]}_seed0"
    assert (kept / "reference.ckpt").stat().st_size > 0
    for method in GRID_METHODS:
        folder = kept / method
        header = (folder / "pareto.csv").read_text().splitlines()[0].split(",")
        assert header[:2] == [f"weight/{n}" for n in res["objectives"][1:]]
        assert len((folder / "pareto.csv").read_text().splitlines()) == 1 + len(res["grid"])
        assert json.loads((folder / "summary.json").read_text()) == res["methods"][method]["runs"][0]["summary"]
        assert (folder / "front.png").read_bytes()[:4] == b"\x89PNG"
    from ltr_cos.training import load_ranker_from_checkpoint

    assert load_ranker_from_checkpoint(str(kept / "cos_dpo" / "cos_dpo.ckpt")).info["stage"] == "cos_dpo"
    assert res["stage1"]["lightgbm"]["aggregate"]["main_ndcg"]["mean"] > 0
    assert "LightGBM lambdarank (main objective only)" in (out / "results.md").read_text()


def _raw_user_folder(tmp_path):
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    raw = tmp_path / "raw"
    raw.mkdir()
    for i, (split, n) in enumerate((("train", 40), ("vali", 12), ("test", 16))):
        write_synthetic_libsvm(raw / f"{split}.txt", preset="mslr-web30k", n_queries=n, seed=10 + i,
                               docs_per_query=(4, 10))
    return raw


def test_cli_user_errors_are_one_line(tiny_dataset, tmp_path, capsys):
    def error(*args):
        assert bench_run.main([*args, "--out", str(tmp_path / "o"), "--no-progress", "--quick"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("python -m benchmarks.run: error: ") and err.count("\n") == 1, err
        return err

    assert "is converted already" in error("--data", tiny_dataset.data_dir, "--preset", "anything")
    assert "is converted already" in error("--data", tiny_dataset.data_dir, "--objective", "a=3")
    raw = _raw_user_folder(tmp_path)
    assert "unknown objectives preset 'anything'" in error("--data", str(raw), "--objectives", "anything")
    assert "objective 'x' uses feature 200 but the data has feature ids 1..136" in error(
        "--data", str(raw), "--objective", "x=200", "--objective", "y=3")
    assert "two or more auxiliary objectives" in error("--data", str(raw), "--objectives", "none")
    assert "--objective 'q:132'" in error("--data", str(raw), "--objective", "q:132")
    assert "unknown methods" in error("--data", str(raw), "--methods", "cos_dpo,nope")
    assert "--fold 2: this folder has no folds" in error("--data", str(raw), "--folds", "2")
    assert "not a folder" in error("--data", str(tmp_path / "missing"))
    assert "applies to the built-in synthetic dataset" in error("--data", str(raw), "--synthetic-objectives", "mslr")
    assert "--synthetic-objectives: unknown or single-objective preset 'none'" in error(
        "--datasets", "synthetic", "--synthetic-objectives", "none")
    assert "--jobs must be 1 or more" in error("--data", str(raw), "--jobs", "0")
    assert "--cos-dpo-budgets: expected comma-separated" in error("--data", str(raw), "--cos-dpo-budgets", "a,b")
    assert "cos_dpo_budgets must be positive" in error("--data", str(raw), "--cos-dpo-budgets", "0.5,-1")
    (raw / "test.txt").unlink()
    message = error("--data", str(raw), "--objective", "q=132:quantile", "--objective", "c=135:quantile")
    assert f"error: {raw}: the benchmark needs train and test splits, found train, vali" in message


def test_cli_raw_user_folder_with_custom_objectives(tmp_path):
    raw = _raw_user_folder(tmp_path)
    code = bench_run.main(["--data", str(raw), "--objective", "q=132:quantile", "--objective",
                           "clicks=135:quantile:bins=3", "--methods", "cos_dpo", "--policy-epochs", "1",
                           "--ref-epochs", "1", "--out", str(tmp_path / "o"), "--run", "r", "--no-progress", "--quick"])
    assert code == 0
    out = tmp_path / "o" / "raw" / "r"
    written = json.loads((out / "results.json").read_text())
    assert written["objectives"] == ["relevance", "q", "clicks"]
    assert "q (feature 132, quantile); clicks (feature 135, quantile)" in written["description"]
    assert "mslr2" not in (out / "results.md").read_text()
    assert (out / "runs" / "raw_seed0" / "cos_dpo" / "cos_dpo.ckpt").exists()


def test_benchmarks_import_from_another_folder(tmp_path):
    """``benchmarks`` is a repository tool, not an installed package: with the repository on PYTHONPATH it
    runs from any folder (nothing depends on the working directory)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "-h"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--objective SPEC" in done.stdout


def test_synthetic_objectives_names_the_dataset_by_m():
    assert bench_run.synthetic_objectives(None) == ("mslr2", 2, "synthetic_mslr")
    assert bench_run.synthetic_objectives("mslr") == ("mslr", 5, "synthetic_mslr_m5")


@pytest.fixture(scope="module")
def results_m3(tmp_path_factory):
    """Three auxiliary objectives (quality 132, query_url_clicks 134, dwell_time 136), the lattice of step 1/2
    (6 points), COS-DPO, DPO Soup and MODPO."""
    from ltr_cos.objectives import MAIN, ObjectiveSpec

    work = tmp_path_factory.mktemp("bench_m3")
    raw = _raw_user_folder(work)
    specs = (MAIN, ObjectiveSpec("quality", 132, "quantile"), ObjectiveSpec("query_url_clicks", 134, "quantile"),
             ObjectiveSpec("dwell_time", 136, "quantile"))
    folds = bench_run.converted_folds(raw, specs, work, None, progress=False)
    settings = replace(TINY, grid_steps=2, methods=("cos_dpo", "dpo_soup", "modpo"), cos_dpo_budgets=())
    out = work / "out"
    return out, run_dataset(DatasetRun("tiny_m3", folds, "m = 3"), settings, out, "run", progress=False)


def test_three_auxiliary_objectives(results_m3):
    out, res = results_m3
    _validate(json.loads((out / "results.json").read_text()))
    assert res["weighted_objectives"] == ["quality", "query_url_clicks", "dwell_time"]
    assert len(res["grid"]) == 6
    # MODPO: the 3 single policies (corners and rewards) + one policy per weight that is not one-hot
    models = {m: e["runs"][0]["models_trained"] for m, e in res["methods"].items()}
    assert models == {"cos_dpo": 1, "dpo_soup": 3, "modpo": 6}
    corners = [i for i, w in enumerate(res["grid"]) if max(w) == 1.0]
    assert len(corners) == 3
    soup, modpo = res["methods"]["dpo_soup"]["runs"][0], res["methods"]["modpo"]["runs"][0]
    for i in corners:  # every corner is the single policy, in both methods
        assert modpo["grid"][i]["ndcg"] == pytest.approx(soup["grid"][i]["ndcg"], abs=1e-6)
    # the soup's inner points are mixtures of three policies, not copies of a corner
    inner = [i for i in range(6) if i not in corners]
    assert any(soup["grid"][i]["ndcg"] != soup["grid"][j]["ndcg"] for i in inner for j in corners)
    assert modpo["train_cpu_s"] > soup["train_cpu_s"] > 0  # MODPO trains 3 policies more
    assert len(res["methods"]["cos_dpo"]["runs"][0]["summary"]["hypervolume"]["common_nadir"]["point"]) == 4
    assert (out / "runs" / f"{res['folds'][0]}_seed0" / "modpo" / "scatter_matrix.png").exists()
    assert (out / "compute.png").exists() and "budget_sweep" not in res


def _pid_and_value(value: int) -> tuple[int, int]:
    import os

    return os.getpid(), value * 2


def test_run_isolated_from_several_threads():
    """``--jobs``: threads of the parent fork job processes at once, without deadlock, each result its own."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks.jobs import run_isolated

    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda v: run_isolated(_pid_and_value, value=v), range(8)))
    assert [value for _, value in outs] == [2 * v for v in range(8)]
    pids = {pid for pid, _ in outs}
    assert len(pids) == 8 and os.getpid() not in pids


def test_concurrent_units_are_collected_in_fold_seed_order(tiny_dataset, tmp_path, monkeypatch):
    """With ``jobs`` > 1 the first unit finishing last still comes first."""
    import threading
    import time

    from benchmarks import harness

    running, peak, lock = [0], [0], threading.Lock()

    def fake_unit(fold, seed, s, grid_methods, scratch, bar):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.4 if seed == 0 else 0.05)
        with lock:
            running[0] -= 1
        return {"seed": seed}

    collected = []
    monkeypatch.setattr(harness, "_run_unit", fake_unit)
    monkeypatch.setattr(harness, "_collect", lambda results, fold, seed, unit, *rest: collected.append(
        (seed, unit["seed"])))
    settings = replace(TINY, seeds=(0, 1, 2), methods=("allrank",))
    harness.run_dataset(DatasetRun("order", [tiny_dataset]), settings, tmp_path / "o", "r", progress=False, jobs=3)
    assert collected == [(0, 0), (1, 1), (2, 2)]
    assert peak[0] >= 2  # the units did run at once
