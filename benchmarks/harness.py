"""The ``make benchmark`` harness: COS-DPO against DPO-LS, DPO Soup, MODPO, LightGBM and allRank (docs/method.md §9).

Per dataset fold and seed, one frozen reference ranker is trained first; every policy starts from it and
trains for the same number of epochs. Each method runs in a forked child process, so its peak RSS
(``ru_maxrss`` of the child, which starts at the parent's resident set: Python, torch and Lightning) and
its CPU time (``time.process_time`` around training, all threads) are its own. Evaluation (NDCG@k of every
objective on the test split at every grid weight, with ltr_cos's metric and empty-query rule) is not timed.

Cost accounting: COS-DPO trains 1 model; DPO-LS trains one per grid weight; DPO Soup trains the m
single-objective policies (the DPO-LS corner runs, trained here once per fold and seed); MODPO counts the
single-objective policies it uses (rewards and corners, each once) plus one policy per grid weight that is
not one-hot (at e_k it is the single policy k, see ``ltr_cos.losses.modpo``); LightGBM trains one booster
per weight.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
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
    plot_results,
    render_markdown,
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
    DatasetRun,
    Fold,
    Settings,
)
from ltr_cos.files import atomic_write_text
from ltr_cos.progress import progress_bar
from ltr_cos.provenance import git_commit


def run_dataset(dataset: DatasetRun, s: Settings, out_dir: Path, run_name: str, progress: bool = True,
                command: str = "") -> dict:
    """Benchmark every method on every fold and seed of ``dataset``; write results.json/.md and front.png.

    Returns:
        The results dict (as written to ``out_dir/results.json``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # Import the training stack once here: every forked job inherits it instead of importing it again.
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
    needs_single = any(m in grid_methods for m in ("dpo_soup", "modpo"))
    steps = len(dataset.folds) * len(s.seeds) * (1 + needs_single + len(grid_methods) + ("allrank" in s.methods)
                                                 + ("lightgbm" in s.methods))
    bar = progress_bar(total=steps, enabled=progress, desc=dataset.name, unit="job", dynamic_ncols=True)
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_") as scratch:
        for fold in dataset.folds:
            for seed in s.seeds:
                work = Path(scratch) / f"{fold.name}_seed{seed}"
                work.mkdir()
                common = {"data_dir": fold.data_dir, "s": s, "seed": seed, "work": str(work)}

                def step(label: str, fn: Callable, where=f"{fold.name} seed {seed}", common=common, **kwargs) -> dict:
                    bar.set_postfix_str(f"{where}: {label}")
                    out = run_isolated(fn, threads=s.threads, **common, **kwargs)
                    bar.update(1)
                    return out

                ref = step("reference", job_reference)
                results["stage1"]["reference"]["runs"].append(
                    {"fold": fold.name, "seed": seed, **{k: v for k, v in ref.items() if k != "checkpoint"}})
                ckpt = ref["checkpoint"]
                single = step("single-objective policies", job_single, reference_ckpt=ckpt) if needs_single else None
                runs: dict[str, dict] = {}
                for method in grid_methods:
                    if method == "cos_dpo":
                        runs[method] = step("COS-DPO", job_cos_dpo, reference_ckpt=ckpt)
                    elif method == "dpo_ls":
                        runs[method] = step("DPO-LS", job_dpo_ls, reference_ckpt=ckpt)
                    elif method == "dpo_soup":
                        runs[method] = step("DPO Soup", job_soup, single=single)
                    elif method == "modpo":
                        runs[method] = step("MODPO", job_modpo, reference_ckpt=ckpt, single=single)
                    elif method == "lightgbm":
                        runs[method] = step("LightGBM", job_lightgbm)
                if "allrank" in s.methods:
                    peer = step("allRank", job_allrank)
                    results["stage1"]["allrank"]["runs"].append({"fold": fold.name, "seed": seed, **peer})
                if "lightgbm" in s.methods:
                    peer = step("LightGBM (relevance)", job_lightgbm_relevance)
                    results["stage1"]["lightgbm"]["runs"].append({"fold": fold.name, "seed": seed, **peer})
                summaries = summarize_run(runs, ref["ndcg"], names, s.k) if runs else {}
                kept = out_dir / "runs" / f"{fold.name}_seed{seed}"
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ckpt, kept / "reference.ckpt")
                for method, run in runs.items():
                    checkpoint = run.pop("checkpoint", None)
                    write_method_artifacts(kept / method, method, run, summaries[method], names, s.k, ref["ndcg"],
                                           checkpoint)
                    results["methods"][method]["runs"].append(
                        {"fold": fold.name, "seed": seed, **run, "summary": summaries[method]})
    bar.close()
    aggregate(results)
    write_json_atomic(results, out_dir / "results.json")
    atomic_write_text(out_dir / "results.md", render_markdown(results))
    plot_results(results, out_dir / "front.png")
    return results
