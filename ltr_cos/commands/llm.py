"""``ltr-cos llm fit|generate|pareto|demo``: COS-DPO for causal language models.

* ``fit``: a LightningCLI of its own (``LlmCosDpoModule`` + ``LlmPreferenceDataModule``), so
  ``ltr-cos llm fit --config configs/llm/cpu_smoke.yaml [--trainer.max_steps 5 ...]`` takes YAML and
  dotted overrides like ``ltr-cos fit``. The tokenizer spec and prompt template are linked between data
  and model, and the objective names from the data to the model.
* ``generate``: responses of a checkpoint at chosen weights (``--weights 0.3,0.7``).
* ``pareto``: generations over the weight grid, scored by one reward per objective; writes
  ``pareto.csv`` and ``summary.json``.
* ``demo``: the SmolLM2-135M CPU demo (see docs/llm.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_write_text

USAGE = """usage: ltr-cos llm {fit,generate,pareto,demo} ...

  fit       train a conditioned LoRA policy (--config configs/llm/cpu_smoke.yaml)
  generate  generate at chosen weights from a checkpoint
  pareto    score generations over the weight grid with one reward per objective
  demo      SmolLM2-135M CPU demo: short COS-DPO run, then generations at two weights
"""


def _fit(argv: list[str]) -> int:
    from pytorch_lightning.cli import LightningCLI

    from ltr_cos.llm.datamodule import LlmPreferenceDataModule
    from ltr_cos.llm.loading import resolve_tokenizer
    from ltr_cos.llm.module import LlmCosDpoModule

    class LlmCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments(("model.base", "model.tokenizer"), "data.tokenizer", compute_fn=resolve_tokenizer)
            parser.link_arguments("data.prompt_template", "model.prompt_template")
            parser.link_arguments("data.objective_names", "model.objective_names", apply_on="instantiate")

    LlmCLI(LlmCosDpoModule, LlmPreferenceDataModule, args=["fit", *argv], auto_configure_optimizers=False,
           save_config_kwargs={"overwrite": True}, trainer_defaults={"enable_model_summary": False})
    return 0


def _read_prompts(args) -> list[str]:
    prompts = list(args.prompt or [])
    if args.prompts:
        from ltr_cos.llm.data import iter_records

        path = args.prompts
        if path.endswith(".txt"):
            prompts += [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            for row, rec in iter_records(path):
                if not isinstance(rec.get("prompt"), str) or not rec["prompt"].strip():
                    raise InputError("missing or empty field 'prompt'", path, row)
                prompts.append(rec["prompt"])
    if not prompts:
        raise InputError("no prompts: give --prompt TEXT or --prompts FILE (.txt lines or JSONL/Parquet 'prompt')")
    return prompts[: args.limit] if args.limit else prompts


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="an `ltr-cos llm fit` checkpoint (.ckpt)")
    p.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    p.add_argument("--prompts", help="file of prompts: .txt (one a line) or JSONL/Parquet with 'prompt'")
    p.add_argument("--limit", type=int, default=None, help="use the first N prompts")
    p.add_argument("--max-new-tokens", type=int, default=64, help="longest response in tokens (default 64)")
    p.add_argument("--sample", action="store_true", help="sample (seeded) instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (with --sample; default 1)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (with --sample; default 1)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled decoding (default 0)")


def _gen_kwargs(args, template: str) -> dict:
    return dict(prompt_template=template, max_new_tokens=args.max_new_tokens, do_sample=args.sample,
                temperature=args.temperature, top_p=args.top_p, seed=args.seed)


def _generate(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ltr-cos llm generate", description="Generate responses from an "
                                "`ltr-cos llm fit` checkpoint at chosen objective weights (or from the reference).")
    _add_generation_args(p)
    p.add_argument("--weights", help="comma-separated weights on the simplex, in the order of the checkpoint's "
                        "weighted objectives")
    p.add_argument("--beta", type=float, default=None, help="beta, for policies conditioned on beta")
    p.add_argument("--reference", action="store_true", help="generate from the reference (adapters off)")
    p.add_argument("--out", help="write JSONL rows {prompt, response, weights} here")
    args = p.parse_args(argv)
    from ltr_cos.llm.checkpoint import load_llm_checkpoint
    from ltr_cos.llm.generate import generate_responses
    from ltr_cos.objectives import parse_weights

    module = load_llm_checkpoint(args.checkpoint, map_location=args.device)
    prompts = _read_prompts(args)
    weights = None
    if not args.reference and module.policy.hyper_prompt is not None:
        if not args.weights:
            raise InputError(f"--weights is required: {module.m} numbers for {module.weighted_objectives}")
        weights = parse_weights(args.weights, module.m, module.weighted_objectives, "--weights")
        if module.hparams.temperature_conditioning and (args.beta is None or not args.beta > 0):
            hp = module.hparams
            raise InputError(f"--beta (> 0) is required: the policy is conditioned on beta, trained in "
                             f"[{hp.beta_min:g}, {hp.beta_max:g}]")
    responses = generate_responses(module.policy, module.tokenizer, prompts, weights, beta=args.beta,
                                   reference=args.reference, **_gen_kwargs(args, module.hparams.prompt_template))
    rows = [{"prompt": q, "response": r, "weights": dict(zip(module.weighted_objectives, weights or []))}
            for q, r in zip(prompts, responses)]
    if args.out:
        from ltr_cos.llm.data import write_jsonl

        write_jsonl(args.out, rows)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _pareto(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ltr-cos llm pareto", description="Generate at every weight of a "
                                "simplex grid and score the responses with one reward per objective; writes "
                                "pareto.csv, summary.json and generations.jsonl.")
    _add_generation_args(p)
    p.add_argument("--reward", action="append", required=True, metavar="OBJECTIVE=SPEC",
                   help="reward of one objective: rule:NAME, dpo:CHECKPOINT, or a sequence-classification "
                        "model folder [#LOGIT_INDEX] (repeat for each objective)")
    p.add_argument("--grid-step", type=float, default=0.25, help="simplex lattice step (default 0.25: 5 points "
                   "for two objectives)")
    p.add_argument("--beta", type=float, action="append", help="beta value(s), for beta-conditioned policies")
    p.add_argument("--out", required=True, help="output folder (pareto.csv, summary.json, generations.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = p.parse_args(argv)
    from ltr_cos.llm.checkpoint import load_llm_checkpoint
    from ltr_cos.llm.pareto import evaluate_grid, parse_reward, summarize_rewards, write_csv
    from ltr_cos.objectives import grid_step_to_steps, simplex_lattice

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise InputError("output folder exists and is not empty (use --overwrite)", str(out))
    module = load_llm_checkpoint(args.checkpoint, map_location=args.device)
    rewards = {}
    for item in args.reward:
        name, sep, spec = item.partition("=")
        if not sep or not spec:
            raise InputError(f"--reward expects OBJECTIVE=SPEC, got {item!r}")
        if name not in module.weighted_objectives:
            raise InputError(f"--reward {name!r}: the checkpoint's objectives are {module.weighted_objectives}")
        try:
            rewards[name] = parse_reward(spec, name, args.device)
        except (ValueError, FileNotFoundError) as e:
            raise InputError(str(e)) from None
    missing = [o for o in module.weighted_objectives if o not in rewards]
    if missing:
        raise InputError(f"no --reward for objectives {missing}")
    try:
        steps = grid_step_to_steps(args.grid_step)
    except ValueError as e:
        raise InputError(str(e)) from None
    grid = simplex_lattice(module.m, steps)
    betas = args.beta or ([None] if not module.hparams.temperature_conditioning else [module.default_log_beta(1).exp().item()])
    prompts = _read_prompts(args)
    rows, reference = evaluate_grid(module.policy, module.tokenizer, prompts, rewards, module.weighted_objectives, grid,
                                    betas, **_gen_kwargs(args, module.hparams.prompt_template))
    summary = summarize_rewards(rows, module.weighted_objectives, reference)
    summary.update(checkpoint=args.checkpoint, n_prompts=len(prompts), rewards=dict(r.partition("=")[::2] for r in args.reward))
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "pareto.csv", rows)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    print(f"wrote {out / 'pareto.csv'} ({len(rows)} rows) and {out / 'summary.json'}")
    for r in rows:
        print("  " + "  ".join(f"{k}={v:.3g}" for k, v in r.items()))
    return 0


def _demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ltr-cos llm demo", description="SmolLM2-135M CPU demo (see "
                                "docs/llm.md): a short COS-DPO run trading brevity for courtesy, then generations "
                                "on held-out questions at two weights.")
    p.add_argument("--out", default="runs/llm_demo", help="folder for data, checkpoint and generations")
    p.add_argument("--steps", type=int, default=150, help="optimiser steps (default 150)")
    p.add_argument("--lr", type=float, default=5e-4, help="learning rate of the LoRA adapters")
    p.add_argument("--beta", type=float, default=0.1, help="DPO temperature (larger stays nearer the reference)")
    p.add_argument("--sft-weight", type=float, default=2.0,
                   help="weight of the likelihood anchor on each objective's best answer (0 = plain COS-DPO)")
    p.add_argument("--prompt-lr", type=float, default=3e-3, help="learning rate of the hyper-prompt MLP")
    p.add_argument("--base", default="smollm2", help="base model spec (smollm2, or random:llama for a quick try)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="longest response in tokens (default 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    from ltr_cos.llm.demo import run_demo
    from ltr_cos.progress import on_terminal

    print(f"training COS-DPO on {args.base} for {args.steps} steps (objectives brevity, courtesy) ...", flush=True)
    result = run_demo(args.out, steps=args.steps, lr=args.lr, beta=args.beta, base=args.base,
                      max_new_tokens=args.max_new_tokens, seed=args.seed, sft_weight=args.sft_weight,
                      prompt_lr=args.prompt_lr, progress=on_terminal(sys.stdout))
    print(f"\ntrained {args.steps} steps in {result['train_s']:.0f} s; generations on held-out questions:")
    for i, prompt in enumerate(result["prompts"]):
        print(f"\n  Q: {prompt}")
        for point in (result["grid"][0], result["grid"][-1]):
            print(f"    w={point['weights']}: {point['responses'][i]}")
        print(f"    reference: {result['responses_reference'][i]}")
    print("\nmean rule rewards over the held-out questions (brevity = minus words, courtesy = courtesy phrases;")
    print("correct = share of answers that name the right answer, not an objective):")
    print("  w(brevity)  w(courtesy)  brevity  courtesy  correct")
    for point in result["grid"]:
        r = point["mean_rewards"]
        print(f"  {point['weights'][0]:10.2f}  {point['weights'][1]:11.2f}  {r['brevity']:7.2f}  {r['courtesy']:8.2f}"
              f"  {r['correct']:7.2f}")
    r = result["mean_rewards"]["reference"]
    print(f"  {'reference':>23}  {r['brevity']:7.2f}  {r['courtesy']:8.2f}  {r['correct']:7.2f}")
    acc = ", ".join(f"{k} {v:.2f}" for k, v in result["heldout_pair_accuracy"].items())
    shift = ", ".join(f"{k} {v:.2f}" for k, v in result["heldout_shift_accuracy"].items())
    print("share of the held-out questions' answer pairs ordered like an objective's labels (0.5 = chance):")
    print(f"  by the implicit reward at its one-hot weight: {acc}")
    print(f"  by the log-prob change from the other one-hot weight to its own: {shift}")
    print(f"\nwrote {Path(args.out) / 'generations.json'}")
    return 0


COMMANDS = {"fit": _fit, "generate": _generate, "pareto": _pareto, "demo": _demo}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"ltr-cos: error: unknown llm command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    started = time.time()
    try:
        code = int(COMMANDS[command](rest) or 0)
    except SystemExit as exc:  # -h, or a usage error argparse has printed: no timing line after it
        if command == "fit":  # the Lightning CLI's own exits (--print_config, -h) stay as they are
            raise
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except InputError as e:
        print(f"ltr-cos: error: {e}", file=sys.stderr)
        return 2
    if command != "fit":
        print(f"({command} took {time.time() - started:.0f} s)", file=sys.stderr)
    return code
