"""``LlmCosDpoModule``: the LightningModule of LLM COS-DPO (policy, reference and loss).

Each training step draws w ~ Dir(alpha 1_m) per prompt (and log beta ~ U[log beta_min, log beta_max]
for Temperature-COS-DPO, docs/method.md §5) from a ``DirichletSampler`` seeded by the step, scores every
response with the policy (conditioned on them) and with the reference (adapters off, no prompts), and
feeds scores [B, N] to ``ltr_cos.losses.cos_dpo_loss``, the same function the ranker uses. Precision
(bf16-mixed), strategy (DDP, FSDP) and devices are Trainer settings; nothing here distributes by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.losses import cos_dpo_loss
from ltr_cos.objectives import DirichletSampler, FixedWeights

from .accuracy import pair_accuracy
from .data import LlmBatch
from .loading import load_base_model, load_tokenizer, resolve_tokenizer
from .model import ConditionedPolicy


class LlmCosDpoModule(pl.LightningModule):
    """COS-DPO fine-tuning of a causal LM with LoRA and hyper-prompt conditioning.

    Args:
        base: base model spec (``random:llama``, ``random:gpt2-124m``, ``smollm2``, a folder, a ``.gguf``
            path; see ``ltr_cos.llm.loading``).
        tokenizer: tokenizer spec (default: implied by ``base``), or a tokenizer object (not saved in
            hyper-parameters; pass it again when loading).
        base_config: config overrides for ``random:`` bases.
        dtype: dtype of pretrained base weights (``bfloat16`` halves memory on GPU).
        objective_names: names of the label columns (linked from the data module).
        weighted_objectives: the objectives the m weights weigh (default: all).
        n_prompts, prompt_hidden: hyper-prompt size (0 prompts = unconditioned LoRA policy).
        temperature_conditioning: Temperature-COS-DPO (docs/method.md §5): sample log beta per prompt in
            [log beta_min, log beta_max] and feed it to the hyper-prompt.
        beta: the fixed DPO temperature when not conditioned on beta.
        beta_min, beta_max: range of the log-uniform beta of Temperature-COS-DPO.
        alpha: Dirichlet concentration of the weight sampler.
        fixed_weights: train one unconditioned policy (needs ``n_prompts=0``) on the loss at these m
            weights instead of drawing them (the one-policy-per-weight baseline, DPO-LS; docs/llm.md).
        per_query_weights: one weight vector per prompt (default) or one per batch.
        form: listwise DPO form, ``pl`` (exact DPO for pairs) or ``listnet``.
        cosine_lambda: COSMOS cosine term weight.
        sft_weight: weight of an optional likelihood anchor (RPO, Pang et al. 2024): sum_k w_k times the
            per-token negative log-likelihood, under the conditioned policy, of the best response for
            objective k. It keeps the preferred answers likely, which plain DPO on a few examples lets
            fall (degenerate text); 0 (the default) is plain COS-DPO.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA settings.
        lr, weight_decay, warmup_steps: AdamW with linear warm-up.
        prompt_lr: learning rate of the hyper-prompt MLP (default: ``lr``). The prompts start as the
            embeddings of random tokens and usually need a larger step than the LoRA adapters.
        gradient_checkpointing: recompute activations in backward (less memory).
        prompt_template: how prompts are rendered (linked from the data module; kept for generation).
        seed: seeds random bases, adapters and prompts.
    """

    def __init__(
        self,
        base: str = "random:llama",
        tokenizer: Any = None,
        base_config: dict[str, Any] | None = None,
        dtype: str | None = None,
        objective_names: Sequence[str] = ("helpful", "harmless"),
        weighted_objectives: Sequence[str] | None = None,
        n_prompts: int = 4,
        prompt_hidden: int = 128,
        temperature_conditioning: bool = False,
        beta: float = 0.1,
        beta_min: float = 0.1,
        beta_max: float = 10.0,
        alpha: float = 1.0,
        fixed_weights: Sequence[float] | None = None,
        per_query_weights: bool = True,
        form: Literal["pl", "listnet"] = "pl",
        cosine_lambda: float = 0.0,
        sft_weight: float = 0.0,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: list[str] | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        prompt_lr: float | None = None,
        gradient_checkpointing: bool = False,
        prompt_template: str = "plain",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=[] if tokenizer is None or isinstance(tokenizer, str) else ["tokenizer"])
        self.objective_names = list(objective_names)
        weighted_objectives = list(weighted_objectives) if weighted_objectives else list(self.objective_names)
        unknown = [name for name in weighted_objectives if name not in self.objective_names]
        if unknown:
            raise InputError(f"weighted_objectives {unknown} are not among the objectives {self.objective_names}")
        self.weighted_objectives = weighted_objectives
        self.objective_columns = [self.objective_names.index(name) for name in weighted_objectives]
        if sft_weight < 0:
            raise InputError(f"sft_weight must be >= 0, got {sft_weight}")
        if not beta > 0:
            raise InputError(f"beta must be > 0, got {beta}")
        beta_range = (beta_min, beta_max) if temperature_conditioning else (None, None)
        if fixed_weights is not None and (n_prompts > 0 or temperature_conditioning):
            raise InputError("fixed_weights trains an unconditioned policy: set n_prompts=0 and "
                             "temperature_conditioning=false")
        try:
            self.sampler = (DirichletSampler(alpha, per_query_weights, beta_min=beta_range[0], beta_max=beta_range[1])
                            if fixed_weights is None else FixedWeights(list(fixed_weights)))
        except ValueError as e:
            raise InputError(str(e)) from None
        self.sampler.check(len(weighted_objectives), weighted_objectives)
        self.tokenizer = tokenizer if tokenizer is not None and not isinstance(tokenizer, str) else \
            load_tokenizer(resolve_tokenizer(base, tokenizer))
        model = load_base_model(base, self.tokenizer, base_config, dtype, seed)
        self.policy = ConditionedPolicy(
            model, len(weighted_objectives), n_prompts, temperature_conditioning, prompt_hidden, lora_r, lora_alpha,
            lora_dropout, lora_target_modules, gradient_checkpointing, seed,
        )
        self.keep_base_in_checkpoint = base.startswith("random:")

    @property
    def m(self) -> int:
        return len(self.objective_columns)

    # ------------------------------------------------------------ scoring

    def default_log_beta(self, batch_size: int, device: torch.device | str | None = None) -> Tensor:
        """log(beta) float32 [B] at the fixed beta (the geometric middle of the range when conditioned)."""
        hp = self.hparams
        beta = math.sqrt(hp.beta_min * hp.beta_max) if hp.temperature_conditioning else hp.beta
        return torch.full((batch_size,), math.log(beta), dtype=torch.float32, device=device)

    def score(self, batch: LlmBatch, weights: Tensor, log_beta: Tensor) -> tuple[Tensor, Tensor]:
        """Policy and reference response log-probs, each float32 [B, N] (0 at padded responses).

        Args:
            weights: float32 [B, m]; log_beta: float32 [B] (used only when conditioned on beta).
        """
        b, n, t = batch.input_ids.shape
        flat = batch.mask.reshape(-1)                                     # [B*N]: run real responses only
        ids = batch.input_ids.reshape(b * n, t)[flat]
        attn = batch.attention_mask.reshape(b * n, t)[flat]
        resp = batch.response_mask.reshape(b * n, t)[flat]
        # drop columns that are padding in every selected sequence
        t_used = int(attn.any(0).nonzero().max()) + 1
        ids, attn, resp = ids[:, :t_used], attn[:, :t_used], resp[:, :t_used]
        w = weights[:, None, :].expand(b, n, weights.shape[1]).reshape(b * n, -1)[flat]
        lb = log_beta[:, None].expand(b, n).reshape(-1)[flat]
        policy = self.policy.sequence_logprobs(ids, attn, resp, w, lb)
        reference = self.policy.sequence_logprobs(ids, attn, resp, reference=True)
        scores = torch.zeros(b * n, dtype=torch.float32, device=ids.device).masked_scatter(flat, policy)
        ref_scores = torch.zeros(b * n, dtype=torch.float32, device=ids.device).masked_scatter(flat, reference)
        return scores.reshape(b, n), ref_scores.reshape(b, n)

    def loss(self, batch: LlmBatch, weights: Tensor, log_beta: Tensor):
        """COS-DPO loss (``CosDpoOutput``) of a batch at given weights [B, m] and log_beta [B]; with
        ``sft_weight > 0`` its ``loss`` also holds the likelihood anchor (see ``anchor_nll``)."""
        out, anchor = self.loss_terms(batch, weights, log_beta)
        return out._replace(loss=self._total(out, anchor))

    def _total(self, out, anchor: Tensor | None) -> Tensor:
        return out.loss if anchor is None else out.loss + self.hparams.sft_weight * anchor

    def loss_terms(self, batch: LlmBatch, weights: Tensor, log_beta: Tensor):
        """(COS-DPO ``CosDpoOutput``, anchor NLL scalar or None when ``sft_weight`` is 0), not yet summed."""
        scores, ref_scores = self.score(batch, weights, log_beta)
        hp = self.hparams
        out = cos_dpo_loss(scores, ref_scores, batch.labels, batch.mask, weights, log_beta.exp(),
                           self.objective_columns, form=hp.form, cosine_lambda=hp.cosine_lambda)
        return out, (self.anchor_nll(scores, batch, weights) if hp.sft_weight > 0 else None)

    def anchor_nll(self, scores: Tensor, batch: LlmBatch, weights: Tensor) -> Tensor:
        """mean_b sum_k w_bk * NLL per token of the best response of prompt b for objective k (a scalar).

        Objectives whose labels are all equal for a prompt have no best response and add nothing; of
        several equally best responses the first is taken.
        """
        lengths = batch.response_mask.sum(-1).clamp_min(1).float()            # [B, N]
        nll = -scores / lengths                                                # [B, N]
        labels, padded = batch.labels[..., self.objective_columns], ~batch.mask[..., None]   # [B, N, m]
        best = labels.masked_fill(padded, float("-inf")).argmax(1)            # [B, m]
        valid = labels.masked_fill(padded, float("-inf")).amax(1) > labels.masked_fill(padded, float("inf")).amin(1)
        picked = nll.gather(1, best)                                           # [B, m]
        return (weights * valid * picked).sum(1).mean()

    def sample_conditions(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """Training draws of this step and process: weights float32 [B, m] and log_beta float32 [B].

        The draws are seeded by (global seed, ``global_step``, ``global_rank``), so a run resumed from a
        checkpoint draws what an uninterrupted one would have. With gradient accumulation the micro-batches
        of one optimiser step share the draw.
        """
        weights, _, log_beta = self.sampler.sample(batch_size, self.m, self.hparams.beta, self.global_step,
                                                   self.global_rank, device=self.device)
        if log_beta is None:
            log_beta = self.default_log_beta(batch_size, self.device)
        return weights, log_beta

    # ------------------------------------------------------------ Lightning hooks

    def training_step(self, batch: LlmBatch, batch_idx: int) -> Tensor:
        weights, log_beta = self.sample_conditions(len(batch))
        out, anchor = self.loss_terms(batch, weights, log_beta)
        loss = self._total(out, anchor)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        if anchor is not None:
            self.log("train/anchor_nll", anchor.detach(), batch_size=len(batch))
        for name, value in zip(self.weighted_objectives, out.per_objective.detach()):
            self.log(f"train/loss/{name}", value, batch_size=len(batch))
        return loss

    def validation_step(self, batch: LlmBatch, batch_idx: int) -> None:
        # one-hot weights: the policy is then asked for one objective, and its implicit reward
        # beta * (scores - ref_scores) should order that objective's labels
        b = len(batch)
        log_beta = self.default_log_beta(b, self.device)
        for j, name in enumerate(self.weighted_objectives):
            weights = torch.zeros(b, self.m, device=self.device)
            weights[:, j] = 1.0
            scores, ref_scores = self.score(batch, weights, log_beta)
            out = cos_dpo_loss(scores, ref_scores, batch.labels, batch.mask, weights, log_beta.exp(),
                               self.objective_columns, form=self.hparams.form)
            self.log(f"val/loss/{name}", out.per_objective[j], batch_size=b)
            self.log(f"val/accuracy/{name}", pair_accuracy(scores - ref_scores, batch.labels[..., self.objective_columns[j]],
                                                            batch.mask), batch_size=b)

    def configure_optimizers(self):
        hp = self.hparams
        prompt_ids = {id(p) for p in self.policy.hyper_prompt.parameters()} if self.policy.hyper_prompt else set()
        trained = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trained if id(p) not in prompt_ids], "lr": hp.lr}]
        prompt_params = [p for p in trained if id(p) in prompt_ids]
        if prompt_params:
            groups.append({"params": prompt_params, "lr": hp.prompt_lr if hp.prompt_lr is not None else hp.lr})
        opt = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        warmup = max(0, int(self.hparams.warmup_steps))
        if warmup == 0:
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch.to(device) if isinstance(batch, LlmBatch) else super().transfer_batch_to_device(
            batch, device, dataloader_idx)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a pretrained base is reloaded from its spec: keep only adapters and prompts (MBs, not GBs)
        if not self.keep_base_in_checkpoint:
            trainable = {f"policy.{k}" for k in self.policy.trainable_state_dict()}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def load_state_dict(self, state_dict: dict[str, Tensor], strict: bool = True, assign: bool = False):
        if self.keep_base_in_checkpoint:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        trainable = {f"policy.{k}" for k in self.policy.trainable_state_dict()}
        missing = sorted(trainable - set(state_dict))
        if strict and missing:
            raise KeyError(f"checkpoint lacks trained tensors {missing[:5]}")
        return super().load_state_dict(state_dict, strict=False, assign=assign)
