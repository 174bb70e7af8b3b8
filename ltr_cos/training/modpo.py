"""MODPO (listwise; docs/method.md §9): an unconditioned policy for one weight w, trained with DPO on a base
objective (by default the one with the largest weight) with the margins of the other objectives'
single-objective policies (the maths: ``ltr_cos.losses.modpo``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError
from ltr_cos.losses import CosDpoLoss, check_modpo_base, modpo_base, modpo_logits, modpo_loss
from ltr_cos.objectives import FixedWeights
from ltr_cos.training.checkpoint import load_ranker_from_checkpoint
from ltr_cos.training.cos_dpo import CosDpoModule
from ltr_cos.types import RankingBatch


class ModpoModule(CosDpoModule):
    """MODPO for one weight w: a ``CosDpoModule`` with a ``FixedWeights`` sampler and a MODPO training step.

    Args:
        reward_ckpts: checkpoints of the single-objective policies (DPO-LS runs at the one-hot weights e_k)
            of every weighted objective except the base one, in objective order; they must share the
            reference ranker.
        weights: the weight w (m values).
        base: index of the objective trained with DPO; None = ``modpo_base(weights)``, the objective with
            the largest weight (ties: the first). Its weight must be positive.
        kwargs: the other ``CosDpoModule`` arguments (reference_ckpt, data_info, beta, loss, optim, ...).
    """

    def __init__(self, reward_ckpts: list[str] | None = None, weights: list[float] | None = None,
                 base: int | None = None, **kwargs) -> None:
        if weights is None:
            raise InputError("MODPO trains one policy per weight: pass weights")
        base = check_modpo_base(weights, modpo_base(weights) if base is None else base)
        super().__init__(sampler=FixedWeights(weights), **kwargs)
        self.base = base
        reward_ckpts = list(reward_ckpts or [])
        others = [name for i, name in enumerate(self.weighted_objectives) if i != base]
        if len(reward_ckpts) != self.n_weights - 1:
            raise InputError(f"MODPO over {self.weighted_objectives} with base {self.weighted_objectives[base]!r} "
                             f"needs {self.n_weights - 1} reward checkpoints (single-objective policies of "
                             f"{others}), got {len(reward_ckpts)}")
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
        z = modpo_logits(scores, ref_scores, reward_scores, self.sampler.weights, self.beta, base=self.base)
        loss_fn: CosDpoLoss = self.loss_fn
        options = {"gain": loss_fn.gain, "tau": loss_fn.tau} if loss_fn.form == "listnet" else {}
        loss = modpo_loss(z, batch.labels[..., self.objective_columns[self.base]], batch.mask, loss_fn.form,
                          **options)
        self._check_finite(loss)
        self.log_train_loss("train/loss", loss, batch.batch_size, prog_bar=True)
        return loss
