"""``load_llm_checkpoint``: an ``LlmCosDpoModule`` back from an ``ltr-cos llm fit`` checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ltr_cos.errors import InputError

from .module import LlmCosDpoModule

# Hyper-parameter names of checkpoints written before the LLM module took the ranking side's names.
RENAMED_HPARAMS = {
    "objectives": "objective_names",
    "weighted": "weighted_objectives",
    "condition_on_beta": "temperature_conditioning",
    "weights_per_query": "per_query_weights",
}


def read_hyperparameters(path: str | Path) -> dict[str, Any]:
    """The ``LlmCosDpoModule`` hyper-parameters stored in a checkpoint, tensors left on disk (mmap).

    Raises:
        InputError: the file is missing, unreadable, or not an ``ltr-cos llm fit`` checkpoint.
    """
    if not Path(path).is_file():
        raise InputError("no such checkpoint file", str(path))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input, not a bug
        raise InputError(f"cannot read the checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})",
                         str(path)) from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or "base" not in hparams:
        raise InputError("not an `ltr-cos llm fit` checkpoint (it holds no LlmCosDpoModule hyper-parameters)",
                         str(path))
    return dict(hparams)


def renamed_hyperparameters(hparams: dict[str, Any]) -> dict[str, Any]:
    """The current names and values of the pre-rename hyper-parameters in ``hparams`` (empty if none).

    ``objectives``, ``weighted``, ``condition_on_beta`` and ``weights_per_query`` keep their values under
    their new names; ``beta_range`` (beta_min, beta_max) becomes ``beta_min`` and ``beta_max``.
    """
    renamed = {new: hparams[old] for old, new in RENAMED_HPARAMS.items() if old in hparams}
    if "beta_range" in hparams:
        renamed["beta_min"], renamed["beta_max"] = (float(b) for b in hparams["beta_range"])
    return renamed


def load_llm_checkpoint(path: str | Path, tokenizer: Any = None,
                        map_location: str | torch.device = "cpu") -> LlmCosDpoModule:
    """Rebuild an ``LlmCosDpoModule`` from a checkpoint (base from its spec, trained tensors from the file).

    Checkpoints written by an older ltr_cos, whose hyper-parameters had other names (``objectives``,
    ``weighted``, ``beta_range``, ...), are read with the names mapped to the current ones.

    Args:
        path: an ``ltr-cos llm fit`` (or ``ltr-cos llm demo``) checkpoint.
        tokenizer: the tokenizer object, needed when training was given one (specs are stored).
        map_location: device of the loaded tensors.

    Raises:
        InputError: the file is missing, unreadable, or not an LLM checkpoint.
    """
    kwargs: dict[str, Any] = renamed_hyperparameters(read_hyperparameters(path))
    if tokenizer is not None:
        kwargs["tokenizer"] = tokenizer
    # Lightning passes the stored hyper-parameters and these on to __init__ and drops names it does not take
    module = LlmCosDpoModule.load_from_checkpoint(str(path), map_location=map_location, **kwargs)
    module.eval()
    return module
