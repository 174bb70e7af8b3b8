"""GPU check of the full-size training path: synthetic MSLR-shaped data generated on the machine itself,
converted to Parquet, then the reference MLP trained on CUDA with bf16-mixed precision.

Nothing large travels: the text and the dataset are written under a temp folder on the machine and
deleted at the end. Prints the card, the data-generation and conversion times, queries/s of each
epoch (the first includes CUDA and DataLoader warm-up; the last is the figure to quote) and the peak
GPU memory. Needs torch, pytorch-lightning, pyarrow, numpy, torchmetrics and tqdm (the device image's
packages); it runs from the source tree:

    PYTHONPATH=. python3 benchmarks/device_scale_check.py                          # GPU, ~2-3 minutes
    PYTHONPATH=. .venv/bin/python benchmarks/device_scale_check.py --device cpu --queries 200   # dry run
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_scale import train_one_epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--queries", type=int, default=10_000, help="train queries generated on the machine")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-list-length", type=int, default=128)
    parser.add_argument("--num-workers", type=int, default=8)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu for a dry run", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"device: {card}; torch {torch.__version__}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ltr_cos-device-scale-"))
    try:
        start = time.perf_counter()
        stats = write_synthetic_libsvm(work / "train.txt", "mslr-web30k", n_queries=args.queries, seed=0)
        synth_s = time.perf_counter() - start
        text_mb = (work / "train.txt").stat().st_size / 1e6
        print(f"synth: {stats['queries']:,} queries, {stats['rows']:,} rows, {text_mb:,.0f} MB in {synth_s:.1f} s",
              flush=True)
        start = time.perf_counter()
        convert_dataset({"train": [work / "train.txt"]}, work / "dataset", objectives="mslr2", progress=False)
        convert_s = time.perf_counter() - start
        (work / "train.txt").unlink()
        print(f"convert: {text_mb / convert_s:.1f} MB/s ({convert_s:.1f} s)", flush=True)

        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        precision = "bf16-mixed" if args.device == "cuda" else "32-true"
        result = train_one_epoch(work / "dataset", "gpu" if args.device == "cuda" else "cpu", precision,
                                 args.batch_size, args.max_list_length, args.num_workers, epochs=args.epochs)
        peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else 0.0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rates = [result["train_queries"] / s for s in result["epoch_seconds"]]
    print(f"train: {result['train_queries']:,} queries/epoch, batch {args.batch_size}, max_list_length "
          f"{args.max_list_length}, {args.num_workers} workers, precision {precision}")
    for epoch, (seconds, rate) in enumerate(zip(result["epoch_seconds"], rates)):
        print(f"epoch {epoch}: {rate:,.0f} queries/s ({seconds:.1f} s)")
    print(f"RESULT card={card!r} queries_per_s={rates[-1]:.0f} peak_gpu_memory_mb={peak_gpu_mb:.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "card": card, "precision": precision, "queries": args.queries, "rows": stats["rows"],
            "synth_seconds": synth_s, "convert_mb_per_s": text_mb / convert_s, "epoch_seconds": result["epoch_seconds"],
            "queries_per_s": rates, "peak_gpu_memory_mb": peak_gpu_mb, "batch_size": args.batch_size,
            "num_workers": args.num_workers, "torch": torch.__version__,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
