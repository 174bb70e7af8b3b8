"""DPO Soup (Rame et al. 2023, "Rewarded soups"; docs/method.md §9): m single-objective policies (DPO-LS
runs at the corners of the simplex) whose parameters are interpolated for a weight w,
theta(w) = sum_k w_k theta_k."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ltr_cos.errors import InputError
from ltr_cos.models import Ranker
from ltr_cos.objectives import check_simplex


def single_objective_weights(m: int, k: int) -> list[float]:
    """The one-hot weight vector e_k over m objectives (a DPO-LS corner run = a single-objective policy)."""
    if not 0 <= k < m:
        raise InputError(f"objective index {k} is outside 0..{m - 1}")
    return [1.0 if j == k else 0.0 for j in range(m)]


def soup_ranker(policies: Sequence[Ranker], weights: Sequence[float]) -> Ranker:
    """DPO Soup: a new unconditioned ranker with parameters sum_k w_k theta_k.

    Args:
        policies: m unconditioned rankers with the same configuration (the single-objective policies,
            in the order of the weighted objectives).
        weights: m non-negative values summing to 1.

    Returns:
        The interpolated ranker in eval mode. Floating-point parameters and buffers are interpolated;
        integer buffers are copied from the first policy. For a one-hot w the result computes exactly
        the selected policy's scores (0 * theta_j adds nothing for finite parameters).
    """
    if not policies:
        raise InputError("soup_ranker needs at least one policy")
    weights = check_simplex([float(w) for w in weights], len(policies), what="soup weights").tolist()
    config = policies[0].config
    for i, policy in enumerate(policies[1:], start=1):
        if policy.config != config:
            raise InputError(f"soup policy {i} has a different configuration than policy 0")
    if config.conditioning is not None:
        raise InputError("soup_ranker interpolates unconditioned policies (one per objective)")
    states = [policy.state_dict() for policy in policies]
    mixed = {}
    for key, first in states[0].items():
        if torch.is_floating_point(first):
            value = torch.zeros_like(first)
            for w, state in zip(weights, states):
                value = value + w * state[key]
            mixed[key] = value
        else:
            mixed[key] = first.clone()
    soup = Ranker(config)
    soup.load_state_dict(mixed)
    soup.normalizer.enabled = policies[0].normalizer.enabled
    return soup.eval()
