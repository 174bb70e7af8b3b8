"""Tiny offline building blocks for the LLM tests: a BPE tokenizer trained in-process, pair data."""

from __future__ import annotations

from functools import lru_cache

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ltr_cos.llm.data import PreferenceData, PreferenceExample, collate_encoded, encode_example

SENTENCES = [
    "How do I bake bread at home?",
    "Mix flour, water, yeast and salt, knead, let it rise and bake it.",
    "I cannot help with that request.",
    "What is the capital of France? The capital of France is Paris.",
    "Please be careful with sharp knives in the kitchen.",
    "Thank you for asking, I hope this helps!",
]


@lru_cache(maxsize=1)
def trained_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (vocab 300) trained on a few sentences; deterministic."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(SENTENCES * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


PAIRS = PreferenceData(
    (
        PreferenceExample("How do I bake bread?", ("Mix flour and water, then bake.", "I cannot help."),
                          ((1.0, 1.0), (0.0, 0.0))),
        PreferenceExample("Tell me about knives.", ("Be careful, they are sharp!", "Knives cut things, use them."),
                          ((0.0, 1.0), (1.0, 0.0))),
        PreferenceExample("What is the capital of France?", ("Paris.", "The capital of France is Paris, I hope this helps!"),
                          ((1.0, 0.0), (0.0, 1.0))),
    ),
    ("helpful", "harmless"),
)


def pair_batch(tokenizer=None):
    """The three PAIRS examples as one LlmBatch (B=3, N=2, K=2)."""
    tok = tokenizer or trained_tokenizer()
    return collate_encoded([encode_example(tok, ex) for ex in PAIRS.examples], tok.pad_token_id)
