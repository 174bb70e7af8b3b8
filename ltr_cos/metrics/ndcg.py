"""Masked NDCG@k for every objective (docs/method.md §8).

DCG@k = sum_{r=1..k} gain(y_(r)) / log2(r + 1), where y_(r) is the label of the candidate at rank r
when the real candidates are sorted by descending score; NDCG@k = DCG@k / ideal DCG@k, the ideal one
sorting by the labels themselves. Gains: ``exp2`` = 2^y - 1 (Jarvelin & Kekalainen 2002, Burges et al.
2005), ``linear`` = y. Labels are expected to be non-negative (negative gains make NDCG unbounded).

Ties in scores: candidates are ranked by a stable sort on descending score, so among equal scores the
candidate that comes first in the list is ranked first. Libraries that average over tie groups
(scikit-learn's ``ndcg_score`` with ``ignore_ties=False``) can differ when scores tie.

A query with no positive gain among its real candidates has ideal DCG 0: its NDCG is undefined and is
returned as 0 with ``valid`` False. ``NDCGMetric`` then applies the empty-query rule: ``drop`` (the
default, as in Qin et al. 2021), count it as ``one`` (allRank's filler value) or as ``zero``
(scikit-learn's choice). Rows with no real candidate at all are batch padding, not queries, and are
ignored by every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torchmetrics
from torch import Tensor

Gain = Literal["exp2", "linear"]
EmptyRule = Literal["drop", "one", "zero"]

_GAINS = ("exp2", "linear")
_EMPTY_RULES = ("drop", "one", "zero")


def _check_inputs(scores: Tensor, labels: Tensor, mask: Tensor, gain: str) -> None:
    if gain not in _GAINS:
        raise ValueError(f"gain must be one of {_GAINS}, got {gain!r}")
    if scores.dim() != 2:
        raise ValueError(f"scores must be [B, L], got shape {tuple(scores.shape)}")
    if labels.dim() not in (2, 3) or labels.shape[:2] != scores.shape:
        raise ValueError(
            f"labels must be [B, L] or [B, L, K] with B, L = {tuple(scores.shape)}, got {tuple(labels.shape)}"
        )
    if mask.dtype != torch.bool or mask.shape != scores.shape:
        raise ValueError(f"mask must be bool {tuple(scores.shape)}, got {mask.dtype} {tuple(mask.shape)}")


def _dcg_table(scores: Tensor, labels: Tensor, mask: Tensor, ks: Sequence[int], gain: str) -> tuple[Tensor, Tensor]:
    """DCG and ideal DCG at several cut-offs.

    Args:
        scores: float [B, L].
        labels: float [B, L, K].
        mask: bool [B, L].
        ks: cut-offs, each >= 1.
        gain: ``exp2`` or ``linear``.

    Returns:
        (dcg, ideal_dcg), each float [B, len(ks), K] in the promoted float dtype (at least float32).
    """
    dtype = torch.promote_types(torch.promote_types(scores.dtype, labels.dtype), torch.float32)
    b, n, n_obj = labels.shape
    if n == 0:
        zeros = torch.zeros(b, len(ks), n_obj, dtype=dtype, device=labels.device)
        return zeros, zeros.clone()
    labels = labels.to(dtype)
    gains = torch.pow(2.0, labels) - 1.0 if gain == "exp2" else labels
    gains = gains.masked_fill(~mask.unsqueeze(-1), 0.0)  # padding carries no gain

    # Rank by descending score with a stable sort (ties: earlier candidate first), then move padding
    # behind every real candidate with a second stable sort, so a real score of -inf is still ranked.
    order = torch.sort(scores.detach(), dim=1, descending=True, stable=True).indices
    order = order.gather(1, torch.sort(mask.gather(1, order), dim=1, descending=True, stable=True).indices)
    ranked = gains.gather(1, order.unsqueeze(-1).expand(b, n, n_obj))  # [B, L, K]
    ideal = torch.sort(gains, dim=1, descending=True).values  # [B, L, K]

    discounts = 1.0 / torch.log2(torch.arange(n, device=labels.device, dtype=dtype) + 2.0)  # [L]
    cum_dcg = torch.cumsum(ranked * discounts[None, :, None], dim=1)
    cum_ideal = torch.cumsum(ideal * discounts[None, :, None], dim=1)
    # k beyond the list length: positions past L add nothing, so DCG@k = DCG@L.
    at = torch.tensor([min(int(k), n) - 1 for k in ks], device=labels.device)
    return cum_dcg.index_select(1, at), cum_ideal.index_select(1, at)


def _ndcg_from_dcg(dcg: Tensor, ideal: Tensor) -> tuple[Tensor, Tensor]:
    valid = ideal > 0
    ndcg = torch.where(valid, dcg / torch.where(valid, ideal, torch.ones_like(ideal)), torch.zeros_like(dcg))
    return ndcg, valid


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"NDCG cut-offs must be integers >= 1, got {ks}")
    return ks


def ndcg_per_query(
    scores: Tensor, labels: Tensor, mask: Tensor, k: int, gain: Gain = "exp2"
) -> tuple[Tensor, Tensor]:
    """NDCG@k of every query (and every objective), vectorised over the batch.

    Args:
        scores: float32 [B, L], higher = ranked higher.
        labels: float32 [B, L] or [B, L, K], non-negative grades (one column per objective).
        mask: bool [B, L], True for real candidates.
        k: cut-off >= 1; a k longer than the list counts the whole list.
        gain: ``exp2`` (2^y - 1) or ``linear`` (y).

    Returns:
        (ndcg, valid): float32 and bool, [B] for 2-D labels or [B, K] for 3-D labels. ``valid`` is False
        where the ideal DCG is 0 (no positive gain among the real candidates); ``ndcg`` is 0 there.
    """
    _check_inputs(scores, labels, mask, gain)
    (k,) = _check_ks((k,))
    squeeze = labels.dim() == 2
    labels3 = labels.unsqueeze(-1) if squeeze else labels
    dcg, ideal = _dcg_table(scores, labels3, mask, (k,), gain)
    ndcg, valid = _ndcg_from_dcg(dcg[:, 0], ideal[:, 0])  # [B, K]
    ndcg = ndcg.to(torch.float32)
    if squeeze:
        return ndcg[:, 0], valid[:, 0]
    return ndcg, valid


class NDCGMetric(torchmetrics.Metric):
    """Mean NDCG@k per objective, accumulated over batches and reduced across processes.

    States (all summed across processes): ``ndcg_sum`` float64 [len(ks), K] (sum over valid queries),
    ``n_valid`` float64 [len(ks), K] (queries with a positive ideal DCG), ``n_queries`` float64 []
    (rows with at least one real candidate). The empty-query rule is applied in ``compute``, so the
    states do not depend on it.

    Args:
        objective_names: one name per label column, column 0 = main objective.
        ks: NDCG cut-offs.
        gain: ``exp2`` or ``linear``.
        empty: rule for queries with no positive gain: ``drop`` (excluded from the mean), ``one`` or
            ``zero`` (counted with that NDCG). A mean over no query at all is NaN.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    ndcg_sum: Tensor
    n_valid: Tensor
    n_queries: Tensor

    def __init__(
        self,
        objective_names: Sequence[str],
        ks: Sequence[int] = (1, 5, 10),
        gain: Gain = "exp2",
        empty: EmptyRule = "drop",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.objective_names = tuple(str(name) for name in objective_names)
        if not self.objective_names or len(set(self.objective_names)) != len(self.objective_names):
            raise ValueError(f"objective_names must be non-empty and distinct, got {self.objective_names}")
        self.ks = _check_ks(ks)
        if gain not in _GAINS:
            raise ValueError(f"gain must be one of {_GAINS}, got {gain!r}")
        if empty not in _EMPTY_RULES:
            raise ValueError(f"empty must be one of {_EMPTY_RULES}, got {empty!r}")
        self.gain = gain
        self.empty = empty
        shape = (len(self.ks), len(self.objective_names))
        # float64 sums: exact counts well past 2^24 queries and no drift over long evaluations.
        self.add_state("ndcg_sum", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_valid", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_queries", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scores: Tensor, labels: Tensor, mask: Tensor) -> None:
        """Add a batch: scores float32 [B, L], labels float32 [B, L, K], mask bool [B, L]."""
        _check_inputs(scores, labels, mask, self.gain)
        if labels.dim() != 3 or labels.shape[-1] != len(self.objective_names):
            raise ValueError(
                f"labels must be [B, L, {len(self.objective_names)}] for objectives {self.objective_names}, "
                f"got {tuple(labels.shape)}"
            )
        dcg, ideal = _dcg_table(scores, labels, mask, self.ks, self.gain)
        ndcg, valid = _ndcg_from_dcg(dcg, ideal)  # [B, len(ks), K]
        # All-padding rows have ideal DCG 0, so they are never valid; they are not counted as queries.
        real_row = mask.any(dim=1)  # [B]
        self.ndcg_sum += torch.where(valid, ndcg, torch.zeros_like(ndcg)).sum(0).to(torch.float64)
        self.n_valid += valid.sum(0).to(torch.float64)
        self.n_queries += real_row.sum().to(torch.float64)

    def compute(self) -> dict[str, Tensor]:
        """Return {"ndcg@{k}/{objective}": float32 scalar tensor} for every cut-off and objective."""
        if self.empty == "drop":
            mean = self.ndcg_sum / self.n_valid
        else:
            filler = 1.0 if self.empty == "one" else 0.0
            mean = (self.ndcg_sum + filler * (self.n_queries - self.n_valid)) / self.n_queries
        out: dict[str, Tensor] = {}
        for i, k in enumerate(self.ks):
            for j, name in enumerate(self.objective_names):
                out[f"ndcg@{k}/{name}"] = mean[i, j].to(torch.float32)
        return out

    def empty_fraction(self) -> dict[str, float]:
        """Fraction of queries with no positive gain, per objective (same for every k); NaN if no query."""
        n = float(self.n_queries)
        # The ideal DCG is positive at every k as soon as one gain is positive, so row 0 stands for all k.
        return {
            name: (1.0 - float(self.n_valid[0, j]) / n) if n > 0 else float("nan")
            for j, name in enumerate(self.objective_names)
        }


def ndcg_table(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    objective_names: Sequence[str],
    ks: Sequence[int] = (1, 5, 10),
    gain: Gain = "exp2",
    empty: EmptyRule = "drop",
) -> dict[str, float]:
    """One-shot mean NDCG as plain floats: {"ndcg@{k}/{objective}": value} (see ``NDCGMetric``)."""
    metric = NDCGMetric(objective_names, ks=ks, gain=gain, empty=empty).to(scores.device)
    metric.update(scores, labels, mask)
    return {key: float(value) for key, value in metric.compute().items()}
