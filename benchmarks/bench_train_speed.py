"""Training throughput and memory: our transformer ranker vs allRank's own model and loss.

Same data (MQ2008 Fold1 train split, all 46 features), same query batches in the same order, same
architecture (d_model 64, 4 heads, 2 pre-norm encoder layers, feed-forward 128, dropout 0.1, linear
head), same loss (ListNet) and optimiser (AdamW, lr 1e-3), one thread. Each contender runs in a fresh
subprocess so its peak RSS is its own. Batches are built before timing for every contender:

* ``ltr_cos``: ``ReferenceModule`` driven by a Lightning ``Trainer`` (how ltr_cos trains), lists padded
  to the longest list of each batch, padding expressed by the mask.
* ``ltr_cos_loop``: the same ranker and loss in a plain PyTorch loop (shows Lightning's share).
* ``allrank``: allRank's ``make_model`` and its own training step (``loss_batch`` + ``listNet``), with
  every list padded to a fixed slate length (the longest training list) and y = -1, as allRank's loader does.
* ``allrank_batch_padding``: allRank fed our per-batch padding (same tensors as ltr_cos).

Two batch plans, each given identically to every contender: ``random`` (shuffled queries) and
``bucketed`` (queries of similar list length batched together, batch order shuffled).

Features reach allRank already normalised (ltr_cos's FeatureNormalizer, outside timing); our ranker
normalises inside its forward pass, inside timing. One warm-up epoch is not timed.

Usage:
    .venv/bin/python -m benchmarks.bench_train_speed [--epochs 5] [--batch-size 32]
Goal: ltr_cos throughput >= 2x allRank's, at equal or lower peak RSS.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL = Path(os.environ.get("LTR_COS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
CONTENDERS = ("ltr_cos", "ltr_cos_loop", "allrank", "allrank_batch_padding")
ARCH = {"d_model": 64, "n_heads": 4, "n_layers": 2, "dim_feedforward": 128, "dropout": 0.1}
LR = 1e-3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _batches(data_dir: str, batch_size: int, seed: int, plan: str = "random"):
    """The training split as a fixed list of padded batches (per-batch padding) in a seeded order.

    ``random``: a shuffled query order cut into batches. ``bucketed``: queries sorted by list length (random
    among equal lengths) cut into batches, then the batch order shuffled, so a batch holds lists of
    similar length and per-batch padding wastes little.
    """
    import numpy as np

    from ltr_cos.data import RankingDataset, collate_queries

    ds = RankingDataset(data_dir, "train")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds))
    if plan == "bucketed":
        order = order[np.argsort(ds.lengths[order], kind="stable")]
    groups = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if plan == "bucketed":
        groups = [groups[i] for i in rng.permutation(len(groups))]
    return [collate_queries([ds[int(i)] for i in g]) for g in groups]


def _identity(batch):
    return batch


class _Timer:
    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def start(self) -> None:
        self._w, self._c = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def worker(name: str, data_dir: str, epochs: int, batch_size: int, threads: int, plan: str) -> dict:
    """Train one contender; return throughput and memory (runs in its own process)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from ltr_cos.data import load_meta

    meta = load_meta(data_dir)
    batches = _batches(data_dir, batch_size, seed=0, plan=plan)
    n_queries = sum(b.batch_size for b in batches)
    timer = _Timer()
    info: dict = {}
    if name in ("ltr_cos", "ltr_cos_loop"):
        import pytorch_lightning as pl

        from ltr_cos.training import BackboneSettings, OptimizerSettings, ReferenceModule, data_info_from_meta

        for logger_name in list(logging.root.manager.loggerDict):
            if logger_name.startswith(("pytorch_lightning", "lightning")):
                logging.getLogger(logger_name).setLevel(logging.ERROR)
        module = ReferenceModule(data_info_from_meta(meta), BackboneSettings(arch="transformer", **ARCH),
                                 loss="listnet", optim=OptimizerSettings(lr=LR))
        rss_before = _rss_mb()
        if name == "ltr_cos":
            class Clock(pl.Callback):
                def on_train_epoch_start(self, trainer, pl_module):
                    if trainer.current_epoch == 1:  # epoch 0 is the warm-up
                        timer.start()

                def on_train_end(self, trainer, pl_module):
                    timer.stop()

            trainer = pl.Trainer(max_epochs=epochs + 1, accelerator="cpu", devices=1, logger=False,
                                 enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                 callbacks=[Clock()])
            from torch.utils.data import DataLoader

            # batch_size=None: the loader hands out the prebuilt batches as they are
            trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None, collate_fn=_identity))
        else:
            optimizer = module.configure_optimizers()
            module.train()
            for epoch in range(epochs + 1):
                if epoch == 1:
                    timer.start()
                for batch in batches:
                    loss = module.loss_fn(module(batch.features, batch.mask), batch.labels[..., 0], batch.mask)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            timer.stop()
            info["last_loss"] = float(loss)
        info["parameters"] = sum(p.numel() for p in module.ranker.parameters())
    else:
        import allrank.models.losses  # noqa: F401 - allRank's import cost belongs to allRank
        from allrank.models.losses import listNet
        from allrank.training.train_utils import loss_batch

        from benchmarks.peers.allrank_peer import make_allrank_transformer, to_allrank_batch
        from ltr_cos.models import FeatureNormalizer

        normalizer = FeatureNormalizer.from_config(meta["normalization"], int(meta["n_features"]))
        slate = max(int(b.mask.sum(1).max()) for b in batches) if name == "allrank" else None
        prepared = [to_allrank_batch(b, normalizer, slate) for b in batches]
        info["slate_length"] = slate
        real_slots = sum(int(b.mask.sum()) for b in batches)
        info["fill"] = real_slots / sum(int(x.shape[0] * x.shape[1]) for x, _, _ in prepared)
        model = make_allrank_transformer(int(meta["n_features"]), **ARCH)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
        model.train()
        rss_before = _rss_mb()
        for epoch in range(epochs + 1):
            if epoch == 1:
                timer.start()
            for x, y, indices in prepared:
                loss, _ = loss_batch(model, listNet, x, y, indices, None, optimizer)
        timer.stop()
        info["last_loss"] = float(loss)
        info["parameters"] = sum(p.numel() for p in model.parameters())
    queries = n_queries * epochs
    n_real = sum(int(b.mask.sum()) for b in batches)
    info.setdefault("fill", n_real / sum(int(b.mask.numel()) for b in batches))
    return {"contender": name, "batching": plan, "queries_per_s": queries / timer.wall, "queries_per_cpu_s": queries / timer.cpu,
            "train_wall_s": timer.wall, "train_cpu_s": timer.cpu, "timed_epochs": epochs, "queries": n_queries,
            "rss_before_training_mb": rss_before, "peak_rss_mb": _rss_mb(), **info}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_train_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--real", type=Path, default=DEFAULT_REAL)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--batching", default="random,bucketed", help="batch plans to run: random, bucketed")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.epochs, args.batch_size, args.threads, args.batching)))
        return 0
    if not (args.real / "mq2008" / "S1.txt").exists():
        print(f"skipped: MQ2008 not found at {args.real}/mq2008 (pass --real DIR or set LTR_COS_SHARED_DATA)")
        return 0
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.layouts import detect_layout
    from ltr_cos.progress import progress_bar

    results = []
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_speed_") as tmp:
        data_dir = str(Path(tmp) / "mq2008_fold1")
        convert_dataset(detect_layout(args.real / "mq2008", 1).splits, data_dir, objectives="none", progress=False)
        contenders = [c for c in args.contenders.split(",") if c]
        plans = [b for b in args.batching.split(",") if b]
        jobs = [(plan, name) for plan in plans for name in contenders]
        for plan, name in progress_bar(jobs, desc="bench_train_speed", unit="run"):
            cmd = [sys.executable, "-m", "benchmarks.bench_train_speed", "--worker", name, "--data", data_dir,
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--batching", plan]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
            out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{name} ({plan}) failed:\n{out.stderr[-3000:]}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\nMQ2008 Fold1 train split, batch {args.batch_size} queries, {args.epochs} timed epochs, "
          f"{args.threads} thread(s), transformer d_model 64 / 4 heads / 2 layers / ff 128, ListNet, AdamW")
    print("| batches | contender | queries/s | queries/CPU-s | peak RSS MB | RSS before training MB | "
          "real/padded slots | params |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['batching']} | {r['contender']} | {r['queries_per_s']:.1f} | {r['queries_per_cpu_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {r['rss_before_training_mb']:.0f} | {r['fill']:.2f} | {r['parameters']} |")
    by = {(r["batching"], r["contender"]): r for r in results}
    for plan in plans:
        if (plan, "ltr_cos") in by and (plan, "allrank") in by:
            ours, peer = by[(plan, "ltr_cos")], by[(plan, "allrank")]
            speed = ours["queries_per_s"] / peer["queries_per_s"]
            cpu_speed = ours["queries_per_cpu_s"] / peer["queries_per_cpu_s"]
            mem = ours["peak_rss_mb"] / peer["peak_rss_mb"]
            print(f"{plan} batches, ltr_cos/allRank throughput: {speed:.2f}x wall, {cpu_speed:.2f}x CPU (goal >= 2x: "
                  f"{'met' if min(speed, cpu_speed) >= 2 else 'MISSED'}); peak RSS ratio {mem:.2f} (goal <= 1: "
                  f"{'met' if mem <= 1 else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
