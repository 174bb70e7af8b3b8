"""Latency of an exported ranker for one query on CPU: eager PyTorch vs TorchScript vs ONNX Runtime.

One query of 100 candidates (B=1, L=100), p50 and p99 over 1,000 calls after a warm-up, for a
conditioned transformer (prompt path, weights and beta inputs) and a conditioned MLP (FiLM).
Eager PyTorch is the in-process peer; ratios are eager / exported (above 1 = the artifact is faster).
Goal: p50 under 1 ms for the exported artifacts.

    .venv/bin/python benchmarks/bench_export_latency.py [--calls 1000] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ltr_cos.export import export_ranker, load_artifact
from ltr_cos.models import Ranker

CASES = {
    # the reference-stage defaults of ltr_cos rankers, with a conditioning path on 2 weights
    "transformer+prompt+beta": dict(
        arch="transformer",
        d_model=64,
        n_heads=4,
        n_layers=2,
        dim_feedforward=128,
        conditioning="prompt",
        n_weights=2,
        temperature_conditioning=True,
        n_prompts=4,
    ),
    "mlp+film": dict(arch="mlp", hidden_sizes=(128, 64), conditioning="film", n_weights=2),
}


def percentiles(fn, calls: int, warmup: int) -> tuple[float, float]:
    """p50 and p99 of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def run_case(
    name: str,
    config: dict,
    n_features: int,
    n_candidates: int,
    calls: int,
    warmup: int,
    threads: int,
    tmp: Path,
) -> dict:
    torch.manual_seed(0)
    norm = {"mean": [0.0] * n_features, "std": [1.0] * n_features}
    ranker = Ranker(n_features, normalization=norm, **config).eval()
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, n_candidates, n_features)).astype(np.float32)
    mask = np.ones((1, n_candidates), dtype=bool)
    weights = np.array([[0.3, 0.7]], dtype=np.float32)
    log_beta = np.zeros(1, dtype=np.float32)
    arrays = [features, mask, weights] + ([log_beta] if ranker.needs_log_beta else [])
    tensors = [torch.from_numpy(a) for a in arrays]
    eager_args = tensors + ([None] if not ranker.needs_log_beta else [])

    def eager():
        with torch.inference_mode():
            return ranker(*eager_args)

    rows = {"eager": percentiles(eager, calls, warmup)}
    for fmt in ("torchscript", "onnx"):
        artifact = load_artifact(export_ranker(ranker, tmp / f"{name}-{fmt}", fmt, info={}), threads=threads)
        rows[fmt] = percentiles(lambda a=artifact: a.run(*arrays), calls, warmup)
        # the same call through score(): input validation included
        rows[f"{fmt}+validate"] = percentiles(
            lambda a=artifact: a.score(
                features, mask, weights[0], log_beta=0.0 if ranker.needs_log_beta else None
            ),
            calls,
            warmup,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--features", type=int, default=136, help="features per candidate (MSLR: 136)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for torch and ONNX Runtime")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import onnxruntime

    print(
        f"exported ranker latency, one query of {args.candidates} candidates x {args.features} features, "
        f"{args.calls} calls, {args.threads} thread(s); torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, {platform.processor() or platform.machine()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in CASES.items():
            rows = run_case(
                name, config, args.features, args.candidates, args.calls, args.warmup, args.threads, Path(tmp)
            )
            results[name] = {k: {"p50_ms": v[0], "p99_ms": v[1]} for k, v in rows.items()}
            eager_p50 = rows["eager"][0]
            print(f"\n{name}")
            print(f"  {'runtime':<22}{'p50 ms':>9}{'p99 ms':>9}{'eager/this p50':>16}{'p50 < 1 ms':>12}")
            for runtime, (p50, p99) in rows.items():
                goal = "yes" if p50 < 1 else "no"
                print(f"  {runtime:<22}{p50:>9.3f}{p99:>9.3f}{eager_p50 / p50:>16.2f}{goal:>12}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
