"""Ranking and DPO losses: pure functions on the tensor contract, plus thin nn.Module wrappers.

Reference stage (labels [B, L]): ``listnet_loss``, ``listmle_loss``, ``lambda_loss``, ``approx_ndcg_loss``.
DPO (labels [B, L, K']): ``listnet_dpo_loss``, ``pl_dpo_loss`` -> (per_query [B, K'], valid [B, K']);
``pairwise_dpo_loss`` -> [B]. COS-DPO: ``cos_dpo_loss`` -> ``CosDpoOutput``. MODPO: ``modpo_base``,
``modpo_logits``, ``modpo_loss``. Run-time temperature: ``rescale_temperature``.
"""

from .cos_dpo import CosDpoOutput, cos_dpo_loss
from .dpo import listnet_dpo_loss, pairwise_dpo_loss, pl_dpo_loss
from .listwise import approx_ndcg_loss, lambda_loss, listmle_loss, listnet_loss
from .modpo import MODPO_MIN_BASE_WEIGHT, check_modpo_base, modpo_base, modpo_logits, modpo_loss
from .modules import ApproxNDCGLoss, CosDpoLoss, LambdaLoss, ListMLELoss, ListNetLoss
from .temperature import apply_temperature_ratio, rescale_temperature

__all__ = [
    "MODPO_MIN_BASE_WEIGHT",
    "apply_temperature_ratio",
    "check_modpo_base",
    "modpo_base",
    "modpo_logits",
    "modpo_loss",
    "rescale_temperature",
    "ApproxNDCGLoss",
    "CosDpoLoss",
    "CosDpoOutput",
    "LambdaLoss",
    "ListMLELoss",
    "ListNetLoss",
    "approx_ndcg_loss",
    "cos_dpo_loss",
    "lambda_loss",
    "listmle_loss",
    "listnet_dpo_loss",
    "listnet_loss",
    "pairwise_dpo_loss",
    "pl_dpo_loss",
]
