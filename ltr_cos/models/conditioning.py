"""Conditioning paths (docs/method.md §6): how the vector c = [weights, log_beta] reaches a ranker's backbone.

Every path maps c float32 [B, C] to the same tuple of optional backbone inputs
``(first_shift, gamma, delta, prompts)`` so that the backbones take one signature:

* ``first_shift`` float32 [B, 1, H1]: added to the first layer's pre-activation (concat path).
* ``gamma``, ``delta`` float32 [B, 1, sum(widths)]: FiLM scale and shift for every modulated layer.
* ``prompts`` float32 [B, P, d_model]: prompt vectors prepended to the candidate sequence.

All modules live under ``Ranker.conditioner``; everything else in a ranker is the backbone.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from torch import Tensor, nn

CondOutput = Tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor], Optional[Tensor]]



def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class ConcatConditioning(nn.Module):
    """Appends c to every candidate's (normalised) features (COSMOS-style).

    Implemented as a bias-free linear map of c added to the first layer's pre-activation, which is
    exactly ``W [x; c] = W_x x + W_c c`` with the extra columns ``W_c`` kept in their own module. ``W_c``
    starts at zero, so the path is an exact no-op at step 0 and the backbone's keys match an
    unconditioned ranker's.

    Args:
        cond_dim: C, the length of c.
        first_width: H1, the output width of the backbone's first layer.
    """

    def __init__(self, cond_dim: int, first_width: int) -> None:
        super().__init__()
        self.extra_columns = nn.Linear(cond_dim, first_width, bias=False)
        nn.init.zeros_(self.extra_columns.weight)

    def forward(self, cond: Tensor) -> CondOutput:
        """cond float32 [B, C] -> (first_shift [B, 1, H1], None, None, None)."""
        return self.extra_columns(cond).unsqueeze(1), None, None, None


class FiLMConditioning(nn.Module):
    """An MLP of c gives a scale and shift per hidden unit of every modulated layer: h * (1 + gamma) + delta.

    The last layer starts at zero, so gamma = delta = 0 and the path is an exact no-op at step 0.

    Args:
        cond_dim: C, the length of c.
        widths: width of each modulated layer, in order.
        hidden: width of the MLP's hidden layer.
    """

    def __init__(self, cond_dim: int, widths: Sequence[int], hidden: int = 64) -> None:
        super().__init__()
        self.total = int(sum(widths))
        self.net = _mlp(cond_dim, hidden, 2 * self.total)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, cond: Tensor) -> CondOutput:
        """cond float32 [B, C] -> (None, gamma [B, 1, W], delta [B, 1, W], None) with W = sum(widths)."""
        out = self.net(cond).unsqueeze(1)  # [B, 2W] -> [B, 1, 2W]
        return None, out[:, :, : self.total], out[:, :, self.total :], None


class PromptConditioning(nn.Module):
    """Hyper Prompt Tuning: an MLP of c gives P prompt vectors of the model width.

    The prompts are prepended to the candidate sequence of a self-attention ranker; candidates attend
    to them and they are never scored. Unlike concat and FiLM this path is not a no-op at step 0
    (attending to any extra vector changes the attention weights), so it keeps PyTorch's default
    random initialisation.

    Args:
        cond_dim: C, the length of c.
        n_prompts: P.
        d_model: width of the prompts (the transformer's model width).
        hidden: width of the MLP's hidden layer.
    """

    def __init__(self, cond_dim: int, n_prompts: int, d_model: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_prompts = int(n_prompts)
        self.d_model = int(d_model)
        self.net = _mlp(cond_dim, hidden, self.n_prompts * self.d_model)

    def forward(self, cond: Tensor) -> CondOutput:
        """cond float32 [B, C] -> (None, None, None, prompts [B, P, d_model])."""
        prompts = self.net(cond).reshape(cond.shape[0], self.n_prompts, self.d_model)  # [B, P*d] -> [B, P, d]
        return None, None, None, prompts
