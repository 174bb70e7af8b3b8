"""allRank peer: its own context-aware Transformer (make_model) trained with its own loss and step.

The architecture mirrors ``ltr_cos.models.Ranker(arch="transformer")``: a linear input projection to
d_model (allRank's FCModel with one layer, no activation), N pre-norm encoder blocks without positional
encoding, a final LayerNorm, and a linear per-candidate head. Training goes through allRank's own
``loss_batch`` (mask from the y = -1 padding sentinel, its ``listNet`` loss). allRank pads every list
to a fixed slate length (its data loader does so); ``to_allrank_batch`` reproduces that.

Features are normalised with ltr_cos's FeatureNormalizer (the dataset's train statistics) before they
reach allRank, because allRank's pipeline expects normalised inputs and our ranker normalises inside.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ltr_cos.models import FeatureNormalizer
from ltr_cos.types import RankingBatch


def make_allrank_transformer(n_features: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                             dim_feedforward: int = 128, dropout: float = 0.1):
    """allRank's LTRModel with the same sizes as our transformer ranker."""
    from allrank.config import TransformerConfig
    from allrank.models.model import make_model

    fc_model = {"sizes": [d_model], "input_norm": False, "activation": None, "dropout": 0.0}
    transformer = TransformerConfig(N=n_layers, d_ff=dim_feedforward, h=n_heads, positional_encoding=None,
                                    dropout=dropout)
    return make_model(fc_model, transformer, {"d_output": 1, "output_activation": None}, n_features)


def padded_value() -> float:
    from allrank.data.dataset_loading import PADDED_Y_VALUE

    return float(PADDED_Y_VALUE)


def to_allrank_batch(batch: RankingBatch, normalizer: FeatureNormalizer | None, slate_length: int | None,
                     column: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(x [B, S, F], y [B, S] with -1 at padding, indices [B, S]) as allRank's loader makes them.

    Args:
        batch: our padded batch.
        normalizer: feature transform applied before allRank sees the features (None = raw).
        slate_length: pad every list to this length, as allRank does (None = keep the batch's L).
        column: the label column (0 = main objective).
    """
    x = batch.features
    if normalizer is not None:
        with torch.no_grad():
            x = normalizer(x)
    y = batch.labels[..., column]
    mask = batch.mask
    b, n = mask.shape
    if slate_length is not None and slate_length > n:
        pad = slate_length - n
        x = torch.cat([x, torch.zeros(b, pad, x.shape[-1], dtype=x.dtype)], dim=1)
        y = torch.cat([y, torch.zeros(b, pad, dtype=y.dtype)], dim=1)
        mask = torch.cat([mask, torch.zeros(b, pad, dtype=torch.bool)], dim=1)
    x = torch.where(mask[..., None], x, torch.zeros_like(x))
    y = torch.where(mask, y, torch.full_like(y, padded_value()))
    indices = torch.arange(x.shape[1]).expand(b, -1)
    return x.contiguous(), y.contiguous(), indices


def train_epoch(model, optimizer, batches, normalizer: FeatureNormalizer | None, slate_length: int | None) -> float:
    """One epoch of allRank's own training step (``loss_batch`` with ``listNet``); returns the mean loss."""
    from allrank.models.losses import listNet
    from allrank.training.train_utils import loss_batch

    model.train()
    total, count = 0.0, 0
    for batch in batches:
        x, y, indices = to_allrank_batch(batch, normalizer, slate_length)
        loss, n = loss_batch(model, listNet, x, y, indices, None, optimizer)
        total += loss * n
        count += n
    return total / max(count, 1)


@torch.no_grad()
def allrank_scores(model, batch: RankingBatch, normalizer: FeatureNormalizer | None) -> Tensor:
    """allRank scores for our padded batch: float32 [B, L], 0 at padding."""
    model.eval()
    x, y, indices = to_allrank_batch(batch, normalizer, None)
    scores = model.score(x, y == padded_value(), indices)
    return torch.where(batch.mask, scores, torch.zeros_like(scores))
