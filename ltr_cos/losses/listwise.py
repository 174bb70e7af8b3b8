"""Reference-stage listwise losses on the tensor contract (one objective, labels [B, L]).

Every function takes ``scores`` float [B, L], ``labels`` float [B, L] and ``mask`` bool [B, L]
(True = real candidate) and returns a scalar: the mean per-query loss over the queries that have at
least one real candidate (``listnet_loss(drop_uninformative=True)`` narrows that set). Padding is
expressed only by ``mask``: padded scores and labels may hold any finite value and change nothing,
gradients included. Masked reductions fill padding with a large finite negative instead of -inf, so
all-padding rows give a loss of 0 with zero (not NaN) gradients.

The private helpers here (masked log-softmax, Plackett-Luce negative log-likelihood, tie-breaking
orders) are shared with the DPO losses in ``dpo.py``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Gain = Literal["identity", "exp2"]

# Large finite stand-in for -inf in masked logsumexps: exp(_NEG - x) underflows to exactly 0 for any
# score the losses will meet, while x - _NEG and _NEG - _NEG stay finite (no inf - inf = NaN, no NaN
# gradients through torch.where). Computations run in float32 or float64, where 1e30 is representable.
_NEG = -1e30
# Floor on ideal DCG, as in allRank's losses (their DEFAULT_EPS), so queries without a positive gain give 0.
_EPS = 1e-10


def _compute_dtype(x: Tensor) -> Tensor:
    """Upcast half/bfloat16 to float32 (losses are computed in at least single precision)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_single(scores: Tensor, labels: Tensor, mask: Tensor) -> None:
    if scores.dim() != 2:
        raise ValueError(f"scores must be [B, L], got shape {tuple(scores.shape)}")
    if tuple(labels.shape) != tuple(scores.shape):
        raise ValueError(
            f"labels must be [B, L] = {tuple(scores.shape)} (select one objective column first), "
            f"got {tuple(labels.shape)}"
        )
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(scores.shape):
        raise ValueError(f"mask must be bool [B, L] = {tuple(scores.shape)}, got {mask.dtype} {tuple(mask.shape)}")


def _masked_log_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """log softmax over the real entries of ``dim``; 0 at padded entries (and for all-padding rows)."""
    filled = torch.where(mask, logits, torch.full_like(logits, _NEG))
    return torch.where(mask, torch.log_softmax(filled, dim=dim), torch.zeros_like(logits))


def _masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """softmax over the real entries of ``dim``; 0 at padded entries (and for all-padding rows)."""
    filled = torch.where(mask, logits, torch.full_like(logits, _NEG))
    return torch.where(mask, torch.softmax(filled, dim=dim), torch.zeros_like(logits))


def _gain(labels: Tensor, gain: Gain) -> Tensor:
    """Target gain g(y): ``identity`` (y) or ``exp2`` (2^y - 1)."""
    if gain == "identity":
        return labels
    if gain == "exp2":
        return torch.pow(2.0, labels) - 1.0
    raise ValueError(f"unknown gain {gain!r}; choose 'identity' or 'exp2'")


def _informative(labels: Tensor, mask: Tensor, dim: int = 1) -> Tensor:
    """True where a list has >= 2 real candidates whose labels are not all equal.

    Args:
        labels: float [..., L, ...] with the list along ``dim``.
        mask: bool broadcastable to ``labels``.
    Returns:
        bool, ``labels`` with ``dim`` reduced.
    """
    mask = mask.expand_as(labels)
    hi = torch.where(mask, labels, torch.full_like(labels, -math.inf)).amax(dim=dim)
    lo = torch.where(mask, labels, torch.full_like(labels, math.inf)).amin(dim=dim)
    return (mask.sum(dim=dim) >= 2) & (hi > lo)


def _mean_over(per_query: Tensor, include: Tensor) -> Tensor:
    """Mean of ``per_query`` [B] over ``include`` [B]; 0 (still attached to the graph) when none is included."""
    per_query = torch.where(include, per_query, torch.zeros_like(per_query))
    return per_query.sum() / include.sum().clamp_min(1)


def _tie_break_order(keys: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Permutation sorting each row by ``keys`` descending, real candidates first, ties broken at random.

    Args:
        keys: float [N, L] sort keys (labels); never differentiated.
        mask: bool [N, L].
        generator: optional torch.Generator for the tie-breaking draw (on ``keys.device``).
    Returns:
        int64 [N, L]: column indices, position t of row n holds the candidate ranked t-th.
    """
    noise = torch.rand(keys.shape, generator=generator, device=keys.device)
    shuffle = noise.argsort(dim=-1)  # a uniformly random permutation per row
    # padding sorts last; a stable sort by key then keeps the random order inside each tie group
    keyed = torch.where(mask, keys, torch.full_like(keys, -math.inf)).detach().gather(-1, shuffle)
    by_key = torch.sort(keyed, dim=-1, descending=True, stable=True).indices
    return shuffle.gather(-1, by_key)


def _plackett_luce_nll(logits: Tensor, order: Tensor, mask: Tensor, top_k: int | None = None) -> Tensor:
    """Plackett-Luce negative log-likelihood of a ranking (ListMLE, Xia et al. 2008).

    nll = sum_{t < min(T, n)} [ logsumexp_{s >= t} x_(s) - x_(t) ], x_(t) = logit of the t-th ranked
    candidate, n = number of real candidates, T = ``top_k`` (None = n).

    Args:
        logits: float [N, L].
        order: int64 [N, L] ranking permutation with the real candidates first (see ``_tie_break_order``).
        mask: bool [N, L].
        top_k: truncate the sum to the first T positions (the top-T PL likelihood).
    Returns:
        float [N], 0 for all-padding rows.
    """
    x = logits.gather(-1, order)  # [N, L] in ranked order
    real = mask.gather(-1, order)
    x = torch.where(real, x, torch.full_like(x, _NEG))
    # logsumexp over the suffix s >= t: reverse, cumulative logsumexp, reverse back (stable for +-1e4)
    suffix = torch.logcumsumexp(x.flip(-1), dim=-1).flip(-1)
    keep = real
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        keep = keep & (torch.arange(x.shape[-1], device=x.device) < top_k)
    return torch.where(keep, suffix - x, torch.zeros_like(x)).sum(-1)


def listnet_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    gain: Gain = "identity",
    tau: float = 1.0,
    drop_uninformative: bool = False,
) -> Tensor:
    """ListNet top-one cross-entropy (Cao et al. 2007, "Learning to Rank: From Pairwise Approach to
    Listwise Approach").

    L = - sum_i p_i log q_i,  p = softmax(g(y) / tau),  q = softmax(s), both over the real candidates.

    Args:
        scores: float [B, L].
        labels: float [B, L], one objective.
        mask: bool [B, L].
        gain: ``identity`` (g(y) = y, allRank's choice) or ``exp2`` (g(y) = 2^y - 1).
        tau: label temperature.
        drop_uninformative: leave out of the mean the queries with < 2 real candidates or all-equal
            labels (their target is uniform and carries no preference).
    Returns:
        Scalar: mean over queries with >= 1 real candidate (or the informative ones).
    """
    _check_single(scores, labels, mask)
    scores, labels = _compute_dtype(scores), _compute_dtype(labels).to(_compute_dtype(scores).dtype)
    target = _masked_softmax(_gain(labels, gain) / tau, mask)
    per_query = -(target * _masked_log_softmax(scores, mask)).sum(-1)  # [B]
    include = _informative(labels, mask, dim=1) if drop_uninformative else mask.any(-1)
    return _mean_over(per_query, include)


def listmle_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """ListMLE (Xia et al. 2008, "Listwise Approach to Learning to Rank: Theory and Algorithm").

    L = sum_t [ logsumexp_{s >= t} s_(t..) - s_(t) ] over the candidates ordered by label descending;
    equal labels are ordered uniformly at random at every call (as allRank does).

    Args:
        scores: float [B, L].
        labels: float [B, L].
        mask: bool [B, L].
        generator: optional torch.Generator for the tie-breaking draw.
    Returns:
        Scalar: mean over queries with >= 1 real candidate.
    """
    _check_single(scores, labels, mask)
    scores = _compute_dtype(scores)
    order = _tie_break_order(labels, mask, generator)
    per_query = _plackett_luce_nll(scores, order, mask)
    return _mean_over(per_query, mask.any(-1))


def _ideal_dcg(gains: Tensor, mask: Tensor, k: int | None) -> Tensor:
    """Ideal DCG@k (log2 discount) of gains [B, L] over real candidates, floored at _EPS; [B]."""
    ideal = torch.where(mask, gains, torch.zeros_like(gains)).sort(dim=-1, descending=True).values
    discount = torch.log2(torch.arange(2, gains.shape[-1] + 2, device=gains.device, dtype=gains.dtype))
    return (ideal / discount)[:, :k].sum(-1).clamp_min(_EPS)


def lambda_loss(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    k: int | None = None,
    sigma: float = 1.0,
    mu: float = 10.0,
) -> Tensor:
    """LambdaLoss with the NDCGLoss2++ weighting (Wang et al. 2018, "The LambdaLoss Framework for
    Ranking Metric Optimization"), as implemented by allRank.

    Candidates are ranked by score (positions i, j = 1..n); for every pair with y_i > y_j and both
    positions <= k:
        L = - sum_{i,j} w_ij log2 sigmoid(sigma (s_i - s_j)),
        w_ij = (mu * delta_ij + |1/D_i - 1/D_j|) * |G_i - G_j|,
        delta_ij = |1/D_{|i-j|} - 1/D_{|i-j|+1}|,  D_i = log2(1 + i),  G_i = (2^{y_i} - 1) / maxDCG@k.
    The weights are constants of the current ranking (no gradient flows through the sort).

    Args:
        scores: float [B, L].
        labels: float [B, L] graded relevance (>= 0).
        mask: bool [B, L].
        k: truncation rank (None = the whole list).
        sigma: score-difference scale inside the sigmoid.
        mu: weight of the NDCGLoss2 term.
    Returns:
        Scalar: mean over queries with >= 1 real candidate of the per-query pair sum (allRank's
        ``reduction="sum"`` divided by B when no row is empty).
    """
    _check_single(scores, labels, mask)
    scores = _compute_dtype(scores)
    labels = _compute_dtype(labels).to(scores.dtype)
    n = scores.shape[-1]
    # rank by score, padding last; the sort only supplies positions, so it sees detached scores
    sort_key = torch.where(mask, scores.detach(), torch.full_like(scores, -math.inf))
    order = sort_key.argsort(dim=-1, descending=True)
    s = scores.gather(-1, order)  # [B, L] in ranked order
    y = labels.gather(-1, order)
    real = mask.gather(-1, order)
    y = torch.where(real, y, torch.zeros_like(y))

    max_dcg = _ideal_dcg(torch.pow(2.0, torch.where(mask, labels, torch.zeros_like(labels))) - 1.0, mask, k)
    G = (torch.pow(2.0, y) - 1.0) / max_dcg[:, None]  # [B, L] in ranked order
    pos = torch.arange(1, n + 1, device=s.device, dtype=s.dtype)
    inv_D = 1.0 / torch.log2(1.0 + pos)  # 1 / D_i, [L]
    gap = (pos[:, None] - pos[None, :]).abs()  # |i - j|, [L, L]
    # delta_ij = 1/D_{|i-j|} - 1/D_{|i-j|+1} (positive, decreasing in the gap); 0 on the diagonal
    delta = torch.where(gap > 0, 1.0 / torch.log2(1.0 + gap) - 1.0 / torch.log2(2.0 + gap), torch.zeros_like(gap))
    G_gap = (G[:, :, None] - G[:, None, :]).abs()  # [B, L, L]
    weights = (mu * delta + (inv_D[:, None] - inv_D[None, :]).abs())[None] * G_gap

    pairs = real[:, :, None] & real[:, None, :] & (y[:, :, None] > y[:, None, :])  # [B, L, L]
    if k is not None:
        top = torch.arange(n, device=s.device) < k
        pairs = pairs & top[:, None] & top[None, :]
    diff = s[:, :, None] - s[:, None, :]  # [B, L, L], finite for scores of +-1e4
    pair_loss = -weights.detach() * F.logsigmoid(sigma * diff) / math.log(2.0)
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum((1, 2))
    return _mean_over(per_query, mask.any(-1))


def approx_ndcg_loss(scores: Tensor, labels: Tensor, mask: Tensor, alpha: float = 1.0) -> Tensor:
    """ApproxNDCG (Qin, Liu, Li 2010, "A General Approximation Framework for Direct Optimization of
    Information Retrieval Measures").

    pi_i = 1 + sum_{j != i} sigmoid(-alpha (s_i - s_j))  (smooth position),
    L = - sum_i G_i / log2(1 + pi_i),  G_i = (2^{y_i} - 1) / maxDCG  (no truncation).

    Args:
        scores: float [B, L].
        labels: float [B, L] graded relevance (>= 0).
        mask: bool [B, L].
        alpha: sharpness of the smooth position.
    Returns:
        Scalar: mean over queries with >= 1 real candidate (queries without a positive gain give 0).
    """
    _check_single(scores, labels, mask)
    scores = _compute_dtype(scores)
    labels = torch.where(mask, _compute_dtype(labels).to(scores.dtype), torch.zeros_like(scores))
    gains = torch.pow(2.0, labels) - 1.0
    G = gains / _ideal_dcg(gains, mask, None)[:, None]  # [B, L]
    diff = scores[:, :, None] - scores[:, None, :]  # [B, L, L]: s_i - s_j
    others = mask[:, :, None] & mask[:, None, :] & ~torch.eye(scores.shape[-1], dtype=torch.bool, device=scores.device)
    sig = torch.sigmoid(-alpha * diff)
    position = 1.0 + torch.where(others, sig, torch.zeros_like(sig)).sum(-1)  # [B, L]
    per_query = -torch.where(mask, G / torch.log2(1.0 + position), torch.zeros_like(G)).sum(-1)
    return _mean_over(per_query, mask.any(-1))
