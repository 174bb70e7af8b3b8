"""Feature normalisation as the first layer of every ranker.

Datasets hand raw features to the model; the train-split statistics travel inside the model (and so
inside checkpoints and exported artifacts), so train, eval and serving apply the same transform.
"""

from typing import Sequence

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError

NORMALIZATION_KIND = "signed_log1p_standardize"


def _as_vector(values: Sequence[float] | Tensor, name: str) -> Tensor:
    out = torch.as_tensor(values, dtype=torch.float32).detach().clone()
    if out.dim() != 1:
        raise InputError(f"normalization {name} must be a vector [F], got shape {tuple(out.shape)}")
    if not torch.isfinite(out).all():
        raise InputError(f"normalization {name} has non-finite values")
    return out


class FeatureNormalizer(nn.Module):
    """sign(x) * log1p(|x|), then (x - mean) / std per feature.

    Args:
        mean: float [F], mean of the signed-log1p features on the train split.
        std: float [F], their standard deviation; must be >= 0 (0 = a constant column, divided by 1).
        enabled: False makes the layer the identity (the buffers are kept, so state dicts line up).
    """

    enabled: bool

    def __init__(
        self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor, enabled: bool = True
    ) -> None:
        super().__init__()
        mean_t, std_t = _as_vector(mean, "mean"), _as_vector(std, "std")
        if mean_t.shape != std_t.shape:
            raise InputError(f"normalization mean and std differ in length: {len(mean_t)} vs {len(std_t)}")
        if (std_t < 0).any():
            raise InputError("normalization std must be >= 0")
        # A column constant on train has std 0; dividing by 1 keeps it at 0 there instead of inf.
        std_t = torch.where(std_t > 1e-12, std_t, torch.ones_like(std_t))
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)
        self.enabled = bool(enabled)

    @classmethod
    def identity(cls, n_features: int) -> "FeatureNormalizer":
        """A normaliser that passes features through unchanged."""
        return cls(torch.zeros(n_features), torch.ones(n_features), enabled=False)

    @classmethod
    def from_config(cls, normalization: dict | None, n_features: int) -> "FeatureNormalizer":
        """Build from ``meta["normalization"]`` ({kind, mean[F], std[F], ...}) or ``None`` (identity)."""
        if normalization is None:
            return cls.identity(n_features)
        if not isinstance(normalization, dict) or "mean" not in normalization or "std" not in normalization:
            raise InputError("normalization must be a dict with 'mean' and 'std' (meta.json 'normalization')")
        kind = normalization.get("kind", NORMALIZATION_KIND)
        if kind != NORMALIZATION_KIND:
            raise InputError(f"unknown normalization kind {kind!r}; expected {NORMALIZATION_KIND!r}")
        layer = cls(normalization["mean"], normalization["std"])
        if layer.mean.numel() != n_features:
            raise InputError(
                f"normalization has {layer.mean.numel()} features but the ranker has n_features={n_features}"
            )
        return layer

    def to_config(self) -> dict | None:
        """The JSON-able dict ``from_config`` accepts (``None`` for the identity)."""
        if not self.enabled:
            return None
        return {"kind": NORMALIZATION_KIND, "mean": self.mean.tolist(), "std": self.std.tolist()}

    def forward(self, features: Tensor) -> Tensor:
        """features float32 [..., F] -> normalised float32 [..., F]."""
        if not self.enabled:
            return features
        signed_log = torch.sign(features) * torch.log1p(torch.abs(features))
        return (signed_log - self.mean) / self.std
