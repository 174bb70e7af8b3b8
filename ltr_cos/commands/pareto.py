"""``ltr-cos pareto``: profile a conditioned ranker over the weight simplex.

Writes ``pareto.csv`` (one row per grid weight and beta), ``front.csv`` (its non-dominated rows),
``summary.json`` (hypervolumes and the reference points they use, main-objective NDCG mean/std,
responsiveness to the weights, model and data hashes) and plots (``front.png`` for two weighted
objectives, ``scatter_matrix.png`` for more), into a temporary folder renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_folder, check_replaceable


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltr-cos pareto", description="Profile a COS-DPO checkpoint over the weight "
                                "simplex: NDCG of every objective at every grid weight of one split; writes "
                                "pareto.csv, front.csv, summary.json and front.png (one curve per --beta) or "
                                "scatter_matrix.png (more than two weighted objectives).")
    p.add_argument("--ckpt", required=True, help="checkpoint of a COS-DPO run (CosDpoModule)")
    p.add_argument("--data", required=True, help="dataset folder written by `ltr-cos data convert`")
    p.add_argument("--split", default="test", choices=("train", "vali", "test"), help="split to evaluate "
                   "(default: test)")
    p.add_argument("--grid-step", type=float, default=0.1, help="simplex lattice step (default 0.1: 11 points for m=2)")
    p.add_argument("--beta", type=float, nargs="+", default=None,
                   help="run-time temperature(s); default: the model's own beta")
    p.add_argument("--k", type=int, default=10, help="NDCG cut-off used for the front and hypervolume (default 10)")
    p.add_argument("--gain", choices=("exp2", "linear"), default="exp2", help="NDCG gain (default 2^y-1)")
    p.add_argument("--empty", choices=("drop", "one", "zero"), default="drop",
                   help="score of a query with no positive gain (default: drop it)")
    p.add_argument("--batch-size", type=int, default=64, help="queries per forward pass (default 64)")
    p.add_argument("--weights-per-pass", type=int, default=None,
                   help="grid weights per forward pass (default: the whole grid at once)")
    p.add_argument("--overlay", action="append", default=[], metavar="NAME=PARETO_CSV",
                   help="another method's pareto.csv to draw on the same plot (repeatable)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--maximize", default=None, metavar="OBJECTIVE",
                   help="after profiling, print the grid weight that maximises this objective's NDCG@k")
    p.add_argument("--select", action="append", default=[], metavar="OBJECTIVE>=VALUE",
                   help="lower bound for --maximize, e.g. relevance>=0.60 (repeatable)")
    return p


def run(args: argparse.Namespace) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from torch.utils.data import DataLoader

    from ltr_cos.data.collate import collate_queries
    from ltr_cos.data.dataset import LengthSortedSampler, RankingDataset, load_meta
    from ltr_cos.files import sha256_file
    from ltr_cos.objectives import grid_step_to_steps, simplex_lattice
    from ltr_cos.pareto.summary import summarize_grid
    from ltr_cos.progress import progress_bar
    from ltr_cos.training import load_ranker_from_checkpoint
    from ltr_cos.training.evaluate import evaluate_grid, evaluate_reference

    out = Path(args.out)
    check_replaceable(out, args.overwrite, marker="summary.json")
    overlays = {}
    for item in args.overlay:
        name, sep, csv = item.partition("=")
        if not sep or not name:
            raise InputError(f"--overlay expects NAME=PARETO_CSV, got {item!r}")
        if not Path(csv).is_file():
            raise InputError("overlay file not found", csv)
        overlays[name] = pd.read_csv(csv)

    loaded = load_ranker_from_checkpoint(args.ckpt)
    info = loaded.info
    if info.get("stage") != "cos_dpo":
        raise InputError("this checkpoint is a reference ranker; `ltr-cos pareto` needs a COS-DPO checkpoint",
                         args.ckpt)
    meta = load_meta(args.data)
    if meta["objective_names"] != info["objective_names"] or meta["n_features"] != info["n_features"]:
        raise InputError(
            f"dataset has objectives {meta['objective_names']} and {meta['n_features']} features; the model was "
            f"trained with {info['objective_names']} and {info['n_features']}", args.data)
    weighted = info["weighted_objectives"]
    grid = simplex_lattice(len(weighted), grid_step_to_steps(args.grid_step))
    dataset = RankingDataset(args.data, args.split)
    # queries sorted by length: each batch pads to lists of similar length, not to the split's longest
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=LengthSortedSampler(dataset.lengths),
                        collate_fn=collate_queries)
    ks = sorted({1, 5, 10, args.k})
    torch.set_grad_enabled(False)

    ref_point = evaluate_reference(loaded.reference, progress_bar(loader, desc="reference ranker", leave=False),
                                   info["objective_names"], ks, args.gain, args.empty)
    tables = []
    for beta in args.beta or [None]:
        bar = progress_bar(total=len(loader), desc=f"grid of {len(grid)} weights" + (f", beta={beta}" if beta else ""))
        tables.append(evaluate_grid(loaded, loader, grid, beta=beta, ks=ks, gain=args.gain, empty=args.empty,
                                    weights_per_pass=args.weights_per_pass, progress=lambda n, bar=bar: bar.update(1)))
        bar.close()
    table = pd.concat(tables, ignore_index=True)

    names = info["objective_names"]
    ndcg_cols = [f"ndcg@{args.k}/{name}" for name in names]
    weighted_cols = [f"ndcg@{args.k}/{name}" for name in weighted]
    reference_point = {name: ref_point[f"ndcg@{args.k}/{name}"] for name in names}
    # One summary per temperature: fronts and hypervolumes never mix betas.
    front_mask = np.zeros(len(table), dtype=bool)
    by_beta = {}
    for beta_value, group in table.groupby("beta", sort=False):
        group_summary = summarize_grid(group.reset_index(drop=True), objective_names=names,
                                       weighted_objectives=weighted, main=names[0], k=args.k,
                                       reference_point=reference_point)
        front_mask[group.index[group_summary["front_rows_auxiliary"]]] = True
        by_beta[float(beta_value)] = group_summary
    summary = dict(next(iter(by_beta.values())))
    if len(by_beta) > 1:
        summary["by_beta"] = {str(beta): value for beta, value in by_beta.items()}
    summary.update({
        "k": args.k, "gain": args.gain, "empty_rule": args.empty, "split": args.split,
        "grid_step": args.grid_step, "grid_size": len(grid), "betas": sorted(set(table["beta"])),
        "reference_ranker_ndcg": ref_point,
        "model": {"checkpoint": str(args.ckpt), "sha256": sha256_file(args.ckpt),
                  "conditioning": info["conditioning"], "temperature_conditioning": info["temperature_conditioning"],
                  "trained_beta": info["beta"]},
        "data": {"folder": str(args.data), "split_sha256": meta["splits"][args.split].get("sha256"),
                 "queries": meta["splits"][args.split].get("queries")},
    })

    with atomic_folder(out, overwrite=args.overwrite, marker="summary.json") as tmp:
        table.to_csv(tmp / "pareto.csv", index=False)
        table[front_mask].to_csv(tmp / "front.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        from ltr_cos.pareto import plots

        # one curve (and one scatter matrix) per run-time beta, each named by its beta
        by_beta_rows = {float(b): group for b, group in table.groupby("beta", sort=False)}
        betas = ", ".join(f"{b:g}" for b in by_beta_rows)
        if len(weighted) == 2:
            plots.plot_front({**{f"COS-DPO, beta={b:g}": g for b, g in by_beta_rows.items()}, **overlays},
                             x=weighted_cols[0], y=weighted_cols[1], out_path=tmp / "front.png",
                             title=f"Pareto front ({args.split}, NDCG@{args.k}; beta {betas})",
                             reference_point=(ref_point[weighted_cols[0]], ref_point[weighted_cols[1]]))
        if len(weighted) > 2 or len(names) > len(weighted):
            for b, group in by_beta_rows.items():
                name = "scatter_matrix.png" if len(by_beta_rows) == 1 else f"scatter_matrix_beta{b:g}.png"
                plots.plot_scatter_matrix(group, ndcg_cols, tmp / name, title=f"COS-DPO grid ({args.split}, "
                                          f"NDCG@{args.k}, beta={b:g})",
                                          reference_point=[ref_point[c] for c in ndcg_cols])
    print(f"{len(table)} grid rows, {int(front_mask.sum())} on the front of the weighted objectives -> {out}")
    shown = table[[*(f"weight/{name}" for name in weighted), "beta", *ndcg_cols]].copy()
    shown.columns = [c.replace("weight/", "w_") for c in shown.columns]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for ref_name, block in summary["hypervolume"].items():
        if block is not None:
            print(f"  hypervolume vs {ref_name}: auxiliary {block['auxiliary']:.4f}, with main {block['with_main']:.4f}")
    print(f"  main NDCG@{args.k} over the grid: {summary['main_ndcg']['mean']:.4f} +- {summary['main_ndcg']['std']:.4f}")
    return summary


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad numbers before anything is loaded or scored."""
    import math

    from ltr_cos.objectives import grid_step_to_steps

    if not (args.grid_step > 0 and math.isfinite(args.grid_step)):
        raise InputError(f"--grid-step must be > 0 and divide 1 (0.5, 0.25, 0.1, ...), got {args.grid_step}")
    try:
        grid_step_to_steps(args.grid_step)
    except ValueError as exc:
        raise InputError(f"--grid-step: {exc}") from None
    if args.k < 1:
        raise InputError(f"--k must be >= 1, got {args.k}")
    for beta in args.beta or []:
        if not (math.isfinite(beta) and beta > 0):
            raise InputError(f"--beta must be finite and > 0, got {beta}")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.weights_per_pass is not None and args.weights_per_pass < 1:
        raise InputError(f"--weights-per-pass must be >= 1, got {args.weights_per_pass}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ltr_cos.pareto.select import check_selection_args, select_from_folder

        check_args(args)
        check_selection_args(args.maximize, args.select)  # before the costly profile
        run(args)
        if args.maximize:
            print(select_from_folder(args.out, args.maximize, args.select, args.k))
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    return 0
