"""``make benchmark``: COS-DPO against DPO-LS, DPO Soup, MODPO, LightGBM and allRank (docs/method.md §9).

With no arguments it runs the built-in synthetic MSLR preset (objectives ``mslr2``: quality 132 and
url_clicks 135; ``--synthetic-objectives mslr``: the five MSLR auxiliary columns 132-136) and, when MQ2008 is found (--real DIR or LTR_COS_SHARED_DATA), MQ2008 (all 5 folds, preset ``mq2008``).
``--data DIR`` runs a user's folder instead: a converted ltr_cos dataset folder (its objectives are read
from its meta.json), or raw files in a layout ``ltr_cos.data.layouts`` recognises, converted with
``--objectives PRESET|FILE.yaml`` or repeated ``--objective NAME=FEATURE_ID[:quantile][:invert]`` (as
``ltr-cos data convert``).

Usage (from the repository root, or with it on PYTHONPATH; ``benchmarks`` is not installed):
    .venv/bin/python -m benchmarks.run [--quick] [--data DIR] [--objective f31=31:quantile ...] [--seeds 0,1,2]

Results: benchmarks/results/<dataset>/<run>/{results.json, results.md, front.png, compute.png}, and per fold and seed
runs/<fold>_seed<seed>/: reference.ckpt and, per method, pareto.csv, summary.json, front.png
(COS-DPO also its trained checkpoint cos_dpo.ckpt).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from benchmarks.harness import ALL_METHODS, FULL, QUICK, REPO_ROOT, DatasetRun, Fold, Settings, run_dataset
from ltr_cos.errors import InputError

DEFAULT_REAL = Path(os.environ.get("LTR_COS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"
# Objectives presets a user folder can be converted with; for --data, ``mslr`` means the two-auxiliary MSLR
# variant (m = 2, the 11-point grid; the five-objective preset is ``--synthetic-objectives mslr``).
PRESET_ALIASES = {"mslr": "mslr2", "mslr2": "mslr2", "mq2008": "mq2008", "letor": "mq2008"}
DEFAULT_USER_OBJECTIVES = "mslr2"
DEFAULT_SYNTHETIC_OBJECTIVES = "mslr2"


# Synthetic MSLR sizes (queries in train, vali, test): large enough to learn the auxiliary columns,
# small enough for 2 CPU cores.
SYNTHETIC_FULL = (1500, 300, 500)
SYNTHETIC_QUICK = (300, 100, 150)


def synthetic_dataset(work: Path, sizes: tuple[int, int, int], seed: int = 7,
                      docs_per_query: int | tuple[int, int] | None = None, progress: bool = True,
                      objectives: str = DEFAULT_SYNTHETIC_OBJECTIVES) -> Fold:
    """Generate the synthetic MSLR preset (train/vali/test with their own seeds) and convert it with the
    objectives preset ``objectives`` (``mslr2``: quality 132 and url_clicks 135; ``mslr``: all five MSLR
    auxiliary columns 132-136)."""
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    raw = work / "synthetic_raw"
    raw.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (split, n) in enumerate(zip(("train", "vali", "test"), sizes)):
        files[split] = [raw / f"{split}.txt"]
        write_synthetic_libsvm(files[split][0], preset="mslr-web30k", n_queries=n, seed=seed + i,
                               docs_per_query=docs_per_query)
    out = work / f"synthetic_{objectives}"
    convert_dataset(files, out, objectives=objectives, overwrite=True, progress=progress)
    return Fold("synthetic", str(out))


def synthetic_objectives(name: str | None) -> tuple[str, int, str]:
    """``--synthetic-objectives``: the preset, its number m of auxiliary objectives and the results dataset
    name (``synthetic_mslr`` for the default ``mslr2``, else ``synthetic_<preset>_m<m>``)."""
    from ltr_cos.objectives import PRESETS

    name = name or DEFAULT_SYNTHETIC_OBJECTIVES
    if name not in PRESETS or len(PRESETS[name]) < 3:
        usable = sorted(p for p, specs in PRESETS.items() if len(specs) >= 3)
        raise InputError(f"--synthetic-objectives: unknown or single-objective preset {name!r}; choose one of "
                         f"{usable}")
    m = len(PRESETS[name]) - 1
    return name, m, "synthetic_mslr" if name == DEFAULT_SYNTHETIC_OBJECTIVES else f"synthetic_{name}_m{m}"


def converted_folds(source: Path, objectives, work: Path, folds: list[int] | None,
                    progress: bool = True) -> list[Fold]:
    """Fold dataset folders for ``source``: used as they are when already converted, else converted with
    ``objectives`` (a preset name or ObjectiveSpecs). ``folds`` None: the layout's default (fold 1 of a
    FoldN/ or S1..S5 layout; no fold for files named train/vali/test)."""
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.layouts import detect_layout

    if not source.is_dir():
        raise InputError("not a folder", str(source))
    if (source / "meta.json").exists():
        if folds:
            raise InputError("is a converted dataset folder (one fold); leave out --folds", str(source))
        return [Fold(source.name, str(source))]
    out = []
    for k in folds or [None]:
        layout = detect_layout(source, k)
        name = f"Fold{layout.fold}" if layout.fold is not None else source.name
        target = work / f"{source.name}_{name}"
        convert_dataset(layout.splits, target, objectives=objectives, overwrite=True, progress=progress)
        out.append(Fold(name, str(target)))
    return out


def describe_objectives(meta: dict) -> str:
    """``objectives relevance (label, raw); f31 (feature 31, quantile)``: what a dataset folder's meta.json holds."""
    from ltr_cos.objectives import ObjectiveSpec

    specs = [ObjectiveSpec.from_dict({k: v for k, v in o.items() if k != "fitted"}) for o in meta["objectives"]]
    return "objectives " + "; ".join(spec.describe() for spec in specs)


def user_objectives(args: argparse.Namespace):
    """The objectives of ``--data`` from --objectives / --objective / the older --preset (a preset name or
    ObjectiveSpecs); None for a converted folder, whose objectives are fixed in its meta.json."""
    from ltr_cos.objectives import objectives_from_options

    chosen = args.objectives
    if args.preset is not None:
        if chosen is not None:
            raise InputError("give --objectives or --preset (its older name), not both")
        chosen = args.preset
    chosen = PRESET_ALIASES.get(chosen, chosen)
    if (args.data / "meta.json").exists():
        if chosen is not None or args.objective:
            raise InputError("is converted already, with fixed objectives; leave out --objectives/--objective "
                             "(or give the raw files)", str(args.data))
        return None
    return objectives_from_options(chosen, args.objective, default=DEFAULT_USER_OBJECTIVES)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small version (1 seed, fewer epochs, smaller data)")
    p.add_argument("--data", type=Path, help="a user's dataset folder (raw LibSVM layout or converted)")
    from ltr_cos.objectives import add_objective_options

    add_objective_options(p, f"{DEFAULT_USER_OBJECTIVES} for raw --data; a converted folder keeps its own")
    p.add_argument("--preset", default=None, help=argparse.SUPPRESS)  # the older name of --objectives
    p.add_argument("--name", help="dataset name of --data in the results folder (default: the folder name)")
    p.add_argument("--folds", type=_ints, help="folds of --data (default: fold 1 of a fold layout) or of MQ2008 "
                   "(default 1-5; quick: 1)")
    p.add_argument("--seeds", type=_ints, help="training seeds (default 0,1,2; quick: 0)")
    p.add_argument("--methods", help=f"comma list out of {','.join(ALL_METHODS)}")
    p.add_argument("--datasets", default="synthetic,mq2008",
                   help="built-in datasets to run without --data (synthetic, mq2008)")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder holding mq2008/S1..S5.txt")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results root")
    p.add_argument("--run", help="run name (default: a timestamp, with -quick in quick mode)")
    p.add_argument("--work", type=Path, help="keep converted datasets here (default: a temporary folder)")
    p.add_argument("--threads", type=int, help="torch/LightGBM threads per job (default 1)")
    p.add_argument("--policy-epochs", type=int, help="epochs of every DPO policy")
    p.add_argument("--ref-epochs", type=int, help="epochs of the reference ranker and allRank")
    p.add_argument("--synthetic-queries", type=_ints, help="train,vali,test queries of the synthetic preset")
    p.add_argument("--synthetic-objectives", metavar="PRESET",
                   help=f"objectives preset of the synthetic dataset (default {DEFAULT_SYNTHETIC_OBJECTIVES}: quality, "
                   "url_clicks; mslr: the five MSLR auxiliary columns 132-136, m = 5)")
    p.add_argument("--arch", choices=("mlp", "transformer"), help="ranker architecture (default mlp)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="(fold, seed) units run at once (default 1); each unit's jobs stay sequential, each in its "
                   "own process, so CPU times stay per method (wall times grow when N exceeds the free cores)")
    p.add_argument("--cos-dpo-budgets", metavar="F,F",
                   help="COS-DPO budget sweep: extra COS-DPO runs with the policy budget scaled by each factor "
                   "(default 0.25,0.5; an empty string turns it off)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The run's Settings; an unknown method is a user error."""
    try:
        return _settings(args)
    except ValueError as exc:
        raise InputError(f"--methods: {exc}") from None


def _settings(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    changes = {}
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    if args.methods:
        changes["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    for field_name in ("threads", "policy_epochs", "ref_epochs", "arch"):
        value = getattr(args, field_name)
        if value is not None:
            changes[field_name] = value
    if args.cos_dpo_budgets is not None:
        try:
            changes["cos_dpo_budgets"] = tuple(float(v) for v in args.cos_dpo_budgets.split(",") if v.strip())
        except ValueError:
            raise InputError(f"--cos-dpo-budgets: expected comma-separated factors such as 0.25,0.5, got "
                             f"{args.cos_dpo_budgets!r}") from None
    try:
        return replace(s, **changes)
    except ValueError as exc:
        if "cos_dpo_budgets" in str(exc):
            raise InputError(f"--cos-dpo-budgets: {exc}") from None
        raise


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; user errors (bad --data, objectives, methods) print one line and return 2."""
    args = parse_args(argv)
    try:
        return _run(args, argv)
    except InputError as exc:
        print(f"python -m benchmarks.run: error: {exc}", file=sys.stderr)
        return 2


def check_dataset(dataset: DatasetRun, settings: Settings, source: str | None = None) -> None:
    """Refuse, before any training, a dataset the benchmark cannot run: no test split, or fewer than two
    auxiliary objectives (no trade-off). Messages name ``source`` (the user's folder) rather than a
    temporary conversion of it."""
    from ltr_cos.data import load_meta

    for fold in dataset.folds:
        meta = load_meta(fold.data_dir)
        where = source or fold.data_dir
        if "test" not in meta["splits"] or "train" not in meta["splits"]:
            raise InputError(f"the benchmark needs train and test splits, found {', '.join(meta['splits'])} (hold "
                             "some train queries out with `ltr-cos data convert --test-fraction F`)", where)
        names = meta["objective_names"]
        if len(names) < 3:
            raise InputError(f"the benchmark compares trade-offs between two or more auxiliary objectives; this data "
                             f"has {', '.join(names)} (add --objective NAME=FEATURE_ID specs)", where)


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    settings = settings_from_args(args)
    if args.jobs < 1:
        raise InputError(f"--jobs must be 1 or more, got {args.jobs}")
    progress = not args.no_progress
    run_name = args.run or datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    command = "python -m benchmarks.run " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_data_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        datasets: list[DatasetRun] = []
        from ltr_cos.data import load_meta

        if args.data is not None:
            if args.synthetic_objectives is not None:
                raise InputError("--synthetic-objectives applies to the built-in synthetic dataset, not to --data")

            objectives = user_objectives(args)
            folds = converted_folds(args.data, objectives, work, args.folds, progress)
            datasets.append(DatasetRun(args.name or args.data.name, folds, f"user data {args.data}, "
                                       + describe_objectives(load_meta(folds[0].data_dir))
                                       + (f" (preset {objectives})" if isinstance(objectives, str) else "")))
        else:
            wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
            if "synthetic" in wanted:
                sizes = tuple(args.synthetic_queries) if args.synthetic_queries else (
                    SYNTHETIC_QUICK if args.quick else SYNTHETIC_FULL)
                preset_name, _, dataset_name = synthetic_objectives(args.synthetic_objectives)
                fold = synthetic_dataset(work, sizes, progress=progress, objectives=preset_name)
                datasets.append(DatasetRun(dataset_name, [fold], f"synthetic MSLR-WEB30K-like data "
                                           f"({sizes[0]}/{sizes[1]}/{sizes[2]} train/vali/test queries), "
                                           f"preset {preset_name}: " + describe_objectives(load_meta(fold.data_dir))))
            if "mq2008" in wanted:
                mq = args.real / "mq2008"
                if (mq / "S1.txt").exists():
                    # quick mode: Fold1 only; the full run covers the 5 folds of the LETOR 4.0 fold table
                    default_folds = [1] if args.quick else [1, 2, 3, 4, 5]
                    folds = converted_folds(mq, "mq2008", work, args.folds or default_folds, progress)
                    datasets.append(DatasetRun("mq2008", folds, "MQ2008 (LETOR 4.0, S1-S5 fold table), objectives "
                                               "preset mq2008 (short_url 45 inverted, child_pages 46)"))
                else:
                    print(f"MQ2008 skipped: {mq}/S1.txt not found (pass --real DIR or set LTR_COS_SHARED_DATA)")
        for dataset in datasets:
            check_dataset(dataset, settings, None if args.data is None else str(args.data))
        for dataset in datasets:
            out_dir = args.out / dataset.name / run_name
            results = run_dataset(dataset, settings, out_dir, run_name, progress=progress, command=command,
                                  jobs=args.jobs)
            print(f"\n{(out_dir / 'results.md').read_text()}")
            print(f"written: {out_dir}/results.json, results.md, front.png, compute.png; per fold, seed and method: "
                  f"{out_dir}/runs/")
            del results
    print(f"benchmark finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
