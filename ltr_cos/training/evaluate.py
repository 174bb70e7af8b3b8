"""Evaluate a (conditioned) ranker over a grid of weight vectors: the data behind ``ltr-cos pareto``.

Many weights go through one pass (``Ranker.score_grid``): the condition-independent part of the
ranker (normalisation and the MLP's first layer) runs once per batch and only the rest per weight;
other rankers tile the batch over a chunk of the grid ([B, L, F] -> [G*B, L, F]).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.losses import rescale_temperature
from ltr_cos.metrics import NDCGMetric
from ltr_cos.models import Ranker
from ltr_cos.pareto.summary import weight_column
from ltr_cos.training.checkpoint import LoadedRanker
from ltr_cos.types import RankingBatch


def weight_columns(names: Sequence[str]) -> list[str]:
    return [weight_column(name) for name in names]


@torch.no_grad()
def evaluate_reference(ranker: Ranker, batches: Iterable[RankingBatch], objective_names: Sequence[str],
                       ks: Sequence[int] = (1, 5, 10), gain: str = "exp2", empty: str = "drop") -> dict[str, float]:
    """NDCG@k of an unconditioned ranker for every objective: {"ndcg@k/objective": value}."""
    metric = NDCGMetric(objective_names, ks=tuple(ks), gain=gain, empty=empty)
    for batch in batches:
        metric = metric.to(batch.features.device)
        metric.update(ranker(batch.features, batch.mask), batch.labels, batch.mask)
    return {key: float(value) for key, value in metric.compute().items()}


@torch.no_grad()
def evaluate_grid(
    loaded: LoadedRanker,
    batches: Iterable[RankingBatch],
    grid: np.ndarray,
    beta: float | None = None,
    ks: Sequence[int] = (1, 5, 10),
    gain: str = "exp2",
    empty: str = "drop",
    weights_per_pass: int | None = None,
    progress=None,
) -> pd.DataFrame:
    """NDCG@k of every objective at every grid weight.

    Args:
        loaded: a COS-DPO checkpoint (see ``load_ranker_from_checkpoint``).
        batches: evaluation batches (iterated once).
        grid: float [G, m] weights over ``loaded.info["weighted_objectives"]``.
        beta: run-time temperature. Temperature-COS-DPO models take it as an input; Weight-COS-DPO
            models are moved to it with the run-time rescaling of docs/method.md §5 (exact for the unconditioned optimum).
            None = the beta the model was trained (or validated) with.
        weights_per_pass: grid points per forward pass (None = the whole grid; 1 = a loop of one
            forward per weight, the slow peer in benchmarks).
        progress: optional callable(n_done_batches) for progress bars.

    Returns:
        One row per grid weight: ``weight/<objective>`` columns, ``beta``, and ``ndcg@k/<objective>`` columns.
    """
    info = loaded.info
    if info.get("stage") != "cos_dpo" or loaded.reference is None:
        raise InputError("the Pareto grid needs a COS-DPO checkpoint (a ranker conditioned on weights)",
                         info.get("checkpoint"))
    weighted = info["weighted_objectives"]
    grid = np.asarray(grid, dtype=np.float64)  # reported as given; the model sees float32
    if grid.ndim != 2 or grid.shape[1] != len(weighted):
        raise InputError(f"grid must have {len(weighted)} columns ({weighted}), got shape {grid.shape}")
    trained_beta = float(info["beta"])
    beta = trained_beta if beta is None else float(beta)
    if beta <= 0:
        raise InputError(f"beta must be > 0, got {beta}")
    policy, reference = loaded.ranker, loaded.reference
    use_log_beta = bool(info["temperature_conditioning"])
    conditioned = info.get("conditioning") is not None  # False for a DPO-LS policy (one fixed weight)
    chunk = len(grid) if weights_per_pass is None else max(1, int(weights_per_pass))
    metrics = [NDCGMetric(info["objective_names"], ks=tuple(ks), gain=gain, empty=empty) for _ in range(len(grid))]
    grid_t = torch.as_tensor(grid, dtype=torch.float32)
    for i, batch in enumerate(batches):
        b, device = batch.batch_size, batch.features.device
        if grid_t.device != device:  # metrics and conditions live where the batches are
            grid_t = grid_t.to(device)
            metrics = [metric.to(device) for metric in metrics]
        ref_scores = None if use_log_beta or beta == trained_beta else reference(batch.features, batch.mask)
        for start in range(0, len(grid), chunk):
            weights = grid_t[start:start + chunk]  # [g, m]
            g = len(weights)
            log_beta = torch.full((g,), math.log(beta), device=device) if use_log_beta else None
            if not conditioned:
                scores = policy(batch.features, batch.mask).unsqueeze(0).expand(g, b, -1)
            elif g == 1:  # one forward per weight: the plain call
                scores = policy(batch.features, batch.mask, weights.expand(b, -1),
                                None if log_beta is None else log_beta.expand(b)).unsqueeze(0)
            else:  # [g, B, L], sharing the condition-independent work across the grid
                scores = policy.score_grid(batch.features, batch.mask, weights, log_beta)
            if ref_scores is not None:
                scores = rescale_temperature(scores, ref_scores.unsqueeze(0), trained_beta, beta)
            for j in range(g):
                metrics[start + j].update(scores[j], batch.labels, batch.mask)
        if progress is not None:
            progress(i + 1)
    rows = []
    for weights, metric in zip(grid, metrics):
        row = dict(zip(weight_columns(weighted), (float(w) for w in weights)))
        row["beta"] = beta
        row.update({key: float(value) for key, value in metric.compute().items()})
        rows.append(row)
    return pd.DataFrame(rows)


def batches_from_tensors(features: Tensor, mask: Tensor, labels: Tensor, batch_size: int) -> list[RankingBatch]:
    """Split padded tensors into RankingBatch chunks (tests and small tools)."""
    return [
        RankingBatch(features=features[i:i + batch_size], labels=labels[i:i + batch_size], mask=mask[i:i + batch_size])
        for i in range(0, features.shape[0], batch_size)
    ]
