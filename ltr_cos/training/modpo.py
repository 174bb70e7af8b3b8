"""MODPO (listwise; docs/method.md §9): an unconditioned policy for one weight w, trained on objective 1
with the margins of the other objectives' single-objective policies (the maths: ``ltr_cos.losses.modpo``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError
from ltr_cos.losses import MODPO_MIN_FIRST_WEIGHT, CosDpoLoss, modpo_logits, modpo_loss
from ltr_cos.objectives import FixedWeights
from ltr_cos.training.checkpoint import load_ranker_from_checkpoint
from ltr_cos.training.cos_dpo import CosDpoModule
from ltr_cos.types import RankingBatch


class ModpoModule(CosDpoModule):
    """MODPO for one weight w: a ``CosDpoModule`` with a ``FixedWeights`` sampler and a MODPO training step.

    Args:
        reward_ckpts: checkpoints of the single-objective policies of weighted objectives 2..m (DPO-LS runs
            at the one-hot weights e_2..e_m), in order; they must share the reference ranker.
        weights: the weight w (w_1 > 0; at w_1 = 0 use the policy of the other objectives).
        kwargs: the other ``CosDpoModule`` arguments (reference_ckpt, data_info, beta, loss, optim, ...).
    """

    def __init__(self, reward_ckpts: list[str] | None = None, weights: list[float] | None = None, **kwargs) -> None:
        if weights is None:
            raise InputError("MODPO trains one policy per weight: pass weights")
        if float(weights[0]) <= MODPO_MIN_FIRST_WEIGHT:
            raise InputError(f"MODPO needs w_1 > 0, got weights={list(weights)}; at w_1 = 0 use the policy of the "
                             "other objectives (for m = 2 the objective-2 single policy)")
        super().__init__(sampler=FixedWeights(weights), **kwargs)
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
        z = modpo_logits(scores, ref_scores, reward_scores, self.sampler.weights, self.beta)
        loss_fn: CosDpoLoss = self.loss_fn
        options = {"gain": loss_fn.gain, "tau": loss_fn.tau} if loss_fn.form == "listnet" else {}
        loss = modpo_loss(z, batch.labels[..., self.objective_columns[0]], batch.mask, loss_fn.form, **options)
        self._check_finite(loss)
        self.log_train_loss("train/loss", loss, batch.batch_size, prog_bar=True)
        return loss
