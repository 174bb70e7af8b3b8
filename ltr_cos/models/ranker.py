"""The ranker: feature normaliser, backbone (mlp | transformer), optional conditioning path.

``Ranker`` is a plain ``nn.Module`` (no Lightning) whose forward is TorchScript- and ONNX-exportable.
State-dict keys under ``conditioner.`` belong to the conditioning path; all others are the backbone
(normaliser included), which ``load_reference`` copies from the reference ranker f_ref.
"""

from collections.abc import Mapping
from typing import List, Optional

import torch
from torch import Tensor, nn

from ltr_cos.errors import InputError
from ltr_cos.models.conditioning import (
    ConcatConditioning,
    FiLMConditioning,
    PromptConditioning,
)
from ltr_cos.models.config import RankerConfig
from ltr_cos.models.mlp import MLPBackbone
from ltr_cos.models.normalize import FeatureNormalizer
from ltr_cos.models.transformer import TransformerBackbone

CONDITIONER_PREFIX = "conditioner."


def _shown(value):
    return list(value) if isinstance(value, tuple) else value


class Ranker(nn.Module):
    """Scores every candidate of a list, optionally conditioned on weights (and log beta).

    Built from a :class:`RankerConfig` (``Ranker(config)``); keyword arguments are a shorthand for
    ``Ranker(RankerConfig(**kwargs))``. ``prompt`` conditioning needs ``arch="transformer"``: the prompts
    are extra sequence positions that candidates attend to, and a per-candidate MLP has no attention.

    Args:
        config: the ranker's configuration (docs/method.md §6-7), or n_features with the other fields as
            keyword arguments.
        kwargs: ``RankerConfig`` fields, when ``config`` is not a ``RankerConfig``.
    """

    __jit_unused_properties__ = ["config", "needs_weights", "needs_log_beta"]

    n_features: int
    n_weights: int
    temperature_conditioning: bool
    cond_dim: int

    def __init__(self, config: RankerConfig | int | None = None, **kwargs) -> None:
        super().__init__()
        if isinstance(config, int):  # Ranker(n_features, arch=...): the keyword shorthand
            config = RankerConfig(n_features=config, **kwargs)
            kwargs = {}
        if config is None:
            config = RankerConfig(**kwargs)
        elif kwargs:
            raise InputError("pass a RankerConfig or keyword arguments, not both")
        if not isinstance(config, RankerConfig):
            raise InputError(f"Ranker takes a RankerConfig, got {type(config).__name__}")
        self._config = config
        self.n_features = config.n_features
        self.arch = config.arch
        self.n_weights = config.n_weights
        self.temperature_conditioning = config.temperature_conditioning
        self.conditioning = config.conditioning
        if config.conditioning is None:
            if config.temperature_conditioning:
                raise InputError("temperature_conditioning=True needs a conditioning path (concat, film or prompt)")
        elif config.cond_dim == 0:
            raise InputError(f"conditioning {config.conditioning!r} needs n_weights >= 1 or temperature_conditioning")
        self.cond_dim = config.cond_dim

        self.normalizer = FeatureNormalizer.from_config(config.normalization, self.n_features)
        try:
            if config.arch == "mlp":
                backbone: nn.Module = MLPBackbone(self.n_features, config.hidden_sizes, config.dropout)
            else:
                backbone = TransformerBackbone(self.n_features, config.d_model, config.n_heads, config.n_layers,
                                               config.dim_feedforward, config.dropout)
        except ValueError as err:
            raise InputError(f"ranker arch {config.arch!r}: {err}") from None
        self.backbone = backbone

        conditioner: nn.Module | None = None
        conditioning = config.conditioning
        if conditioning is not None and config.arch == "mlp" and not config.hidden_sizes and conditioning != "prompt":
            # with no hidden layer, c would only add the same constant to every candidate's score
            raise InputError(f"conditioning {conditioning!r} on an mlp needs at least one hidden layer")
        if conditioning == "concat":
            conditioner = ConcatConditioning(self.cond_dim, backbone.first_width)
        elif conditioning == "film":
            conditioner = FiLMConditioning(self.cond_dim, backbone.film_widths, config.cond_hidden)
        elif conditioning == "prompt":
            if config.arch != "transformer":
                raise InputError(
                    "conditioning 'prompt' needs arch='transformer': prompts are sequence positions that "
                    "candidates attend to, and the per-candidate mlp has no attention; use concat or film"
                )
            if config.n_prompts < 1:
                raise InputError(f"n_prompts must be >= 1, got {config.n_prompts}")
            conditioner = PromptConditioning(self.cond_dim, config.n_prompts, config.d_model, config.cond_hidden)
        self.conditioner = conditioner

    # ------------------------------------------------------------------ properties (Python side only)
    @property
    def config(self) -> RankerConfig:
        """The configuration that rebuilds this ranker (``Ranker(ranker.config)``), normalisation included."""
        return self._config.replace(normalization=self.normalizer.to_config())

    @property
    def needs_weights(self) -> bool:
        """True when forward requires ``weights`` [B, m]."""
        return self.conditioner is not None and self.n_weights > 0

    @property
    def needs_log_beta(self) -> bool:
        """True when forward requires ``log_beta`` [B]."""
        return self.conditioner is not None and self.temperature_conditioning

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
            own_args, ref_args = self._config.backbone_args(), reference.config.backbone_args()
            diffs = [
                f"{k}: {_shown(ref_args[k])!r} (reference) vs {_shown(own_args[k])!r}"
                for k in own_args
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
        if self.temperature_conditioning:
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
            log_beta: float32 [B]; required when ``temperature_conditioning``, ignored otherwise.

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
        if not isinstance(self.backbone, MLPBackbone) or self.conditioner is None:
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
        scores = self.backbone.forward_grid(x, first_shift, gamma, delta)  # [G, B, L]
        return torch.where(mask.unsqueeze(0), scores, torch.zeros_like(scores))
