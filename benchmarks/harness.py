"""The ``make benchmark`` harness: COS-DPO against DPO-LS, DPO Soup, MODPO, LightGBM and allRank (docs/method.md §9).

Per dataset fold and seed, one frozen reference ranker is trained first; every policy starts from it. Each
per-weight policy trains ``policy_epochs`` epochs and at least ``policy_min_steps`` steps; COS-DPO gets
``cos_dpo_budget(s, m)`` times that (one model for the whole simplex). Each method runs in a forked child process, so its peak RSS
(``ru_maxrss`` of the child, which starts at the parent's resident set: Python, torch and Lightning) and
its CPU time (``time.process_time`` around training, all threads) are its own. Evaluation (NDCG@k of every
objective on the test split at every grid weight, with ltr_cos's metric and empty-query rule) is not timed.

Cost accounting: COS-DPO trains 1 model; DPO-LS trains one per grid weight; DPO Soup trains the m
single-objective policies (the DPO-LS corner runs, trained here once per fold and seed); MODPO counts the
single-objective policies it uses (rewards and corners, each once) plus one policy per grid weight that is
not one-hot (at e_k it is the single policy k, see ``ltr_cos.losses.modpo``); LightGBM trains one booster
per weight.

The COS-DPO budget sweep (``Settings.cos_dpo_budgets``) retrains COS-DPO per (fold, seed) with its policy
budget scaled; its hypervolumes use the common nadir of the compared methods, which it does not move.
With ``jobs`` > 1, several (fold, seed) units run at once from parent threads (each unit's jobs in order).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.jobs import (
    _grid,
    _meta,
    job_allrank,
    job_cos_dpo,
    job_dpo_ls,
    job_lightgbm,
    job_lightgbm_relevance,
    job_modpo,
    job_reference,
    job_single,
    job_soup,
    run_isolated,
)
from benchmarks.report import (
    aggregate,
    hardware,
    plot_compute,
    plot_results,
    render_markdown,
    run_nadir,
    summarize_run,
    write_json_atomic,
    write_method_artifacts,
)
from benchmarks.settings import (  # noqa: F401 - the harness's public names
    ALL_METHODS,
    FULL,
    GRID_METHODS,
    METHOD_LABELS,
    QUICK,
    REPO_ROOT,
    RESULTS_SCHEMA_VERSION,
    TEMPERATURE_BETA_RANGE,
    DatasetRun,
    Fold,
    Settings,
)
from ltr_cos.files import atomic_write_text
from ltr_cos.progress import progress_bar
from ltr_cos.provenance import git_commit


def _needs_single(grid_methods: list[str]) -> bool:
    """DPO Soup and MODPO are built from the single-objective policies."""
    return any(m in grid_methods for m in ("dpo_soup", "modpo"))


def _unit_steps(s: Settings, grid_methods: list[str]) -> int:
    """Jobs of one (fold, seed): the reference, the single policies (Soup, MODPO), the grid methods, the
    COS-DPO budget sweep and the stage-1 peers."""
    sweep = len(s.cos_dpo_budgets) if "cos_dpo" in grid_methods else 0
    stage1 = ("allrank" in s.methods) + ("lightgbm" in s.methods)
    return 1 + _needs_single(grid_methods) + len(grid_methods) + sweep + stage1


def _run_unit(fold: Fold, seed: int, s: Settings, grid_methods: list[str], scratch: str, bar) -> dict:
    """Every job of one (fold, seed), in order, each in its own forked child; returns their raw results.

    Only ``run_isolated`` and the progress bar are called here (this runs in a thread with ``--jobs``)."""
    work = Path(scratch) / f"{fold.name}_seed{seed}"
    work.mkdir()
    common = {"data_dir": fold.data_dir, "s": s, "seed": seed, "work": str(work)}

    def step(label: str, fn: Callable, **kwargs) -> dict:
        bar.set_postfix_str(f"{fold.name} seed {seed}: {label}")
        out = run_isolated(fn, threads=s.threads, **common, **kwargs)
        bar.update(1)
        return out

    unit: dict[str, Any] = {"reference": step("reference", job_reference), "runs": {}, "sweep": [], "stage1": {}}
    ckpt = unit["reference"]["checkpoint"]
    single = None
    if _needs_single(grid_methods):
        single = step("single-objective policies", job_single, reference_ckpt=ckpt)
    jobs = {"cos_dpo": (job_cos_dpo, {"reference_ckpt": ckpt}),
            "tcos_dpo": (job_cos_dpo, {"reference_ckpt": ckpt, "beta_range": TEMPERATURE_BETA_RANGE}),
            "dpo_ls": (job_dpo_ls, {"reference_ckpt": ckpt}),
            "dpo_soup": (job_soup, {"single": single}), "modpo": (job_modpo, {"reference_ckpt": ckpt, "single": single}),
            "lightgbm": (job_lightgbm, {})}
    for method in grid_methods:
        fn, kwargs = jobs[method]
        unit["runs"][method] = step(METHOD_LABELS[method], fn, **kwargs)
    if "cos_dpo" in grid_methods:
        for scale in s.cos_dpo_budgets:
            run = step(f"COS-DPO at budget x{scale:g}", job_cos_dpo, reference_ckpt=ckpt, budget_scale=scale)
            run.pop("checkpoint", None)  # the sweep keeps its figures, not its models
            unit["sweep"].append({"budget_scale": float(scale), "policy_epochs": run.get("epochs"), **run})
    if "allrank" in s.methods:
        unit["stage1"]["allrank"] = step("allRank", job_allrank)
    if "lightgbm" in s.methods:
        unit["stage1"]["lightgbm"] = step("LightGBM (relevance)", job_lightgbm_relevance)
    return unit


def run_dataset(dataset: DatasetRun, s: Settings, out_dir: Path, run_name: str, progress: bool = True,
                command: str = "", jobs: int = 1) -> dict:
    """Benchmark every method on every fold and seed of ``dataset``; write results.json/.md, front.png and
    compute.png.

    Args:
        jobs: (fold, seed) units run at once (each unit's jobs stay sequential, each in its own forked child);
            results are collected in (fold, seed) order whatever the completion order.

    Returns:
        The results dict (as written to ``out_dir/results.json``).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Import the training stack once here: every forked job inherits it instead of importing it again
    # (and no job thread imports while another forks).
    import pytorch_lightning  # noqa: F401

    import ltr_cos.training  # noqa: F401
    from ltr_cos.training import evaluate  # noqa: F401

    meta = _meta(dataset.folds[0].data_dir)
    names = list(meta["objective_names"])
    if len(names) < 2:
        raise ValueError(f"{dataset.name}: the benchmark needs auxiliary objectives, got {names}")
    grid_methods = [m for m in GRID_METHODS if m in s.methods]
    hw = hardware()
    hw["threads_per_job"] = s.threads
    hw["concurrent_units"] = jobs
    results: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "dataset": dataset.name,
        "description": dataset.description,
        "run": run_name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "git_commit": git_commit(REPO_ROOT),
        "hardware": hw,
        # grid_steps as used for this dataset's m (the default rule resolved; see default_grid_steps)
        "settings": {**asdict(s), "seeds": list(s.seeds), "hidden_sizes": list(s.hidden_sizes),
                     "methods": list(s.methods), "grid_steps": s.steps_for(len(names) - 1),
                     "cos_dpo_budgets": list(s.cos_dpo_budgets)},
        "objectives": names,
        "main": names[0],
        "weighted_objectives": names[1:],
        "grid": _grid(len(names) - 1, s).tolist(),
        "folds": [f.name for f in dataset.folds],
        "seeds": list(s.seeds),
        "stage1": {"reference": {"runs": []}, **({"allrank": {"runs": []}} if "allrank" in s.methods else {}),
                   **({"lightgbm": {"runs": []}} if "lightgbm" in s.methods else {})},
        "methods": {m: {"runs": []} for m in grid_methods},
    }
    sweeping = "cos_dpo" in grid_methods and bool(s.cos_dpo_budgets)
    if sweeping:
        results["budget_sweep"] = {"cos_dpo": {"budget_scales": [float(f) for f in s.cos_dpo_budgets], "runs": []}}
    units = [(fold, seed) for fold in dataset.folds for seed in s.seeds]
    bar = progress_bar(total=len(units) * _unit_steps(s, grid_methods), enabled=progress, desc=dataset.name,
                       unit="job", dynamic_ncols=True)
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_") as scratch:
        if jobs == 1:
            done = (_run_unit(fold, seed, s, grid_methods, scratch, bar) for fold, seed in units)
        else:
            pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bench-unit")
            futures = [pool.submit(_run_unit, fold, seed, s, grid_methods, scratch, bar) for fold, seed in units]
            done = (future.result() for future in futures)  # (fold, seed) order, whatever finishes first
        try:
            for (fold, seed), unit in zip(units, done):
                _collect(results, fold, seed, unit, names, s, out_dir)
        finally:
            if jobs > 1:
                pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    aggregate(results)
    write_json_atomic(results, out_dir / "results.json")
    atomic_write_text(out_dir / "results.md", render_markdown(results))
    plot_results(results, out_dir / "front.png")
    plot_compute(results, out_dir / "compute.png")
    return results


def _collect(results: dict, fold: Fold, seed: int, unit: dict, names: list[str], s: Settings, out_dir: Path) -> None:
    """One (fold, seed)'s raw job results into ``results`` (summaries with the unit's common nadir) and its
    files under ``out_dir/runs/<fold>_seed<seed>/``."""
    ref = unit["reference"]
    results["stage1"]["reference"]["runs"].append(
        {"fold": fold.name, "seed": seed, **{k: v for k, v in ref.items() if k != "checkpoint"}})
    for name, peer in unit["stage1"].items():
        results["stage1"][name]["runs"].append({"fold": fold.name, "seed": seed, **peer})
    runs = unit["runs"]
    # the common nadir of the compared methods only: the budget sweep must not move it
    nadir = run_nadir(runs, names, s.k) if runs else None
    summaries = summarize_run(runs, ref["ndcg"], names, s.k, nadir=nadir) if runs else {}
    kept = out_dir / "runs" / f"{fold.name}_seed{seed}"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ref["checkpoint"], kept / "reference.ckpt")
    for method, run in runs.items():
        checkpoint = run.pop("checkpoint", None)
        write_method_artifacts(kept / method, method, run, summaries[method], names, s.k, ref["ndcg"], checkpoint)
        results["methods"][method]["runs"].append({"fold": fold.name, "seed": seed, **run, "summary": summaries[method]})
    if unit["sweep"] and nadir is not None:
        sweep = summarize_run({i: r for i, r in enumerate(unit["sweep"])}, ref["ndcg"], names, s.k, nadir=nadir)
        for i, run in enumerate(unit["sweep"]):
            results["budget_sweep"]["cos_dpo"]["runs"].append(
                {"fold": fold.name, "seed": seed, **run, "summary": sweep[i]})
