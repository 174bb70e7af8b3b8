"""The small typed settings a training module is composed from (each a group of ``ltr-cos fit`` options).

``data_info`` is the part linked from the dataset (never typed by the user): feature count, objective
names, normalisation statistics and source feature ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ltr_cos.errors import InputError
from ltr_cos.models import RankerConfig
from ltr_cos.models.config import DEFAULT_COND_HIDDEN

DATA_INFO_KEYS = ("n_features", "objective_names", "normalization", "feature_ids", "n_source_features")


def data_info_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The dataset facts a ranker needs, from a dataset's meta.json (the CLI links this to the model)."""
    return {
        "n_features": int(meta["n_features"]),
        "objective_names": list(meta["objective_names"]),
        "normalization": meta.get("normalization"),
        "feature_ids": meta.get("feature_ids"),
        "n_source_features": meta.get("n_source_features"),
    }


def check_data_info(data_info: dict[str, Any] | None) -> dict[str, Any]:
    """Refuse a missing or incomplete ``data_info`` with a message that says where it comes from."""
    if not data_info or int(data_info.get("n_features") or 0) <= 0:
        raise InputError(
            "the dataset facts (data_info: feature count, objective names) are not set: train through "
            "`ltr-cos fit` with a data section, which links them from the dataset's meta.json, or pass "
            "data_info=data_info_from_meta(meta)")
    if not data_info.get("objective_names"):
        raise InputError("data_info lacks objective_names (they come from the dataset's meta.json)")
    unknown = sorted(set(data_info) - set(DATA_INFO_KEYS))
    if unknown:
        raise InputError(f"unknown data_info keys {unknown}; expected {list(DATA_INFO_KEYS)}")
    return {key: data_info.get(key) for key in DATA_INFO_KEYS}


@dataclass(frozen=True)
class BackboneSettings:
    """The ranker's architecture (docs/method.md §7).

    Attributes:
        arch: ``mlp`` (per-candidate) or ``transformer`` (context-aware).
        hidden_sizes: MLP hidden widths.
        d_model, n_heads, n_layers, dim_feedforward: transformer sizes.
        dropout: dropout rate.
    """

    arch: Literal["mlp", "transformer"] = "mlp"
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 64])
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 128
    dropout: float = 0.1

    def ranker_config(self, data_info: dict[str, Any]) -> RankerConfig:
        """An unconditioned ranker configuration on this dataset."""
        return RankerConfig(
            n_features=data_info["n_features"], arch=self.arch, hidden_sizes=tuple(self.hidden_sizes),
            d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
            dim_feedforward=self.dim_feedforward, dropout=self.dropout, normalization=data_info.get("normalization"),
            objective_names=tuple(data_info["objective_names"]), feature_ids=data_info.get("feature_ids"),
            n_source_features=data_info.get("n_source_features"),
        )


@dataclass(frozen=True)
class ConditioningSettings:
    """How the condition c = [weights, log beta] reaches the policy (docs/method.md §6).

    Attributes:
        kind: ``film`` (scale and shift of every hidden layer), ``concat`` (appended to the features) or
            ``prompt`` (hyper-prompts; needs a transformer reference).
        n_prompts: prompt vectors of the ``prompt`` path.
        cond_hidden: hidden width of the FiLM and prompt networks.
    """

    kind: Literal["concat", "film", "prompt"] = "film"
    n_prompts: int = 4
    cond_hidden: int = DEFAULT_COND_HIDDEN


@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW settings, the learning-rate schedule and the training budget's floor.

    Attributes:
        lr: peak learning rate.
        weight_decay: decoupled weight decay.
        schedule: ``constant``, or ``cosine``: a linear warm-up over the first ``warmup`` fraction of the
            optimiser steps, then a cosine decay to ``min_lr_ratio * lr`` at the last step.
        warmup: fraction of the steps spent warming up (``cosine`` only).
        min_lr_ratio: the final learning rate as a fraction of ``lr`` (``cosine`` only).
        min_steps: train at least this many optimiser steps. When ``trainer.max_epochs`` gives fewer (a
            small dataset: a few batches per epoch), more epochs are run, so the budget counts learning,
            not passes over the data. 0 = epochs only. Ignored when the trainer sets ``max_steps``.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine"] = "constant"
    warmup: float = 0.0
    min_lr_ratio: float = 0.0
    min_steps: int = 0

    def __post_init__(self) -> None:
        if not self.lr >= 0:
            raise InputError(f"optim.lr must be >= 0, got {self.lr}")
        if self.schedule not in ("constant", "cosine"):
            raise InputError(f"optim.schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise InputError(f"optim.warmup is a fraction of the steps in [0, 1), got {self.warmup}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.min_steps < 0:
            raise InputError(f"optim.min_steps must be >= 0, got {self.min_steps}")

    def lr_factor(self, step: int, total: int) -> float:
        """The schedule's multiplier of ``lr`` at optimiser step ``step`` of ``total``."""
        if self.schedule == "constant" or total <= 1:
            return 1.0
        warm = int(round(self.warmup * total))
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - 1 - warm))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class EvaluationSettings:
    """What validation and test report (docs/method.md §8).

    Attributes:
        ndcg_ks: cut-offs of the logged NDCG (the largest one drives ``val/score``).
        ndcg_gain: ``exp2`` (2^y - 1) or ``linear``.
        empty_rule: what a query with no positive gain scores (``drop``, ``one``, ``zero``).
        val_grid_steps: stage 2 validates on the simplex lattice of step 1/val_grid_steps.
        predict_weights: weights used by ``ltr-cos predict`` in stage 2 (default: the simplex centre).
    """

    ndcg_ks: list[int] = field(default_factory=lambda: [1, 5, 10])
    ndcg_gain: Literal["exp2", "linear"] = "exp2"
    empty_rule: Literal["drop", "one", "zero"] = "drop"
    val_grid_steps: int = 2
    predict_weights: list[float] | None = None
