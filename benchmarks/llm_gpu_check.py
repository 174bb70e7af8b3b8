"""GPU check for LLM COS-DPO: a GPT-2-size model (124M, random weights from a config) with LoRA and
hyper-prompts, trained for a few hundred bf16-mixed steps with the COS-DPO loss through Lightning.

Prints the card, parameter counts, tokens/s (real, non-padding tokens of the policy sequences; each is
also scored once by the reference), peak GPU memory, the loss curve, and, before and after training, how
often the policy at each one-hot weight orders 64 held-out pairs like that objective (pair accuracy:
the implicit reward, and the log-prob change from the other weight; 0.5 is chance). The two objectives
conflict, so the mean loss over random weights need not fall far even when each end is learned.
Needs only torch, pytorch-lightning, transformers, peft and tokenizers (the device image's packages);
data are synthetic PKU-SafeRLHF-format pairs and the tokenizer is byte-level, both built in-process.

    PYTHONPATH=. python3 benchmarks/llm_gpu_check.py                       # GPU, ~1-2 minutes
    PYTHONPATH=. python3 benchmarks/llm_gpu_check.py --device cpu --tiny --steps 6   # CPU dry run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import pytorch_lightning as pl
import torch

from ltr_cos.llm.accuracy import one_hot_pair_accuracy
from ltr_cos.llm.data import PreferenceDataset, collate_encoded, load_preferences
from ltr_cos.llm.module import LlmCosDpoModule


class ThroughputCallback(pl.Callback):
    """Records the loss at every step and times the steps after a warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.losses: list[float] = []
        self.tokens = 0
        self.t0: float | None = None
        self.t_end: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"].detach()))  # the .item() syncs, so timing is honest
        if self.t0 is not None:
            self.tokens += int(batch.attention_mask.sum())
            self.t_end = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny GPT-2 shape (for a CPU dry run)")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per step (2 responses each)")
    parser.add_argument("--max-tokens", type=int, default=256, help="prompt and response truncation length")
    parser.add_argument("--n-prompts", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu --tiny for a dry run", file=sys.stderr)
        return 2

    pl.seed_everything(0, verbose=False)
    torch.backends.cuda.matmul.allow_tf32 = True
    n_rows = max(64, args.steps * args.batch_size)  # one epoch: no loader restarts inside the timing
    data = load_preferences(f"synthetic:pku:{n_rows}:0")
    module = LlmCosDpoModule(
        base="random:gpt2" if args.tiny else "random:gpt2-124m", objective_names=data.objective_names,
        n_prompts=args.n_prompts, lora_r=args.lora_r, lora_alpha=2 * args.lora_r, lr=args.lr, warmup_steps=10,
        beta=0.1, form="pl", gradient_checkpointing=args.gradient_checkpointing,
        lora_target_modules=["c_attn", "c_proj", "c_fc"],
    )
    max_tokens = 48 if args.tiny else args.max_tokens
    dataset = PreferenceDataset(data, module.tokenizer, "Question: {prompt}\nAnswer: ", max_tokens, max_tokens)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0),
        collate_fn=lambda items: collate_encoded(items, module.tokenizer.pad_token_id), drop_last=True,
    )
    heldout = PreferenceDataset(load_preferences("synthetic:pku:64:1"), module.tokenizer,
                                "Question: {prompt}\nAnswer: ", max_tokens, max_tokens)

    def heldout_accuracy() -> dict[str, dict[str, float]]:
        # chunks of 8 pairs (one pair per prompt and objective, so the chunk means average exactly)
        device = torch.device("cuda" if args.device == "cuda" else "cpu")
        module.to(device)
        parts = [one_hot_pair_accuracy(module, collate_encoded(heldout.items[i:i + 8], module.tokenizer.pad_token_id))
                 for i in range(0, len(heldout), 8)]
        return {kind: {name: sum(p[j][name] for p in parts) / len(parts) for name in module.weighted_objectives}
                for j, kind in enumerate(("implicit_reward", "weight_shift"))}

    before = heldout_accuracy()
    n_total = sum(p.numel() for p in module.parameters())
    n_train = sum(p.numel() for p in module.parameters() if p.requires_grad)
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"device: {device_name}; torch {torch.__version__}; params {n_total / 1e6:.1f}M total, "
          f"{n_train / 1e6:.2f}M trained (LoRA + hyper-prompt)", flush=True)

    warmup = min(10, max(1, args.steps // 5))
    meter = ThroughputCallback(warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu", devices=1, max_steps=args.steps,
        precision="bf16-mixed" if args.device == "cuda" else "32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[meter], gradient_clip_val=1.0,
    )
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    wall = time.perf_counter() - t_start
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None  # of the fit only

    after = heldout_accuracy()
    losses = meter.losses
    window = max(1, len(losses) // 10)
    curve = [(min(i + window, len(losses)), sum(losses[i:i + window]) / len(losses[i:i + window]))
             for i in range(0, len(losses), window)]
    timed_steps = len(losses) - warmup
    elapsed = (meter.t_end - meter.t0) if meter.t0 is not None and meter.t_end is not None else float("nan")
    figures = {
        "device": device_name, "steps": len(losses), "batch_prompts": args.batch_size, "responses_per_prompt": 2,
        "tokens_per_s": meter.tokens / elapsed if elapsed > 0 else float("nan"),
        "steps_per_s": timed_steps / elapsed if elapsed > 0 else float("nan"),
        "peak_gpu_memory_gib": peak_gib,
        "wall_s": wall, "loss_first_window": curve[0][1], "loss_last_window": curve[-1][1], "loss_curve": curve,
        "params_total": n_total, "params_trained": n_train,
        "heldout_pair_accuracy_before": before, "heldout_pair_accuracy_after": after,
    }
    print(f"loss curve (mean over windows of {window} steps):")
    for step, value in curve:
        print(f"  step {step:5d}  loss {value:.4f}")
    print(f"tokens/s: {figures['tokens_per_s']:.0f}  ({figures['steps_per_s']:.2f} steps/s after {warmup} warm-up steps)")
    if figures["peak_gpu_memory_gib"] is not None:
        print(f"peak GPU memory: {figures['peak_gpu_memory_gib']:.2f} GiB")
    print(f"wall time of fit: {wall:.1f} s; loss (window means) {curve[0][1]:.4f} -> {curve[-1][1]:.4f}")
    print("held-out pair accuracy at one-hot weights (0.5 = chance), before -> after training:")
    for kind in ("implicit_reward", "weight_shift"):
        row = ", ".join(f"{name} {before[kind][name]:.2f} -> {after[kind][name]:.2f}" for name in module.weighted_objectives)
        print(f"  {kind}: {row}")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(figures, f, indent=2)
        os.replace(args.json + ".tmp", args.json)
    ok = all(math.isfinite(v) for v in losses) and curve[-1][1] < curve[0][1]
    print("CHECK", "PASSED" if ok else "FAILED: the loss did not go down or is not finite")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
