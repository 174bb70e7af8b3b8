"""Generation at a chosen trade-off: responses from the policy conditioned on (w, beta)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .data import format_prompt
from .model import ConditionedPolicy


def encode_prompts(tokenizer: Any, prompts: Sequence[str], prompt_template: str = "plain",
                   max_prompt_tokens: int = 256, add_bos: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids int64 [S, T] and attention mask int64 [S, T] (the same text as training sees)."""
    rows = []
    for p in prompts:
        ids = list(tokenizer(format_prompt(tokenizer, p, prompt_template), add_special_tokens=False)["input_ids"])
        if add_bos and tokenizer.bos_token_id is not None and (not ids or ids[0] != tokenizer.bos_token_id):
            ids = [tokenizer.bos_token_id, *ids]
        rows.append(ids[-max_prompt_tokens:])
    t = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), t), pad, dtype=torch.long)
    attention = torch.zeros(len(rows), t, dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, t - len(r):] = torch.tensor(r, dtype=torch.long)
        attention[i, t - len(r):] = 1
    return input_ids, attention


@torch.no_grad()
def generate_responses(
    policy: ConditionedPolicy, tokenizer: Any, prompts: Sequence[str], weights: Sequence[float] | None,
    beta: float | None = None, reference: bool = False, prompt_template: str = "plain",
    max_new_tokens: int = 64, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
    batch_size: int = 8, seed: int = 0,
) -> list[str]:
    """Generate one response per prompt at weights [m] (and beta for beta-conditioned policies).

    Args:
        reference: generate from the reference (adapters off, no prompts) instead.
        do_sample: sample (seeded) instead of greedy decoding.
    Returns:
        the decoded responses, special tokens removed.
    """
    was_training = policy.training
    policy.eval()
    device = next(policy.parameters()).device
    torch.manual_seed(seed)
    out: list[str] = []
    gen_kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, do_sample=do_sample,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if do_sample:
        gen_kwargs.update(temperature=temperature, top_p=top_p)
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            ids, attn = encode_prompts(tokenizer, chunk, prompt_template)
            ids, attn = ids.to(device), attn.to(device)
            w = log_beta = None
            if not reference and policy.hyper_prompt is not None:
                if weights is None:
                    raise ValueError("a conditioned policy needs weights")
                w = torch.tensor([list(weights)] * len(chunk), dtype=torch.float32, device=device)
                if policy.temperature_conditioning:
                    if beta is None:
                        raise ValueError("this policy is conditioned on beta: pass beta")
                    log_beta = torch.full((len(chunk),), math.log(beta), dtype=torch.float32, device=device)
            new = policy.generate(ids, attn, w, log_beta, reference=reference, **gen_kwargs)
            out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        policy.train(was_training)
    return [s.strip() for s in out]
