"""Rebuild rankers from a training checkpoint: the one place checkpoints are read back.

Every checkpoint of ``ReferenceModule``/``CosDpoModule`` carries an ``ltr_cos`` record (format version,
stage, the rankers' ``RankerConfig``, beta, the sampler and loss settings). Checkpoints are read with
``torch.load(weights_only=True)``: a checkpoint from an untrusted source cannot run code when loaded.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ltr_cos.errors import InputError
from ltr_cos.models import Ranker, RankerConfig

CHECKPOINT_FORMAT_VERSION = 2
CHECKPOINT_KEY = "ltr_cos"


@dataclass
class LoadedRanker:
    """A ranker rebuilt from a checkpoint.

    Attributes:
        ranker: the trained model (the policy of a COS-DPO run, the reference ranker of a stage-1 run).
        reference: the frozen reference ranker of a COS-DPO run, else None.
        info: ``stage`` (reference|cos_dpo), ``objective_names``, ``weighted_objectives``, ``n_features``,
            ``feature_ids``, ``conditioning``, ``temperature_conditioning``, ``beta``, ``beta_range``,
            ``fixed_weights``, ``checkpoint``.
    """

    ranker: Ranker
    reference: Ranker | None
    info: dict[str, Any] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no details"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a checkpoint safely, with one-line errors for missing, foreign or corrupt files."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError("checkpoint not found", path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch.save: a zip (or a legacy pickle)
        raise InputError("cannot read checkpoint safely: not a readable checkpoint file (it is not a torch.save "
                         "archive; a ltr_cos checkpoint is the best.ckpt or last.ckpt of a run)", path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise InputError("cannot read checkpoint safely: it holds pickled Python objects, which could run code "
                             "when loaded (Weights only load failed); ltr_cos checkpoints hold none", path) from None
        raise InputError(f"cannot read checkpoint safely: not a checkpoint file (UnpicklingError: "
                         f"{_first_line(exc)})", path) from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, TypeError, AttributeError, OSError) as exc:
        # truncated, corrupt or foreign files
        raise InputError(f"cannot read checkpoint safely: not a readable checkpoint file ({type(exc).__name__}: "
                         f"{_first_line(exc)})", path) from None
    if not isinstance(checkpoint, dict):
        raise InputError("not a ltr_cos checkpoint (not a Lightning checkpoint dictionary)", path)
    return checkpoint


def checkpoint_record(checkpoint: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``ltr_cos`` record of a checkpoint, refusing those of another format with a message that says so."""
    record = checkpoint.get(CHECKPOINT_KEY)
    if record is None:
        if "state_dict" in checkpoint and "hyper_parameters" in checkpoint:
            raise InputError("this checkpoint was written by an older ltr_cos (no 'ltr_cos' record): retrain it "
                             "with this version", path)
        raise InputError("not a ltr_cos ranker checkpoint (no 'ltr_cos' record)", path)
    if not isinstance(record, dict) or record.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        version = record.get("format_version") if isinstance(record, dict) else None
        raise InputError(f"checkpoint format_version {version!r} is not supported by this ltr_cos (expects "
                         f"{CHECKPOINT_FORMAT_VERSION}); retrain with this version", path)
    return record


def _ranker(config: RankerConfig, state: dict[str, Any], prefix: str, path: str) -> Ranker:
    ranker = Ranker(config)
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        ranker.load_state_dict(own)
    except RuntimeError as exc:
        raise InputError(f"the checkpoint's '{prefix}*' weights do not match its configuration ({exc})",
                         path) from None
    return ranker.eval()


def info_from_record(record: dict[str, Any], path: str | None = None) -> dict[str, Any]:
    """The ``LoadedRanker.info`` of a checkpoint record (also used for a module still in memory)."""
    stage = record.get("stage")
    config = RankerConfig.from_dict(record["ranker"], path)
    info: dict[str, Any] = {
        "checkpoint": path,
        "stage": stage,
        "objective_names": list(config.objective_names),
        "n_features": config.n_features,
        "feature_ids": None if config.feature_ids is None else list(config.feature_ids),
        "ranker_config": record["ranker"],
    }
    if stage == "reference":
        info.update(weighted_objectives=[], conditioning=None, temperature_conditioning=False, beta=None,
                    beta_range=None, fixed_weights=None)
    elif stage == "cos_dpo":
        info.update(
            weighted_objectives=list(config.weighted_objectives), fixed_weights=record.get("fixed_weights"),
            conditioning=config.conditioning, temperature_conditioning=config.temperature_conditioning,
            beta=float(record["beta"]), beta_range=None if config.beta_range is None else list(config.beta_range),
            sampler=record.get("sampler"), loss=record.get("loss"),
        )
    else:
        raise InputError(f"unknown checkpoint stage {stage!r}", path)
    return info


def load_ranker_from_checkpoint(path: str | Path) -> LoadedRanker:
    """Load a ReferenceModule or CosDpoModule checkpoint into eval-mode rankers."""
    path = str(path)
    checkpoint = read_checkpoint(path)
    record = checkpoint_record(checkpoint, path)
    state = checkpoint.get("state_dict", {})
    info = info_from_record(record, path)
    config = RankerConfig.from_dict(record["ranker"], path)
    if info["stage"] == "reference":
        return LoadedRanker(_ranker(config, state, "ranker.", path), None, info)
    reference = _ranker(RankerConfig.from_dict(record["reference"], path), state, "reference.", path)
    return LoadedRanker(_ranker(config, state, "policy.", path), reference, info)
