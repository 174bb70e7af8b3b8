"""Rankers (mlp, transformer) and their conditioning paths (concat, film, prompt); no Lightning here."""

from ltr_cos.models.conditioning import (
    CONDITIONINGS,
    ConcatConditioning,
    FiLMConditioning,
    PromptConditioning,
)
from ltr_cos.models.mlp import MLPBackbone
from ltr_cos.models.normalize import NORMALIZATION_KIND, FeatureNormalizer
from ltr_cos.models.ranker import ARCHS, Ranker
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
    "Ranker",
    "TransformerBackbone",
]
