"""What both training stages share: evaluation hooks, the optimiser, the finite-loss guard, and the
``ltr_cos`` record every checkpoint carries (read back by ``ltr_cos.training.checkpoint``)."""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, is_dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from ltr_cos.metrics import NDCGMetric
from ltr_cos.training.checkpoint import CHECKPOINT_FORMAT_VERSION, CHECKPOINT_KEY
from ltr_cos.types import RankingBatch


class RankingModule(pl.LightningModule):
    """Shared evaluation and optimisation code of both stages.

    Subclasses set ``objective_names``, ``optim`` and ``evaluation`` and define ``_eval_step(batch, metrics)``,
    ``_eval_end(stage, metrics)`` over their ``val_metrics`` / ``test_metrics``, and ``checkpoint_record()``.
    """

    def _build_metric(self) -> NDCGMetric:
        ev = self.evaluation
        return NDCGMetric(self.objective_names, ks=tuple(ev.ndcg_ks), gain=ev.ndcg_gain, empty=ev.empty_rule)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        if self.optim.schedule == "constant" and not self.optim.min_steps:
            return optimizer  # nothing to plan: the training data is not loaded early
        total = self._planned_steps()
        if self.optim.schedule == "constant":
            return optimizer
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self.optim.lr_factor(step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _planned_steps(self) -> int:
        """The optimiser steps this fit will take, after raising ``max_epochs`` to reach ``optim.min_steps``.

        Called while the optimiser is configured (the trainer and its training data are known then). A
        run without a trainer (a module used on its own) plans 0 steps.
        """
        trainer = self._trainer
        if trainer is None:
            return 0
        total = trainer.estimated_stepping_batches
        if not math.isfinite(total):
            return 0
        max_epochs = trainer.max_epochs
        if self.optim.min_steps > total and trainer.max_steps == -1 and max_epochs and max_epochs > 0:
            per_epoch = max(1, math.ceil(total / max_epochs))
            trainer.fit_loop.max_epochs = math.ceil(self.optim.min_steps / per_epoch)
            total = trainer.estimated_stepping_batches
        return int(total)

    def validation_step(self, batch: RankingBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val", self.val_metrics)

    def test_step(self, batch: RankingBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test", self.test_metrics)

    def log_train_loss(self, name: str, value: Tensor, queries: int, prog_bar: bool = False) -> None:
        """Log a training loss as its epoch mean weighted by ``queries``, the number of queries the batch's
        value averages over (so a last batch of one query counts once, not as much as a full batch). A
        batch with no such query (its value is a placeholder 0) is left out."""
        if queries > 0:
            self.log(name, value.detach(), on_step=False, on_epoch=True, prog_bar=prog_bar, batch_size=queries)

    def _check_finite(self, loss: Tensor) -> None:
        # Stop at once rather than let one NaN batch corrupt every weight through the optimiser.
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss ({loss.item()}) at global step {self.global_step}, epoch "
                f"{self.current_epoch}: check the data for extreme values or lower the learning rate"
            )

    def save_settings(self, parts: dict[str, Any]) -> None:
        """``save_hyperparameters`` with the composed parts stored as plain data (settings dataclasses as
        dicts, samplers and losses as their ``describe()``), so checkpoints hold no pickled objects."""
        self.save_hyperparameters(ignore=list(parts), frame=inspect.currentframe().f_back)  # the __init__
        for name, part in parts.items():
            if is_dataclass(part):
                part = asdict(part)
            elif hasattr(part, "describe"):
                part = part.describe()
            self.hparams[name] = part

    def checkpoint_record(self) -> dict[str, Any]:
        raise NotImplementedError

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # plain JSON-able data only: checkpoints are read back with torch.load(weights_only=True)
        checkpoint[CHECKPOINT_KEY] = {"format_version": CHECKPOINT_FORMAT_VERSION, **self.checkpoint_record()}
