"""Start-up of the ``ltr-cos`` commands, and the overhead of ``ltr-cos fit`` beside its training time.

Each command runs in a fresh interpreter (``python -m ltr_cos.cli ...``, the code of this checkout),
``--repeat`` times; the table gives the median wall time and its ratio to ``python -c pass``. Two
floors put the figures in context: ``import torch`` and ``import pytorch_lightning`` (what the
Lightning commands cannot start without).

The fit overhead: ``ltr-cos fit`` (stage 1, the quick-start reference config) on a small synthetic
dataset for 1 and for 6 epochs. The difference over 5 is the time of one epoch (training and
validation); the 1-epoch wall time minus one epoch is the start-up and set-up a fit pays once
(imports, argument parsing, data set-up, checkpoint files).

Usage:
    .venv/bin/python -m benchmarks.bench_startup [--repeat 3] [--no-fit]
Not a timed test: the figures depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "ltr-cos -h": ["-m", "ltr_cos.cli", "-h"],
    "ltr-cos data -h": ["-m", "ltr_cos.cli", "data", "-h"],
    "ltr-cos data convert -h": ["-m", "ltr_cos.cli", "data", "convert", "-h"],
    "ltr-cos data synth -h": ["-m", "ltr_cos.cli", "data", "synth", "-h"],
    "ltr-cos pareto -h": ["-m", "ltr_cos.cli", "pareto", "-h"],
    "ltr-cos rank -h": ["-m", "ltr_cos.cli", "rank", "-h"],
    "import torch (floor)": ["-c", "import torch"],
    "import pytorch_lightning (floor)": ["-c", "import pytorch_lightning"],
    "ltr-cos fit -h": ["-m", "ltr_cos.cli", "fit", "-h"],
}


def _env() -> dict:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)}


def _wall(args: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def startup_table(repeat: int, only: list[str] | None = None) -> list[tuple[str, float]]:
    """(command, median wall s) of ``python -c pass`` and the ``only`` commands (default: all)."""
    rows = []
    for name, args in COMMANDS.items():
        if only is not None and name not in only and name != "python -c pass":
            continue
        rows.append((name, statistics.median(_wall(args) for _ in range(repeat))))
    return rows


def fit_overhead(work: Path) -> dict:
    """Wall time of `ltr-cos fit` for 1 and 6 epochs on a small dataset (200/50 queries)."""
    cli = ["-m", "ltr_cos.cli"]
    for split, queries, seed in (("train", 200, 0), ("vali", 50, 1)):
        _wall([*cli, "data", "synth", "--queries", str(queries), "--seed", str(seed), "--docs-per-query", "5", "40",
               "--out", str(work / "raw" / f"{split}.txt")])
    _wall([*cli, "data", "convert", str(work / "raw"), "--out", str(work / "data"), "--no-progress"])
    walls = {}
    for epochs in (1, 6):
        walls[epochs] = _wall([*cli, "fit", "--config", str(REPO_ROOT / "configs/experiments/quickstart_reference.yaml"),
                               "--data.data_dir", str(work / "data"), "--trainer.max_epochs", str(epochs),
                               "--trainer.logger", "false", "--checkpoint.dirpath", str(work / f"ckpt{epochs}"),
                               "--trainer.enable_progress_bar", "false"], cwd=work)
    epoch = (walls[6] - walls[1]) / 5
    return {"wall_1_epoch_s": walls[1], "wall_6_epochs_s": walls[6], "per_epoch_s": epoch,
            "overhead_s": walls[1] - epoch}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_startup", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per command (the median is reported; default 3)")
    p.add_argument("--no-fit", action="store_true", help="skip the fit-overhead measurement")
    p.add_argument("--only", help="comma list of the commands to time (names as in the table)")
    args = p.parse_args(argv)
    only = [c.strip() for c in args.only.split(",")] if args.only else None
    unknown = sorted(set(only or []) - set(COMMANDS))
    if unknown:
        p.error(f"unknown commands {unknown}; choose from {list(COMMANDS)}")
    rows = startup_table(args.repeat, only)
    base = rows[0][1]
    print(f"start-up, median of {args.repeat} fresh interpreters ({sys.executable}, {os.cpu_count()} cores, load "
          f"average {os.getloadavg()[0]:.1f}):")
    print("| command | wall s | x python -c pass |")
    print("|---|---|---|")
    for name, wall in rows:
        print(f"| {name} | {wall:.2f} | {wall / base:.1f} |")
    if not args.no_fit:
        with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_startup_") as tmp:
            fit = fit_overhead(Path(tmp))
        lightning = dict(rows).get("import pytorch_lightning (floor)")
        floor = f", of which importing Lightning {lightning:.1f} s" if lightning else ""
        print(f"\nltr-cos fit (quick-start reference config, 200 train / 50 vali queries): 1 epoch {fit['wall_1_epoch_s']:.1f} s, "
              f"6 epochs {fit['wall_6_epochs_s']:.1f} s -> one epoch {fit['per_epoch_s']:.1f} s, paid once "
              f"{fit['overhead_s']:.1f} s{floor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
