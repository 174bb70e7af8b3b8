"""Exact hypervolume: ltr_cos (NumPy) against moocore (C) on random fronts, time and agreement.

Run: .venv/bin/python -m benchmarks.bench_hypervolume [--n 100] [--repeats 3]
Prints one line per (d, front kind): our median time, moocore's, their ratio and the relative difference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ltr_cos.pareto import hypervolume


def front(rng: np.random.Generator, n: int, d: int, kind: str) -> np.ndarray:
    if kind == "sphere":  # all points mutually non-dominated: the worst case
        x = np.abs(rng.normal(size=(n, d)))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    return rng.random((n, d))


def median_time(fn, repeats: int) -> tuple[float, float]:
    times, value = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="points per front")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import moocore

    rng = np.random.default_rng(0)
    print(f"{'d':>2} {'front':>7} {'n':>5} {'ltr_cos ms':>11} {'moocore ms':>11} {'ratio':>7} {'rel diff':>9}")
    for d in args.dims:
        for kind in ("uniform", "sphere"):
            points = front(rng, args.n, d, kind)
            ref = np.zeros(d)
            ours_t, ours = median_time(lambda p=points, r=ref: hypervolume(p, r), args.repeats)
            theirs_t, theirs = median_time(lambda p=points, r=ref: moocore.hypervolume(-p, ref=-r),
                                           args.repeats)
            print(f"{d:>2} {kind:>7} {args.n:>5} {ours_t * 1e3:>11.2f} {theirs_t * 1e3:>11.3f} "
                  f"{ours_t / theirs_t:>7.0f} {abs(ours - theirs) / theirs:>9.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
