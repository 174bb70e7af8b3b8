"""Rankers (mlp, transformer) and their conditioning paths (concat, film, prompt); no Lightning here."""

from ltr_cos.models.conditioning import (
    ConcatConditioning,
    FiLMConditioning,
    PromptConditioning,
)
from ltr_cos.models.config import ARCHS, CONDITIONINGS, RANKER_CONFIG_VERSION, RankerConfig
from ltr_cos.models.mlp import MLPBackbone
from ltr_cos.models.normalize import NORMALIZATION_KIND, FeatureNormalizer
from ltr_cos.models.ranker import Ranker
from ltr_cos.models.transformer import TransformerBackbone

__all__ = [
    "ARCHS",
    "CONDITIONINGS",
    "NORMALIZATION_KIND",
    "ConcatConditioning",
    "FeatureNormalizer",
    "FiLMConditioning",
    "MLPBackbone",
    "PromptConditioning",
    "RANKER_CONFIG_VERSION",
    "Ranker",
    "RankerConfig",
    "TransformerBackbone",
]
