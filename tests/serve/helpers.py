"""Tiny real inputs for the service tests: a converted synthetic dataset, exported rankers, a profile."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

WEIGHTED = ["quality", "url_clicks"]
BETA_RANGE = [0.1, 10.0]
K = 10
REPO = Path(__file__).resolve().parents[2]


def make_dataset(root: Path) -> Path:
    """Synthetic MSLR-shaped train/test splits (8 and 12 queries) converted with the mslr2 objectives."""
    from ltr_cos.cli import main

    for split, queries, seed in (("train", 8, 0), ("test", 12, 2)):
        argv = ["data", "synth", "--queries", str(queries), "--seed", str(seed), "--docs-per-query", "5", "20",
                "--out", str(root / "synth" / f"{split}.txt")]
        assert main(argv) == 0
    assert main(["data", "convert", str(root / "synth"), "--objectives", "mslr2", "--out", str(root / "data"),
                 "--no-progress"]) == 0
    return root / "data"


def make_artifact(data_dir: Path, out: Path, beta: bool = True, seed: int = 0, conditioned: bool = True) -> Path:
    """Export a small untrained FiLM MLP over the dataset's features (TorchScript)."""
    import torch

    from ltr_cos.export import export_ranker
    from ltr_cos.models import Ranker

    meta = json.loads((data_dir / "meta.json").read_text())
    torch.manual_seed(seed)
    if conditioned:
        ranker = Ranker(meta["n_features"], hidden_sizes=(16,), conditioning="film", n_weights=len(WEIGHTED),
                        temperature_conditioning=beta, cond_hidden=8, normalization=meta["normalization"])
        with torch.no_grad():  # FiLM starts as the identity: perturb it so the weights and beta matter
            for param in ranker.parameters():
                param.add_(0.3 * torch.randn_like(param))
    else:
        ranker = Ranker(meta["n_features"], hidden_sizes=(16,), normalization=meta["normalization"])
    info = {"objective_names": meta["objective_names"], "weighted_objectives": WEIGHTED if conditioned else [],
            "feature_ids": meta["feature_ids"], "beta_range": BETA_RANGE if beta else None, "beta": 1.0}
    return export_ranker(ranker, out, info=info)


def split_arrays(data_dir: Path, split: str = "test"):
    """(features [Q, L, F], labels [Q, L, K], mask [Q, L], qids) of a split, padded."""
    from ltr_cos.data.dataset import RankingDataset

    dataset = RankingDataset(data_dir, split)
    n = int(dataset.lengths.max())
    x = np.zeros((len(dataset), n, dataset.n_features), np.float32)
    y = np.zeros((len(dataset), n, dataset.n_objectives), np.float32)
    mask = np.zeros((len(dataset), n), bool)
    for i in range(len(dataset)):
        f, lab, _ = dataset[i]
        x[i, : len(f)], y[i, : len(f)], mask[i, : len(f)] = f.numpy(), lab.numpy(), True
    return x, y, mask, dataset.qids.tolist()


def make_profile(data_dir: Path, artifact: Path, reference: Path, out: Path, beta: float = 1.0) -> Path:
    """A profile folder in `ltr-cos pareto`'s layout, computed from the artifact over the test split."""
    import pandas as pd
    import torch

    from ltr_cos.export import load_artifact
    from ltr_cos.metrics.ndcg import ndcg_table
    from ltr_cos.objectives import simplex_lattice
    from ltr_cos.pareto.front import non_dominated

    x, y, mask, _ = split_arrays(data_dir)
    model, ref = load_artifact(artifact), load_artifact(reference)
    names = model.info["objective_names"]
    tensors = (torch.from_numpy(y), torch.from_numpy(mask))
    rows = []
    for w in simplex_lattice(len(WEIGHTED), 4):
        scores = torch.from_numpy(model.score(x, mask, w, beta))
        row = {f"weight/{n}": float(v) for n, v in zip(WEIGHTED, w)} | {"beta": beta}
        row |= ndcg_table(scores, *tensors, names, ks=(1, 5, K))
        rows.append(row)
    table = pd.DataFrame(rows)
    ref_ndcg = ndcg_table(torch.from_numpy(ref.score(x, mask)), *tensors, names, ks=(1, 5, K))
    out.mkdir(parents=True)
    table.to_csv(out / "pareto.csv", index=False)
    front = non_dominated(table[[f"ndcg@{K}/{n}" for n in WEIGHTED]].to_numpy())
    table[front].to_csv(out / "front.csv", index=False)
    summary = {"k": K, "gain": "exp2", "empty_rule": "drop", "split": "test", "reference_ranker_ndcg": ref_ndcg}
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(argv: list[str], port: int, timeout: float = 60.0) -> subprocess.Popen:
    """Start `ltr-cos serve` from this tree and wait for /health; the caller stops it."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "ltr_cos.cli", "serve", *argv, "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ltr-cos serve exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop_server(proc)
    raise AssertionError(f"ltr-cos serve did not answer /health within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
