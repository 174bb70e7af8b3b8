"""Batch query lists into the padded tensor contract of ``ltr_cos.types``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.types import RankingBatch


def collate_queries(items: Sequence[tuple[Tensor | np.ndarray, Tensor | np.ndarray, int]]) -> RankingBatch:
    """Pad a list of queries to the longest list of this batch.

    Args:
        items: ``(features [n_i, F], labels [n_i, K], qid)`` per query, as RankingDataset returns them.

    Returns:
        RankingBatch with features float32 [B, L, F], labels float32 [B, L, K] (padding = 0, marked only
        by the mask), mask bool [B, L], qids int64 [B]; L = max n_i.
    """
    if len(items) == 0:
        raise InputError("cannot collate an empty batch")
    feats = [torch.as_tensor(f, dtype=torch.float32) for f, _, _ in items]
    labs = [torch.as_tensor(y, dtype=torch.float32) for _, y, _ in items]
    n_features, n_objectives = feats[0].shape[1], labs[0].shape[1]
    for f, y in zip(feats, labs):
        if f.dim() != 2 or y.dim() != 2 or f.shape[0] != y.shape[0] or f.shape[1] != n_features \
                or y.shape[1] != n_objectives:
            raise InputError(f"inconsistent query in batch: features {tuple(f.shape)}, labels {tuple(y.shape)}, "
                             f"expected [n, {n_features}] and [n, {n_objectives}]")
    lengths = [f.shape[0] for f in feats]
    b, width = len(items), max(lengths)
    features = torch.zeros(b, width, n_features, dtype=torch.float32)
    labels = torch.zeros(b, width, n_objectives, dtype=torch.float32)
    mask = torch.zeros(b, width, dtype=torch.bool)
    for i, (f, y, n) in enumerate(zip(feats, labs, lengths)):
        features[i, :n] = f
        labels[i, :n] = y
        mask[i, :n] = True
    qids = torch.tensor([int(q) for _, _, q in items], dtype=torch.int64)
    return RankingBatch(features=features, labels=labels, mask=mask, qids=qids)
