"""Tiny generated datasets and `ltr-cos` subprocess runs for the reliability tests."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl

REPO = Path(__file__).resolve().parents[2]


def make_dataset(root: Path, train_queries: int, vali_queries: int, docs=(3, 10), objectives: str = "mslr2") -> Path:
    """Synthetic MSLR-shaped text -> a dataset folder ``root/data``; returns its path."""
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    root.mkdir(parents=True, exist_ok=True)
    for split, seed, queries in (("train", 0, train_queries), ("vali", 1, vali_queries)):
        write_synthetic_libsvm(root / f"{split}.txt", n_queries=queries, seed=seed, docs_per_query=docs)
    out = root / "data"
    convert_dataset({"train": [root / "train.txt"], "vali": [root / "vali.txt"]}, out, objectives=objectives,
                    progress=False)
    return out


def ltr_cos(*args: str, cwd: Path, version: str = "v0", timeout: int = 600, wait: bool = True):
    """Run ``python -m ltr_cos.cli ARGS`` in ``cwd`` (run folder version fixed); CompletedProcess or Popen."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", LTR_COS_RUN_VERSION=version,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = [sys.executable, "-m", "ltr_cos.cli", *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of a Lightning CSVLogger metrics.csv, empty cells dropped, values as floats."""
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def series(rows: list[dict[str, float]], key: str) -> list[float]:
    """The values of ``key`` in logging order."""
    return [row[key] for row in rows if key in row]



class KillAtStep(pl.Callback):
    """SIGKILLs its own process just before training step ``step``: a hard crash at a known point.

    Lives in the tests (not the package); a test adds it with ``--trainer.callbacks+=`` and PYTHONPATH.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class InterruptAtStep(pl.Callback):
    """Sends its own process SIGINT (what Ctrl-C sends) just before training step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)
