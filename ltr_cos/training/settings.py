"""The small typed settings a training module is composed from (each a group of ``ltr-cos fit`` options).

``data_info`` is the part linked from the dataset (never typed by the user): feature count, objective
names, normalisation statistics and source feature ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ltr_cos.errors import InputError
from ltr_cos.models import RankerConfig

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
    cond_hidden: int = 64


@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW settings.

    Attributes:
        lr: learning rate.
        weight_decay: decoupled weight decay.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0


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
