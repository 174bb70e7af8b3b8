"""Score generations over the weight grid: one reward per objective, Pareto front and hypervolume.

Reward specs (``NAME=SPEC`` on the command line):

* ``rule:RULE``            a rule from ``ltr_cos.llm.rules`` (``brevity``, ``courtesy``, ...), no model;
* ``dpo:CHECKPOINT``       the implicit DPO reward beta * (log pi_k(y|x) - log pi_ref(y|x)) of an
                           ``LlmCosDpoModule`` checkpoint, at the one-hot weight of NAME when it is conditioned;
* ``PATH[#INDEX]``         a sequence-classification model folder (``AutoModelForSequenceClassification``);
                           the reward is logit INDEX (default 0) of ``prompt + response``.

The grid table has columns ``weight/{objective}``, ``beta`` and ``reward/{objective}`` (mean over the
prompts); ``summary.json`` holds the non-dominated rows, hypervolumes and the weight/reward Spearman
correlations (computed with ``ltr_cos.pareto``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltr_cos.files import atomic_file
from ltr_cos.pareto.front import non_dominated
from ltr_cos.pareto.hypervolume import hypervolume

from .generate import generate_responses

Reward = Callable[[Sequence[str], Sequence[str]], np.ndarray]  # (prompts, responses) -> float64 [S]


def rule_reward(name: str) -> Reward:
    """A rule of ``ltr_cos.llm.rules`` as a batch reward."""
    from .rules import rule

    fn = rule(name)
    return lambda prompts, responses: np.array([fn(p, r) for p, r in zip(prompts, responses)], dtype=np.float64)


def classifier_reward(path: str, index: int = 0, batch_size: int = 8, device: str = "cpu") -> Reward:
    """Logit ``index`` of a sequence-classification model on ``prompt + "\\n" + response``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
        model.config.pad_token_id = tok.pad_token_id

    @torch.no_grad()
    def score(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        out = []
        for s in range(0, len(prompts), batch_size):
            texts = [f"{p}\n{r}" for p, r in zip(prompts[s:s + batch_size], responses[s:s + batch_size])]
            enc = tok(texts, return_tensors="pt", padding=True, truncation=True).to(device)
            out.append(model(**enc).logits[:, index].float().cpu())
        return torch.cat(out).double().numpy()

    return score


def implicit_dpo_reward(checkpoint: str, objective: str, device: str = "cpu") -> Reward:
    """beta * (log pi(y|x) - log pi_ref(y|x)) of a trained policy (one-hot weight of ``objective``)."""
    from .checkpoint import load_llm_checkpoint
    from .data import PreferenceExample, collate_encoded, encode_example

    module = load_llm_checkpoint(checkpoint, map_location=device)
    tok = module.tokenizer
    weights = torch.zeros(1, module.m)
    if module.policy.hyper_prompt is not None:
        if objective not in module.weighted_objectives:
            raise ValueError(f"{checkpoint} has no objective {objective!r} (has {module.weighted_objectives})")
        weights[0, module.weighted_objectives.index(objective)] = 1.0
    template = module.hparams.get("prompt_template", "plain")

    @torch.no_grad()
    def score(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        out = []
        for p, r in zip(prompts, responses):
            enc = encode_example(tok, PreferenceExample(p, (r or " ",), ((0.0,),)), template)
            batch = collate_encoded([enc], tok.pad_token_id).to(module.device)
            log_beta = module.default_log_beta(1, module.device)
            s, ref = module.score(batch, weights.to(module.device), log_beta)
            out.append(float(log_beta.exp()[0] * (s[0, 0] - ref[0, 0])))
        return np.asarray(out, dtype=np.float64)

    return score


def parse_reward(spec: str, objective: str, device: str = "cpu") -> Reward:
    """Build a reward from a spec string (see the module docstring)."""
    if spec.startswith("rule:"):
        return rule_reward(spec[5:])
    if spec.startswith("dpo:"):
        return implicit_dpo_reward(spec[4:], objective, device)
    path, _, index = spec.partition("#")
    if not Path(path).exists():
        raise FileNotFoundError(f"reward model for {objective!r} not found: {path}")
    return classifier_reward(path, int(index) if index else 0, device=device)


def evaluate_grid(policy: Any, tokenizer: Any, prompts: Sequence[str], rewards: dict[str, Reward],
                  weighted_objectives: Sequence[str], grid: np.ndarray, betas: Sequence[float | None] = (None,),
                  **generate_kwargs) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Generate at every grid weight (and beta) and score each objective.

    Args:
        weighted_objectives: the m weighted objectives, in the policy's weight order; each needs a reward.
        grid: float [G, m] weights.
    Returns:
        (rows, reference): one row per (weight, beta) with ``weight/{o}``, ``beta``, ``reward/{o}``,
        ``mean_words``; and the reference model's mean rewards ``{o: value}``.
    """
    missing = [o for o in weighted_objectives if o not in rewards]
    if missing:
        raise ValueError(f"no reward given for objectives {missing}")
    ref_responses = generate_responses(policy, tokenizer, prompts, None, reference=True, **generate_kwargs)
    reference = {o: float(rewards[o](prompts, ref_responses).mean()) for o in weighted_objectives}
    rows = []
    for beta in betas:
        for w in grid:
            responses = generate_responses(policy, tokenizer, prompts, list(map(float, w)), beta=beta,
                                           **generate_kwargs)
            row: dict[str, float] = {f"weight/{o}": float(v) for o, v in zip(weighted_objectives, w)}
            row["beta"] = float("nan") if beta is None else float(beta)
            for o in weighted_objectives:
                row[f"reward/{o}"] = float(rewards[o](prompts, responses).mean())
            row["mean_words"] = float(np.mean([len(r.split()) for r in responses]))
            rows.append(row)
    return rows, reference


def summarize_rewards(rows: Sequence[dict[str, float]], weighted_objectives: Sequence[str],
                      reference: dict[str, float]) -> dict[str, Any]:
    """Front rows, hypervolumes (reference-model point and grid nadir) and weight/reward Spearman."""
    from ltr_cos.pareto.summary import spearman

    values = np.array([[r[f"reward/{o}"] for o in weighted_objectives] for r in rows], dtype=np.float64)  # [G, m]
    nadir = values.min(0)
    ref_point = np.array([reference[o] for o in weighted_objectives])
    return {
        "objectives": list(weighted_objectives),
        "grid_size": len(rows),
        "front_rows": np.flatnonzero(non_dominated(values)).tolist(),
        "reference_model_reward": dict(reference),
        "hypervolume": {
            "reference_model": {"point": dict(reference), "value": hypervolume(values, ref_point)},
            "grid_nadir": {"point": dict(zip(weighted_objectives, nadir.tolist())), "value": hypervolume(values, nadir)},
        },
        "spearman": {o: spearman(np.array([r[f"weight/{o}"] for r in rows]), values[:, j])
                     for j, o in enumerate(weighted_objectives)},
    }


def write_csv(path: str | Path, rows: Sequence[dict[str, float]]) -> None:
    """Write grid rows as CSV (columns of the first row, in order)."""
    with atomic_file(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
