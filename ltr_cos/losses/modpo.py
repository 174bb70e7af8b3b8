"""MODPO (Zhou et al. 2024, "Beyond one-preference-fits-all"), listwise adaptation (docs/method.md §9).

The single-objective policies of objectives 2..m act as implicit rewards r_k = beta * (f_k - f_ref); for a
weight w a policy is trained on objective 1 with z = (beta * h - sum_{k>=2} w_k r_k) / w_1 in place of
beta * h inside the listwise DPO loss. At w_1 = 0 the transform is undefined: the limit is the policy of
the remaining objectives (for m = 2, the objective-2 single policy), so w_1 = 0 is refused here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ltr_cos.errors import InputError

from .dpo import listnet_dpo_loss, pl_dpo_loss

# Below this first weight MODPO's 1/w_1 scaling is treated as undefined (see the module docstring).
MODPO_MIN_FIRST_WEIGHT = 1e-6


def modpo_logits(scores: Tensor, ref_scores: Tensor, reward_scores: Tensor | None, weights: Sequence[float],
                 beta: Tensor | float) -> Tensor:
    """MODPO's margin-adjusted logits z = (beta * h - sum_{k>=2} w_k r_k) / w_1.

    Args:
        scores: float [B, L] policy scores f_theta.
        ref_scores: float [B, L] reference scores f_ref.
        reward_scores: float [B, L, m-1] scores f_k of the single-objective policies of objectives
            2..m (None when m = 1); r_k = beta * (f_k - f_ref).
        weights: the m weights (w_1 first, w_1 > 0).
        beta: float [B] or a scalar.

    Returns:
        float [B, L] z; padding entries are whatever the inputs give there (losses mask them).
    """
    weights = [float(w) for w in weights]
    if weights[0] <= MODPO_MIN_FIRST_WEIGHT:
        raise InputError(f"MODPO needs w_1 > 0 (got {weights[0]}); at w_1 = 0 use the policy of the other "
                         "objectives (for m = 2 the objective-2 single policy)")
    beta_t = torch.as_tensor(beta, dtype=scores.dtype, device=scores.device)
    if beta_t.dim() == 1:
        beta_t = beta_t[:, None]  # [B] -> [B, 1]
    z = beta_t * (scores - ref_scores)
    if len(weights) > 1:
        if reward_scores is None or reward_scores.shape[-1] != len(weights) - 1:
            raise InputError(f"MODPO with {len(weights)} weights needs reward scores [B, L, {len(weights) - 1}]")
        w_rest = torch.tensor(weights[1:], dtype=scores.dtype, device=scores.device)
        rewards = beta_t[..., None] * (reward_scores - ref_scores[..., None])  # [B, L, m-1]
        z = z - (rewards * w_rest).sum(-1)
    return z / weights[0]


def modpo_loss(z: Tensor, labels: Tensor, mask: Tensor, form: Literal["listnet", "pl"] = "listnet",
               **loss_options) -> Tensor:
    """Listwise DPO loss of objective 1 with z in place of beta * h, averaged over the valid queries.

    The DPO losses compute beta * (scores - ref_scores); passing (z, 0, beta = 1) makes that z.

    Args:
        z: float [B, L] from ``modpo_logits``.
        labels: float [B, L] labels of objective 1.
        mask: bool [B, L].
        form: ``listnet`` or ``pl``.
        loss_options: ``gain``/``tau`` (listnet) or ``ties``/``top_k``/``generator`` (pl).
    """
    loss_fn = {"listnet": listnet_dpo_loss, "pl": pl_dpo_loss}[form]
    per_query, valid = loss_fn(z, torch.zeros_like(z), labels, mask, 1.0, **loss_options)
    v = valid.to(per_query.dtype)
    return (v * per_query).sum() / v.sum().clamp_min(1.0)
