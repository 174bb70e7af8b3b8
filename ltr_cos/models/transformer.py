"""Context-aware ranker backbone (docs/method.md §7 ``transformer``, the allRank design).

Input projection to d_model, a pre-norm Transformer encoder over the candidate list with a padding
mask and no positional encoding (so scores are permutation equivariant), a final LayerNorm, and a
per-candidate linear head.
"""

from typing import List, Optional

import torch
from torch import Tensor, nn


class TransformerBackbone(nn.Module):
    """Self-attention over the list; FiLM modulates the projection output and every encoder layer output.

    Args:
        in_features: F, features per candidate (after normalisation).
        d_model: model width.
        n_heads: attention heads (must divide d_model).
        n_layers: encoder layers.
        dim_feedforward: width of each layer's feed-forward block.
        dropout: dropout inside the encoder layers.
    """

    __jit_unused_properties__ = ["film_widths", "first_width"]

    offsets: List[int]
    widths: List[int]

    def __init__(
        self,
        in_features: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be a positive multiple of n_heads ({n_heads})")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.d_model = int(d_model)
        self.input_proj = nn.Linear(in_features, d_model)
        # Layers are applied one by one (not through nn.TransformerEncoder) so FiLM can act between them.
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, n_heads, dim_feedforward, dropout, batch_first=True, norm_first=True
            )
            for _ in range(n_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)  # pre-norm layers leave the residual stream unnormalised
        self.head = nn.Linear(d_model, 1)
        self.widths = [self.d_model] * (n_layers + 1)
        self.offsets = [i * self.d_model for i in range(n_layers + 1)]

    @property
    def film_widths(self) -> List[int]:
        """Widths of the modulated activations: the projection output, then each layer's output."""
        return list(self.widths)

    @property
    def first_width(self) -> int:
        return self.d_model

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        first_shift: Optional[Tensor] = None,
        gamma: Optional[Tensor] = None,
        delta: Optional[Tensor] = None,
        prompts: Optional[Tensor] = None,
    ) -> Tensor:
        """Score each candidate in the context of its list.

        Args:
            x: float32 [B, L, F] normalised features.
            mask: bool [B, L], True = real candidate.
            first_shift: float32 [B, 1, d_model] or None (concat path).
            gamma, delta: float32 [B, 1, (n_layers + 1) * d_model] or None (FiLM path).
            prompts: float32 [B, P, d_model] or None (prompt path); attended to, never scored.

        Returns:
            float32 [B, L] raw scores (padding not yet zeroed).
        """
        n_candidates = x.shape[1]
        h = self.input_proj(x)
        if first_shift is not None:
            h = h + first_shift
        if gamma is not None and delta is not None:
            h = h * (1.0 + gamma[:, :, 0 : self.d_model]) + delta[:, :, 0 : self.d_model]
        # A row with no real candidate would give softmax over an all -inf row (NaN, and the fused
        # inference path NaNs too); let such rows attend to slot 0 only. Their scores are zeroed later.
        empty = ~mask.any(dim=1)
        first_slot = torch.arange(n_candidates, device=mask.device) == 0
        attend = mask | (empty.unsqueeze(1) & first_slot.unsqueeze(0))  # [B, L]
        n_prompts = 0
        if prompts is not None:
            n_prompts = prompts.shape[1]
            h = torch.cat([prompts.to(h.dtype), h], dim=1)  # [B, P + L, d]
            prompt_valid = torch.ones(attend.shape[0], n_prompts, dtype=torch.bool, device=attend.device)
            attend = torch.cat([prompt_valid, attend], dim=1)  # [B, P + L]
        padding = ~attend
        for i, layer in enumerate(self.layers):
            h = layer(h, src_key_padding_mask=padding)
            if gamma is not None and delta is not None:
                lo = self.offsets[i + 1]
                hi = lo + self.d_model
                h = h * (1.0 + gamma[:, :, lo:hi]) + delta[:, :, lo:hi]  # FiLM and prompts never coexist
        h = self.final_norm(h[:, n_prompts:])  # drop the prompts: they are never scored
        return self.head(h).squeeze(-1)
