"""The temperature axis of COS-DPO, measured (docs/method.md §5; results in docs/benchmarks.md).

On the benchmark's synthetic MSLR data (objectives ``mslr2``: main ``relevance``, auxiliary ``quality`` and
``url_clicks``), per training seed:

1. **A beta front from one model.** One Temperature-COS-DPO policy (``DirichletSampler`` with
   ``beta_min``/``beta_max``) is trained from the reference ranker and evaluated over the whole weight grid
   at several run-time betas: main NDCG@k (grid mean) against the auxiliary hypervolume as beta moves.
2. **The linear temperature property.** A Weight-COS-DPO policy trained at the benchmark's beta (1) is
   moved to each beta' with ``rescale_temperature`` (a), and compared with a Weight-COS-DPO policy trained
   at beta' with the same budget (b), and with the Temperature-COS-DPO policy evaluated at beta' (c):
   per-grid-point NDCG of every objective, the hypervolume ratio, and the rank agreement of the scores.

Every model trains in a forked child (``benchmarks.jobs.run_isolated``) with the benchmark's settings, so
its CPU time and peak RSS are its own. ``job_temperature_cos_dpo`` has the shape of the harness's jobs.

Usage (from the repository root, or with it on PYTHONPATH; ``benchmarks`` is not installed):
    .venv/bin/python -m benchmarks.temperature [--seeds 0,1,2] [--synthetic-queries 300,100,150]

Results: benchmarks/results/temperature/<run>/{results.json, results.md, beta_front.png, fronts.png}.
"""

from __future__ import annotations

import argparse
import math
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.jobs import (
    _grid,
    _grid_rows,
    _meta,
    _test_batches,
    job_cos_dpo,
    job_reference,
    run_isolated,
)
from benchmarks.report import _stats, hardware, write_json_atomic
from benchmarks.run import SYNTHETIC_QUICK, synthetic_dataset
from benchmarks.settings import REPO_ROOT, TEMPERATURE_BETA_RANGE, Settings

# The training range of Temperature-COS-DPO: the one of configs/model/cos_dpo_temperature.yaml, two decades
# around the benchmark's beta = 1, covering every run-time beta below (none is extrapolated).
BETA_RANGE = TEMPERATURE_BETA_RANGE
RUNTIME_BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)
COMPARE_BETAS = (0.25, 0.5, 2.0, 4.0)
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "temperature"
MODELS = {"rescaled": "(a) Weight-COS-DPO at beta, rescaled", "trained": "(b) Weight-COS-DPO trained at beta'",
          "retrained": "(b') as (b), another training seed", "temperature": "(c) Temperature-COS-DPO at beta'"}
# the run's group of grid tables each compared model's rows live in
GROUPS = {"rescaled": "rescaled", "trained": "trained", "retrained": "retrained", "temperature": "beta_front"}
RESEED = 1000  # (b') trains with seed + RESEED: other initial conditioning weights and batch order, same reference


def job_temperature_cos_dpo(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str,
                            beta_range: Sequence[float] = BETA_RANGE) -> dict:
    """One Temperature-COS-DPO policy (weights and log beta drawn per query), evaluated over the whole grid
    at the benchmark's beta ``s.beta``: ``benchmarks.jobs.job_cos_dpo`` with a beta range (the benchmark's
    ``tcos_dpo`` method)."""
    return job_cos_dpo(data_dir, s, seed, work, reference_ckpt, beta_range=(float(beta_range[0]), float(beta_range[1])))


def grid_scores(loaded, features, mask, grid, beta: float):
    """Scores [G, B, L] of a COS-DPO model at every grid weight and run-time ``beta``: a Temperature-COS-DPO
    model takes log beta as an input, a Weight-COS-DPO model is moved from its trained beta with
    ``rescale_temperature`` (docs/method.md §5)."""
    import torch

    from ltr_cos.losses import rescale_temperature

    policy = loaded.ranker
    if loaded.info["temperature_conditioning"]:
        return policy.score_grid(features, mask, grid, torch.full((len(grid),), math.log(beta)))
    scores = policy.score_grid(features, mask, grid)
    trained = float(loaded.info["beta"])
    if beta != trained:
        scores = rescale_temperature(scores, loaded.reference(features, mask).unsqueeze(0), trained, beta)
    return scores


def rank_agreement(a, b, mask) -> tuple[float, float, int]:
    """Sums over queries and grid points of the Spearman and Kendall (tau-a) correlation of two score
    lists, and how many (query, grid point) pairs they sum.

    Args:
        a, b: float [G, B, L] scores (or [B, L]); mask: bool [B, L]. Queries with fewer than two documents
            are skipped. Each query is taken on its own documents only ([G, n, n] pairs, not [G, L, L]).
    """
    if a.dim() == 2:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    rho_sum = tau_sum = 0.0
    count = 0
    for q in range(mask.shape[0]):
        keep = mask[q]
        n = int(keep.sum())
        if n < 2:
            continue
        x, y = a[:, q, keep].double(), b[:, q, keep].double()  # [G, n]
        rx, ry = (v.argsort(-1).argsort(-1).double() - (n - 1) / 2 for v in (x, y))
        rho_sum += float(((rx * ry).sum(-1) / (rx.square().sum(-1) * ry.square().sum(-1)).sqrt()).sum())
        concord = (x.unsqueeze(2) - x.unsqueeze(1)).sign() * (y.unsqueeze(2) - y.unsqueeze(1)).sign()
        tau_sum += float(concord.triu(1).sum() / (n * (n - 1) / 2))
        count += x.shape[0]
    return rho_sum, tau_sum, count


def job_evaluate(data_dir: str, s: Settings, temperature_ckpt: str, weight_ckpts: dict[float, str],
                 retrained_ckpts: dict[float, str], runtime_betas: Sequence[float],
                 compare_betas: Sequence[float]) -> dict:
    """Grid NDCG of the Temperature-COS-DPO model at every run-time beta and of the Weight-COS-DPO model
    trained at ``s.beta`` rescaled to every compared beta', and the rank agreement of (a), (b') and (c)
    with (b)."""
    import torch

    from ltr_cos.training import load_ranker_from_checkpoint
    from ltr_cos.training.evaluate import evaluate_grid

    names = _meta(data_dir)["objective_names"]
    batches = _test_batches(data_dir)
    temperature = load_ranker_from_checkpoint(temperature_ckpt)
    weight = {b: load_ranker_from_checkpoint(path) for b, path in weight_ckpts.items()}
    retrained = {b: load_ranker_from_checkpoint(path) for b, path in retrained_ckpts.items()}
    base = weight[s.beta]
    grid = _grid(len(names) - 1, s)
    weighted = list(temperature.info["weighted_objectives"])

    def rows(loaded, beta: float) -> list[dict]:
        table = evaluate_grid(loaded, batches, grid, beta=beta, ks=(s.k,), empty=s.empty_rule, weights_per_pass=4)
        return _grid_rows(grid, weighted, [{n: float(r[f"ndcg@{s.k}/{n}"]) for n in names}
                                           for _, r in table.iterrows()])

    out: dict[str, Any] = {"temperature": {str(b): rows(temperature, b) for b in runtime_betas},
                           "rescaled": {str(b): rows(base, b) for b in compare_betas}, "agreement": {}}
    grid_t = torch.as_tensor(grid, dtype=torch.float32)
    with torch.no_grad():
        for b in compare_betas:
            sums = {"rescaled": [0.0, 0.0], "retrained": [0.0, 0.0], "temperature": [0.0, 0.0]}
            count = 0
            for batch in batches:
                target = grid_scores(weight[b], batch.features, batch.mask, grid_t, b)
                others = {"rescaled": grid_scores(base, batch.features, batch.mask, grid_t, b),
                          "retrained": grid_scores(retrained[b], batch.features, batch.mask, grid_t, b),
                          "temperature": grid_scores(temperature, batch.features, batch.mask, grid_t, b)}
                for key, scores in others.items():
                    rho, tau, n = rank_agreement(scores, target, batch.mask)
                    sums[key][0] += rho
                    sums[key][1] += tau
                count += n
            out["agreement"][str(b)] = {key: {"spearman": v[0] / max(count, 1), "kendall": v[1] / max(count, 1)}
                                        for key, v in sums.items()}
    return out


def _table(grid_rows: list[dict], names: Sequence[str], k: int) -> dict[str, np.ndarray]:
    from ltr_cos.pareto.summary import ndcg_column, weight_column

    table = {weight_column(n): np.asarray([r["weights"][n] for r in grid_rows]) for n in grid_rows[0]["weights"]}
    table.update({ndcg_column(n, k): np.asarray([r["ndcg"][n] for r in grid_rows]) for n in names})
    return table


def _ndcg(grid_rows: list[dict], names: Sequence[str]) -> np.ndarray:
    """[G, K] NDCG of every objective at every grid point."""
    return np.asarray([[r["ndcg"][n] for n in names] for r in grid_rows])


def _summary(grid_rows: list[dict], names: Sequence[str], k: int, reference_ndcg: dict, nadir: dict) -> dict:
    from ltr_cos.pareto.summary import summarize_grid

    summary = summarize_grid(_table(grid_rows, names, k), names, list(names[1:]), main=names[0],
                             reference_point=reference_ndcg, nadir=nadir, k=k)
    hv = summary["hypervolume"]
    return {"main_ndcg_mean": summary["main_ndcg"]["mean"],
            "ndcg_mean": dict(zip(names, map(float, _ndcg(grid_rows, names).mean(0)))),
            "hv_nadir_aux": hv["common_nadir"]["auxiliary"], "hv_nadir_with_main": hv["common_nadir"]["with_main"],
            "hv_reference_aux": hv["reference_model"]["auxiliary"]}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def summarize(results: dict) -> None:
    """Add per-run summaries (a common nadir over every model, beta and seed of the run) and aggregates."""
    from ltr_cos.pareto.summary import common_nadir

    names, k = results["objectives"], results["settings"]["k"]
    runs = results["runs"]
    tables = [_table(rows, names, k) for run in runs for group in ("beta_front", "rescaled", "trained", "retrained")
              for rows in run[group].values()]
    nadir = common_nadir(tables, names, k)
    results["hv_reference_points"] = {
        "common_nadir": nadir,
        "common_nadir_rule": "per objective, the worst grid-point NDCG over every model, beta and seed of the run",
        "reference_model": "per seed, the reference ranker's NDCG (the same seed's stage-1 model)",
    }
    for run in runs:
        ref = run["reference"]["ndcg"]
        run["summary"] = {group: {b: _summary(rows, names, k, ref, nadir) for b, rows in run[group].items()}
                          for group in ("beta_front", "rescaled", "trained", "retrained")}
        run["property"] = {}
        for b in results["compare_betas"]:
            key = str(b)
            target = _ndcg(run["trained"][key], names)
            entry = {}
            for model in ("rescaled", "retrained", "temperature"):
                group = GROUPS[model]
                diff = np.abs(_ndcg(run[group][key], names) - target)  # [G, K]
                entry[model] = {
                    "mean_abs_diff": dict(zip(names, map(float, diff.mean(0)))),
                    "max_abs_diff": dict(zip(names, map(float, diff.max(0)))),
                    "hv_nadir_aux_ratio": _ratio(run["summary"][group][key]["hv_nadir_aux"],
                                                 run["summary"]["trained"][key]["hv_nadir_aux"]),
                    "hv_reference_aux_ratio": _ratio(run["summary"][group][key]["hv_reference_aux"],
                                                     run["summary"]["trained"][key]["hv_reference_aux"]),
                    **run["agreement"][key][model],
                }
            run["property"][key] = entry

    def stats(get) -> dict:
        return _stats([get(run) for run in runs])

    results["beta_front"] = {
        str(b): {field: stats(lambda r, b=b, f=field: r["summary"]["beta_front"][str(b)][f])
                 for field in ("main_ndcg_mean", "hv_nadir_aux", "hv_nadir_with_main", "hv_reference_aux")}
        | {"ndcg_mean": {n: stats(lambda r, b=b, n=n: r["summary"]["beta_front"][str(b)]["ndcg_mean"][n])
                         for n in names}}
        for b in results["runtime_betas"]}
    prop: dict[str, Any] = {}
    for b in results["compare_betas"]:
        key = str(b)
        entry: dict[str, Any] = {}
        for model, group in GROUPS.items():
            entry[model] = {f: stats(lambda r, g=group, f=f, key=key: r["summary"][g][key][f])
                            for f in ("main_ndcg_mean", "hv_nadir_aux", "hv_reference_aux")}
        for model in ("rescaled", "retrained", "temperature"):
            entry[f"{model}_vs_trained"] = {
                "mean_abs_diff": {n: stats(lambda r, m=model, n=n, key=key: r["property"][key][m]["mean_abs_diff"][n])
                                  for n in names},
                "max_abs_diff": {n: stats(lambda r, m=model, n=n, key=key: r["property"][key][m]["max_abs_diff"][n])
                                 for n in names},
                **{f: stats(lambda r, m=model, f=f, key=key: r["property"][key][m][f])
                   for f in ("hv_nadir_aux_ratio", "hv_reference_aux_ratio", "spearman", "kendall")}}
        prop[key] = entry
    results["property"] = prop
    results["cost_by_model"] = {
        what: {f: stats(lambda r, w=what, f=f: r[w][f]) for f in ("train_cpu_s", "train_wall_s", "peak_rss_mb")}
        for what in ("reference", "temperature_cos_dpo")}
    results["cost_by_model"]["weight_cos_dpo"] = {
        f: _stats([m[f] for run in runs for m in run["weight_cos_dpo"].values()])
        for f in ("train_cpu_s", "train_wall_s", "peak_rss_mb")}


def _pm(stat: dict | None, fmt: str = "{:.4f}") -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{fmt.format(stat['mean'])} ± {fmt.format(stat['std'])}"


def render_markdown(results: dict) -> str:
    names, k = results["objectives"], results["settings"]["k"]
    s = results["settings"]
    nadir = results["hv_reference_points"]["common_nadir"]
    lines = [
        f"# Temperature axis: {results['dataset']} ({results['run']})", "",
        results["description"], "",
        f"Command: `{results['command']}`. Seeds {', '.join(map(str, results['seeds']))}; every figure is "
        f"mean ± std over seeds. NDCG@{k} on the test split, gain 2^y-1, empty-query rule `{s['empty_rule']}`; "
        f"grid of {len(results['grid'])} weights over {', '.join(results['weighted_objectives'])}. "
        f"Reference ranker {s['ref_epochs']} epochs; every policy {s['policy_epochs']} epochs from it "
        f"(arch `{s['arch']}`, conditioning `{s['conditioning']}`, batch {s['batch_size']}, lr {s['policy_lr']}). "
        f"Temperature-COS-DPO draws log beta ~ U[log {results['beta_range'][0]:g}, log "
        f"{results['beta_range'][1]:g}] per query. Whole run: {results['cost']['cpu_s']:.0f} CPU s, "
        f"{results['cost']['wall_s']:.0f} wall s ({results['hardware']['threads_per_job']} thread per job).", "",
        "HV = auxiliary hypervolume over the grid. `nadir`: the common nadir "
        + ", ".join(f"{n} {v:.4f}" for n, v in nadir.items())
        + " (per objective the worst grid-point NDCG over every model, beta and seed of this run); `ref`: the same "
        "seed's reference ranker's NDCG.", "",
        "## 1. One Temperature-COS-DPO model, run-time beta", "",
        f"| beta | main NDCG@{k} (grid mean) | HV nadir aux | HV ref aux | "
        + " | ".join(f"{n} (grid mean)" for n in names[1:]) + " |",
        "|---|---|---|---|" + "---|" * (len(names) - 1),
    ]
    for b in results["runtime_betas"]:
        e = results["beta_front"][str(b)]
        lines.append(f"| {b:g} | {_pm(e['main_ndcg_mean'])} | {_pm(e['hv_nadir_aux'])} | {_pm(e['hv_reference_aux'])} | "
                     + " | ".join(_pm(e["ndcg_mean"][n]) for n in names[1:]) + " |")
    base = results["trained_beta"]
    lines += [
        "", "## 2. The linear temperature property", "",
        f"(a) the Weight-COS-DPO model trained at beta = {base:g}, moved to beta' with `rescale_temperature`; "
        "(b) a Weight-COS-DPO model trained at beta' with the same budget; (c) the Temperature-COS-DPO model "
        "at beta'. Δ = mean over the grid of abs(NDCG(x) - NDCG(b)) per objective; HV ratio = HV(x)/HV(b) "
        "(nadir); Spearman/Kendall: rank agreement of the scores with (b)'s, per query, mean over queries "
        f"and grid points. (b') is (b) retrained with seed + {RESEED} from the same reference ranker: its distance "
        "to (b) is the noise of retraining, the floor against which (a) and (c) are read.", "",
        f"| beta' | model | main NDCG@{k} | HV nadir aux | HV ratio vs (b) | "
        + " | ".join(f"Δ {n}" for n in names) + " | Spearman | Kendall |",
        "|---|---|---|---|---|" + "---|" * len(names) + "---|---|",
    ]
    for b in results["compare_betas"]:
        e = results["property"][str(b)]
        for model in ("rescaled", "trained", "retrained", "temperature"):
            m = e[model]
            if model == "trained":
                cells = ["—", *["—" for _ in names], "—", "—"]
            else:
                c = e[f"{model}_vs_trained"]
                cells = [_pm(c["hv_nadir_aux_ratio"], "{:.3f}"), *[_pm(c["mean_abs_diff"][n]) for n in names],
                         _pm(c["spearman"], "{:.3f}"), _pm(c["kendall"], "{:.3f}")]
            lines.append(f"| {b:g} | {MODELS[model]} | {_pm(m['main_ndcg_mean'])} | {_pm(m['hv_nadir_aux'])} | "
                         + " | ".join(cells) + " |")
    lines += ["", "## Cost", "", "| model | train CPU s | train wall s | peak RSS MB |", "|---|---|---|---|"]
    for what, label in (("reference", "reference ranker"), ("weight_cos_dpo", "Weight-COS-DPO (one beta)"),
                        ("temperature_cos_dpo", "Temperature-COS-DPO")):
        c = results["cost_by_model"][what]
        lines.append(f"| {label} | {_pm(c['train_cpu_s'], '{:.1f}')} | {_pm(c['train_wall_s'], '{:.1f}')} | "
                     f"{_pm(c['peak_rss_mb'], '{:.0f}')} |")
    lines += ["", "Per-grid-point NDCG of every model is in `results.json` (`runs[].beta_front`, `runs[].rescaled`, "
              "`runs[].trained`, `runs[].retrained`).", ""]
    return "\n".join(lines)


def plot_beta_front(results: dict, out_path: Path) -> Path:
    """beta_front.png: main NDCG (grid mean) against the auxiliary HV (common nadir) as beta moves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ltr_cos.files import atomic_save

    betas = results["runtime_betas"]
    fig = Figure(figsize=(6.4, 4.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for run in results["runs"]:
        xs = [run["summary"]["beta_front"][str(b)]["hv_nadir_aux"] for b in betas]
        ys = [run["summary"]["beta_front"][str(b)]["main_ndcg_mean"] for b in betas]
        ax.plot(xs, ys, "-", color="0.75", lw=0.8, zorder=1)
    front = results["beta_front"]
    xs = [front[str(b)]["hv_nadir_aux"]["mean"] for b in betas]
    ys = [front[str(b)]["main_ndcg_mean"]["mean"] for b in betas]
    ax.errorbar(xs, ys, xerr=[front[str(b)]["hv_nadir_aux"]["std"] for b in betas],
                yerr=[front[str(b)]["main_ndcg_mean"]["std"] for b in betas], fmt="o-", color="C0", capsize=3,
                zorder=2, label=f"mean ± std over {len(results['runs'])} seed(s); grey: each seed")
    for x, y, b in zip(xs, ys, betas):
        ax.annotate(f"β={b:g}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    k = results["settings"]["k"]
    ax.set_xlabel(f"auxiliary hypervolume ({', '.join(results['weighted_objectives'])}), common nadir")
    ax.set_ylabel(f"{results['main']} NDCG@{k}, mean over the weight grid")
    ax.set_title("One Temperature-COS-DPO model: run-time beta")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return atomic_save(out_path, lambda tmp: fig.savefig(tmp, format="png"))


def plot_fronts(results: dict, out_path: Path) -> Path | None:
    """fronts.png: the Temperature-COS-DPO model's auxiliary front at every run-time beta (mean over seeds)."""
    from ltr_cos.pareto.plots import plot_front
    from ltr_cos.pareto.summary import ndcg_column

    names, k = results["objectives"], results["settings"]["k"]
    if len(names) != 3:
        return None
    tables = {}
    for b in results["runtime_betas"]:
        tabs = [_table(run["beta_front"][str(b)], names, k) for run in results["runs"]]
        tables[f"beta={b:g}"] = {col: np.mean([t[col] for t in tabs], axis=0) for col in tabs[0]}
    x, y = ndcg_column(names[1], k), ndcg_column(names[2], k)
    refs = [run["reference"]["ndcg"] for run in results["runs"]]
    point = {x: float(np.mean([r[names[1]] for r in refs])), y: float(np.mean([r[names[2]] for r in refs]))}
    return plot_front(tables, x, y, out_path, title="Temperature-COS-DPO: front at each run-time beta",
                      reference_point=point, n_annotations=0,
                      caption=f"test NDCG@{k}, mean over seeds; X = reference ranker")


def _cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_temperature(data_dir: str, s: Settings, out_dir: Path, run_name: str, description: str,
                    runtime_betas: Sequence[float] = RUNTIME_BETAS, compare_betas: Sequence[float] = COMPARE_BETAS,
                    beta_range: Sequence[float] = BETA_RANGE, command: str = "", progress: bool = True) -> dict:
    """Train and evaluate every model of every seed; write results.json, results.md and the figures into
    ``out_dir`` (built under a temporary name, then renamed)."""
    import pytorch_lightning  # noqa: F401 - imported once here, inherited by every forked job

    import ltr_cos.training  # noqa: F401
    from ltr_cos.files import atomic_folder, atomic_write_text
    from ltr_cos.progress import progress_bar
    from ltr_cos.provenance import git_commit

    runtime_betas = sorted({float(b) for b in (*runtime_betas, *compare_betas)})
    compare_betas = [float(b) for b in compare_betas if float(b) != s.beta]
    if not (beta_range[0] <= min(runtime_betas) and max(runtime_betas) <= beta_range[1]):
        print(f"note: run-time betas outside the trained range {beta_range} are extrapolated", file=sys.stderr)
    started_wall, started_cpu = time.perf_counter(), _cpu_now()
    meta = _meta(data_dir)
    names = list(meta["objective_names"])
    hw = hardware()
    hw["threads_per_job"] = s.threads
    results: dict[str, Any] = {
        "dataset": "synthetic_mslr", "description": description, "run": run_name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
        "git_commit": git_commit(REPO_ROOT), "hardware": hw,
        "settings": {**asdict(s), "seeds": list(s.seeds), "hidden_sizes": list(s.hidden_sizes),
                     "methods": list(s.methods)},
        "beta_range": [float(v) for v in beta_range], "trained_beta": s.beta, "runtime_betas": runtime_betas,
        "compare_betas": compare_betas, "objectives": names, "main": names[0], "weighted_objectives": names[1:],
        "grid": _grid(len(names) - 1, s).tolist(), "seeds": list(s.seeds), "runs": [],
    }
    bar = progress_bar(total=len(s.seeds) * (4 + 2 * len(compare_betas)), enabled=progress, desc="temperature",
                       unit="job", dynamic_ncols=True)
    with tempfile.TemporaryDirectory(prefix="ltr_cos_temperature_") as scratch:
        for seed in s.seeds:
            work = Path(scratch) / f"seed{seed}"
            work.mkdir()

            def step(label: str, fn, seed=seed, **kwargs) -> dict:
                bar.set_postfix_str(f"seed {seed}: {label}")
                out = run_isolated(fn, threads=s.threads, data_dir=data_dir, seed=seed, **kwargs)
                bar.update(1)
                return out

            ref = step("reference", job_reference, s=s, work=str(work))
            temperature = step("Temperature-COS-DPO", job_temperature_cos_dpo, s=s, work=str(work),
                               reference_ckpt=ref["checkpoint"], beta_range=tuple(beta_range))
            weight: dict[float, dict] = {}
            for b in (s.beta, *compare_betas):
                folder = work / f"weight_beta{b:g}"
                folder.mkdir()
                weight[b] = step(f"Weight-COS-DPO beta={b:g}", job_cos_dpo, s=replace(s, beta=b), work=str(folder),
                                 reference_ckpt=ref["checkpoint"])
            retrained: dict[float, dict] = {}
            for b in compare_betas:
                folder = work / f"weight_beta{b:g}_reseed"
                folder.mkdir()
                retrained[b] = step(f"Weight-COS-DPO beta={b:g}, seed {seed + RESEED}", job_cos_dpo,
                                    seed=seed + RESEED, s=replace(s, beta=b), work=str(folder),
                                    reference_ckpt=ref["checkpoint"])
            bar.set_postfix_str(f"seed {seed}: evaluation")
            ev = run_isolated(job_evaluate, threads=s.threads, data_dir=data_dir, s=s,
                              temperature_ckpt=temperature["checkpoint"],
                              weight_ckpts={b: w["checkpoint"] for b, w in weight.items()},
                              retrained_ckpts={b: w["checkpoint"] for b, w in retrained.items()},
                              runtime_betas=runtime_betas, compare_betas=compare_betas)
            bar.update(1)
            cost_keys = ("models_trained", "train_wall_s", "train_cpu_s", "peak_rss_mb", "rss_at_start_mb")
            results["runs"].append({
                "seed": seed,
                "reference": {k: v for k, v in ref.items() if k != "checkpoint"},
                # the harness-shaped result: grid rows at the benchmark's beta, cost
                "temperature_cos_dpo": {k: v for k, v in temperature.items() if k != "checkpoint"},
                "weight_cos_dpo": {str(b): {k: w[k] for k in cost_keys} for b, w in weight.items()},
                "beta_front": ev["temperature"],
                "rescaled": ev["rescaled"],
                "trained": {str(b): weight[b]["grid"] for b in compare_betas},
                "retrained": {str(b): retrained[b]["grid"] for b in compare_betas},
                "agreement": ev["agreement"],
            })
    bar.close()
    results["cost"] = {"cpu_s": _cpu_now() - started_cpu, "wall_s": time.perf_counter() - started_wall,
                       "note": "the whole run: data loading, every training job, evaluation and this process"}
    summarize(results)
    with atomic_folder(out_dir, overwrite=True, marker="results.json") as tmp:
        write_json_atomic(results, tmp / "results.json")
        atomic_write_text(tmp / "results.md", render_markdown(results))
        plot_beta_front(results, tmp / "beta_front.png")
        plot_fronts(results, tmp / "fronts.png")
    return results


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.temperature", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="training seeds (default 0,1,2)")
    p.add_argument("--synthetic-queries", type=_ints, default=list(SYNTHETIC_QUICK),
                   help="train,vali,test queries of the synthetic preset (default: the benchmark's quick sizes "
                   f"{','.join(map(str, SYNTHETIC_QUICK))})")
    p.add_argument("--docs-per-query", type=_ints, default=None,
                   help="documents per query, N or LO,HI (default: the synthetic preset's)")
    p.add_argument("--betas", type=_floats, default=list(RUNTIME_BETAS),
                   help=f"run-time betas of the Temperature-COS-DPO model (default {','.join(map(str, RUNTIME_BETAS))})")
    p.add_argument("--compare-betas", type=_floats, default=list(COMPARE_BETAS),
                   help="beta' of the linear-property comparison, each trained as its own Weight-COS-DPO model "
                   f"(default {','.join(map(str, COMPARE_BETAS))})")
    p.add_argument("--beta-range", type=_floats, default=list(BETA_RANGE),
                   help=f"beta_min,beta_max of Temperature-COS-DPO training (default {BETA_RANGE[0]:g},{BETA_RANGE[1]:g})")
    p.add_argument("--policy-epochs", type=int, help=f"epochs of every policy (default {Settings.policy_epochs})")
    p.add_argument("--ref-epochs", type=int, help=f"epochs of the reference ranker (default {Settings.ref_epochs})")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results root")
    p.add_argument("--run", help="run name (default: a timestamp)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if len(args.synthetic_queries) != 3:
        p.error("--synthetic-queries takes three numbers: train,vali,test")
    if len(args.beta_range) != 2 or not 0 < args.beta_range[0] <= args.beta_range[1]:
        p.error("--beta-range takes two numbers 0 < beta_min <= beta_max")
    if not args.betas or not all(b > 0 for b in args.betas + args.compare_betas):
        p.error("betas must be > 0")
    if args.docs_per_query is not None and len(args.docs_per_query) not in (1, 2):
        p.error("--docs-per-query takes N or LO,HI")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Every policy of this study gets the same budget (policy_epochs, uniform Dirichlet weights): it compares
    # temperatures, not COS-DPO against per-weight policies, so the benchmark's larger COS-DPO budget is off.
    changes: dict[str, Any] = {"seeds": tuple(args.seeds), "threads": args.threads, "methods": ("cos_dpo",),
                               "cos_dpo_budget": 1.0, "alpha": 1.0, "policy_min_steps": 0}
    if args.policy_epochs is not None:
        changes["policy_epochs"] = args.policy_epochs
    if args.ref_epochs is not None:
        changes["ref_epochs"] = args.ref_epochs
    s = replace(Settings(), **changes)
    run_name = args.run or datetime.now().strftime("%Y%m%d-%H%M%S")
    command = "python -m benchmarks.temperature " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    sizes = tuple(args.synthetic_queries)
    docs = args.docs_per_query
    docs = None if docs is None else (docs[0] if len(docs) == 1 else (docs[0], docs[1]))
    progress = not args.no_progress
    with tempfile.TemporaryDirectory(prefix="ltr_cos_temperature_data_") as tmp:
        fold = synthetic_dataset(Path(tmp), sizes, docs_per_query=docs, progress=progress)
        description = (f"synthetic MSLR-WEB30K-like data ({sizes[0]}/{sizes[1]}/{sizes[2]} train/vali/test queries), "
                       "objectives preset mslr2 (quality 132, url_clicks 135)")
        out_dir = args.out / run_name
        run_temperature(fold.data_dir, s, out_dir, run_name, description, args.betas, args.compare_betas,
                        args.beta_range, command=command, progress=progress)
    print((out_dir / "results.md").read_text())
    print(f"written: {out_dir}/results.json, results.md, beta_front.png, fronts.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
