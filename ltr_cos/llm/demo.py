"""The SmolLM2-135M CPU demo: a short COS-DPO LoRA run on rule-labelled style data, then generations
over the weight grid.

Objectives (``ltr_cos.llm.rules``): ``brevity`` (fewer words) and ``courtesy`` (thanks, please, hope
this helps...). Training prompts are 56 factual questions with four answers each; generations use held-out
questions at w = (1, 0), (0.75, 0.25), ..., (0, 1) and the reference (docs/llm.md).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from ltr_cos.files import atomic_save, atomic_write_text

from .accuracy import one_hot_pair_accuracy
from .data import PreferenceDataset, collate_encoded, load_preferences, write_jsonl
from .generate import generate_responses
from .module import LlmCosDpoModule
from .rules import brevity, courtesy
from .synthetic import HELDOUT_QUESTIONS, TRAIN_QUESTIONS, style_records


def contains_answer(response: str, answer: str) -> bool:
    """Whether the response names the answer (case-insensitive, leading article dropped)."""
    key = re.sub(r"^(a|an|the) ", "", answer.lower())
    return re.search(rf"\b{re.escape(key)}\b", response.lower()) is not None


class LossHistory(pl.Callback):
    """Training loss of every step (for generations.json and the benchmark's records)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))


def run_demo(out: str | Path, steps: int = 150, lr: float = 5e-4, base: str = "smollm2", max_new_tokens: int = 32,
             seed: int = 0, batch_size: int = 2, beta: float = 0.1, n_heldout: int = 8, progress: bool = False,
             **module_kwargs: Any) -> dict[str, Any]:
    """Train for ``steps`` steps, then generate for ``n_heldout`` held-out questions over the weight grid.

    Writes train.jsonl, heldout.jsonl, policy.ckpt and generations.json into ``out``; ``module_kwargs``
    override ``LlmCosDpoModule`` settings (``sft_weight``, ``prompt_lr``, ...)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", style_records(TRAIN_QUESTIONS))
    data = load_preferences(out / "train.jsonl")
    pl.seed_everything(seed, verbose=False)
    template = "chat" if base == "smollm2" else "Question: {prompt}\nAnswer: "
    t0 = time.perf_counter()
    settings = dict(n_prompts=4, lora_r=8, lora_alpha=16, form="pl", sft_weight=2.0, prompt_lr=3e-3) | module_kwargs
    module = LlmCosDpoModule(base=base, objective_names=data.objective_names, beta=beta, lr=lr, prompt_template=template,
                             seed=seed, **settings)
    load_s = time.perf_counter() - t0
    dataset = PreferenceDataset(data, module.tokenizer, template, 128, 48)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed),
                                         collate_fn=lambda items: collate_encoded(items, module.tokenizer.pad_token_id))
    history = LossHistory()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=progress, gradient_clip_val=1.0,
                         default_root_dir=str(out), callbacks=[history])
    t1 = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    train_s = time.perf_counter() - t1
    # adapters + hyper-prompt, no optimizer
    atomic_save(out / "policy.ckpt", lambda tmp: trainer.save_checkpoint(tmp, weights_only=True))
    prompts = [q for q, _ in HELDOUT_QUESTIONS[:n_heldout]]
    answers = [a for _, a in HELDOUT_QUESTIONS[:n_heldout]]
    kw = dict(prompt_template=template, max_new_tokens=max_new_tokens)

    def mean_rewards(responses: list[str]) -> dict[str, float]:
        # the two objectives, plus how many answers are right (not trained for: it shows what style costs)
        return {"brevity": sum(brevity(p, r) for p, r in zip(prompts, responses)) / len(prompts),
                "courtesy": sum(courtesy(p, r) for p, r in zip(prompts, responses)) / len(prompts),
                "correct": sum(contains_answer(r, a) for r, a in zip(responses, answers)) / len(prompts)}

    grid = []
    for w_brevity in (1.0, 0.75, 0.5, 0.25, 0.0):
        weights = [w_brevity, 1.0 - w_brevity]
        responses = generate_responses(module.policy, module.tokenizer, prompts, weights, **kw)
        grid.append({"weights": weights, "responses": responses, "mean_rewards": mean_rewards(responses)})
    reference = generate_responses(module.policy, module.tokenizer, prompts, None, reference=True, **kw)
    weights_a, weights_b = grid[0]["weights"], grid[-1]["weights"]
    # how far the two weights move the model: prompt vectors and response log-probs of one training query,
    # and how the weights order the held-out questions' own four answers
    write_jsonl(out / "heldout.jsonl", style_records(HELDOUT_QUESTIONS[:n_heldout]))
    heldout = PreferenceDataset(load_preferences(out / "heldout.jsonl"), module.tokenizer, template, 128, 48)
    accuracy, shift_accuracy = one_hot_pair_accuracy(module, collate_encoded(list(heldout), module.tokenizer.pad_token_id))
    with torch.no_grad():
        module.eval()
        wa, wb = torch.tensor([weights_a]), torch.tensor([weights_b])
        prompt_gap = (module.policy.prompt_vectors(wa) - module.policy.prompt_vectors(wb)).abs().max().item()
        batch = collate_encoded([dataset[0]], module.tokenizer.pad_token_id)
        log_beta = torch.zeros(1)
        logprob_gap = (module.score(batch, wa, log_beta)[0] - module.score(batch, wb, log_beta)[0]).abs().max().item()
    result = {
        "base": base, "steps": steps, "settings": {"lr": lr, "beta": beta, **settings},
        "train_loss": history.losses, "load_s": load_s, "train_s": train_s,
        "objectives": list(data.objective_names), "prompts": prompts,
        "weights_a": weights_a, "weights_b": weights_b,
        "responses_a": grid[0]["responses"], "responses_b": grid[-1]["responses"], "responses_reference": reference,
        "grid": grid, "heldout_pair_accuracy": accuracy, "heldout_shift_accuracy": shift_accuracy,
        "prompt_vector_gap": prompt_gap, "response_logprob_gap": logprob_gap,
        "mean_rewards": {"a": grid[0]["mean_rewards"], "b": grid[-1]["mean_rewards"],
                         "reference": mean_rewards(reference)},
    }
    atomic_write_text(out / "generations.json", json.dumps(result, indent=2, ensure_ascii=False))
    return result
