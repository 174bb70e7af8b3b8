"""Pareto profiling speed: the whole weight grid per forward pass vs one forward pass per weight.

Builds its own data and checkpoints in a temporary folder: an MSLR-shaped synthetic dataset
(``ltr-cos data synth``, ``ltr-cos data convert --objectives mslr2``: 2 weighted objectives, 134 model
features), then for each case a reference ranker and a Weight-COS-DPO policy, each trained for ONE epoch
through ``ltr-cos fit`` (briefly trained: the speed of evaluation does not depend on how good the model
is). Then, on the same test split, in the same process, ``evaluate_grid`` with ``weights_per_pass=None``
(batched: ``Ranker.score_grid``, the condition-independent layers once per batch) and ``weights_per_pass=1`` (a loop of one forward per
weight), timed as the median of ``--repeats`` runs over pre-collated batches (data loading is timed once,
apart). The two tables must agree (max |diff| printed). Goal: batched at least 5x faster.

    .venv/bin/python benchmarks/bench_pareto.py [--test-queries 200] [--grid-step 0.1] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CASES = {
    "mlp+film": (
        "{class_path: ltr_cos.training.ReferenceModule, init_args: {backbone: {arch: mlp, hidden_sizes: [128, 64]}}}",
        "{conditioning: {kind: film}}",
    ),
    "transformer+prompt": (
        (
            "{class_path: ltr_cos.training.ReferenceModule, init_args: {backbone: {arch: transformer, d_model: 64,"
            " n_heads: 4, n_layers: 2, dim_feedforward: 128}}}"
        ),
        "{conditioning: {kind: prompt, n_prompts: 4}}",
    ),
}


def _cli(*argv: str) -> None:
    from ltr_cos.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"ltr-cos {' '.join(argv)} failed with exit code {code}")


def make_dataset(root: Path, train_queries: int, test_queries: int) -> Path:
    if (root / "data" / "_SUCCESS").is_file():
        return root / "data"
    for split, queries, seed in (("train", train_queries, 0), ("vali", 32, 1), ("test", test_queries, 2)):
        _cli(
            "data",
            "synth",
            "--queries",
            str(queries),
            "--seed",
            str(seed),
            "--out",
            str(root / f"{split}.txt"),
        )
    _cli("data", "convert", str(root), "--objectives", "mslr2", "--out", str(root / "data"), "--no-progress")
    return root / "data"


def train_case(root: Path, data: Path, name: str, reference_model: str, policy_args: str) -> Path:
    """Reference ranker then Weight-COS-DPO policy, one epoch each; returns the policy checkpoint."""
    common = ["--data.data_dir", str(data), "--data.batch_size", "32", "--data.max_list_length", "128",
              "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--trainer.logger", "false",
              "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip
    folder = root / name
    if (folder / "policy" / "best.ckpt").is_file():
        return folder / "policy" / "best.ckpt"
    _cli("fit", "--model", reference_model, *common, "--checkpoint.dirpath", str(folder / "reference"))
    reference = folder / "reference" / "best.ckpt"
    _cli("fit", "--model", "ltr_cos.training.CosDpoModule", "--model.init_args", policy_args,
         "--model.init_args.reference_ckpt", str(reference), *common,
         "--checkpoint.dirpath", str(folder / "policy"))  # fmt: skip
    return folder / "policy" / "best.ckpt"


def load_batches(data: Path, split: str, batch_size: int) -> tuple[list, float]:
    from torch.utils.data import DataLoader

    from ltr_cos.data.collate import collate_queries
    from ltr_cos.data.dataset import LengthSortedSampler, RankingDataset

    t0 = time.perf_counter()
    dataset = RankingDataset(data, split)
    # the same batching as `ltr-cos pareto`: queries sorted by length, so batches pad little
    loader = DataLoader(dataset, batch_size=batch_size, sampler=LengthSortedSampler(dataset.lengths),
                        collate_fn=collate_queries)
    batches = list(loader)
    return batches, time.perf_counter() - t0


def time_grid(loaded, batches, grid, weights_per_pass, repeats: int):
    from ltr_cos.training.evaluate import evaluate_grid

    times, table = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        table = evaluate_grid(loaded, batches, grid, weights_per_pass=weights_per_pass)  # ends on .item()s
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-queries", type=int, default=128)
    p.add_argument("--test-queries", type=int, default=200)
    p.add_argument("--grid-step", type=float, default=0.1, help="simplex lattice step (0.1: 11 weights)")
    p.add_argument("--batch-size", type=int, default=64, help="queries per batch (ltr-cos pareto's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="where evaluation runs (cpu or cuda); training runs on the CPU")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--keep", default=None, help="build (or reuse) the data and checkpoints in this folder")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ltr_cos.objectives import grid_step_to_steps, simplex_lattice
    from ltr_cos.training import load_ranker_from_checkpoint

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        os.environ.setdefault("LTR_COS_RUN_VERSION", "bench")
        t0 = time.perf_counter()
        data = make_dataset(root, args.train_queries, args.test_queries)
        batches, load_s = load_batches(data, "test", args.batch_size)
        batches = [b.to(args.device) for b in batches]
        meta = json.loads((data / "meta.json").read_text())
        rows = sum(int(b.mask.sum()) for b in batches)
        print(
            f"Pareto profiling, batched grid vs one forward per weight; torch {torch.__version__}, "
            f"{args.threads} thread(s), {platform.processor() or platform.machine()}, evaluation on "
            f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}\n"
            f"test split: {meta['splits']['test']['queries']} queries, {rows} documents, "
            f"{meta['n_features']} features, batches of {args.batch_size} (loading {load_s:.2f} s, not timed "
            f"below); dataset built in {time.perf_counter() - t0:.1f} s"
        )
        for name in args.cases:
            t0 = time.perf_counter()
            ckpt = train_case(root, data, name, *CASES[name])
            loaded = load_ranker_from_checkpoint(ckpt)
            loaded.ranker.to(args.device)
            loaded.reference.to(args.device)
            time_grid(loaded, batches[:1], np.full((2, 2), 0.5), None, 1)  # warm-up (CUDA context, kernels)
            grid = simplex_lattice(
                len(loaded.info["weighted_objectives"]), grid_step_to_steps(args.grid_step)
            )
            trained_s = time.perf_counter() - t0
            batched_s, batched = time_grid(loaded, batches, grid, None, args.repeats)
            looped_s, looped = time_grid(loaded, batches, grid, 1, args.repeats)
            diff = float(np.abs(batched.to_numpy() - looped.to_numpy()).max())
            results[name] = {
                "grid_size": len(grid),
                "batched_s": batched_s,
                "looped_s": looped_s,
                "ratio": looped_s / batched_s,
                "max_abs_diff": diff,
            }
            print(
                f"\n{name} (trained 1+1 epochs in {trained_s:.1f} s), grid of {len(grid)} weights\n"
                f"  batched (weights_per_pass=None): {batched_s:8.3f} s\n"
                f"  looped  (weights_per_pass=1):    {looped_s:8.3f} s\n"
                f"  looped / batched: {looped_s / batched_s:.2f}x (goal 5x: "
                f"{'met' if looped_s / batched_s >= 5 else 'missed'}); max |batched - looped| {diff:.2g}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
