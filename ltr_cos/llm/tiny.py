"""Offline building blocks: a byte-level tokenizer and causal LMs with random weights from a config.

Used by the CPU smoke config, the GPU check (no hub there) and the tests. Nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")

# Small but real architectures; "gpt2-124m" is the GPT-2 small shape (124M parameters with tied embeddings).
RANDOM_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512),
    "gpt2": dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, n_positions=512),
    # GPT-2's own 50257-token vocabulary keeps the parameter count at 124M with any smaller tokenizer
    "gpt2-124m": dict(model_type="gpt2", n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257),
}


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer: 256 byte tokens plus ``<pad>``, ``<s>``, ``</s>`` (ids 256, 257, 258).

    Covers any UTF-8 text without training, so a random-weight model can read any data set.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def random_causal_lm(
    arch: str, vocab_size: int, overrides: dict[str, Any] | None = None, seed: int = 0,
    pad_token_id: int | None = None, bos_token_id: int | None = None, eos_token_id: int | None = None,
) -> PreTrainedModel:
    """Build an ``AutoModelForCausalLM`` with random weights from a named shape (``RANDOM_CONFIGS``).

    Args:
        arch: a key of ``RANDOM_CONFIGS`` (``llama``, ``gpt2``, ``gpt2-124m``).
        vocab_size: size of the tokenizer's vocabulary (a preset or override may ask for more rows).
        overrides: config fields that replace the preset's (``num_hidden_layers``...).
        seed: weights are drawn from this seed, so two calls give the same model.
    """
    if arch not in RANDOM_CONFIGS:
        raise ValueError(f"unknown random architecture {arch!r}; choose one of {sorted(RANDOM_CONFIGS)}")
    fields = {"vocab_size": vocab_size, **RANDOM_CONFIGS[arch], **(overrides or {})}
    if fields["vocab_size"] < vocab_size:
        raise ValueError(f"vocab_size {fields['vocab_size']} is smaller than the tokenizer's {vocab_size}")
    model_type = fields.pop("model_type")
    config = AutoConfig.for_model(model_type, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                                  eos_token_id=eos_token_id, **fields)
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.random.set_rng_state(state)
    return model
