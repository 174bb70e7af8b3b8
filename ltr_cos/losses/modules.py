"""Thin ``nn.Module`` wrappers around the pure loss functions (for configs and ``nn.Module`` users).

The reference-stage wrappers accept labels [B, L] or the batch's [B, L, K] and then use column
``objective`` (0 = main by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from .cos_dpo import CosDpoOutput, cos_dpo_loss
from .dpo import Ties
from .listwise import Gain, approx_ndcg_loss, lambda_loss, listmle_loss, listnet_loss


def _column(labels: Tensor, objective: int) -> Tensor:
    """labels [B, L, K] -> [B, L] (column ``objective``); [B, L] passes through."""
    return labels[..., objective] if labels.dim() == 3 else labels


class _SingleObjectiveLoss(nn.Module):
    def __init__(self, objective: int = 0) -> None:
        super().__init__()
        self.objective = objective


class ListNetLoss(_SingleObjectiveLoss):
    """``listnet_loss`` as a module; forward(scores [B, L], labels [B, L] | [B, L, K], mask [B, L]) -> scalar."""

    def __init__(
        self, gain: Gain = "identity", tau: float = 1.0, drop_uninformative: bool = False, objective: int = 0
    ) -> None:
        super().__init__(objective)
        self.gain, self.tau, self.drop_uninformative = gain, tau, drop_uninformative

    def forward(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        return listnet_loss(
            scores, _column(labels, self.objective), mask, self.gain, self.tau, self.drop_uninformative
        )


class ListMLELoss(_SingleObjectiveLoss):
    """``listmle_loss`` as a module (ties broken at random by the global RNG or ``generator``)."""

    def forward(
        self, scores: Tensor, labels: Tensor, mask: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        return listmle_loss(scores, _column(labels, self.objective), mask, generator=generator)


class LambdaLoss(_SingleObjectiveLoss):
    """``lambda_loss`` (NDCGLoss2++) as a module."""

    def __init__(self, k: int | None = None, sigma: float = 1.0, mu: float = 10.0, objective: int = 0) -> None:
        super().__init__(objective)
        self.k, self.sigma, self.mu = k, sigma, mu

    def forward(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        return lambda_loss(scores, _column(labels, self.objective), mask, k=self.k, sigma=self.sigma, mu=self.mu)


class ApproxNDCGLoss(_SingleObjectiveLoss):
    """``approx_ndcg_loss`` as a module."""

    def __init__(self, alpha: float = 1.0, objective: int = 0) -> None:
        super().__init__(objective)
        self.alpha = alpha

    def forward(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        return approx_ndcg_loss(scores, _column(labels, self.objective), mask, alpha=self.alpha)


class CosDpoLoss(nn.Module):
    """``cos_dpo_loss`` as a module.

    forward(scores [B, L], ref_scores [B, L], labels [B, L, K], mask [B, L], weights [B, m], beta [B],
    generator=None) -> CosDpoOutput.
    """

    def __init__(
        self,
        objectives: Sequence[int],
        form: Literal["listnet", "pl"] = "listnet",
        cosine_lambda: float = 0.0,
        gain: Gain = "identity",
        tau: float = 1.0,
        ties: Ties = "random",
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        if form not in ("listnet", "pl"):
            raise ValueError(f"unknown form {form!r}; choose 'listnet' or 'pl'")
        self.objectives = list(objectives)
        self.form, self.cosine_lambda, self.gain, self.tau, self.ties, self.top_k = (
            form, cosine_lambda, gain, tau, ties, top_k
        )

    def forward(
        self,
        scores: Tensor,
        ref_scores: Tensor,
        labels: Tensor,
        mask: Tensor,
        weights: Tensor,
        beta: Tensor | float,
        generator: torch.Generator | None = None,
    ) -> CosDpoOutput:
        return cos_dpo_loss(
            scores, ref_scores, labels, mask, weights, beta, self.objectives,
            form=self.form, cosine_lambda=self.cosine_lambda, gain=self.gain, tau=self.tau,
            ties=self.ties, generator=generator, top_k=self.top_k,
        )
