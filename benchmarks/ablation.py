"""Ablations of COS-DPO's training settings against one DPO-LS run (docs/benchmarks.md).

Per dataset fold and seed it trains the reference ranker and DPO-LS (one policy per grid weight) once,
with the baseline settings (cached in ``--work``, so later calls reuse them), then one COS-DPO policy per
variant. A variant is ``NAME:FIELD=VALUE,FIELD=VALUE`` over the fields of ``benchmarks.settings.Settings``
(e.g. ``a05:alpha=0.5``, ``long:cos_dpo_budget=2,schedule=cosine``); the DPO-LS side always uses the base
settings (``--base FIELD=VALUE,...`` changes them for every method). Each variant is compared with DPO-LS of the
same fold and seed: hypervolume ratios at the pair's common nadir (auxiliary objectives, and with the main
one), main NDCG difference and CPU-time ratio, as mean and std over the runs.

Usage:
    .venv/bin/python -m benchmarks.ablation --datasets synthetic,mq2008 --seeds 0,1,2 \\
        --variant base: --variant a05:alpha=0.5 --out benchmarks/results/ablation/NAME
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from benchmarks.jobs import _meta, job_cos_dpo, job_dpo_ls, job_reference, run_isolated
from benchmarks.report import summarize_run
from benchmarks.settings import FULL, Settings
from ltr_cos.errors import InputError
from ltr_cos.files import atomic_write_text


def _value(field_type, text: str):
    text = text.strip()
    if field_type in ("bool", bool):
        return text.lower() in ("1", "true", "yes")
    if str(field_type).startswith("tuple"):  # 128/64, or 128 for a one-element tuple
        return tuple(int(v) for v in text.split("/"))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "/" in text:  # tuples: 128/64
        return tuple(int(v) for v in text.split("/"))
    return text


def parse_changes(text: str) -> dict:
    """``alpha=0.5,schedule=cosine`` -> {"alpha": 0.5, "schedule": "cosine"} (fields of ``Settings``)."""
    known = {f.name: f.type for f in fields(Settings)}
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            raise InputError(f"{part!r}: expected FIELD=VALUE with FIELD one of {sorted(known)}")
        out[key] = _value(known[key], value)
    return out


def parse_variant(text: str) -> tuple[str, dict]:
    name, sep, changes = text.partition(":")
    if not sep or not name:
        raise InputError(f"--variant {text!r}: expected NAME:FIELD=VALUE,... (NAME: alone = the base settings)")
    return name, parse_changes(changes)


def _key(s: Settings, *parts) -> str:
    """A cache key of every setting (a changed default or a new field gives new keys, never a stale hit)."""
    blob = json.dumps([asdict(s), *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _cached(path: Path, fn, **kwargs) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    out = run_isolated(fn, threads=1, **kwargs)
    atomic_write_text(path, json.dumps(out))
    return out


def run_unit(fold: str, data_dir: str, seed: int, base: Settings, variants: dict[str, dict], work: Path) -> dict:
    """Reference, DPO-LS and every variant on one (fold, seed); returns {variant: figures}."""
    unit = work / f"{fold}_seed{seed}_{_key(base, data_dir)}"
    unit.mkdir(parents=True, exist_ok=True)
    common = {"data_dir": data_dir, "seed": seed, "work": str(unit)}
    ref = _cached(unit / "reference.json", job_reference, s=base, **common)
    dpo_ls = _cached(unit / "dpo_ls.json", job_dpo_ls, s=base, reference_ckpt=ref["checkpoint"], **common)
    names = _meta(data_dir)["objective_names"]
    out = {}
    for name, changes in variants.items():
        s = replace(base, **changes)
        run = _cached(unit / f"cos_{_key(s)}.json", job_cos_dpo, s=s, reference_ckpt=ref["checkpoint"], **common)
        summary = summarize_run({"cos": run, "ls": dpo_ls}, ref["ndcg"], names, base.k)
        hv = {method: summary[method]["hypervolume"]["common_nadir"] for method in summary}
        out[name] = {
            "hv_aux_ratio": hv["cos"]["auxiliary"] / hv["ls"]["auxiliary"],
            "hv_main_ratio": hv["cos"]["with_main"] / hv["ls"]["with_main"],
            "hv_aux": hv["cos"]["auxiliary"], "hv_aux_ls": hv["ls"]["auxiliary"],
            "main_diff": summary["cos"]["main_ndcg"]["mean"] - summary["ls"]["main_ndcg"]["mean"],
            "cpu_ratio": run["train_cpu_s"] / dpo_ls["train_cpu_s"],
            "cpu_s": run["train_cpu_s"], "steps": run.get("steps"), "best_epoch": run.get("best_epoch"),
            "epochs": run.get("epochs"),
        }
    return out


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def render(results: dict[str, dict[str, list[dict]]]) -> str:
    lines = []
    for dataset, by_variant in results.items():
        lines += [f"## {dataset}", "",
                  "| variant | HV aux ratio | HV +main ratio | worst run (aux) | HV aux COS-DPO / DPO-LS | "
                  "main NDCG diff | CPU ratio | steps |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, runs in by_variant.items():
            aux = [r["hv_aux_ratio"] for r in runs]
            lines.append(
                f"| {name} | {_fmt(aux)} | {_fmt([r['hv_main_ratio'] for r in runs])} | {min(aux):.3f} | "
                f"{np.mean([r['hv_aux'] for r in runs]):.4f} / {np.mean([r['hv_aux_ls'] for r in runs]):.4f} | "
                f"{np.mean([r['main_diff'] for r in runs]):+.4f} | {np.mean([r['cpu_ratio'] for r in runs]):.3f} | "
                f"{np.mean([r['steps'] or 0 for r in runs]):.0f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="synthetic,mq2008", help="synthetic, mq2008 (folds 1-5), or DIR paths")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--folds", default="1,2,3,4,5", help="MQ2008 folds")
    p.add_argument("--variant", action="append", default=[], help="NAME:FIELD=VALUE,... (repeatable)")
    p.add_argument("--base", default="", help="FIELD=VALUE,... changes to the base settings of every method")
    p.add_argument("--work", type=Path, default=Path("/tmp/ltr_cos_ablation"), help="cache of data and runs")
    p.add_argument("--jobs", type=int, default=2, help="(fold, seed) units run at once")
    p.add_argument("--out", type=Path, help="write results.json and results.md here")
    args = p.parse_args(argv)
    try:
        base = replace(FULL, **parse_changes(args.base))
        variants = dict(parse_variant(v) for v in args.variant) or {"base": {}}
    except InputError as exc:
        print(f"python -m benchmarks.ablation: error: {exc}", file=sys.stderr)
        return 2
    from benchmarks.run import DEFAULT_REAL, SYNTHETIC_FULL, converted_folds, synthetic_dataset

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, list[tuple[str, str]]] = {}
    for name in filter(None, (d.strip() for d in args.datasets.split(","))):
        if name == "synthetic":
            target = work / "data" / "synthetic"
            if not (target / "synthetic_mslr" / "meta.json").exists():
                synthetic_dataset(target, SYNTHETIC_FULL, progress=False)
            datasets[name] = [("synthetic", str(target / "synthetic_mslr"))]
        elif name == "mq2008":
            folds = [int(f) for f in args.folds.split(",")]
            target = work / "data" / "mq2008"
            target.mkdir(parents=True, exist_ok=True)
            todo = [f for f in folds if not (target / f"mq2008_Fold{f}" / "meta.json").exists()]
            if todo:
                converted_folds(DEFAULT_REAL / "mq2008", "mq2008", target, todo, progress=False)
            datasets[name] = [(f"Fold{f}", str(target / f"mq2008_Fold{f}")) for f in folds]
        else:
            path = Path(name)
            datasets[path.name] = [(path.name, str(path))]
    seeds = [int(v) for v in args.seeds.split(",")]
    results: dict[str, dict[str, list[dict]]] = {}
    for dataset, folds in datasets.items():
        units = [(fold, data_dir, seed) for fold, data_dir in folds for seed in seeds]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outs = list(pool.map(lambda u: run_unit(*u, base, variants, work), units))
        results[dataset] = {name: [o[name] for o in outs] for name in variants}
        print(render({dataset: results[dataset]}), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"command": "python -m benchmarks.ablation " + " ".join(argv if argv is not None else sys.argv[1:]),
                  "base": asdict(base), "variants": variants, "seeds": seeds, "results": results}
        atomic_write_text(args.out / "results.json", json.dumps(record, indent=1, default=str))
        atomic_write_text(args.out / "results.md", "# Ablations\n\n" + render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
