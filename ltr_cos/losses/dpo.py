"""Listwise and pairwise DPO losses (docs/method.md §3).

The policy's DPO log-ratio of candidate i is h_i = scores_i - ref_scores_i (Plackett-Luce normalisers
cancel inside every softmax below). The listwise losses score every objective column of ``labels``
[B, L, K'] against the same prediction beta * h and return, per query and objective, the loss and a
validity flag: a query whose labels for objective k are all equal (or that has < 2 real candidates)
carries no preference for k, so it is marked invalid and its entry is 0 (never NaN, zero gradient).
Callers average over the valid entries (see ``cos_dpo.cos_dpo_loss``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .listwise import (
    Gain,
    _compute_dtype,
    _gain,
    _informative,
    _masked_log_softmax,
    _masked_softmax,
    _plackett_luce_nll,
    _tie_break_order,
)

Ties = Literal["random", "average"]


def _as_beta(beta: Tensor | float, batch_size: int, like: Tensor) -> Tensor:
    """beta as float [B] on ``like``'s device and dtype (a Python float or 0-d tensor is broadcast)."""
    beta = torch.as_tensor(beta, dtype=like.dtype, device=like.device)
    if beta.dim() == 0:
        return beta.expand(batch_size)
    if tuple(beta.shape) != (batch_size,):
        raise ValueError(f"beta must be [B] = [{batch_size}] or a scalar, got {tuple(beta.shape)}")
    return beta.to(like.dtype)


def _prepare(
    scores: Tensor, ref_scores: Tensor, labels: Tensor, mask: Tensor, beta: Tensor | float
) -> tuple[Tensor, Tensor]:
    """Check the contract; return (beta * h [B, L], labels [B, L, K']) in the compute dtype."""
    if scores.dim() != 2:
        raise ValueError(f"scores must be [B, L], got shape {tuple(scores.shape)}")
    if tuple(ref_scores.shape) != tuple(scores.shape):
        raise ValueError(f"ref_scores must be [B, L] = {tuple(scores.shape)}, got {tuple(ref_scores.shape)}")
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(scores.shape):
        raise ValueError(f"mask must be bool [B, L] = {tuple(scores.shape)}, got {mask.dtype} {tuple(mask.shape)}")
    if labels.dim() == 2:
        labels = labels.unsqueeze(-1)  # [B, L] -> [B, L, 1]: one objective
    if labels.dim() != 3 or tuple(labels.shape[:2]) != tuple(scores.shape):
        raise ValueError(f"labels must be [B, L, K'] with B, L = {tuple(scores.shape)}, got {tuple(labels.shape)}")
    scores = _compute_dtype(scores)
    ref_scores = ref_scores.to(scores.dtype)
    beta = _as_beta(beta, scores.shape[0], scores)
    logits = beta[:, None] * (scores - ref_scores)  # [B, L]
    return logits, _compute_dtype(labels).to(scores.dtype)


def listnet_dpo_loss(
    scores: Tensor,
    ref_scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    beta: Tensor | float,
    gain: Gain = "identity",
    tau: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """ListNet-DPO: listwise DPO in ListNet (cross-entropy) form, per objective.

    L_k = - sum_i p^k_i log q_i,  p^k = softmax(g(y^k) / tau),  q = softmax(beta * (s - s_ref)),
    both over the real candidates (COS-DPO, Ren et al. 2024, arXiv 2410.08316; ListNet, Cao et al. 2007;
    DPO, Rafailov et al. 2023). With a one-hot target on 2 candidates it is the pairwise DPO loss.

    Args:
        scores: float [B, L] policy scores f_theta.
        ref_scores: float [B, L] frozen reference scores f_ref.
        labels: float [B, L, K'] (or [B, L] for K' = 1), one column per objective.
        mask: bool [B, L].
        beta: float [B] (or a scalar) DPO temperature.
        gain: ``identity`` (g(y) = y) or ``exp2`` (g(y) = 2^y - 1).
        tau: label temperature.
    Returns:
        per_query: float [B, K'], 0 where not valid.
        valid: bool [B, K'], False where objective k's labels are all equal in the query or the query
            has < 2 real candidates.
    """
    logits, labels = _prepare(scores, ref_scores, labels, mask, beta)
    log_q = _masked_log_softmax(logits, mask)  # [B, L]
    target = _masked_softmax(_gain(labels, gain) / tau, mask[:, :, None], dim=1)  # [B, L, K']
    loss = -(target * log_q[:, :, None]).sum(1)  # [B, K']
    valid = _informative(labels, mask[:, :, None], dim=1)
    return torch.where(valid, loss, torch.zeros_like(loss)), valid


def pl_dpo_loss(
    scores: Tensor,
    ref_scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    beta: Tensor | float,
    ties: Ties = "random",
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    n_tie_samples: int = 16,
) -> tuple[Tensor, Tensor]:
    """PL-DPO: listwise DPO in Plackett-Luce (ListMLE) form, per objective.

    Candidates ordered by y^k descending; with z = beta * (s - s_ref),
        L_k = - sum_{t < T} [ z_(t) - logsumexp_{s >= t} z_(s) ]
    (COS-DPO, Ren et al. 2024; ListMLE, Xia et al. 2008; the PL form of DPO, Rafailov et al. 2023).
    On 2 candidates it is exactly the pairwise DPO loss -log sigmoid(beta * (h_a - h_b)).

    Ties (equal y^k) have no order of their own:
      * ``random``: one uniformly random order inside each tie group per call (an unbiased one-sample
        estimate of the ``average`` loss).
      * ``average``: the loss averaged over the uniformly random orders inside the tie groups. The
        exact average runs over prod_g |g|! orders and the log-sum-exp terms have no closed form, so
        it is estimated by Monte Carlo: the mean of ``n_tie_samples`` independent random tie-breaks
        (unbiased; exact when the list has no ties, since every sample is then the same order).

    Args:
        scores: float [B, L] policy scores.
        ref_scores: float [B, L] reference scores.
        labels: float [B, L, K'] (or [B, L]).
        mask: bool [B, L].
        beta: float [B] (or a scalar).
        ties: ``random`` or ``average`` (see above).
        top_k: sum over the first T ranked positions only (None = all).
        generator: optional torch.Generator for the tie-breaking draws.
        n_tie_samples: Monte-Carlo samples for ``ties="average"``.
    Returns:
        per_query: float [B, K'], 0 where not valid.
        valid: bool [B, K'] (as in ``listnet_dpo_loss``).
    """
    if ties not in ("random", "average"):
        raise ValueError(f"unknown ties mode {ties!r}; choose 'random' or 'average'")
    logits, labels = _prepare(scores, ref_scores, labels, mask, beta)
    b, n, k = labels.shape
    samples = n_tie_samples if ties == "average" else 1
    if samples < 1:
        raise ValueError(f"n_tie_samples must be >= 1, got {n_tie_samples}")
    # one PL likelihood per (sample, query, objective): [B, L, K'] -> [S * B * K', L]
    keys = labels.permute(0, 2, 1).unsqueeze(0).expand(samples, b, k, n).reshape(-1, n)
    rows_mask = mask[None, :, None, :].expand(samples, b, k, n).reshape(-1, n)
    rows_logits = logits[None, :, None, :].expand(samples, b, k, n).reshape(-1, n)
    order = _tie_break_order(keys, rows_mask, generator)
    nll = _plackett_luce_nll(rows_logits, order, rows_mask, top_k).reshape(samples, b, k).mean(0)  # [B, K']
    valid = _informative(labels, mask[:, :, None], dim=1)
    return torch.where(valid, nll, torch.zeros_like(nll)), valid


def pairwise_dpo_loss(logratio_chosen: Tensor, logratio_rejected: Tensor, beta: Tensor | float) -> Tensor:
    """Pairwise DPO (Rafailov et al. 2023, "Direct Preference Optimization").

    L = - log sigmoid(beta * (h_a - h_b)), h = log pi_theta - log pi_ref of the chosen (a) and
    rejected (b) candidate.

    Args:
        logratio_chosen: float [B] h_a.
        logratio_rejected: float [B] h_b.
        beta: float [B] (or a scalar).
    Returns:
        float [B] per-pair loss (finite for log-ratios of +-1e4).
    """
    if logratio_chosen.shape != logratio_rejected.shape or logratio_chosen.dim() != 1:
        raise ValueError(
            f"log-ratios must both be [B], got {tuple(logratio_chosen.shape)} and {tuple(logratio_rejected.shape)}"
        )
    chosen = _compute_dtype(logratio_chosen)
    beta = _as_beta(beta, chosen.shape[0], chosen)
    return -F.logsigmoid(beta * (chosen - logratio_rejected.to(chosen.dtype)))
