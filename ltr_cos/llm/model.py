"""The conditioned LLM policy: a causal LM with LoRA adapters and a Hyper Prompt Tuning MLP.

policy(y | x, w, beta) = base+LoRA run on [P prompt vectors(w, log beta); tokens of x and y]
reference(y | x)       = the same base with the adapters disabled and no prompt vectors (no second copy)

Scores are sequence log-probabilities summed over response tokens only, so
``beta * (scores - ref_scores)`` is the DPO log-ratio h_i of SPEC section 2 for each response.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from peft import LoraConfig, get_peft_model
from torch import Tensor, nn
from transformers import PreTrainedModel


def response_logprobs(logits: Tensor, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """Sum of log p(token_t | tokens_<t) over the response tokens of each sequence.

    Args:
        logits: [S, T, V] (any float dtype), logits[:, t] predicts input_ids[:, t + 1].
        input_ids: int64 [S, T].
        response_mask: bool [S, T], True on scored (response) tokens; never True at t = 0.

    Returns:
        float32 [S]. Logits at prompt and padding positions are never read.
    """
    if response_mask[:, 0].any():
        raise ValueError("a response token at position 0 has no context to be predicted from")
    selected = response_mask[:, 1:]                      # [S, T-1]: which predictions are scored
    rows = selected.nonzero()[:, 0]                      # [R]
    pred = logits[:, :-1][selected].float()              # [R, V], only the scored positions
    target = input_ids[:, 1:][selected]                  # [R]
    token_logp = pred.log_softmax(-1).gather(-1, target[:, None]).squeeze(-1)
    return torch.zeros(input_ids.shape[0], dtype=torch.float32, device=logits.device).index_add(0, rows, token_logp)


class HyperPrompt(nn.Module):
    """MLP of (w, log beta) -> P soft-prompt vectors of the model width.

    Args:
        n_weights: m, the size of the weight vector.
        hidden_size: model width H.
        n_prompts: P.
        temperature_conditioning: also feed log(beta) (Temperature-COS-DPO).
        mlp_hidden: width of the MLP's hidden layer.
        init_embeddings: [P, H] vectors the prompts start from (e.g. embeddings of random tokens), so they
            start on the scale of real token embeddings; zeros when omitted.
    """

    def __init__(self, n_weights: int, hidden_size: int, n_prompts: int = 4, temperature_conditioning: bool = False,
                 mlp_hidden: int = 128, init_embeddings: Tensor | None = None) -> None:
        super().__init__()
        self.n_weights, self.n_prompts, self.hidden_size = n_weights, n_prompts, hidden_size
        self.temperature_conditioning = temperature_conditioning
        self.net = nn.Sequential(
            nn.Linear(n_weights + int(temperature_conditioning), mlp_hidden), nn.GELU(),
            nn.Linear(mlp_hidden, n_prompts * hidden_size),
        )
        last = self.net[-1]
        scale = 0.02 if init_embeddings is None else float(init_embeddings.float().std())
        with torch.no_grad():
            # the conditioned part starts at the scale of one embedding coordinate, not larger
            nn.init.normal_(last.weight, std=scale / math.sqrt(mlp_hidden))
            if init_embeddings is None:
                last.bias.zero_()
            else:
                last.bias.copy_(init_embeddings.float().reshape(-1))

    def forward(self, weights: Tensor, log_beta: Tensor | None = None) -> Tensor:
        """weights float [S, m], log_beta float [S] -> prompt vectors float32 [S, P, H]."""
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(f"weights must be [S, {self.n_weights}], got {tuple(weights.shape)}")
        x = weights.float()
        if self.temperature_conditioning:
            if log_beta is None:
                raise ValueError("this hyper-prompt is conditioned on beta: pass log_beta [S]")
            x = torch.cat([x, log_beta.float().reshape(-1, 1)], dim=-1)
        return self.net(x).reshape(-1, self.n_prompts, self.hidden_size)


class ConditionedPolicy(nn.Module):
    """A causal LM with LoRA adapters (PEFT) and hyper-prompt conditioning on (w, log beta).

    Args:
        base: any ``AutoModelForCausalLM``; its weights are frozen and shared with the reference.
        n_weights: m; 0 prompts (``n_prompts=0``) gives an unconditioned LoRA policy.
        n_prompts: P soft-prompt vectors.
        temperature_conditioning: feed log(beta) to the hyper-prompt too.
        prompt_hidden: hidden width of the hyper-prompt MLP.
        lora_r, lora_alpha, lora_dropout: LoRA settings.
        lora_target_modules: module names to adapt; None = PEFT's default for the architecture.
        gradient_checkpointing: recompute activations in the backward pass (non-reentrant).
        seed: seeds the adapters' and prompts' initialisation.
    """

    def __init__(self, base: PreTrainedModel, n_weights: int, n_prompts: int = 4, temperature_conditioning: bool = False,
                 prompt_hidden: int = 128, lora_r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
                 lora_target_modules: Sequence[str] | None = None, gradient_checkpointing: bool = False,
                 seed: int = 0) -> None:
        super().__init__()
        if n_weights < 1:
            raise ValueError(f"n_weights must be >= 1, got {n_weights}")
        self.n_weights, self.n_prompts, self.temperature_conditioning = n_weights, n_prompts, temperature_conditioning
        gen = torch.Generator().manual_seed(seed)
        rng_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            if gradient_checkpointing:
                base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            config = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, task_type="CAUSAL_LM",
                                target_modules=list(lora_target_modules) if lora_target_modules else None)
            self.model = get_peft_model(base, config)
            embeddings = self.model.get_input_embeddings().weight
            self.hyper_prompt: HyperPrompt | None = None
            if n_prompts > 0:
                token_ids = torch.randint(0, embeddings.shape[0], (n_prompts,), generator=gen)
                self.hyper_prompt = HyperPrompt(n_weights, embeddings.shape[1], n_prompts, temperature_conditioning,
                                                prompt_hidden, embeddings.detach()[token_ids].float().cpu())
        finally:
            torch.random.set_rng_state(rng_state)

    @property
    def base_model(self) -> PreTrainedModel:
        """The wrapped transformers model (with LoRA layers injected)."""
        return self.model.get_base_model()

    def prompt_vectors(self, weights: Tensor | None, log_beta: Tensor | None = None) -> Tensor | None:
        """Prompt vectors float32 [S, P, H] for weights [S, m] (None for an unconditioned policy)."""
        if self.hyper_prompt is None:
            return None
        if weights is None:
            raise ValueError("a conditioned policy needs weights [S, m]")
        return self.hyper_prompt(weights, log_beta if self.temperature_conditioning else None)

    def logits(self, input_ids: Tensor, attention_mask: Tensor, prompts: Tensor | None = None) -> Tensor:
        """Logits [S, T, V] aligned with input_ids [S, T]; the P prompt positions are dropped.

        Position ids follow the attention mask (prompt vectors take positions 0..P-1), the same rule
        ``generate`` uses, so training and generation see the same positions.
        """
        attn = attention_mask.long()
        if prompts is None:
            position_ids = (attn.cumsum(-1) - 1).clamp_min(0)
            return self.model(input_ids=input_ids, attention_mask=attn, position_ids=position_ids,
                              use_cache=False).logits
        embeds = self.model.get_input_embeddings()(input_ids)
        n_prompts = prompts.shape[1]
        embeds = torch.cat([prompts.to(embeds.dtype), embeds], dim=1)            # [S, P+T, H]
        attn = torch.cat([attn.new_ones(attn.shape[0], n_prompts), attn], dim=1)  # [S, P+T]
        position_ids = (attn.cumsum(-1) - 1).clamp_min(0)
        out = self.model(inputs_embeds=embeds, attention_mask=attn, position_ids=position_ids, use_cache=False)
        return out.logits[:, n_prompts:]

    def sequence_logprobs(self, input_ids: Tensor, attention_mask: Tensor, response_mask: Tensor,
                          weights: Tensor | None = None, log_beta: Tensor | None = None,
                          reference: bool = False) -> Tensor:
        """Response log-probabilities float32 [S] of sequences [S, T].

        Args:
            weights: float [S, m] (ignored when ``reference``).
            log_beta: float [S] (only read when conditioned on beta).
            reference: score with adapters disabled and no prompt vectors, without gradients.
        """
        if reference:
            with torch.no_grad(), self.model.disable_adapter():
                logits = self.logits(input_ids, attention_mask)
        else:
            logits = self.logits(input_ids, attention_mask, self.prompt_vectors(weights, log_beta))
        return response_logprobs(logits, input_ids, response_mask)

    forward = sequence_logprobs

    @torch.no_grad()
    def generate(self, input_ids: Tensor, attention_mask: Tensor, weights: Tensor | None = None,
                 log_beta: Tensor | None = None, reference: bool = False, **generate_kwargs) -> Tensor:
        """Generate continuations of left-padded prompts input_ids [S, T] at weights [S, m].

        Returns:
            int64 [S, new_tokens], the generated tokens only.
        """
        if reference or self.hyper_prompt is None:
            if reference:
                with self.model.disable_adapter():
                    out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **generate_kwargs)
            else:
                out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **generate_kwargs)
            return out[:, input_ids.shape[1]:]
        prompts = self.prompt_vectors(weights, log_beta)
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds = torch.cat([prompts.to(embeds.dtype), embeds], dim=1)
        attn = torch.cat([attention_mask.new_ones(attention_mask.shape[0], prompts.shape[1]), attention_mask], dim=1)
        # with inputs_embeds and no input_ids, generate returns only the new tokens
        return self.model.generate(inputs_embeds=embeds, attention_mask=attn, **generate_kwargs)

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Only the trained tensors (LoRA adapters and hyper-prompt), for small checkpoints."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in names}
