"""MODPO (Zhou et al. 2024, "Beyond one-preference-fits-all"), listwise adaptation (docs/method.md §9).

For a weight w over m objectives, one objective is the base, trained with DPO: by default the one with
the largest weight (``modpo_base``; ties go to the first). The single-objective policies of the other
objectives act as implicit rewards r_k = beta * (f_k - f_ref), and the policy is trained on the base
objective b with

    z = (beta * h - sum_{k != b} w_k r_k) / w_b

in place of beta * h inside the listwise DPO loss. At a one-hot w = e_b this is plain DPO on objective
b (the single-objective policy b itself). The transform needs w_b > 0, which the largest weight always
has; a base whose weight is (nearly) 0 is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ltr_cos.errors import InputError

from .dpo import listnet_dpo_loss, pl_dpo_loss

# Below this base weight MODPO's 1/w_b scaling is treated as undefined (see the module docstring).
MODPO_MIN_BASE_WEIGHT = 1e-6
# Weights within this of the largest one count as tied with it (the first of them is the base).
_TIE_TOLERANCE = 1e-9


def modpo_base(weights: Sequence[float]) -> int:
    """The default base objective of MODPO for ``weights``: the index of the largest weight (ties: the first)."""
    values = [float(w) for w in weights]
    if not values:
        raise InputError("MODPO needs at least one weight")
    top = max(values)
    return next(i for i, w in enumerate(values) if w >= top - _TIE_TOLERANCE)


def check_modpo_base(weights: Sequence[float], base: int) -> int:
    """``base`` as an int after checking it indexes ``weights`` and has a weight above ``MODPO_MIN_BASE_WEIGHT``."""
    values = [float(w) for w in weights]
    if not 0 <= base < len(values):
        raise InputError(f"MODPO base objective {base} is outside 0..{len(values) - 1}")
    if values[base] <= MODPO_MIN_BASE_WEIGHT:
        raise InputError(f"MODPO needs a base objective with a positive weight, got w_{base + 1} = {values[base]} "
                         f"(weights {values}); the default base is the objective with the largest weight")
    return int(base)


def modpo_logits(scores: Tensor, ref_scores: Tensor, reward_scores: Tensor | None, weights: Sequence[float],
                 beta: Tensor | float, base: int = 0) -> Tensor:
    """MODPO's margin-adjusted logits z = (beta * h - sum_{k != b} w_k r_k) / w_b for the base objective b.

    Args:
        scores: float [B, L] policy scores f_theta.
        ref_scores: float [B, L] reference scores f_ref.
        reward_scores: float [B, L, m-1] scores f_k of the single-objective policies of the objectives
            other than ``base``, in objective order (None when m = 1); r_k = beta * (f_k - f_ref).
        weights: the m weights (w_b > 0).
        beta: float [B] or a scalar.
        base: index b of the objective trained with DPO (``modpo_base(weights)`` by convention).

    Returns:
        float [B, L] z; padding entries are whatever the inputs give there (losses mask them).
    """
    weights = [float(w) for w in weights]
    base = check_modpo_base(weights, base)
    beta_t = torch.as_tensor(beta, dtype=scores.dtype, device=scores.device)
    if beta_t.dim() == 1:
        beta_t = beta_t[:, None]  # [B] -> [B, 1]
    z = beta_t * (scores - ref_scores)
    if len(weights) > 1:
        if reward_scores is None or reward_scores.shape[-1] != len(weights) - 1:
            raise InputError(f"MODPO with {len(weights)} weights needs reward scores [B, L, {len(weights) - 1}]")
        w_rest = torch.tensor(weights[:base] + weights[base + 1:], dtype=scores.dtype, device=scores.device)
        rewards = beta_t[..., None] * (reward_scores - ref_scores[..., None])  # [B, L, m-1]
        z = z - (rewards * w_rest).sum(-1)
    return z / weights[base]


def modpo_loss(z: Tensor, labels: Tensor, mask: Tensor, form: Literal["listnet", "pl"] = "listnet",
               **loss_options) -> Tensor:
    """Listwise DPO loss of the base objective with z in place of beta * h, averaged over the valid queries.

    The DPO losses compute beta * (scores - ref_scores); passing (z, 0, beta = 1) makes that z.

    Args:
        z: float [B, L] from ``modpo_logits``.
        labels: float [B, L] labels of the base objective.
        mask: bool [B, L].
        form: ``listnet`` or ``pl``.
        loss_options: ``gain``/``tau`` (listnet) or ``ties``/``top_k``/``generator`` (pl).
    """
    loss_fn = {"listnet": listnet_dpo_loss, "pl": pl_dpo_loss}[form]
    per_query, valid = loss_fn(z, torch.zeros_like(z), labels, mask, 1.0, **loss_options)
    v = valid.to(per_query.dtype)
    return (v * per_query).sum() / v.sum().clamp_min(1.0)
