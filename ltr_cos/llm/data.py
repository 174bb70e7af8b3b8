"""Preference data for LLM COS-DPO: readers, tokenisation and the padded batch.

Two row formats, from local JSONL (``.jsonl``, ``.jsonl.gz``), Parquet, or the ``datasets`` library
(``hf:NAME[:SPLIT]`` when a hub is reachable), or rule-labelled synthetic rows (``synthetic:pku[:N[:SEED]]``,
``synthetic:style``; see ``ltr_cos.llm.synthetic``):

* PKU-SafeRLHF pairs: ``prompt``, ``response_0``, ``response_1``, ``better_response_id``,
  ``safer_response_id`` -> two objectives (``helpful``, ``harmless``), label 1 for the preferred response.
* Generic listwise: ``prompt``, ``responses`` (list of strings), ``labels`` {objective: [one number per
  response]} (larger = better).

Candidates are responses: a query is one prompt, L = n_responses, K = number of objectives.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_file

PKU_OBJECTIVES = ("helpful", "harmless")
PKU_FIELDS = ("prompt", "response_0", "response_1", "better_response_id", "safer_response_id")
Format = Literal["auto", "pku", "listwise"]


@dataclass(frozen=True)
class PreferenceExample:
    """One prompt with its responses and their labels.

    Attributes:
        prompt: the user text.
        responses: n >= 1 response texts.
        labels: n rows of K floats (larger = better), column k = objective k.
    """

    prompt: str
    responses: tuple[str, ...]
    labels: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class PreferenceData:
    """Examples plus the objective names their label columns stand for."""

    examples: tuple[PreferenceExample, ...]
    objective_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.examples)


# ---------------------------------------------------------------- reading rows


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row number, record) from a JSONL (1-based line numbers; blank lines skipped) or Parquet file."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path))
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for i, rec in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield i, rec
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON: {e.msg}", str(path), line_no) from None
            if not isinstance(rec, dict):
                raise InputError(f"expected a JSON object, got {type(rec).__name__}", str(path), line_no)
            yield line_no, rec


def _text(rec: dict, key: str, where: tuple[str, int]) -> str:
    if key not in rec or rec[key] is None:
        raise InputError(f"missing field {key!r}", *where)
    value = rec[key]
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}", *where)
    return value


def _response_id(rec: dict, key: str, where: tuple[str, int]) -> int:
    if key not in rec or rec[key] is None:
        raise InputError(f"missing field {key!r}", *where)
    value = rec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        raise InputError(f"field {key!r} must be 0 or 1 (a response id), got {value!r}", *where)
    return int(value)


def pku_example(rec: dict, where: tuple[str, int]) -> PreferenceExample:
    """Map one PKU-SafeRLHF row to two responses labelled (helpful, harmless): 1 = preferred, 0 = not."""
    prompt = _text(rec, "prompt", where)
    responses = (_text(rec, "response_0", where), _text(rec, "response_1", where))
    for i, r in enumerate(responses):
        if not r.strip():
            raise InputError(f"response_{i} is empty", *where)
    better = _response_id(rec, "better_response_id", where)
    safer = _response_id(rec, "safer_response_id", where)
    labels = tuple((float(i == better), float(i == safer)) for i in range(2))
    return PreferenceExample(prompt, responses, labels)


def listwise_example(rec: dict, where: tuple[str, int], objectives: Sequence[str]) -> PreferenceExample:
    """Map one listwise row (``prompt``, ``responses``, ``labels`` {objective: [...]}) to an example."""
    prompt = _text(rec, "prompt", where)
    responses = rec.get("responses")
    if responses is None:
        raise InputError("missing field 'responses'", *where)
    if not isinstance(responses, list) or not responses:
        raise InputError("field 'responses' must be a non-empty list of strings", *where)
    for i, r in enumerate(responses):
        if not isinstance(r, str) or not r.strip():
            raise InputError(f"responses[{i}] is empty or not a string", *where)
    labels = rec.get("labels")
    if not isinstance(labels, dict):
        raise InputError("missing field 'labels' (an object {objective: [one number per response]})", *where)
    columns = []
    for name in objectives:
        if name not in labels:
            raise InputError(f"labels has no objective {name!r} (has {sorted(labels)})", *where)
        col = labels[name]
        if not isinstance(col, list) or len(col) != len(responses):
            got = len(col) if isinstance(col, list) else type(col).__name__
            raise InputError(f"labels[{name!r}] must list {len(responses)} numbers, got {got}", *where)
        for v in col:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"labels[{name!r}] holds a non-numeric or non-finite value {v!r}", *where)
        columns.append([float(v) for v in col])
    rows = tuple(tuple(col[i] for col in columns) for i in range(len(responses)))
    return PreferenceExample(prompt, tuple(responses), rows)


def detect_format(rec: dict) -> Literal["pku", "listwise"]:
    """Guess the row format from the first record's keys."""
    if "responses" in rec:
        return "listwise"
    if "response_0" in rec:
        return "pku"
    raise ValueError(f"cannot tell the format from keys {sorted(rec)}: expected 'responses' or 'response_0'")


def _records(source: str | Path) -> Iterator[tuple[tuple[str, int], dict]]:
    source = str(source)
    if source.startswith("synthetic:"):
        # synthetic:pku[:N[:SEED]] or synthetic:style (rule-labelled, see ltr_cos.llm.synthetic)
        from . import synthetic

        kind, *rest = source.split(":")[1:]
        try:
            numbers = [int(v) for v in rest]
        except ValueError:
            raise InputError("expected synthetic:pku[:N[:SEED]] or synthetic:style", source) from None
        if kind == "pku":
            records = synthetic.pku_records(*(numbers or [64]))
        elif kind == "style" and not numbers:
            records = synthetic.style_records()
        else:
            raise InputError("expected synthetic:pku[:N[:SEED]] or synthetic:style", source)
        for i, rec in enumerate(records, start=1):
            yield (source, i), rec
        return
    if source.startswith("hf:"):
        # name[:split] through the datasets library (needs a reachable hub or a local cache)
        import datasets

        name, _, split = source[3:].partition(":")
        ds = datasets.load_dataset(name, split=split or "train")
        for i, rec in enumerate(ds, start=1):
            yield (source, i), dict(rec)
        return
    for i, rec in iter_records(source):
        yield (source, i), rec


def load_preferences(
    source: str | Path, format: Format = "auto", objectives: Sequence[str] | None = None, limit: int | None = None,
) -> PreferenceData:
    """Read preference examples from a file (JSONL/Parquet) or ``hf:NAME[:SPLIT]``.

    Args:
        source: file path, ``hf:`` dataset name or ``synthetic:`` source.
        format: ``pku``, ``listwise`` or ``auto`` (from the first row's keys).
        objectives: label columns to read from listwise rows (default: the first row's ``labels`` keys,
            in file order); PKU rows always give (``helpful``, ``harmless``).
        limit: read at most this many rows.

    Raises:
        InputError: a bad row, naming the file and row (line) number.
    """
    examples: list[PreferenceExample] = []
    names: tuple[str, ...] | None = None
    fmt = format
    for where, rec in _records(source):
        if fmt == "auto":
            try:
                fmt = detect_format(rec)
            except ValueError as e:
                raise InputError(str(e), *where) from None
        if fmt == "pku":
            if objectives is not None and tuple(objectives) != PKU_OBJECTIVES:
                raise InputError(f"PKU-SafeRLHF rows give objectives {PKU_OBJECTIVES}, not {tuple(objectives)}",
                                 where[0])
            names = PKU_OBJECTIVES
            examples.append(pku_example(rec, where))
        else:
            if names is None:
                if objectives is not None:
                    names = tuple(objectives)
                elif isinstance(rec.get("labels"), dict) and rec["labels"]:
                    names = tuple(rec["labels"])
                else:
                    raise InputError("missing field 'labels' (an object {objective: [...]})", *where)
            examples.append(listwise_example(rec, where, names))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise InputError("no rows", str(source))
    assert names is not None
    return PreferenceData(tuple(examples), names)


def write_jsonl(path: str | Path, records: Sequence[dict]) -> None:
    """Write records as JSON lines (UTF-8)."""
    with atomic_file(path) as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- tokenisation and batches


@dataclass
class LlmBatch:
    """A padded batch of B prompts with up to N responses each, one token sequence per response.

    Sequences are ``prompt + response + padding`` (right padding).

    Attributes:
        input_ids: int64 [B, N, T].
        attention_mask: bool [B, N, T], False on padding.
        response_mask: bool [B, N, T], True on the response tokens whose log-probabilities are scored.
        labels: float32 [B, N, K].
        mask: bool [B, N], True for real responses (a padded response has an empty sequence).
    """

    input_ids: Tensor
    attention_mask: Tensor
    response_mask: Tensor
    labels: Tensor
    mask: Tensor

    def to(self, device: torch.device | str) -> LlmBatch:
        return replace(self, **{k: getattr(self, k).to(device) for k in
                                ("input_ids", "attention_mask", "response_mask", "labels", "mask")})

    def __len__(self) -> int:
        return int(self.mask.shape[0])


def format_prompt(tokenizer: Any, prompt: str, template: str) -> str:
    """Render the prompt text the model sees.

    Args:
        template: ``chat`` (the tokenizer's chat template, user turn + generation prompt), ``plain`` (the
            prompt as is), or a format string with ``{prompt}`` such as ``"Question: {prompt}\\nAnswer:"``.
    """
    if template == "plain":
        return prompt
    if template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt_template 'chat' needs a tokenizer with a chat template")
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    if "{prompt}" not in template:
        raise ValueError(f"prompt_template must be 'chat', 'plain' or contain '{{prompt}}', got {template!r}")
    return template.format(prompt=prompt)


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of one example: the prompt once, each response with its end-of-sequence token."""

    prompt_ids: tuple[int, ...]
    response_ids: tuple[tuple[int, ...], ...]
    labels: tuple[tuple[float, ...], ...]


def encode_example(
    tokenizer: Any, example: PreferenceExample, prompt_template: str = "plain",
    max_prompt_tokens: int = 256, max_response_tokens: int = 256, add_bos: bool = True,
) -> EncodedExample:
    """Tokenise one example. Long prompts keep their end; long responses keep their start.

    The response ids end with the tokenizer's EOS token so the model also learns where to stop.
    """
    text = format_prompt(tokenizer, example.prompt, prompt_template)
    prompt_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if add_bos and tokenizer.bos_token_id is not None and (not prompt_ids or prompt_ids[0] != tokenizer.bos_token_id):
        prompt_ids = [tokenizer.bos_token_id, *prompt_ids]
    prompt_ids = prompt_ids[-max_prompt_tokens:]
    if not prompt_ids:
        raise ValueError("a prompt tokenised to no tokens (and the tokenizer has no BOS token)")
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    responses = []
    for r in example.responses:
        ids = list(tokenizer(r, add_special_tokens=False)["input_ids"])[: max_response_tokens - len(eos)]
        responses.append(tuple(ids + eos))
    return EncodedExample(tuple(prompt_ids), tuple(responses), example.labels)


def collate_encoded(examples: Sequence[EncodedExample], pad_id: int) -> LlmBatch:
    """Pad encoded examples into an ``LlmBatch`` (responses padded to the longest list, tokens to T)."""
    if not examples:
        raise ValueError("cannot collate an empty batch")
    b = len(examples)
    n = max(len(e.response_ids) for e in examples)
    k = len(examples[0].labels[0])
    t = max(len(e.prompt_ids) + len(r) for e in examples for r in e.response_ids)
    input_ids = torch.full((b, n, t), pad_id, dtype=torch.long)
    attention = torch.zeros(b, n, t, dtype=torch.bool)
    response = torch.zeros(b, n, t, dtype=torch.bool)
    labels = torch.zeros(b, n, k, dtype=torch.float32)
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, e in enumerate(examples):
        p = len(e.prompt_ids)
        for j, r in enumerate(e.response_ids):
            seq = list(e.prompt_ids) + list(r)
            input_ids[i, j, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention[i, j, : len(seq)] = True
            response[i, j, p: len(seq)] = True
            labels[i, j] = torch.tensor(e.labels[j], dtype=torch.float32)
            mask[i, j] = True
    return LlmBatch(input_ids, attention, response, labels, mask)


class PreferenceDataset(torch.utils.data.Dataset):
    """Tokenised examples (tokenised once, up front)."""

    def __init__(self, data: PreferenceData, tokenizer: Any, prompt_template: str = "plain",
                 max_prompt_tokens: int = 256, max_response_tokens: int = 256) -> None:
        self.objective_names = data.objective_names
        self.items = [encode_example(tokenizer, ex, prompt_template, max_prompt_tokens, max_response_tokens)
                      for ex in data.examples]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> EncodedExample:
        return self.items[i]
