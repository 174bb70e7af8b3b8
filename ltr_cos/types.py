"""The tensor contract shared by every part of ltr_cos.

B queries, L candidates (padded per batch), F features, K objectives (index 0 = main), m weighted
objectives:

* ``features``   float32 [B, L, F]  raw features (normalisation happens inside the model)
* ``labels``     float32 [B, L, K]  one column per objective, column 0 is the main objective
* ``mask``       bool    [B, L]     True = real candidate; padding is expressed only here
* ``weights``    float32 [B, m]     a point of the simplex per query
* ``beta``       float32 [B]        DPO temperature per query (``log_beta`` when fed to a model)
* ``scores`` / ``ref_scores`` float32 [B, L]

Functions never change their inputs and never use a -1 padding sentinel.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

MAIN_OBJECTIVE = 0


@dataclass
class RankingBatch:
    """A padded batch of query lists.

    Attributes:
        features: float32 [B, L, F].
        labels: float32 [B, L, K].
        mask: bool [B, L], True for real candidates.
        qids: int64 [B], the query id of each list.
    """

    features: Tensor
    labels: Tensor
    mask: Tensor
    qids: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def __post_init__(self) -> None:
        if self.features.dim() != 3:
            raise ValueError(f"features must be [B, L, F], got shape {tuple(self.features.shape)}")
        b, n = self.features.shape[:2]
        if self.labels.dim() != 3 or tuple(self.labels.shape[:2]) != (b, n):
            raise ValueError(f"labels must be [B, L, K] with B, L = {b}, {n}, got {tuple(self.labels.shape)}")
        if self.mask.dtype != torch.bool or tuple(self.mask.shape) != (b, n):
            raise ValueError(f"mask must be bool [B, L] = [{b}, {n}], got {self.mask.dtype} {tuple(self.mask.shape)}")

    @property
    def batch_size(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_objectives(self) -> int:
        return int(self.labels.shape[-1])

    def to(self, device: torch.device | str) -> RankingBatch:
        return replace(
            self,
            features=self.features.to(device),
            labels=self.labels.to(device),
            mask=self.mask.to(device),
            qids=self.qids.to(device),
        )

    def __len__(self) -> int:  # Lightning reads the batch size from here when it cannot infer it
        return self.batch_size
