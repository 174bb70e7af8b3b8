"""Training: the stage-1 and stage-2 LightningModules, the Lightning CLI, checkpoint loading."""

from ltr_cos.training.checkpoint import LoadedRanker, load_ranker_from_checkpoint
from ltr_cos.training.modules import CosDpoModule, ReferenceModule, rescale_temperature

__all__ = [
    "CosDpoModule",
    "LoadedRanker",
    "ReferenceModule",
    "load_ranker_from_checkpoint",
    "rescale_temperature",
]
