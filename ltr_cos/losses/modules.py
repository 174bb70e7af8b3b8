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
    """The Weight-/Temperature-COS-DPO objective (``cos_dpo_loss``, docs/method.md §3-4) as a configurable part.

    forward(scores [B, L], ref_scores [B, L], labels [B, L, K], mask [B, L], weights [B, m], beta [B],
    objectives=None, generator=None) -> CosDpoOutput. ``objectives`` (the m label columns the weights
    weigh) is given at construction or per call; the training module passes the dataset's columns.

    Args:
        form: ``listnet`` (ListNet-DPO) or ``pl`` (Plackett-Luce / ListMLE form).
        cosine_lambda: weight of the COSMOS cosine term (0 = off).
        gain, tau: ListNet-DPO target gain (``identity`` or ``exp2``) and label temperature.
        ties, top_k: PL-DPO tie handling (``random`` or ``average``) and truncation.
        objectives: default label columns.
    """

    def __init__(
        self,
        form: Literal["listnet", "pl"] = "listnet",
        cosine_lambda: float = 0.0,
        gain: Gain = "identity",
        tau: float = 1.0,
        ties: Ties = "random",
        top_k: int | None = None,
        objectives: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if form not in ("listnet", "pl"):
            raise ValueError(f"unknown form {form!r}; choose 'listnet' or 'pl'")
        self.objectives = None if objectives is None else list(objectives)
        self.form, self.cosine_lambda, self.gain, self.tau, self.ties, self.top_k = (
            form, cosine_lambda, gain, tau, ties, top_k
        )

    def describe(self) -> dict:
        """A JSON-able record of the settings (checkpoints and reports)."""
        return {"class": type(self).__name__, "form": self.form, "cosine_lambda": self.cosine_lambda,
                "gain": self.gain, "tau": self.tau, "ties": self.ties, "top_k": self.top_k}

    def forward(
        self,
        scores: Tensor,
        ref_scores: Tensor,
        labels: Tensor,
        mask: Tensor,
        weights: Tensor,
        beta: Tensor | float,
        objectives: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> CosDpoOutput:
        objectives = self.objectives if objectives is None else objectives
        if objectives is None:
            raise ValueError("CosDpoLoss needs the label columns of the weighted objectives (objectives=...)")
        return cos_dpo_loss(
            scores, ref_scores, labels, mask, weights, beta, objectives,
            form=self.form, cosine_lambda=self.cosine_lambda, gain=self.gain, tau=self.tau,
            ties=self.ties, generator=generator, top_k=self.top_k,
        )
