"""LightGBM lambdarank peer: one booster per weight on the aggregated label sum_k w_k y^k (docs/method.md §9).

LightGBM's lambdarank needs integer labels with a gain table. The aggregated label of a grid weight
(multiples of 1/steps) is scaled by ``steps`` and rounded, and its gain table is 2^(i/steps) - 1, so the
booster optimises NDCG with the same exp2 gain of the aggregated grade that our metric uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ltr_cos.types import RankingBatch


@dataclass
class FlatSplit:
    """A split as LightGBM wants it: rows of every query, contiguous.

    Attributes:
        features: float32 [N, F] raw features.
        labels: float32 [N, K] every objective.
        group: int64 [Q] rows per query.
    """

    features: np.ndarray
    labels: np.ndarray
    group: np.ndarray


def flatten_items(items: Iterable[tuple]) -> FlatSplit:
    """Stack ``(features [n, F], labels [n, K], qid)`` query items into a FlatSplit."""
    feats, labs, group = [], [], []
    for features, labels, _ in items:
        feats.append(np.asarray(features, dtype=np.float32))
        labs.append(np.asarray(labels, dtype=np.float32))
        group.append(len(feats[-1]))
    return FlatSplit(np.concatenate(feats), np.concatenate(labs), np.asarray(group, dtype=np.int64))


def aggregate_labels(labels: np.ndarray, columns: Sequence[int], weights: Sequence[float],
                     steps: int) -> tuple[np.ndarray, list[float]]:
    """Integer aggregated labels round(steps * sum_k w_k y^k) and the matching gain table.

    Args:
        labels: float [N, K].
        columns: label columns of the m weighted objectives.
        weights: m weights.
        steps: the grid resolution (weights are multiples of 1/steps).

    Returns:
        (int32 [N] labels, gain table [max + 1] with gain[i] = 2^(i/steps) - 1).
    """
    agg = labels[:, list(columns)].astype(np.float64) @ np.asarray(weights, dtype=np.float64)
    scaled = np.rint(np.clip(agg, 0.0, None) * steps).astype(np.int32)
    top = int(scaled.max()) if len(scaled) else 0
    gains = [float(2.0 ** (i / steps) - 1.0) for i in range(top + 1)]
    return scaled, gains


def train_lambdarank(train: FlatSplit, columns: Sequence[int], weights: Sequence[float], steps: int,
                     vali: FlatSplit | None = None, num_rounds: int = 300, learning_rate: float = 0.05,
                     num_leaves: int = 31, min_data_in_leaf: int = 20, early_stopping: int = 30,
                     seed: int = 0, threads: int = 1):
    """Train one lambdarank booster on the aggregated label of ``weights`` (early stopping on vali NDCG@10).

    ``weights`` with a single 1.0 on the main column gives the plain main-objective LambdaMART.
    """
    import lightgbm as lgb

    y_train, _ = aggregate_labels(train.labels, columns, weights, steps)
    sets, valid_sets = [], []
    dtrain = lgb.Dataset(train.features, y_train, group=train.group, free_raw_data=False)
    top = int(y_train.max())
    callbacks = []
    if vali is not None:
        y_vali, _ = aggregate_labels(vali.labels, columns, weights, steps)
        top = max(top, int(y_vali.max()))
        valid_sets = [lgb.Dataset(vali.features, y_vali, group=vali.group, reference=dtrain)]
        sets = ["vali"]
        callbacks.append(lgb.early_stopping(early_stopping, first_metric_only=True, verbose=False))
    # one gain table covering both splits' labels
    gains = [float(2.0 ** (i / steps) - 1.0) for i in range(top + 1)]
    params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "ndcg_eval_at": [10],
        "label_gain": gains,
        "learning_rate": learning_rate,
        "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    return lgb.train(params, dtrain, num_boost_round=num_rounds, valid_sets=valid_sets, valid_names=sets,
                     callbacks=callbacks)


def booster_scores(booster, batch: RankingBatch) -> torch.Tensor:
    """Booster predictions for a padded batch: float32 [B, L], 0 at padding."""
    mask = batch.mask
    rows = batch.features[mask].numpy()  # [B, L, F] -> [n_real, F]
    best = booster.best_iteration if booster.best_iteration > 0 else None
    pred = torch.as_tensor(booster.predict(rows, num_iteration=best), dtype=torch.float32)
    scores = torch.zeros(mask.shape, dtype=torch.float32)
    scores[mask] = pred
    return scores
