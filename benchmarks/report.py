"""The benchmark's reporting: per-run summaries (hypervolumes with a common nadir), aggregates over folds
and seeds, the paired ratios against the goals, results.json / results.md and the front plot."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.settings import METHOD_LABELS, STAGE1_LABELS
from ltr_cos.files import atomic_write_text


def _table(grid_rows: list[dict], names: Sequence[str], k: int) -> dict[str, np.ndarray]:
    """Grid rows -> the column table of ltr_cos.pareto.summary (weight/<obj>, ndcg@k/<obj>)."""
    from ltr_cos.pareto.summary import ndcg_column, weight_column

    table: dict[str, np.ndarray] = {}
    for name in grid_rows[0]["weights"]:
        table[weight_column(name)] = np.asarray([r["weights"][name] for r in grid_rows])
    for name in names:
        table[ndcg_column(name, k)] = np.asarray([r["ndcg"][name] for r in grid_rows])
    return table


def run_nadir(runs: dict[str, dict], names: Sequence[str], k: int) -> dict[str, float]:
    """The common nadir of one (fold, seed): per objective the worst grid value over all ``runs``."""
    from ltr_cos.pareto.summary import common_nadir

    return common_nadir([_table(r["grid"], names, k) for r in runs.values()], names, k)


def summarize_run(runs: dict, reference_ndcg: dict[str, float], names: Sequence[str], k: int,
                  nadir: dict[str, float] | None = None) -> dict:
    """Grid summaries (docs/method.md §8) of every grid method of one (fold, seed), with a common nadir:
    ``nadir`` when given (the budget sweep uses the main methods' one), else the one of all ``runs``."""
    from ltr_cos.pareto.summary import summarize_grid

    nadir = nadir if nadir is not None else run_nadir(runs, names, k)
    return {
        method: summarize_grid(_table(r["grid"], names, k), names, list(names[1:]), main=names[0],
                               reference_point=reference_ndcg, nadir=nadir, k=k)
        for method, r in runs.items()
    }


def _stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "n": len(vals)}


AGGREGATE_KEYS = (
    "hv_common_nadir_auxiliary", "hv_common_nadir_with_main", "hv_reference_auxiliary", "hv_reference_with_main",
    "hv_origin_auxiliary", "hv_origin_with_main", "main_ndcg_mean", "main_ndcg_std",
    "train_wall_s", "train_cpu_s", "peak_rss_mb",
)


def _run_figures(run: dict) -> dict[str, float | None]:
    summary = run["summary"]
    hv = summary["hypervolume"]
    return {
        "hv_common_nadir_auxiliary": hv["common_nadir"]["auxiliary"],
        "hv_common_nadir_with_main": hv["common_nadir"]["with_main"],
        "hv_reference_auxiliary": hv["reference_model"]["auxiliary"],
        "hv_reference_with_main": hv["reference_model"]["with_main"],
        "hv_origin_auxiliary": hv["origin"]["auxiliary"],
        "hv_origin_with_main": hv["origin"]["with_main"],
        "main_ndcg_mean": summary["main_ndcg"]["mean"],
        "main_ndcg_std": summary["main_ndcg"]["std"],
        "train_wall_s": run["train_wall_s"],
        "train_cpu_s": run["train_cpu_s"],
        "peak_rss_mb": run["peak_rss_mb"],
    }


def aggregate(results: dict) -> None:
    """Fill ``aggregate`` (mean/std over folds and seeds) of every method and the headline ratios."""
    for entry in results["methods"].values():
        figures = [_run_figures(run) for run in entry["runs"]]
        entry["aggregate"] = {key: _stats([f[key] for f in figures]) for key in AGGREGATE_KEYS}
    for name in ("reference", "allrank", "lightgbm"):
        entry = results["stage1"].get(name)
        if entry and entry["runs"]:
            main = results["objectives"][0]
            entry["aggregate"] = {
                "main_ndcg": _stats([r["ndcg"][main] for r in entry["runs"]]),
                "train_wall_s": _stats([r["train_wall_s"] for r in entry["runs"]]),
                "train_cpu_s": _stats([r["train_cpu_s"] for r in entry["runs"]]),
                "peak_rss_mb": _stats([r["peak_rss_mb"] for r in entry["runs"]]),
            }
    results["ratios"] = _ratios(results)
    sweep = results.get("budget_sweep", {}).get("cos_dpo")
    if sweep is not None:
        sweep["aggregate"] = _sweep_aggregate(results, sweep)


def _sweep_aggregate(results: dict, sweep: dict) -> list[dict]:
    """Per budget factor: mean/std over (fold, seed) of the sweep's figures, and its HV ratios over DPO-LS."""
    baseline = results["methods"].get("dpo_ls", {}).get("runs", [])
    out = []
    for scale in sweep["budget_scales"]:
        runs = [r for r in sweep["runs"] if r["budget_scale"] == scale]
        figures = [_run_figures(run) for run in runs]
        entry = {"budget_scale": scale, "policy_epochs": runs[0]["policy_epochs"] if runs else None,
                 **{key: _stats([f[key] for f in figures]) for key in AGGREGATE_KEYS}}
        for key in ("hv_common_nadir_auxiliary", "hv_common_nadir_with_main", "train_cpu_s"):
            entry[f"{key} /dpo_ls"] = _ratio_of_runs(runs, baseline, key)
        out.append(entry)
    return out


def _paired_ratio(results: dict, a: str, b: str, key: str, section: str = "methods") -> dict | None:
    """Ratio a/b of a per-run figure: the ratio of means, and mean/std of the per-(fold, seed) ratios."""
    ea, eb = results[section].get(a), results[section].get(b)
    if not ea or not eb or not ea["runs"] or not eb["runs"]:
        return None
    return _ratio_of_runs(ea["runs"], eb["runs"], key, section == "methods")


def _ratio_of_runs(runs_a: list[dict], runs_b: list[dict], key: str, grid_runs: bool = True) -> dict | None:
    """Paired (same fold and seed) ratios a/b of ``key``: ``ratio_of_means``, ``mean``/``std``/``n`` of the
    per-run ratios, and ``per_seed`` (seed -> mean of its per-run ratios over folds)."""
    pick = (lambda run: _run_figures(run)[key]) if grid_runs else (lambda run: run[key])
    by_key = {(r["fold"], r["seed"]): pick(r) for r in runs_b}
    pairs = [(pick(r), by_key.get((r["fold"], r["seed"])), r["seed"]) for r in runs_a]
    pairs = [(x, y, seed) for x, y, seed in pairs if x is not None and y not in (None, 0)]
    if not pairs:
        return None
    xs = np.asarray([p[0] for p in pairs], dtype=np.float64)
    ys = np.asarray([p[1] for p in pairs], dtype=np.float64)
    per_run = xs / ys
    seeds = sorted({p[2] for p in pairs})
    per_seed = {str(seed): float(np.mean([r for r, p in zip(per_run, pairs) if p[2] == seed])) for seed in seeds}
    return {"ratio_of_means": float(xs.mean() / ys.mean()), "mean": float(per_run.mean()),
            "std": float(per_run.std(ddof=1)) if len(per_run) > 1 else 0.0, "n": len(per_run),
            "per_seed": per_seed}


def _ratios(results: dict) -> dict:
    out = {
        "hv_common_nadir_auxiliary cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls",
                                                                  "hv_common_nadir_auxiliary"),
        "hv_common_nadir_with_main cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls",
                                                                  "hv_common_nadir_with_main"),
        "train_cpu_s cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "train_cpu_s"),
        "train_wall_s cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "train_wall_s"),
        "main_ndcg_mean cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "main_ndcg_mean"),
    }
    if "allrank" in results["stage1"]:
        out["train_cpu_s reference/allrank"] = _paired_ratio(results, "reference", "allrank", "train_cpu_s",
                                                             section="stage1")
        out["train_wall_s reference/allrank"] = _paired_ratio(results, "reference", "allrank", "train_wall_s",
                                                              section="stage1")
    return {key: value for key, value in out.items() if value is not None}


# ------------------------------------------------------------------------------------------- reports


_HV = "{:.4g}"  # hypervolumes shrink with the dimension (about 1e-5 in 5-D): significant digits


def _pm(stat: dict | None, fmt: str = "{:.4f}") -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{fmt.format(stat['mean'])} ± {fmt.format(stat['std'])}"


def render_markdown(results: dict) -> str:
    """results.md: the method table (mean ± std over folds and seeds), stage 1, the COS-DPO budget sweep,
    the goals (met/missed) and notes."""
    names = results["objectives"]
    k, agg_of = results["settings"]["k"], {m: e["aggregate"] for m, e in results["methods"].items()}
    n_runs = len(results["folds"]) * len(results["seeds"])
    lines = [
        f"# Benchmark: {results['dataset']} ({results['run']})",
        "",
        f"{results.get('description', '')}",
        "",
        (f"Objectives: main `{names[0]}`, auxiliary {', '.join(f'`{n}`' for n in names[1:])}. "
        f"Grid: {len(results['grid'])} weights (step 1/{results['settings']['grid_steps']}). "
        f"NDCG@{k} on the test split, gain 2^y-1, empty-query rule `{results['settings']['empty_rule']}`. "
        f"Mean ± std over {len(results['folds'])} fold(s) × {len(results['seeds'])} seed(s) = {n_runs} run(s). "
        f"Hardware: {results['hardware']['cpu']}, {results['hardware']['threads_per_job']} thread(s) per job "
        f"(shared machine: CPU time is the fair cost figure, wall time is noisy)."),
        "",
        ("HV = hypervolume in NDCG space. `nadir`: common nadir over all methods' grid points of the same fold "
        "and seed; `ref`: the frozen reference ranker's NDCG; `origin`: 0. `aux` = over the auxiliary "
        "objectives; `+main` = with the main objective as one more axis."),
        "",
        ("| method | models | HV nadir aux | HV nadir +main | HV ref aux | HV origin aux | "
        f"main NDCG@{k} (grid mean) | main std over grid | train CPU s | train wall s | peak RSS MB |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, entry in results["methods"].items():
        a = agg_of[method]
        lines.append(
            f"| {METHOD_LABELS[method]} | {entry['runs'][0]['models_trained'] if entry['runs'] else '-'} | "
            f"{_pm(a['hv_common_nadir_auxiliary'], _HV)} | {_pm(a['hv_common_nadir_with_main'], _HV)} | "
            f"{_pm(a['hv_reference_auxiliary'], _HV)} | {_pm(a['hv_origin_auxiliary'], _HV)} | {_pm(a['main_ndcg_mean'])} | "
            f"{_pm(a['main_ndcg_std'])} | {_pm(a['train_cpu_s'], '{:.1f}')} | {_pm(a['train_wall_s'], '{:.1f}')} | "
            f"{_pm(a['peak_rss_mb'], '{:.0f}')} |")
    lines += ["", "## Stage 1 (main objective only)", "",
              f"| ranker | NDCG@{k} {names[0]} | train CPU s | train wall s | peak RSS MB |", "|---|---|---|---|---|"]
    for name, entry in results["stage1"].items():
        a = entry.get("aggregate")
        if a:
            lines.append(f"| {STAGE1_LABELS[name]} | {_pm(a['main_ndcg'])} | {_pm(a['train_cpu_s'], '{:.1f}')} | "
                         f"{_pm(a['train_wall_s'], '{:.1f}')} | {_pm(a['peak_rss_mb'], '{:.0f}')} |")
    lines += _sweep_lines(results)
    lines += ["", "## Goals", "", ("COS-DPO against DPO-LS, paired by fold and seed (thresholds: "
              "`benchmarks/settings.py`)."), ""]
    lines += _goal_lines(results)
    notes = _note_lines(results)
    if notes:
        lines += ["", "## Notes", ""] + notes
    lines += ["", "## Per-run rows", "", ("Per-objective NDCG at every grid weight is in `results.json` "
              "(`methods.<method>.runs[].grid`).")]
    return "\n".join(lines) + "\n"


def _sweep_lines(results: dict) -> list[str]:
    sweep = results.get("budget_sweep", {}).get("cos_dpo")
    if not sweep or not sweep.get("aggregate"):
        return []
    cos_runs = results["methods"].get("cos_dpo", {}).get("runs") or [{}]
    epochs = cos_runs[0].get("epochs", results["settings"]["policy_epochs"])
    per_weight = results["settings"]["policy_epochs"]
    lines = ["", "## COS-DPO budget sweep", "",
             (f"COS-DPO retrained with its policy budget scaled (full budget: {epochs} epochs, against "
              f"{per_weight} for one per-weight policy; both at least the minimum steps), on the same "
              "(fold, seed) runs; HV with the main comparison's common nadir. Ratio: HV over DPO-LS's, ratio of "
              "means."), "",
             "| budget scale | epochs | train CPU s | HV nadir aux | HV nadir +main | HV aux / DPO-LS | "
             "HV +main / DPO-LS |", "|---|---|---|---|---|---|---|"]

    def ratio(entry: dict, key: str) -> str:
        r = entry.get(f"{key} /dpo_ls")
        return f"{r['ratio_of_means']:.3f}" if r else "n/a"

    rows = list(sweep["aggregate"])
    full = results["methods"].get("cos_dpo", {}).get("aggregate")
    if full:
        baseline = results["ratios"]
        rows.append({"budget_scale": 1.0, "policy_epochs": epochs, **full,
                     "hv_common_nadir_auxiliary /dpo_ls": baseline.get("hv_common_nadir_auxiliary cos_dpo/dpo_ls"),
                     "hv_common_nadir_with_main /dpo_ls": baseline.get("hv_common_nadir_with_main cos_dpo/dpo_ls")})
    for entry in rows:
        lines.append(f"| {entry['budget_scale']:g} | {entry['policy_epochs']} | {_pm(entry['train_cpu_s'], '{:.1f}')} | "
                     f"{_pm(entry['hv_common_nadir_auxiliary'], _HV)} | {_pm(entry['hv_common_nadir_with_main'], _HV)} | "
                     f"{ratio(entry, 'hv_common_nadir_auxiliary')} | {ratio(entry, 'hv_common_nadir_with_main')} |")
    return lines


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _goal_lines(results: dict) -> list[str]:
    """The goals of COS-DPO against DPO-LS, each with this run's figures and met/missed."""
    from benchmarks.settings import GOAL_HV_RATIO, GOAL_HV_RATIO_FLOOR, goal_cpu_ratio

    r, methods = results["ratios"], results["methods"]
    if "cos_dpo" not in methods or "dpo_ls" not in methods:
        return ["- no goals checked: they compare COS-DPO with DPO-LS, and this run lacks one of them."]
    lines = []
    for key, label in (("hv_common_nadir_auxiliary", "HV COS-DPO/DPO-LS, common nadir, aux"),
                       ("hv_common_nadir_with_main", "HV COS-DPO/DPO-LS, common nadir, +main")):
        ratio = r.get(f"{key} cos_dpo/dpo_ls")
        if ratio is None:
            lines.append(f"- {label}: n/a")
            continue
        lowest = min(ratio["per_seed"].values())
        ok = min(ratio["mean"], ratio["ratio_of_means"]) >= GOAL_HV_RATIO and lowest >= GOAL_HV_RATIO_FLOOR
        lines.append(f"- {label}: mean of per-run ratios {ratio['mean']:.3f} ± {ratio['std']:.3f}, ratio of means "
                     f"{ratio['ratio_of_means']:.3f}, lowest per-seed mean {lowest:.3f}; goal >= {GOAL_HV_RATIO:.2f} "
                     f"and no seed below {GOAL_HV_RATIO_FLOOR:.2f}: {_verdict(ok)}")
    m = len(results["weighted_objectives"])
    cpu = r.get("train_cpu_s cos_dpo/dpo_ls")
    if cpu is not None:
        goal = goal_cpu_ratio(m)
        lines.append(f"- train CPU COS-DPO/DPO-LS: ratio of means {cpu['ratio_of_means']:.3f} (per run "
                     f"{cpu['mean']:.3f} ± {cpu['std']:.3f}); goal <= {goal:g} for m = {m}: "
                     f"{_verdict(cpu['ratio_of_means'] <= goal)}")
    a, b = methods["cos_dpo"]["aggregate"], methods["dpo_ls"]["aggregate"]
    for key, label in (("hv_common_nadir_auxiliary", "aux"), ("hv_common_nadir_with_main", "+main")):
        sa, sb = a[key]["std"], b[key]["std"]
        if sa is None or sb is None or a[key]["n"] < 2:
            lines.append(f"- HV spread over runs ({label}): n/a (one run; it needs two or more seeds or folds)")
        else:
            lines.append(f"- HV spread over runs ({label}): std COS-DPO {sa:.4g} vs DPO-LS {sb:.4g}; goal not above "
                         f"DPO-LS's: {_verdict(sa <= sb)}")
    ma, mb = a["main_ndcg_mean"]["mean"], b["main_ndcg_mean"]["mean"]
    if ma is not None and mb is not None:
        lines.append(f"- main NDCG@{results['settings']['k']} grid mean: COS-DPO {ma:.4f} vs DPO-LS {mb:.4f} "
                     f"(diff {ma - mb:+.4f}); goal not below DPO-LS's: {_verdict(ma >= mb)}")
    return lines


def _note_lines(results: dict) -> list[str]:
    r, lines = results["ratios"], []
    st = results["stage1"]
    if "allrank" in st and st["allrank"].get("aggregate") and st.get("reference", {}).get("aggregate"):
        a, b = st["reference"]["aggregate"]["main_ndcg"]["mean"], st["allrank"]["aggregate"]["main_ndcg"]["mean"]
        lines.append(f"- stage 1: reference NDCG {a:.4f} vs allRank {b:.4f} (diff {a - b:+.4f})")
        key = "train_cpu_s reference/allrank"
        if key in r:
            lines.append(f"- stage 1 CPU time reference/allRank: {r[key]['ratio_of_means']:.3f} "
                         f"(reference arch `{results['settings']['arch']}`, allRank Transformer)")
    if st.get("lightgbm", {}).get("aggregate") and st.get("reference", {}).get("aggregate"):
        a, b = st["reference"]["aggregate"]["main_ndcg"]["mean"], st["lightgbm"]["aggregate"]["main_ndcg"]["mean"]
        lines.append(f"- stage 1: reference NDCG {a:.4f} vs LightGBM lambdarank {b:.4f} (diff {a - b:+.4f})")
    best = _best_method(results, "hv_common_nadir_auxiliary")
    own = results["methods"].get("cos_dpo", {}).get("aggregate", {}).get("hv_common_nadir_auxiliary", {}).get("mean")
    best_value = results["methods"][best]["aggregate"]["hv_common_nadir_auxiliary"]["mean"] if best else None
    if best and best != "cos_dpo" and (own is None or best_value > own):
        lines.append(f"- COS-DPO does not have the highest HV (common nadir, aux): {METHOD_LABELS[best]} does.")
    return lines


def _best_method(results: dict, key: str) -> str | None:
    scored = [(e["aggregate"][key]["mean"], m) for m, e in results["methods"].items()
              if e["aggregate"][key]["mean"] is not None]
    return max(scored)[1] if scored else None


def plot_results(results: dict, out_path: Path) -> Path | None:
    """front.png: every grid method's mean front (grid-point NDCG averaged over folds and seeds)."""
    from ltr_cos.pareto.plots import plot_front
    from ltr_cos.pareto.summary import ndcg_column

    names, k = results["objectives"], results["settings"]["k"]
    if len(names) < 3 or not results["methods"]:
        return None
    tables = {}
    for method, entry in results["methods"].items():
        tabs = [_table(run["grid"], names, k) for run in entry["runs"]]
        tables[METHOD_LABELS[method]] = {col: np.mean([t[col] for t in tabs], axis=0) for col in tabs[0]}
    ref_runs = results["stage1"]["reference"]["runs"]
    ref_point = {ndcg_column(n, k): float(np.mean([r["ndcg"][n] for r in ref_runs])) for n in names}
    x, y = ndcg_column(names[1], k), ndcg_column(names[2], k)
    return plot_front(tables, x, y, out_path, title=f"{results['dataset']}: mean front over folds and seeds",
                      reference_point={x: ref_point[x], y: ref_point[y]},
                      caption=f"test NDCG@{k}, empty rule {results['settings']['empty_rule']}; X = reference ranker")


_COMPUTE_PANELS = (("hv_common_nadir_auxiliary", "auxiliary objectives"),
                   ("hv_common_nadir_with_main", "auxiliary objectives + main"))


def plot_compute(results: dict, out_path: Path) -> Path | None:
    """compute.png: hypervolume (common nadir) against train CPU seconds (log x), one marker per method at its
    mean over runs (error bars: std), COS-DPO's budget sweep and full budget as one connected line; one panel
    over the auxiliary objectives, one with the main objective too."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ltr_cos.files import atomic_save

    methods = {m: e["aggregate"] for m, e in results["methods"].items() if e.get("runs")}
    if not methods:
        return None
    sweep = results.get("budget_sweep", {}).get("cos_dpo", {}).get("aggregate") or []
    fig = Figure(figsize=(12.0, 5.0), dpi=110)
    FigureCanvasAgg(fig)  # no pyplot state, no display
    axes = fig.subplots(1, 2)
    colors = {m: f"C{i}" for i, m in enumerate(results["methods"])}
    for ax, (key, what) in zip(axes, _COMPUTE_PANELS):
        for method, agg in methods.items():
            x, y = agg["train_cpu_s"], agg[key]
            if x["mean"] is None or y["mean"] is None or x["mean"] <= 0:
                continue
            ax.errorbar(x["mean"], y["mean"], xerr=x["std"], yerr=y["std"], fmt="o", ms=7, capsize=3,
                        color=colors[method], label=METHOD_LABELS[method])
        if sweep and "cos_dpo" in methods:
            points = [(e["budget_scale"], e["train_cpu_s"], e[key]) for e in sweep]
            points.append((1.0, methods["cos_dpo"]["train_cpu_s"], methods["cos_dpo"][key]))
            points = sorted(p for p in points if p[1]["mean"] and p[2]["mean"] is not None)
            xs = [p[1]["mean"] for p in points]
            ys = [p[2]["mean"] for p in points]
            ax.errorbar(xs, ys, xerr=[p[1]["std"] for p in points], yerr=[p[2]["std"] for p in points], fmt="-s",
                        ms=4, capsize=2, color=colors["cos_dpo"], alpha=0.6, label="COS-DPO, budget x"
                        + ", ".join(f"{p[0]:g}" for p in points))
            for (scale, _, _), x, y in zip(points, xs, ys):
                ax.annotate(f"x{scale:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("training CPU time per run (s, log scale; all models a method needs)")
        ax.set_ylabel("hypervolume of test NDCG@{} (common nadir)".format(results["settings"]["k"]))
        ax.set_title(f"Quality vs cost: {what}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    n_runs = len(results["folds"]) * len(results["seeds"])
    fig.suptitle(f"{results['dataset']}: hypervolume against training compute (mean ± std over {n_runs} run(s); "
                 "higher and further left is better)", fontsize=11)
    fig.tight_layout()
    return atomic_save(out_path, lambda tmp: fig.savefig(tmp, format="png"))


def write_method_artifacts(folder: Path, method: str, run: dict, summary: dict, names: Sequence[str], k: int,
                           reference_ndcg: dict[str, float], checkpoint: str | None = None) -> None:
    """One method's files of one (fold, seed), as ``ltr-cos pareto`` writes them: pareto.csv (NDCG@k of every
    objective at every grid weight), summary.json (``ltr_cos.pareto.summary.summarize_grid``), front.png
    (two auxiliary objectives) or scatter_matrix.png (more), and the trained checkpoint when the method
    has one model (COS-DPO: ``<method>.ckpt``)."""
    import shutil

    from ltr_cos.pareto.plots import plot_front, plot_scatter_matrix
    from ltr_cos.pareto.summary import ndcg_column

    folder.mkdir(parents=True, exist_ok=True)
    table = _table(run["grid"], names, k)
    columns = list(table)
    rows = [",".join(columns)] + [",".join(f"{float(table[c][i]):.6g}" for c in columns)
                                  for i in range(len(run["grid"]))]
    atomic_write_text(folder / "pareto.csv", "\n".join(rows) + "\n")
    write_json_atomic(summary, folder / "summary.json")
    weighted = list(names[1:])
    ref = {ndcg_column(n, k): float(reference_ndcg[n]) for n in names}
    if len(weighted) == 2:
        x, y = ndcg_column(weighted[0], k), ndcg_column(weighted[1], k)
        plot_front({METHOD_LABELS[method]: table}, x, y, folder / "front.png",
                   title=f"{METHOD_LABELS[method]}: test NDCG@{k}", reference_point={x: ref[x], y: ref[y]},
                   caption="X = reference ranker")
    else:
        cols = [ndcg_column(n, k) for n in names]
        plot_scatter_matrix(table, cols, folder / "scatter_matrix.png", title=f"{METHOD_LABELS[method]}: test "
                            f"NDCG@{k}", reference_point=[ref[c] for c in cols])
    if checkpoint is not None:
        shutil.copyfile(checkpoint, folder / f"{method}.ckpt")


def write_json_atomic(obj: Any, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def hardware() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}
