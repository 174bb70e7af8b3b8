"""Stage-1 quality: our reference ranker (mlp, transformer) vs LightGBM lambdarank, on MQ2008 (5 folds) or
``--data DIR`` (a converted dataset folder, or raw files in a layout ``ltr_cos.data.layouts`` recognises).

Same splits (the LETOR 4.0 fold table over S1..S5), same metric (ltr_cos NDCG@10, gain 2^y - 1) and the
same empty-query rule (``drop``: queries without a relevant document are left out) for every model.
All 46 features are model inputs (objectives preset ``none``). Our rankers train with ListNet and keep
the epoch with the best validation NDCG@10 (the stage-1 checkpoint rule); LightGBM stops early on the
validation NDCG@10.

Usage:
    .venv/bin/python -m benchmarks.bench_reference [--data DIR] [--folds 1,2,3,4,5] [--seeds 0] [--epochs 40]
Goal on MQ2008: mean NDCG@10 of our reference ranker >= LightGBM's (measured elsewhere: 0.695 ± 0.028).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL = Path(os.environ.get("LTR_COS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
ARCH_SETTINGS = {
    "mlp": {"arch": "mlp", "hidden_sizes": [128, 64], "dropout": 0.1},
    "transformer": {"arch": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 2, "dim_feedforward": 128,
                    "dropout": 0.1},
}
LR = 1e-3


def _quiet() -> None:
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("pytorch_lightning", "lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def convert_fold(source: Path, fold: int | None, work: Path) -> str:
    """A dataset folder for ``fold`` of ``source``: ``source`` itself when it is converted already, else a
    conversion of its files (objectives preset ``none``: every feature is a model input)."""
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.layouts import detect_layout

    if (source / "meta.json").exists():
        return str(source)
    layout = detect_layout(source, fold)
    out = work / (f"{source.name}_fold{fold}" if fold is not None else source.name)
    convert_dataset(layout.splits, out, objectives="none", overwrite=True, progress=False)
    return str(out)


def _check_splits(data_dir: str, where: str) -> None:
    from ltr_cos.data import load_meta
    from ltr_cos.errors import InputError

    missing = [s for s in ("train", "vali", "test") if s not in load_meta(data_dir)["splits"]]
    if missing:
        raise InputError(f"the benchmark needs train, vali and test splits; missing {', '.join(missing)} (convert "
                         "with --vali-fraction / --test-fraction to hold them out of train)", where)


def _test_ndcg(score_fn, data_dir: str, k: int = 10) -> float:
    from ltr_cos.data import RankingDataModule
    from ltr_cos.metrics import NDCGMetric

    dm = RankingDataModule(data_dir, batch_size=64)
    dm.setup("test")
    metric = NDCGMetric(dm.objective_names, ks=(k,), empty="drop")
    for batch in dm.test_dataloader():
        metric.update(score_fn(batch), batch.labels, batch.mask)
    return float(metric.compute()[f"ndcg@{k}/{dm.objective_names[0]}"])


def run_ours(data_dir: str, arch: str, seed: int, epochs: int, work: Path) -> dict:
    """Train a ReferenceModule, keep the best validation epoch, return test NDCG@10 and cost."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint

    from ltr_cos.data import RankingDataModule
    from ltr_cos.training import (
        BackboneSettings,
        EvaluationSettings,
        OptimizerSettings,
        ReferenceModule,
        data_info_from_meta,
        load_ranker_from_checkpoint,
    )

    pl.seed_everything(seed, workers=True, verbose=False)
    dm = RankingDataModule(data_dir, batch_size=32, eval_batch_size=64, max_list_length=128, seed=seed)
    module = ReferenceModule(data_info_from_meta(dm.meta), BackboneSettings(**ARCH_SETTINGS[arch]),
                             optim=OptimizerSettings(lr=LR), evaluation=EvaluationSettings(ndcg_ks=[10]))
    ckpt = ModelCheckpoint(dirpath=work, filename=f"{arch}-{seed}", monitor="val/score", mode="max")
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, callbacks=[ckpt],
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=work)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit(module, datamodule=dm)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    best = load_ranker_from_checkpoint(ckpt.best_model_path).ranker
    with torch.no_grad():
        ndcg = _test_ndcg(lambda b: best(b.features, b.mask), data_dir)
    return {"ndcg@10": ndcg, "best_val_ndcg@10": float(ckpt.best_model_score), "train_wall_s": wall,
            "train_cpu_s": cpu}


def run_lightgbm(data_dir: str, seed: int, threads: int) -> dict:
    from benchmarks.peers.lightgbm_peer import booster_scores, flatten_items, train_lambdarank
    from ltr_cos.data import RankingDataset

    def items(split):
        ds = RankingDataset(data_dir, split)
        return [ds[i] for i in range(len(ds))]

    from ltr_cos.data import load_meta

    has_vali = "vali" in load_meta(data_dir)["splits"]
    train, vali = flatten_items(items("train")), flatten_items(items("vali")) if has_vali else None
    wall, cpu = time.perf_counter(), time.process_time()
    # the main label with weight 1 and steps = 1: plain lambdarank with gains 2^y - 1
    booster = train_lambdarank(train, [0], [1.0], 1, vali, num_rounds=1000, learning_rate=0.05, num_leaves=31,
                               early_stopping=50, seed=seed, threads=threads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"ndcg@10": _test_ndcg(lambda b: booster_scores(booster, b), data_dir), "trees": booster.best_iteration,
            "train_wall_s": wall, "train_cpu_s": cpu}


def _stat(values) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; a user error (bad --data) prints one line and returns 2."""
    from ltr_cos.errors import InputError

    try:
        return _main(argv)
    except InputError as exc:
        print(f"python -m benchmarks.bench_reference: error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_reference", description=__doc__.split("\n\n")[0])
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder holding mq2008/S1..S5.txt")
    p.add_argument("--data", type=Path, help="another dataset: a converted folder or raw files in a known layout")
    p.add_argument("--folds", default=None, help="folds (default 1,2,3,4,5 on MQ2008; none for --data)")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--archs", default="mlp,transformer")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    source = args.data if args.data is not None else args.real / "mq2008"
    if args.data is None and not (source / "S1.txt").exists():
        print(f"skipped: MQ2008 not found at {args.real}/mq2008 (pass --real DIR, set LTR_COS_SHARED_DATA or "
              "give --data DIR)")
        return 0
    if not source.is_dir():
        print(f"python -m benchmarks.bench_reference: error: --data {source}: not a folder", file=sys.stderr)
        return 2
    name = source.name
    import pytorch_lightning  # noqa: F401 - imported before _quiet so that its loggers exist
    import torch

    torch.set_num_threads(args.threads)
    _quiet()
    folds_text = args.folds if args.folds is not None else ("1,2,3,4,5" if args.data is None else "")
    folds = [int(f) for f in folds_text.split(",") if f.strip()] or [None]
    from ltr_cos.progress import progress_bar
    seeds = [int(s) for s in args.seeds.split(",")]
    archs = [a for a in args.archs.split(",") if a]
    rows: dict[str, list[dict]] = {a: [] for a in archs} | {"lightgbm": []}
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_ref_") as tmp:
        work = Path(tmp)
        bar = progress_bar(total=len(folds) * (len(seeds) * len(archs) + 1), desc="bench_reference", unit="model")
        for fold in folds:
            data_dir = convert_fold(source, fold, work)
            _check_splits(data_dir, str(source))
            for arch in archs:
                for seed in seeds:
                    bar.set_postfix_str(f"fold {fold} {arch} seed {seed}")
                    rows[arch].append({"fold": fold, "seed": seed, **run_ours(data_dir, arch, seed, args.epochs, work)})
                    bar.update(1)
            bar.set_postfix_str(f"fold {fold} lightgbm")
            rows["lightgbm"].append({"fold": fold, "seed": 0, **run_lightgbm(data_dir, 0, args.threads)})
            bar.update(1)
        bar.close()
    print(f"\n{name} test NDCG@10 (gain 2^y-1, empty-query rule drop), folds {folds}, seeds {seeds}, "
          f"{args.threads} thread(s); mean ± std over folds (and seeds)")
    print("| model | NDCG@10 | per fold | train CPU s (mean) | train wall s (mean) |")
    print("|---|---|---|---|---|")
    for name, rs in rows.items():
        per_fold = ", ".join(f"{np.mean([r['ndcg@10'] for r in rs if r['fold'] == f]):.3f}" for f in folds)
        print(f"| {name} | {_stat([r['ndcg@10'] for r in rs])} | {per_fold} | "
              f"{np.mean([r['train_cpu_s'] for r in rs]):.1f} | {np.mean([r['train_wall_s'] for r in rs]):.1f} |")
    lgb = np.mean([r["ndcg@10"] for r in rows["lightgbm"]])
    for arch in archs:
        ours = np.mean([r["ndcg@10"] for r in rows[arch]])
        verdict = "met" if ours >= lgb else "MISSED"
        print(f"goal {arch} >= LightGBM: {ours:.4f} vs {lgb:.4f} (diff {ours - lgb:+.4f}): {verdict}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
