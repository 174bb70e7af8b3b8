"""The SmolLM2-135M CPU demo: a short COS-DPO LoRA run on rule-labelled style data, then generations
at two weights.

Objectives (``ltr_cos.llm.rules``): ``brevity`` (fewer words) and ``courtesy`` (thanks, please, hope
this helps...). Training prompts are 18 factual questions with four answers each; generations use held-out
questions at w = (1, 0) and w = (0, 1).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from .data import PreferenceDataset, collate_encoded, load_preferences, write_jsonl
from .generate import generate_responses
from .module import LlmCosDpoModule
from .rules import brevity, courtesy
from .synthetic import QUESTIONS, style_records

N_TRAIN = 18


def run_demo(out: str | Path, steps: int = 40, lr: float = 3e-4, base: str = "smollm2", max_new_tokens: int = 32,
             seed: int = 0, batch_size: int = 2, beta: float = 0.5) -> dict[str, Any]:
    """Train for ``steps`` steps and generate at two weights; writes train.jsonl, policy.ckpt, generations.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", style_records(QUESTIONS[:N_TRAIN]))
    data = load_preferences(out / "train.jsonl")
    pl.seed_everything(seed, verbose=False)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    template = "chat" if base == "smollm2" else "Question: {prompt}\nAnswer: "
    t0 = time.perf_counter()
    module = LlmCosDpoModule(base=base, objectives=data.objective_names, n_prompts=4, lora_r=8, lora_alpha=16,
                             beta=beta, form="pl", lr=lr, prompt_template=template, seed=seed)
    load_s = time.perf_counter() - t0
    dataset = PreferenceDataset(data, module.tokenizer, template, 128, 48)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed),
                                         collate_fn=lambda items: collate_encoded(items, module.tokenizer.pad_token_id))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False, gradient_clip_val=1.0,
                         default_root_dir=str(out))
    t1 = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    train_s = time.perf_counter() - t1
    trainer.save_checkpoint(out / "policy.ckpt")
    prompts = [q for q, _ in QUESTIONS[N_TRAIN:N_TRAIN + 4]]
    weights_a, weights_b = [1.0, 0.0], [0.0, 1.0]
    kw = dict(prompt_template=template, max_new_tokens=max_new_tokens)
    responses_a = generate_responses(module.policy, module.tokenizer, prompts, weights_a, **kw)
    responses_b = generate_responses(module.policy, module.tokenizer, prompts, weights_b, **kw)
    reference = generate_responses(module.policy, module.tokenizer, prompts, None, reference=True, **kw)
    # how far the two weights move the model: prompt vectors and response log-probs of one training query
    with torch.no_grad():
        module.eval()
        wa, wb = torch.tensor([weights_a]), torch.tensor([weights_b])
        prompt_gap = (module.policy.prompt_vectors(wa) - module.policy.prompt_vectors(wb)).abs().max().item()
        batch = collate_encoded([dataset[0]], module.tokenizer.pad_token_id)
        log_beta = torch.zeros(1)
        logprob_gap = (module.score(batch, wa, log_beta)[0] - module.score(batch, wb, log_beta)[0]).abs().max().item()
    result = {
        "base": base, "steps": steps, "load_s": load_s, "train_s": train_s,
        "objectives": list(data.objective_names), "prompts": prompts,
        "weights_a": weights_a, "weights_b": weights_b,
        "responses_a": responses_a, "responses_b": responses_b, "responses_reference": reference,
        "prompt_vector_gap": prompt_gap, "response_logprob_gap": logprob_gap,
        "mean_rewards": {
            tag: {"brevity": sum(brevity(p, r) for p, r in zip(prompts, rs)) / len(prompts),
                  "courtesy": sum(courtesy(p, r) for p, r in zip(prompts, rs)) / len(prompts)}
            for tag, rs in (("a", responses_a), ("b", responses_b), ("reference", reference))
        },
    }
    (out / "generations.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result
