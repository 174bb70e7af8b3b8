"""Run-time temperature control of a Weight-COS-DPO policy (the linear property, docs/method.md §5).

The unconditioned ListNet-DPO optimum at temperature c * beta is f_ref + (f*_beta - f_ref) / c, so a policy
trained at ``trained_beta`` is moved to ``target_beta`` by
    scores' = ref_scores + (trained_beta / target_beta) * (scores - ref_scores).
"""

from __future__ import annotations

import torch
from torch import Tensor


def apply_temperature_ratio(scores: Tensor, ref_scores: Tensor, ratio: Tensor) -> Tensor:
    """ref_scores + ratio * (scores - ref_scores); TorchScript- and ONNX-exportable.

    Args:
        scores, ref_scores: float32 [..., B, L] (broadcastable).
        ratio: trained_beta / target_beta, a scalar tensor or float32 [B].
    """
    if ratio.dim() == 1:
        ratio = ratio.unsqueeze(1)  # [B] -> [B, 1]
    return ref_scores + ratio * (scores - ref_scores)


def rescale_temperature(scores: Tensor, ref_scores: Tensor, trained_beta: float | Tensor,
                        target_beta: float | Tensor) -> Tensor:
    """Move a Weight-COS-DPO policy trained at ``trained_beta`` to ``target_beta``.

    Args:
        scores, ref_scores: float32 [B, L] (or broadcastable, e.g. [G, B, L] against [1, B, L]).
        trained_beta: the beta the policy was trained with (scalar).
        target_beta: scalar or float32 [B].
    """
    ratio = torch.as_tensor(trained_beta, dtype=scores.dtype, device=scores.device) / torch.as_tensor(
        target_beta, dtype=scores.dtype, device=scores.device)
    return apply_temperature_ratio(scores, ref_scores, ratio)
