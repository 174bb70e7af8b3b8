"""Training: the stage-1 and stage-2 LightningModules, their settings, the Lightning CLI, checkpoint loading."""

from ltr_cos.training.checkpoint import LoadedRanker, load_ranker_from_checkpoint
from ltr_cos.training.cos_dpo import CosDpoModule
from ltr_cos.training.modpo import ModpoModule
from ltr_cos.training.reference import ReferenceModule
from ltr_cos.training.settings import (
    BackboneSettings,
    ConditioningSettings,
    EvaluationSettings,
    OptimizerSettings,
    data_info_from_meta,
)
from ltr_cos.training.soup import single_objective_weights, soup_ranker

__all__ = [
    "BackboneSettings",
    "ConditioningSettings",
    "CosDpoModule",
    "EvaluationSettings",
    "LoadedRanker",
    "ModpoModule",
    "OptimizerSettings",
    "ReferenceModule",
    "data_info_from_meta",
    "load_ranker_from_checkpoint",
    "single_objective_weights",
    "soup_ranker",
]
