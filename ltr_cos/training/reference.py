"""Stage 1: the reference ranker f_ref, trained on the main objective (docs/method.md §2)."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from ltr_cos.losses import ApproxNDCGLoss, LambdaLoss, ListMLELoss, ListNetLoss
from ltr_cos.metrics import NDCGMetric
from ltr_cos.models import Ranker
from ltr_cos.training.base import RankingModule
from ltr_cos.training.settings import (
    BackboneSettings,
    EvaluationSettings,
    OptimizerSettings,
    check_data_info,
)
from ltr_cos.types import MAIN_OBJECTIVE, RankingBatch

ReferenceLoss = Literal["listnet", "listmle", "lambdaloss", "approxndcg"]

# An explicit table, not getattr on a string: the choices are visible and typed above.
REFERENCE_LOSSES = {
    "listnet": ListNetLoss,
    "listmle": ListMLELoss,
    "lambdaloss": LambdaLoss,
    "approxndcg": ApproxNDCGLoss,
}


class ReferenceModule(RankingModule):
    """Stage 1: an unconditioned ranker trained on the main objective with a listwise loss.

    Logs ``train/loss/<main>``, ``val/ndcg@<k>/<objective>`` and ``val/score`` (main NDCG at the largest k).

    Args:
        data_info: feature count, objective names, normalisation and feature ids (linked from the dataset).
        backbone: the architecture.
        loss: the listwise loss on the main objective.
        optim: AdamW settings.
        evaluation: NDCG settings.
    """

    def __init__(
        self,
        data_info: dict | None = None,
        backbone: BackboneSettings = BackboneSettings(),  # noqa: B008 - frozen settings, a CLI group
        loss: ReferenceLoss = "listnet",
        optim: OptimizerSettings = OptimizerSettings(),  # noqa: B008
        evaluation: EvaluationSettings = EvaluationSettings(),  # noqa: B008
    ) -> None:
        super().__init__()
        self.save_settings({"backbone": backbone, "optim": optim, "evaluation": evaluation})
        data_info = check_data_info(data_info)
        self.objective_names = list(data_info["objective_names"])
        self.optim, self.evaluation = optim, evaluation
        self.ranker = Ranker(backbone.ranker_config(data_info))
        self.loss_fn = REFERENCE_LOSSES[loss](objective=MAIN_OBJECTIVE)
        self.val_metrics = self._build_metric()
        self.test_metrics = self._build_metric()

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return self.ranker(features, mask)

    def training_step(self, batch: RankingBatch, batch_idx: int) -> Tensor:
        scores = self(batch.features, batch.mask)
        loss = self.loss_fn(scores, batch.labels, batch.mask)
        self._check_finite(loss)
        self.log_train_loss(f"train/loss/{self.objective_names[MAIN_OBJECTIVE]}", loss,
                            int(batch.mask.any(-1).sum()), prog_bar=True)
        return loss

    def _eval_step(self, batch: RankingBatch, metric: NDCGMetric) -> None:
        metric.update(self(batch.features, batch.mask), batch.labels, batch.mask)

    def _eval_end(self, stage: str, metric: NDCGMetric) -> None:
        values = metric.compute()
        metric.reset()
        for key, value in values.items():
            self.log(f"{stage}/{key}", value, prog_bar=key == f"ndcg@10/{self.objective_names[0]}")
        main_key = f"ndcg@{max(self.evaluation.ndcg_ks)}/{self.objective_names[MAIN_OBJECTIVE]}"
        self.log(f"{stage}/score", values[main_key])

    def predict_step(self, batch: RankingBatch, batch_idx: int) -> dict[str, Tensor]:
        return {"qids": batch.qids, "scores": self(batch.features, batch.mask), "mask": batch.mask}

    def checkpoint_record(self) -> dict[str, Any]:
        return {"stage": "reference", "ranker": self.ranker.config.to_dict(), "loss": self.hparams.loss}
