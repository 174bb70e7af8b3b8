"""``LlmPreferenceDataModule``: preference data tokenised for ``LlmCosDpoModule``."""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch

from .data import PreferenceDataset, collate_encoded, load_preferences
from .loading import load_tokenizer


class LlmPreferenceDataModule(pl.LightningDataModule):
    """Preference data (PKU-SafeRLHF pairs or listwise JSONL) tokenised for ``LlmCosDpoModule``.

    Args:
        train: training file (JSONL/Parquet) or ``hf:NAME[:SPLIT]``.
        val: optional validation source.
        format: ``auto``, ``pku`` or ``listwise``.
        objectives: listwise label columns to read (default: the first row's).
        tokenizer: tokenizer spec (linked from the model's ``base``/``tokenizer`` by ``ltr-cos llm fit``)
            or a tokenizer object.
        prompt_template: ``plain``, ``chat`` or a format string with ``{prompt}``.
        max_prompt_tokens, max_response_tokens: truncation lengths.
        batch_size: prompts per batch (each with all its responses).
        limit: read at most this many rows per split.
        num_workers: data loader workers.
        seed: seeds the shuffling of the training prompts.
    """

    def __init__(self, train: str, val: str | None = None, format: Literal["auto", "pku", "listwise"] = "auto",
                 objectives: list[str] | None = None, tokenizer: Any = "bytes", prompt_template: str = "plain",
                 max_prompt_tokens: int = 256, max_response_tokens: int = 256, batch_size: int = 4,
                 limit: int | None = None, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.train_source, self.val_source = train, val
        self.format, self.objectives_arg, self.limit = format, objectives, limit
        self.tokenizer_arg = tokenizer
        self.prompt_template = prompt_template
        self.max_prompt_tokens, self.max_response_tokens = max_prompt_tokens, max_response_tokens
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self._train = load_preferences(train, format, objectives, limit)
        self._val = load_preferences(val, format, self._train.objective_names, limit) if val else None
        self.train_set: PreferenceDataset | None = None
        self.val_set: PreferenceDataset | None = None

    @property
    def objective_names(self) -> list[str]:
        return list(self._train.objective_names)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        tok = self.tokenizer_arg if not isinstance(self.tokenizer_arg, str) else load_tokenizer(self.tokenizer_arg)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        args = (tok, self.prompt_template, self.max_prompt_tokens, self.max_response_tokens)
        self.train_set = PreferenceDataset(self._train, *args)
        self.val_set = PreferenceDataset(self._val, *args) if self._val is not None else None

    def _collate(self, items):
        return collate_encoded(items, self.pad_id)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, generator=gen,
                                           collate_fn=self._collate, num_workers=self.num_workers)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return torch.utils.data.DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False,
                                           collate_fn=self._collate, num_workers=self.num_workers)
