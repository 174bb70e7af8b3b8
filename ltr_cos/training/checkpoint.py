"""Rebuild rankers from a training checkpoint without the training code's side effects.

Checkpoints are read with ``torch.load(weights_only=True)``: a checkpoint from an untrusted source
cannot run code when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ltr_cos.errors import InputError
from ltr_cos.models import Ranker
from ltr_cos.training.modules import _ranker_from_module_state


@dataclass
class LoadedRanker:
    """A ranker rebuilt from a checkpoint.

    Attributes:
        ranker: the trained model (the policy of a COS-DPO run, the reference ranker of a stage-1 run).
        reference: the frozen reference ranker of a COS-DPO run, else None.
        info: ``stage`` (reference|cos_dpo), ``objective_names``, ``weighted_objectives``, ``n_features``,
            ``feature_ids``, ``conditioning``, ``temperature_conditioning``, ``beta``, ``beta_range``, ``checkpoint``.
    """

    ranker: Ranker
    reference: Ranker | None
    info: dict[str, Any] = field(default_factory=dict)


def load_ranker_from_checkpoint(path: str | Path) -> LoadedRanker:
    """Load a ReferenceModule or CosDpoModule checkpoint into eval-mode rankers."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError("checkpoint not found", path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, foreign objects refused by weights_only
        raise InputError(f"cannot read checkpoint safely ({type(exc).__name__}: {exc})", path) from exc
    hparams = checkpoint.get("hyper_parameters", {})
    names = list(hparams.get("objective_names") or [])
    info: dict[str, Any] = {
        "checkpoint": path,
        "objective_names": names,
        "n_features": hparams.get("n_features"),
        "feature_ids": hparams.get("feature_ids"),
    }
    if "reference_config" in hparams:  # a CosDpoModule run
        state = checkpoint["state_dict"]
        reference = Ranker(**hparams["reference_config"])
        reference.load_state_dict({k[len("reference."):]: v for k, v in state.items() if k.startswith("reference.")})
        weighted = hparams.get("weighted_objectives") or (names if hparams.get("include_main") else names[1:])
        fixed = hparams.get("fixed_weights")
        policy_config = dict(hparams["reference_config"])
        if fixed is None:
            policy_config.update(conditioning=hparams["conditioning"], n_weights=len(weighted),
                                 temperature_conditioning=hparams["temperature_conditioning"],
                                 n_prompts=hparams["n_prompts"], cond_hidden=hparams["cond_hidden"])
        policy = Ranker(**policy_config)
        policy.load_state_dict({k[len("policy."):]: v for k, v in state.items() if k.startswith("policy.")})
        info.update(
            stage="cos_dpo", weighted_objectives=list(weighted), fixed_weights=fixed,
            conditioning=None if fixed is not None else hparams["conditioning"],
            temperature_conditioning=bool(hparams["temperature_conditioning"]), beta=float(hparams["beta"]),
            beta_range=[float(hparams["beta_min"]), float(hparams["beta_max"])],
        )
        return LoadedRanker(policy.eval(), reference.eval(), info)
    config, state = _ranker_from_module_state(checkpoint, "ranker.", path)
    ranker = Ranker(**config)
    ranker.load_state_dict(state)
    info.update(stage="reference", weighted_objectives=[], conditioning=None, temperature_conditioning=False,
                beta=None, beta_range=None)
    return LoadedRanker(ranker.eval(), None, info)
