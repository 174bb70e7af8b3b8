"""The Weight-/Temperature-COS-DPO objective (docs/method.md §4-5).

The training module samples the weights (Dirichlet, ``ltr_cos.objectives.sample_weights``) and, for
Temperature-COS-DPO, beta (``sample_log_beta``), feeds them to the model, and passes the very same
tensors here; this loss never samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .dpo import Ties, listnet_dpo_loss, pl_dpo_loss
from .listwise import Gain

# Floor on vector norms in the cosine term: keeps it finite (zero gradient, not NaN) for zero vectors.
_NORM_EPS = 1e-12


class CosDpoOutput(NamedTuple):
    """Result of ``cos_dpo_loss``.

    Attributes:
        loss: scalar to minimise.
        per_objective: float [m], mean L_k over the queries valid for objective k (0 if none); attached
            to the graph (detach it for logging).
        valid_fraction: float [m], fraction of the B queries valid for objective k.
        valid_count: float [m], number of queries valid for objective k (the weight of ``per_objective[k]``
            in an epoch mean); the loss of a batch with no valid query for any objective is 0 and carries
            no gradient.
    """

    loss: Tensor
    per_objective: Tensor
    valid_fraction: Tensor
    valid_count: Tensor


def cos_dpo_loss(
    scores: Tensor,
    ref_scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    weights: Tensor,
    beta: Tensor | float,
    objectives: Sequence[int],
    form: Literal["listnet", "pl"] = "listnet",
    cosine_lambda: float = 0.0,
    gain: Gain = "identity",
    tau: float = 1.0,
    ties: Ties = "random",
    generator: torch.Generator | None = None,
    top_k: int | None = None,
) -> CosDpoOutput:
    """COS-DPO objective (Ren et al. 2024, arXiv 2410.08316), with the COSMOS cosine term
    (Ruchte and Grabocka 2021).

    With L_bk the listwise DPO loss of query b for objective ``objectives[k]`` and v_bk its validity:
        loss = sum_k [ sum_b v_bk w_bk L_bk / max(1, sum_b v_bk) ]
               - cosine_lambda * mean_b cos(w_b, L_b).
    Each objective is averaged over its own valid queries, so queries with all-equal labels for k
    neither add to nor dilute L_k. The cosine of query b is taken over its valid objectives only
    (w_b and L_b restricted to {k : v_bk}; the weights are not renormalised, cosine is scale-free),
    and the mean runs over the queries with at least one valid objective.

    Args:
        scores: float [B, L] policy scores f_theta(X, w, beta).
        ref_scores: float [B, L] reference scores f_ref(X).
        labels: float [B, L, K], all objectives.
        mask: bool [B, L].
        weights: float [B, m], the weights the model was conditioned on (rows on the simplex).
        beta: float [B] (or a scalar), the temperature the model was conditioned on.
        objectives: the m label columns the weights weigh (e.g. [1, 2], or [0, 1, 2] with the main one).
        form: ``listnet`` (``listnet_dpo_loss``) or ``pl`` (``pl_dpo_loss``).
        cosine_lambda: weight of the cosine term (0 = off).
        gain, tau: ListNet target options.
        ties, generator, top_k: PL options.
    Returns:
        CosDpoOutput(loss scalar, per_objective [m], valid_fraction [m], valid_count [m]).
    """
    objectives = list(objectives)
    if labels.dim() != 3:
        raise ValueError(f"labels must be [B, L, K], got shape {tuple(labels.shape)}")
    if weights.dim() != 2 or tuple(weights.shape) != (scores.shape[0], len(objectives)):
        raise ValueError(
            f"weights must be [B, m] = [{scores.shape[0]}, {len(objectives)}] (m = len(objectives)), "
            f"got {tuple(weights.shape)}"
        )
    if not objectives or not all(0 <= o < labels.shape[-1] for o in objectives):
        raise ValueError(f"objectives {objectives} must be label columns in [0, {labels.shape[-1]})")
    selected = labels[..., objectives]  # [B, L, K] -> [B, L, m]
    if form == "listnet":
        per_query, valid = listnet_dpo_loss(scores, ref_scores, selected, mask, beta, gain=gain, tau=tau)
    elif form == "pl":
        per_query, valid = pl_dpo_loss(
            scores, ref_scores, selected, mask, beta, ties=ties, top_k=top_k, generator=generator
        )
    else:
        raise ValueError(f"unknown form {form!r}; choose 'listnet' or 'pl'")

    weights = weights.to(per_query.dtype)
    v = valid.to(per_query.dtype)  # [B, m]
    count = v.sum(0).clamp_min(1.0)  # [m]
    loss = ((v * weights * per_query).sum(0) / count).sum()
    per_objective = (v * per_query).sum(0) / count
    valid_fraction = v.mean(0) if v.shape[0] > 0 else v.sum(0)

    if cosine_lambda != 0.0:
        w_valid, l_valid = v * weights, v * per_query  # restrict both vectors to the valid objectives
        dot = (w_valid * l_valid).sum(-1)
        norms = (w_valid.square().sum(-1) * l_valid.square().sum(-1)).clamp_min(_NORM_EPS**2).sqrt()
        cosine = dot / norms  # [B]
        has_any = valid.any(-1)
        mean_cos = torch.where(has_any, cosine, torch.zeros_like(cosine)).sum() / has_any.sum().clamp_min(1)
        loss = loss - cosine_lambda * mean_cos
    return CosDpoOutput(loss, per_objective, valid_fraction, v.sum(0))
