"""The ranker: feature normaliser, backbone (mlp | transformer), optional conditioning path.

``Ranker`` is a plain ``nn.Module`` (no Lightning) whose forward is TorchScript- and ONNX-exportable.
State-dict keys under ``conditioner.`` belong to the conditioning path; all others are the backbone
(normaliser included), which ``load_reference`` copies from the reference ranker f_ref.
"""

from collections.abc import Mapping
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError
from ltr_cos.models.conditioning import (
    CONDITIONINGS,
    ConcatConditioning,
    FiLMConditioning,
    PromptConditioning,
)
from ltr_cos.models.mlp import MLPBackbone
from ltr_cos.models.normalize import FeatureNormalizer
from ltr_cos.models.transformer import TransformerBackbone

ARCHS = ("mlp", "transformer")
CONDITIONER_PREFIX = "conditioner."
# Constructor arguments that fix the backbone's function (n_heads changes no parameter shape, so a
# state-dict comparison alone would miss it).
_BACKBONE_ARGS = {
    "mlp": ("n_features", "arch", "hidden_sizes"),
    "transformer": ("n_features", "arch", "d_model", "n_heads", "n_layers", "dim_feedforward"),
}


class Ranker(nn.Module):
    """Scores every candidate of a list, optionally conditioned on weights (and log beta).

    Args:
        n_features: F, features per candidate.
        arch: ``mlp`` (per-candidate) or ``transformer`` (context-aware, allRank design).
        hidden_sizes: MLP hidden widths (arch ``mlp``).
        d_model, n_heads, n_layers, dim_feedforward: transformer sizes (arch ``transformer``).
        dropout: dropout of the backbone.
        conditioning: ``None``, ``concat``, ``film`` or ``prompt`` (SPEC 6). ``prompt`` needs
            ``arch="transformer"``: the prompts are extra sequence positions that candidates attend to,
            and a per-candidate MLP has no sequence and no attention, so ``mlp`` + ``prompt`` is refused.
        n_weights: m, the number of weighted objectives (the length of ``weights``).
        condition_on_beta: also feed log(beta) through the conditioning path (Temperature-COS-DPO).
        n_prompts: P, prompt vectors of the ``prompt`` path.
        cond_hidden: hidden width of the FiLM and prompt MLPs.
        normalization: ``meta["normalization"]`` ({kind, mean[F], std[F]}) or ``None`` (identity).
    """

    __jit_unused_properties__ = ["config", "needs_weights", "needs_log_beta"]

    n_features: int
    n_weights: int
    condition_on_beta: bool
    cond_dim: int

    def __init__(
        self,
        n_features: int,
        arch: str = "mlp",
        hidden_sizes: Sequence[int] = (128, 64),
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        conditioning: str | None = None,
        n_weights: int = 0,
        condition_on_beta: bool = False,
        n_prompts: int = 4,
        cond_hidden: int = 64,
        normalization: dict | None = None,
    ) -> None:
        super().__init__()
        if int(n_features) < 1:
            raise InputError(f"n_features must be >= 1, got {n_features}")
        if arch not in ARCHS:
            raise InputError(f"unknown ranker arch {arch!r}; choose one of {list(ARCHS)}")
        if conditioning is not None and conditioning not in CONDITIONINGS:
            raise InputError(
                f"unknown conditioning {conditioning!r}; choose None or one of {list(CONDITIONINGS)}"
            )
        if int(n_weights) < 0:
            raise InputError(f"n_weights must be >= 0, got {n_weights}")
        self.n_features = int(n_features)
        self.arch = arch
        self.n_weights = int(n_weights)
        self.condition_on_beta = bool(condition_on_beta)
        self.conditioning = conditioning
        self._args = {
            "n_features": self.n_features,
            "arch": arch,
            "hidden_sizes": [int(h) for h in hidden_sizes],
            "d_model": int(d_model),
            "n_heads": int(n_heads),
            "n_layers": int(n_layers),
            "dim_feedforward": int(dim_feedforward),
            "dropout": float(dropout),
            "conditioning": conditioning,
            "n_weights": self.n_weights,
            "condition_on_beta": self.condition_on_beta,
            "n_prompts": int(n_prompts),
            "cond_hidden": int(cond_hidden),
        }
        if conditioning is None:
            if self.condition_on_beta:
                raise InputError("condition_on_beta=True needs a conditioning path (concat, film or prompt)")
            self.cond_dim = 0
        else:
            self.cond_dim = self.n_weights + int(self.condition_on_beta)
            if self.cond_dim == 0:
                raise InputError(
                    f"conditioning {conditioning!r} needs n_weights >= 1 or condition_on_beta=True"
                )

        self.normalizer = FeatureNormalizer.from_config(normalization, self.n_features)
        try:
            if arch == "mlp":
                backbone: nn.Module = MLPBackbone(self.n_features, hidden_sizes, dropout)
            else:
                backbone = TransformerBackbone(
                    self.n_features, d_model, n_heads, n_layers, dim_feedforward, dropout
                )
        except ValueError as err:
            raise InputError(f"ranker arch {arch!r}: {err}") from None
        self.backbone = backbone

        conditioner: nn.Module | None = None
        if conditioning is not None and arch == "mlp" and not hidden_sizes and conditioning != "prompt":
            # with no hidden layer, c would only add the same constant to every candidate's score
            raise InputError(f"conditioning {conditioning!r} on an mlp needs at least one hidden layer")
        if conditioning == "concat":
            conditioner = ConcatConditioning(self.cond_dim, backbone.first_width)
        elif conditioning == "film":
            conditioner = FiLMConditioning(self.cond_dim, backbone.film_widths, cond_hidden)
        elif conditioning == "prompt":
            if arch != "transformer":
                raise InputError(
                    "conditioning 'prompt' needs arch='transformer': prompts are sequence positions that "
                    "candidates attend to, and the per-candidate mlp has no attention; use concat or film"
                )
            if int(n_prompts) < 1:
                raise InputError(f"n_prompts must be >= 1, got {n_prompts}")
            conditioner = PromptConditioning(self.cond_dim, n_prompts, d_model, cond_hidden)
        self.conditioner = conditioner

    # ------------------------------------------------------------------ properties (Python side only)
    @property
    def config(self) -> dict:
        """Constructor arguments (JSON-able) that rebuild this ranker: ``Ranker(**ranker.config)``."""
        return {
            **self._args,
            "hidden_sizes": list(self._args["hidden_sizes"]),
            "normalization": self.normalizer.to_config(),
        }

    @property
    def needs_weights(self) -> bool:
        """True when forward requires ``weights`` [B, m]."""
        return self.conditioner is not None and self.n_weights > 0

    @property
    def needs_log_beta(self) -> bool:
        """True when forward requires ``log_beta`` [B]."""
        return self.conditioner is not None and self.condition_on_beta

    @classmethod
    def from_config(cls, config: dict) -> "Ranker":
        """Rebuild a ranker (untrained) from ``Ranker.config``."""
        return cls(**config)

    # ------------------------------------------------------------------ reference initialisation
    def backbone_state(self) -> dict[str, Tensor]:
        """State-dict entries of the backbone (everything outside the conditioning path)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(CONDITIONER_PREFIX)}

    def load_reference(self, reference: "Ranker | Mapping[str, Tensor]") -> "Ranker":
        """Copy the backbone (normaliser included) from the reference ranker f_ref.

        Args:
            reference: a ``Ranker`` or a state dict. Entries under ``conditioner.`` are ignored; every
                other key must match this ranker's backbone exactly in name and shape.

        Returns:
            self. For concat and film, whose paths start as exact no-ops, f_theta == f_ref afterwards.

        Raises:
            InputError: listing the missing, unexpected and mis-shaped keys (or mismatched arguments).
        """
        if isinstance(reference, Ranker):
            arch_keys = _BACKBONE_ARGS[self.arch]
            own_args, ref_args = self.config, reference.config
            diffs = [
                f"{k}: {ref_args[k]!r} (reference) vs {own_args[k]!r}"
                for k in arch_keys
                if own_args[k] != ref_args[k]
            ]
            if diffs:
                raise InputError("reference ranker has a different backbone: " + "; ".join(diffs))
            state = reference.state_dict()
        elif isinstance(reference, Mapping):
            state = dict(reference)
        else:
            raise InputError(f"load_reference takes a Ranker or a state dict, got {type(reference).__name__}")
        ref = {k: v for k, v in state.items() if not k.startswith(CONDITIONER_PREFIX)}
        own = self.backbone_state()
        missing = sorted(set(own) - set(ref))
        unexpected = sorted(set(ref) - set(own))
        shapes = sorted(
            f"{k}: {tuple(ref[k].shape)} vs {tuple(own[k].shape)}"
            for k in set(own) & set(ref)
            if tuple(ref[k].shape) != tuple(own[k].shape)
        )
        if missing or unexpected or shapes:
            parts = []
            if missing:
                parts.append(f"missing in reference: {missing}")
            if unexpected:
                parts.append(f"unexpected in reference: {unexpected}")
            if shapes:
                parts.append(f"shape mismatch (reference vs ranker): {shapes}")
            raise InputError("reference backbone does not match: " + "; ".join(parts))
        with torch.no_grad():
            for k, v in own.items():
                v.copy_(ref[k])
        if isinstance(reference, Ranker):
            self.normalizer.enabled = reference.normalizer.enabled
        return self

    # ------------------------------------------------------------------ forward
    def _conditioning_vector(
        self, batch: int, weights: Optional[Tensor], log_beta: Optional[Tensor]
    ) -> Optional[Tensor]:
        """c = [weights, log_beta] float32 [B, C], or None for an unconditioned ranker."""
        if weights is not None:  # noqa: SIM102 - kept apart so TorchScript refines Optional
            if weights.dim() != 2 or weights.shape[0] != batch or weights.shape[1] != self.n_weights:
                raise InputError(
                    f"weights must be [B, m] = [{batch}, {self.n_weights}], got {list(weights.shape)}"
                )
        if self.cond_dim == 0:
            return None
        parts: List[Tensor] = []
        if self.n_weights > 0:
            if weights is None:
                raise InputError(f"this ranker is conditioned on weights; pass weights [B, {self.n_weights}]")
            parts.append(weights.to(torch.float32))
        if self.condition_on_beta:
            if log_beta is None:
                raise InputError("this ranker is conditioned on the temperature; pass log_beta [B]")
            if log_beta.dim() != 1 or log_beta.shape[0] != batch:
                raise InputError(f"log_beta must be [B] = [{batch}], got {list(log_beta.shape)}")
            parts.append(log_beta.to(torch.float32).unsqueeze(1))  # [B] -> [B, 1]
        return torch.cat(parts, dim=1)

    def forward(
        self,
        features: Tensor,
        mask: Tensor,
        weights: Optional[Tensor] = None,
        log_beta: Optional[Tensor] = None,
    ) -> Tensor:
        """Score a padded batch of lists.

        Args:
            features: float32 [B, L, F] raw features (normalised here).
            mask: bool [B, L], True = real candidate.
            weights: float32 [B, m]; required when conditioned on weights. An unconditioned ranker
                accepts them only with its own m (``n_weights``) and ignores them.
            log_beta: float32 [B]; required when ``condition_on_beta``, ignored otherwise.

        Returns:
            scores float32 [B, L]; padding positions are exactly 0.0.
        """
        if features.dim() != 3 or features.shape[2] != self.n_features:
            raise InputError(f"features must be [B, L, {self.n_features}], got {list(features.shape)}")
        if mask.dtype != torch.bool:
            raise InputError("mask must be a bool tensor (True = real candidate)")
        if mask.dim() != 2 or mask.shape[0] != features.shape[0] or mask.shape[1] != features.shape[1]:
            raise InputError(f"mask must be [B, L] = {list(features.shape[:2])}, got {list(mask.shape)}")
        cond = self._conditioning_vector(features.shape[0], weights, log_beta)
        x = self.normalizer(features.to(torch.float32))
        # padded slots may hold anything (even NaN); zero them so they cannot leak through attention
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
        first_shift: Optional[Tensor] = None
        gamma: Optional[Tensor] = None
        delta: Optional[Tensor] = None
        prompts: Optional[Tensor] = None
        if self.conditioner is not None and cond is not None:
            first_shift, gamma, delta, prompts = self.conditioner(cond)
        scores = self.backbone(x, mask, first_shift, gamma, delta, prompts)
        return torch.where(mask, scores, torch.zeros_like(scores))

    @torch.jit.unused
    def score_grid(self, features: Tensor, mask: Tensor, weights: Tensor, log_beta: Optional[Tensor] = None) -> Tensor:
        """Scores of one batch at G conditions: the same as G calls of ``forward``, computed together.

        For the MLP, normalisation and the first linear layer do not depend on the condition, so they run
        once per batch and only the later layers run per grid point; other rankers tile the batch.

        Args:
            features: float32 [B, L, F]; mask: bool [B, L].
            weights: float32 [G, m], one row per grid point.
            log_beta: float32 [G] or None.

        Returns:
            float32 [G, B, L] (padding exactly 0.0).
        """
        g, b = int(weights.shape[0]), int(features.shape[0])
        if not isinstance(self.backbone, MLPBackbone) or self.conditioner is None or len(self.backbone.hidden) == 0:
            # [B, L, F] -> [G*B, L, F]: grid-major tiling, one forward
            tiled = features.unsqueeze(0).expand(g, *features.shape).reshape(g * b, *features.shape[1:])
            tiled_mask = mask.unsqueeze(0).expand(g, *mask.shape).reshape(g * b, -1)
            w = weights.repeat_interleave(b, dim=0)
            lb = None if log_beta is None else log_beta.repeat_interleave(b, dim=0)
            return self.forward(tiled, tiled_mask, w, lb).reshape(g, b, -1)
        if features.dim() != 3 or features.shape[2] != self.n_features:
            raise InputError(f"features must be [B, L, {self.n_features}], got {list(features.shape)}")
        cond = self._conditioning_vector(g, weights, log_beta)  # [G, C]
        first_shift, gamma, delta, _ = self.conditioner(cond)  # [G, 1, H] each, or None
        x = self.normalizer(features.to(torch.float32))
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
        mlp = self.backbone
        h = mlp.hidden[0](x).unsqueeze(0)  # [B, L, H1] once -> [1, B, L, H1], broadcast over G below
        for i, layer in enumerate(mlp.hidden):
            if i > 0:
                h = layer(h)
            if i == 0 and first_shift is not None:
                h = h + first_shift.unsqueeze(1)  # [G, 1, H1] -> [G, 1, 1, H1]
            if gamma is not None and delta is not None:
                lo, hi = mlp.offsets[i], mlp.offsets[i] + mlp.widths[i]
                h = h * (1.0 + gamma[:, :, lo:hi].unsqueeze(1)) + delta[:, :, lo:hi].unsqueeze(1)
            h = mlp.dropout(torch.relu(h))
        scores = mlp.out(h).squeeze(-1).expand(g, b, -1)  # [G, B, L]
        return torch.where(mask.unsqueeze(0), scores, torch.zeros_like(scores))
