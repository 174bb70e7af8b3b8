"""The multi-model baselines of SPEC 9, built from the same frozen reference ranker as COS-DPO.

* **DPO-LS**: ``CosDpoModule(fixed_weights=w)`` per grid weight (an unconditioned policy trained on
  sum_k w_k L_k); ``single_objective_weights`` gives the one-hot vectors of its corner runs.
* **DPO Soup** (Rame et al. 2023, "Rewarded soups"): m single-objective policies (DPO-LS at the
  corners of the simplex); for w the parameters are interpolated, theta(w) = sum_k w_k theta_k
  (``soup_ranker``).
* **MODPO** (Zhou et al. 2024, "Beyond one-preference-fits-all"), listwise adaptation: the
  single-objective policies of objectives 2..m act as implicit rewards r_k = beta * (f_k - f_ref);
  for each w a policy is trained on objective 1 with z = (beta * h - sum_{k>=2} w_k r_k) / w_1 in
  place of beta * h inside the listwise DPO loss (``modpo_logits``, ``modpo_loss``, ``ModpoModule``).
  At w_1 = 0 the transform is undefined and the policy is not trained on objective 1 at all; the
  limit is the policy of the remaining objectives, so for m = 2 the benchmark uses the objective-2
  single policy there (``ModpoModule`` refuses w_1 = 0 with a clear error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError
from ltr_cos.losses import listnet_dpo_loss, pl_dpo_loss
from ltr_cos.models import Ranker
from ltr_cos.training.checkpoint import load_ranker_from_checkpoint
from ltr_cos.training.modules import CosDpoModule
from ltr_cos.types import RankingBatch

# Below this first weight MODPO's 1/w_1 scaling is treated as undefined (see the module docstring).
MODPO_MIN_FIRST_WEIGHT = 1e-6


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
    weights = [float(w) for w in weights]
    if len(weights) != len(policies) or min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-4:
        raise InputError(f"soup weights must be {len(policies)} non-negative values summing to 1, got {weights}")
    config = policies[0].config
    for i, policy in enumerate(policies[1:], start=1):
        if policy.config != config:
            raise InputError(f"soup policy {i} has a different configuration than policy 0")
    if config.get("conditioning") is not None:
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
    soup = Ranker(**config)
    soup.load_state_dict(mixed)
    soup.normalizer.enabled = policies[0].normalizer.enabled
    return soup.eval()


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


class ModpoModule(CosDpoModule):
    """MODPO (listwise): an unconditioned policy for one weight w, trained on objective 1 with margins.

    Args:
        reward_ckpts: checkpoints of the single-objective policies of weighted objectives 2..m (DPO-LS
            runs at the one-hot weights e_2..e_m), in order; they must share the reference ranker.
        fixed_weights: the weight w (w_1 > 0; see the module docstring for w_1 = 0).
        kwargs: every other ``CosDpoModule`` argument (reference_ckpt, beta, form, label_gain, ...).
    """

    def __init__(self, reward_ckpts: list[str] | None = None, fixed_weights: list[float] | None = None,
                 **kwargs) -> None:
        if fixed_weights is None:
            raise InputError("MODPO trains one policy per weight: pass fixed_weights")
        super().__init__(fixed_weights=fixed_weights, **kwargs)
        if float(fixed_weights[0]) <= MODPO_MIN_FIRST_WEIGHT:
            raise InputError(f"MODPO needs w_1 > 0, got fixed_weights={fixed_weights}; at w_1 = 0 use the policy "
                             "of the other objectives (for m = 2 the objective-2 single policy)")
        reward_ckpts = list(reward_ckpts or [])
        if len(reward_ckpts) != self.n_weights - 1:
            raise InputError(f"MODPO over {self.weighted_objectives} needs {self.n_weights - 1} reward checkpoints "
                             f"(single-objective policies of {self.weighted_objectives[1:]}), got {len(reward_ckpts)}")
        rewards = []
        for path in reward_ckpts:
            loaded = load_ranker_from_checkpoint(path)
            if loaded.info.get("stage") != "cos_dpo" or loaded.info.get("conditioning") is not None:
                raise InputError("a MODPO reward must be an unconditioned single-objective DPO policy", path)
            if loaded.reference is None or any(
                    not torch.equal(a, b) for a, b in zip(loaded.reference.state_dict().values(),
                                                          self.reference.state_dict().values())):
                raise InputError("the MODPO reward policy was trained from another reference ranker", path)
            rewards.append(loaded.ranker.requires_grad_(False).eval())
        self.rewards = nn.ModuleList(rewards)

    def train(self, mode: bool = True):
        super().train(mode)
        for reward in getattr(self, "rewards", []):
            reward.eval()  # frozen like f_ref: no dropout in the implicit rewards
        return self

    def training_step(self, batch: RankingBatch, batch_idx: int) -> Tensor:
        with torch.no_grad():
            ref_scores = self.reference(batch.features, batch.mask)
            reward_scores = (torch.stack([r(batch.features, batch.mask) for r in self.rewards], dim=-1)
                             if len(self.rewards) else None)
        scores = self.policy(batch.features, batch.mask)
        z = modpo_logits(scores, ref_scores, reward_scores, self.hparams.fixed_weights, float(self.hparams.beta))
        options = ({"gain": self.hparams.label_gain, "tau": self.hparams.label_tau}
                   if self.hparams.form == "listnet" else {})
        loss = modpo_loss(z, batch.labels[..., self.objective_columns[0]], batch.mask, self.hparams.form, **options)
        self._check_finite(loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.batch_size)
        return loss
