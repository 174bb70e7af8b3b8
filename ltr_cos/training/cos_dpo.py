"""Stage 2: a ranker conditioned on weights (and optionally log beta), trained with COS-DPO.

The module is composed from parts that ``ltr-cos fit`` configures (``class_path``/``init_args``): the
frozen reference (a stage-1 checkpoint), the policy's conditioning path, a condition sampler
(``DirichletSampler`` for Weight-/Temperature-COS-DPO, ``FixedWeights`` for one DPO-LS policy) and the loss
(``CosDpoLoss``); docs/method.md §4-5.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.losses import CosDpoLoss
from ltr_cos.models import Ranker, RankerConfig
from ltr_cos.objectives import ConditionSampler, DirichletSampler, check_simplex, simplex_lattice
from ltr_cos.pareto import hypervolume
from ltr_cos.training.base import RankingModule
from ltr_cos.training.checkpoint import LoadedRanker, info_from_record, load_ranker_from_checkpoint
from ltr_cos.training.settings import (
    ConditioningSettings,
    EvaluationSettings,
    OptimizerSettings,
    check_data_info,
)
from ltr_cos.types import RankingBatch


class CosDpoModule(RankingModule):
    """Stage 2: the conditioned policy f_theta(X, w[, beta]), initialised from the frozen f_ref.

    Logs ``train/loss`` and ``train/loss/<objective>``, ``val/grid{g}/ndcg@k/<objective>`` at every
    validation grid weight, their means, ``val/hypervolume`` and ``val/score`` (the hypervolume; for a
    ``FixedWeights`` policy its weighted NDCG sum_k w_k NDCG_k).

    Args:
        reference_ckpt: checkpoint of a stage-1 run; its ranker is frozen as f_ref and copied into the policy.
        data_info: feature count, objective names, normalisation and feature ids (linked from the dataset).
        weighted_objectives: names of the objectives on the simplex (default: every auxiliary objective, or
            every objective with ``include_main``).
        include_main: also put the main objective on the simplex.
        beta: DPO temperature (of Weight-COS-DPO, and of validation for a temperature-conditioned policy).
        conditioning: the policy's conditioning path (unused by a ``FixedWeights`` sampler).
        sampler: the training conditions: ``DirichletSampler`` (default; with beta_min/beta_max it is
            Temperature-COS-DPO) or ``FixedWeights`` (an unconditioned DPO-LS policy for one weight).
        loss: the listwise DPO objective (default ``CosDpoLoss()``: ListNet-DPO, no cosine term).
        optim: AdamW settings.
        evaluation: NDCG and validation-grid settings.
    """

    def __init__(
        self,
        reference_ckpt: str = "",
        data_info: dict | None = None,
        weighted_objectives: list[str] | None = None,
        include_main: bool = False,
        beta: float = 1.0,
        conditioning: ConditioningSettings = ConditioningSettings(),  # noqa: B008 - frozen settings
        sampler: ConditionSampler | None = None,
        loss: CosDpoLoss | None = None,
        optim: OptimizerSettings = OptimizerSettings(),  # noqa: B008
        evaluation: EvaluationSettings = EvaluationSettings(),  # noqa: B008
    ) -> None:
        super().__init__()
        sampler = DirichletSampler() if sampler is None else sampler
        loss = CosDpoLoss() if loss is None else loss
        if not isinstance(sampler, ConditionSampler):
            raise InputError(f"sampler must be a ConditionSampler, got {type(sampler).__name__}")
        self.save_settings({"conditioning": conditioning, "sampler": sampler, "loss": loss, "optim": optim,
                            "evaluation": evaluation})
        data_info = check_data_info(data_info)
        self.objective_names = list(data_info["objective_names"])
        self.optim, self.evaluation, self.sampler, self.loss_fn = optim, evaluation, sampler, loss
        if beta <= 0:
            raise InputError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)

        if weighted_objectives is None:
            weighted_objectives = self.objective_names if include_main else self.objective_names[1:]
        unknown = [name for name in weighted_objectives if name not in self.objective_names]
        if unknown or not weighted_objectives:
            raise InputError(f"weighted_objectives {weighted_objectives} must be a non-empty subset of the "
                             f"dataset's objectives {self.objective_names}")
        self.weighted_objectives = list(weighted_objectives)
        self.objective_columns = [self.objective_names.index(n) for n in self.weighted_objectives]
        self.n_weights = len(self.weighted_objectives)
        sampler.check(self.n_weights, self.weighted_objectives)
        self.conditioned = sampler.conditions_on_weights

        reference_config, reference_state = read_reference_checkpoint(reference_ckpt)
        if reference_config.n_features != data_info["n_features"]:
            raise InputError(
                f"the reference ranker takes {reference_config.n_features} features but the dataset has "
                f"{data_info['n_features']}: train both stages on the same dataset", reference_ckpt or None)
        self.reference = Ranker(reference_config)
        self.reference.load_state_dict(reference_state)
        self.reference.requires_grad_(False)
        self.reference.eval()
        policy_config = reference_config.replace(weighted_objectives=tuple(self.weighted_objectives))
        if self.conditioned:
            policy_config = policy_config.conditioned_on(
                conditioning.kind, self.n_weights, sampler.conditions_on_beta, n_prompts=conditioning.n_prompts,
                cond_hidden=conditioning.cond_hidden, beta_range=sampler.beta_range)
        self.policy = Ranker(policy_config)
        self.policy.load_reference(self.reference)

        grid = (simplex_lattice(self.n_weights, evaluation.val_grid_steps) if self.conditioned
                else np.asarray([sampler.weights]))
        self.register_buffer("val_grid", torch.as_tensor(grid, dtype=torch.float32), persistent=False)
        self.val_metrics = torch.nn.ModuleList([self._build_metric() for _ in range(len(grid))])
        self.test_metrics = torch.nn.ModuleList([self._build_metric() for _ in range(len(grid))])
        if evaluation.predict_weights is not None:
            check_simplex(evaluation.predict_weights, self.n_weights, self.weighted_objectives, "predict_weights")

    def train(self, mode: bool = True):
        super().train(mode)
        self.reference.eval()  # frozen: no dropout in f_ref, ever
        return self

    def forward(self, features: Tensor, mask: Tensor, weights: Tensor, log_beta: Tensor | None = None) -> Tensor:
        if not self.conditioned:
            return self.policy(features, mask)
        if not self.sampler.conditions_on_beta:
            log_beta = None
        return self.policy(features, mask, weights, log_beta)

    def training_step(self, batch: RankingBatch, batch_idx: int) -> Tensor:
        weights, beta, log_beta = self.sampler.sample(batch.batch_size, self.n_weights, self.beta, self.global_step,
                                                      self.global_rank, device=self.device)
        with torch.no_grad():
            ref_scores = self.reference(batch.features, batch.mask)
        scores = self(batch.features, batch.mask, weights, log_beta)
        out = self.loss_fn(scores, ref_scores, batch.labels, batch.mask, weights, beta, self.objective_columns)
        self._check_finite(out.loss)
        # epoch means weighted by the queries each value averages: a batch whose queries all have equal
        # labels (loss 0, no gradient) does not pull the logged mean towards 0
        counts = out.valid_count.tolist()
        self.log_train_loss("train/loss", out.loss, int(max(counts)), prog_bar=True)
        for name, value, count in zip(self.weighted_objectives, out.per_objective, counts):
            self.log_train_loss(f"train/loss/{name}", value, int(count))
        return out.loss

    def _grid_scores(self, batch: RankingBatch) -> Tensor:
        """Scores for every validation grid weight in one pass: [G, B, L]."""
        if not self.conditioned:
            return self.policy(batch.features, batch.mask).unsqueeze(0)
        log_beta = (torch.full((len(self.val_grid),), math.log(self.beta), device=self.device)
                    if self.sampler.conditions_on_beta else None)
        return self.policy.score_grid(batch.features, batch.mask, self.val_grid, log_beta)

    def _eval_step(self, batch: RankingBatch, metrics: torch.nn.ModuleList) -> None:
        for metric, scores in zip(metrics, self._grid_scores(batch)):
            metric.update(scores, batch.labels, batch.mask)

    def _eval_end(self, stage: str, metrics: torch.nn.ModuleList) -> None:
        k = max(self.evaluation.ndcg_ks)
        table = []
        for g, metric in enumerate(metrics):
            values = metric.compute()
            metric.reset()
            row = [float(values[f"ndcg@{k}/{name}"]) for name in self.objective_names]
            table.append(row)
            for j, name in enumerate(self.objective_names):
                self.log(f"{stage}/grid{g}/ndcg@{k}/{name}", row[j])
        table_np = np.asarray(table)  # [G, K]
        for j, name in enumerate(self.objective_names):
            self.log(f"{stage}/ndcg@{k}/{name}", float(table_np[:, j].mean()))
        front = table_np[:, self.objective_columns]  # [G, m]
        volume = hypervolume(front, np.zeros(front.shape[1]), maximize=True)
        self.log(f"{stage}/hypervolume", volume)
        # the score checkpoints are selected by: a conditioned policy's hypervolume over the validation grid,
        # an unconditioned (per-weight) policy's own objective, the weighted NDCG sum_k w_k NDCG_k
        score = volume if self.conditioned else float(front[0] @ np.asarray(self.sampler.weights))
        self.log(f"{stage}/score", score)

    def predict_step(self, batch: RankingBatch, batch_idx: int) -> dict[str, Tensor]:
        w = self.evaluation.predict_weights or [1.0 / self.n_weights] * self.n_weights
        weights = torch.tensor(w, dtype=torch.float32, device=self.device).expand(batch.batch_size, -1)
        log_beta = torch.full((batch.batch_size,), math.log(self.beta), device=self.device)
        return {"qids": batch.qids, "scores": self(batch.features, batch.mask, weights, log_beta), "mask": batch.mask}

    def loaded(self) -> LoadedRanker:
        """The trained rankers as ``load_ranker_from_checkpoint`` would return them (eval mode)."""
        return LoadedRanker(self.policy.eval(), self.reference.eval(), info_from_record(self.checkpoint_record()))

    def checkpoint_record(self) -> dict[str, Any]:
        return {
            "stage": "cos_dpo",
            "ranker": self.policy.config.to_dict(),
            "reference": self.reference.config.to_dict(),
            "beta": self.beta,
            "fixed_weights": None if self.conditioned else list(self.sampler.weights),
            "sampler": self.sampler.describe(),
            "loss": self.loss_fn.describe(),
        }


def read_reference_checkpoint(path: str) -> tuple[RankerConfig, dict[str, Tensor]]:
    """(ranker configuration, ranker state dict) of a stage-1 checkpoint, for building a policy on it."""
    if not path:
        raise InputError("reference_ckpt is required: the checkpoint of a stage-1 (ReferenceModule) run")
    if not Path(path).is_file():
        raise InputError("reference checkpoint not found", path)
    loaded = load_ranker_from_checkpoint(path)
    if loaded.info["stage"] != "reference":
        raise InputError(f"reference_ckpt must be a stage-1 (ReferenceModule) checkpoint, got a "
                         f"{loaded.info['stage']} checkpoint", path)
    return loaded.ranker.config, loaded.ranker.state_dict()
