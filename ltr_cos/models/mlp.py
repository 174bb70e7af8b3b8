"""Per-candidate MLP ranker backbone (docs/method.md §7 ``mlp``): no interaction between candidates."""

from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn


class MLPBackbone(nn.Module):
    """Linear -> [+ concat shift] -> [FiLM] -> ReLU -> Dropout per hidden layer, then Linear(., 1).

    Args:
        in_features: F, features per candidate (after normalisation).
        hidden_sizes: widths of the hidden layers (empty = a linear ranker).
        dropout: dropout after every hidden activation.
    """

    __jit_unused_properties__ = ["film_widths", "first_width"]

    offsets: List[int]
    widths: List[int]

    def __init__(
        self, in_features: int, hidden_sizes: Sequence[int] = (128, 64), dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.widths = [int(h) for h in hidden_sizes]
        if any(h < 1 for h in self.widths):
            raise ValueError(f"hidden sizes must be >= 1, got {list(hidden_sizes)}")
        # start of each hidden layer's slice in the FiLM gamma/delta vectors
        self.offsets = [sum(self.widths[:i]) for i in range(len(self.widths))]
        sizes = [in_features, *self.widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sizes[-1], 1)

    @property
    def film_widths(self) -> List[int]:
        """Widths of the layers FiLM modulates (every hidden layer)."""
        return list(self.widths)

    @property
    def first_width(self) -> int:
        """Output width of the first layer (where the concat path adds its shift)."""
        return self.widths[0] if self.widths else 1

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        first_shift: Optional[Tensor] = None,
        gamma: Optional[Tensor] = None,
        delta: Optional[Tensor] = None,
        prompts: Optional[Tensor] = None,
    ) -> Tensor:
        """Score each candidate on its own.

        Args:
            x: float32 [B, L, F] normalised features.
            mask: bool [B, L] (unused: candidates do not interact).
            first_shift: float32 [B, 1, H1] or None.
            gamma, delta: float32 [B, 1, sum(hidden_sizes)] or None.
            prompts: must be None (an MLP has no sequence to prepend to).

        Returns:
            float32 [B, L] raw scores (padding not yet zeroed).
        """
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if i == 0 and first_shift is not None:
                h = h + first_shift
            if gamma is not None and delta is not None:
                lo = self.offsets[i]
                hi = lo + self.widths[i]
                h = h * (1.0 + gamma[:, :, lo:hi]) + delta[:, :, lo:hi]
            h = self.dropout(torch.relu(h))
        return self.out(h).squeeze(-1)
