"""Pair accuracy of LLM policies: how a margin, or a one-hot weight, orders the responses of a prompt."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from .data import LlmBatch


def pair_accuracy(margins: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Fraction of response pairs with different labels that ``margins`` order like the labels.

    Args:
        margins: float [B, N]; labels: float [B, N]; mask: bool [B, N]. Returns a float32 scalar (nan if
        no pair has different labels).
    """
    dl = labels[:, :, None] - labels[:, None, :]                       # [B, N, N]
    dm = margins[:, :, None] - margins[:, None, :]
    pair = (dl > 0) & mask[:, :, None] & mask[:, None, :]
    if not pair.any():
        return torch.tensor(float("nan"))
    return (dm[pair] > 0).float().mean()


@torch.no_grad()
def one_hot_pair_accuracy(module: pl.LightningModule, batch: LlmBatch) -> tuple[dict[str, float], dict[str, float]]:
    """How the one-hot weights order a batch's answers, per objective k (pairs with different labels; 0.5 is
    chance).

    ``module`` is an ``LlmCosDpoModule`` (typed loosely so that this file does not import that one).

    * absolute: the implicit reward log pi(y | x, e_k) - log pi_ref(y | x) orders them like k's labels;
    * shift: the change of log pi(y | x, w) from the other one-hot weights (their mean) to e_k does. This
      isolates what the weight does; the absolute order also carries whatever the adapters and prompts
      learned for every weight (and, untrained, a length effect).
    """
    was_training = module.training
    module.eval()
    b, m = len(batch), module.m
    batch = batch.to(module.device)
    log_beta = module.default_log_beta(b, module.device)
    scores, absolute, shift = [], {}, {}
    for k, name in enumerate(module.weighted_objectives):
        one_hot = torch.zeros(b, m, device=module.device)
        one_hot[:, k] = 1.0
        policy, reference = module.score(batch, one_hot, log_beta)
        scores.append(policy)
        labels = batch.labels[..., module.objective_columns[k]]
        absolute[name] = float(pair_accuracy(policy - reference, labels, batch.mask))
    for k, name in enumerate(module.weighted_objectives):
        if m == 1:
            shift[name] = float("nan")                      # one weight: nothing to shift from
            continue
        others = torch.stack([s for j, s in enumerate(scores) if j != k]).mean(0)
        labels = batch.labels[..., module.objective_columns[k]]
        shift[name] = float(pair_accuracy(scores[k] - others, labels, batch.mask))
    module.train(was_training)
    return absolute, shift
