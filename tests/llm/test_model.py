"""LLM policy: pair identity with DPO, masking, reference = base, optimisation, generation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ltr_cos.llm.generate import generate_responses
from ltr_cos.llm.model import response_logprobs
from ltr_cos.llm.module import LlmCosDpoModule
from ltr_cos.llm.tiny import random_causal_lm
from ltr_cos.losses import pairwise_dpo_loss

from .helpers import pair_batch, trained_tokenizer


@pytest.fixture(scope="module")
def tok():
    return trained_tokenizer()


def make_module(tok, **kw) -> LlmCosDpoModule:
    torch.manual_seed(0)
    return LlmCosDpoModule(base="random:llama", tokenizer=tok, **kw)


def test_pair_one_hot_equals_standard_dpo(tok):
    module = make_module(tok, beta=0.5)
    batch = pair_batch(tok)
    # move the adapters off zero so policy and reference differ in the LoRA path too
    with torch.no_grad():
        for name, p in module.policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    log_beta = torch.full((3,), math.log(0.5))
    for k in range(2):
        weights = torch.zeros(3, 2)
        weights[:, k] = 1.0
        scores, ref_scores = module.score(batch, weights, log_beta)
        out = module.loss(batch, weights, log_beta)
        # by hand: chosen = the response with label 1 for objective k
        losses = []
        for b in range(3):
            c = int(batch.labels[b, :, k].argmax())
            r = 1 - c
            h_c = scores[b, c] - ref_scores[b, c]
            h_r = scores[b, r] - ref_scores[b, r]
            losses.append(-F.logsigmoid(0.5 * (h_c - h_r)))
        expected = torch.stack(losses).mean()
        assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
        assert out.loss.item() > 0.01
        chosen = batch.labels[..., k].argmax(1)
        idx = torch.arange(3)
        shared = pairwise_dpo_loss(scores[idx, chosen] - ref_scores[idx, chosen],
                                   scores[idx, 1 - chosen] - ref_scores[idx, 1 - chosen], 0.5).mean()
        assert out.loss.item() == pytest.approx(shared.item(), rel=1e-5)


def test_response_logprobs_reads_only_response_positions():
    g = torch.Generator().manual_seed(0)
    s, t, v = 3, 9, 11
    logits = torch.randn(s, t, v, generator=g)
    ids = torch.randint(0, v, (s, t), generator=g)
    resp = torch.zeros(s, t, dtype=torch.bool)
    resp[0, 3:7] = True  # prompt 0..2, response 3..6, padding 7..8
    resp[1, 1:9] = True
    resp[2, 5:6] = True
    base = response_logprobs(logits, ids, resp)
    # by hand
    lp = logits.log_softmax(-1)
    for i in range(s):
        hand = sum(lp[i, j - 1, ids[i, j]] for j in range(t) if resp[i, j])
        assert base[i].item() == pytest.approx(float(hand), abs=1e-5)
    # positions whose next token is not a response token, and non-response ids, may change freely
    scored_pred = torch.zeros(s, t, dtype=torch.bool)
    scored_pred[:, :-1] = resp[:, 1:]
    logits2 = torch.where(scored_pred[..., None], logits, torch.randn(s, t, v, generator=g) * 10)
    ids2 = torch.where(resp, ids, torch.randint(0, v, (s, t), generator=g))
    assert torch.equal(response_logprobs(logits2, ids2, resp), base)
    # a scored position does count (the test can fail)
    logits3 = logits.clone()
    logits3[0, 3, ids[0, 4]] += 5.0
    assert response_logprobs(logits3, ids, resp)[0] != base[0]


def test_padding_and_prompt_vectors_are_not_scored(tok):
    module = make_module(tok, n_prompts=3)
    policy = module.policy.eval()
    batch = pair_batch(tok)
    ids = batch.input_ids[:, 0]
    attn = batch.attention_mask[:, 0]
    resp = batch.response_mask[:, 0]
    w = torch.tensor([[0.2, 0.8]] * 3)
    base = policy.sequence_logprobs(ids, attn, resp, w)
    # other padding ids and more padding: same log-probs
    ids2 = torch.where(attn, ids, torch.full_like(ids, 7))
    extra = torch.full((3, 5), 11)
    ids2 = torch.cat([ids2, extra], 1)
    attn2 = torch.cat([attn, torch.zeros(3, 5, dtype=torch.bool)], 1)
    resp2 = torch.cat([resp, torch.zeros(3, 5, dtype=torch.bool)], 1)
    assert torch.allclose(policy.sequence_logprobs(ids2, attn2, resp2, w), base, atol=1e-5)
    # by hand, one sequence without padding: prompt vectors first, logits at P + t - 1 predict token t
    n = int(attn[2].sum())
    seq = ids[2, :n][None]
    prompts = policy.prompt_vectors(w[2:3])
    embeds = torch.cat([prompts, policy.model.get_input_embeddings()(seq)], 1)
    with torch.no_grad():
        lp = policy.model(inputs_embeds=embeds).logits.log_softmax(-1)[0]
    hand = sum(float(lp[3 + j - 1, seq[0, j]]) for j in range(n) if resp[2, j])
    assert base[2].item() == pytest.approx(hand, abs=1e-4)
    # changing a response token changes the score
    ids3 = ids.clone()
    j = int(resp[2].nonzero()[0])
    ids3[2, j] = (ids3[2, j] + 1) % len(tok)
    assert not torch.allclose(policy.sequence_logprobs(ids3, attn, resp, w)[2], base[2])


def test_disabled_adapters_reproduce_base_logprobs(tok):
    module = make_module(tok)
    batch = pair_batch(tok)
    twin = random_causal_lm("llama", len(tok), seed=0, pad_token_id=tok.pad_token_id,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id).eval()
    module.policy.eval()
    with torch.no_grad():
        for name, p in module.policy.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.1)
    ids = batch.input_ids.reshape(6, -1)
    attn = batch.attention_mask.reshape(6, -1)
    resp = batch.response_mask.reshape(6, -1)
    ref = module.policy.sequence_logprobs(ids, attn, resp, reference=True)
    with torch.no_grad():
        base = response_logprobs(twin(input_ids=ids, attention_mask=attn.long()).logits, ids, resp)
    assert torch.equal(ref, base)
    with torch.no_grad():
        adapted = response_logprobs(module.policy.logits(ids, attn), ids, resp)
    assert not torch.allclose(adapted, base, atol=1e-3)
    # no second copy of the weights: base parameters are the module's only frozen tensors
    n_frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    assert n_frozen == sum(p.numel() for p in twin.parameters())


def test_a_few_steps_lower_the_loss(tok):
    module = make_module(tok, lr=1e-2)
    batch = pair_batch(tok)
    weights = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    log_beta = torch.full((3,), math.log(0.5))
    opt = module.configure_optimizers()
    losses = []
    for _ in range(8):
        out = module.loss(batch, weights, log_beta)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.05, losses
    trained = {n for n, p in module.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trained) and any("hyper_prompt" in n for n in trained)
    assert all("lora_" in n or "hyper_prompt" in n for n in trained)


def test_generate_at_two_weights(tok):
    module = make_module(tok, n_prompts=2)
    policy = module.policy
    a = policy.prompt_vectors(torch.tensor([[1.0, 0.0]]))
    b = policy.prompt_vectors(torch.tensor([[0.0, 1.0]]))
    assert a.shape == (1, 2, module.policy.base_model.config.hidden_size)
    assert (a - b).abs().max() > 1e-4
    prompts = ["How do I bake bread?", "Tell me about knives."]
    out_a = generate_responses(policy, tok, prompts, [1.0, 0.0], max_new_tokens=6)
    out_b = generate_responses(policy, tok, prompts, [0.0, 1.0], max_new_tokens=6)
    assert len(out_a) == len(out_b) == 2 and all(isinstance(s, str) for s in out_a + out_b)
    with pytest.raises(ValueError, match="weights"):
        generate_responses(policy, tok, prompts, None)


def test_temperature_conditioning_uses_beta(tok):
    module = make_module(tok, temperature_conditioning=True)
    w = torch.tensor([[0.5, 0.5]])
    a = module.policy.prompt_vectors(w, torch.tensor([math.log(0.1)]))
    b = module.policy.prompt_vectors(w, torch.tensor([math.log(10.0)]))
    assert (a - b).abs().max() > 1e-4
    with pytest.raises(ValueError, match="log_beta"):
        module.policy.prompt_vectors(w)


def test_anchor_adds_weighted_nll_of_each_objectives_best_response(tok):
    module = make_module(tok, beta=0.5, sft_weight=0.7)
    plain = make_module(tok, beta=0.5)
    batch = pair_batch(tok)
    weights = torch.tensor([[0.3, 0.7], [1.0, 0.0], [0.6, 0.4]])
    log_beta = torch.full((3,), math.log(0.5))
    scores, _ = module.score(batch, weights, log_beta)
    lengths = batch.response_mask.sum(-1)
    # by hand: prompt b, objective k -> the response with the larger label; NLL per response token
    expected = 0.0
    for b in range(3):
        for k in range(2):
            best = int(batch.labels[b, :, k].argmax())
            expected += weights[b, k].item() * -scores[b, best].item() / lengths[b, best].item()
    expected /= 3
    assert module.anchor_nll(scores, batch, weights).item() == pytest.approx(expected, rel=1e-5)
    with_anchor = module.loss(batch, weights, log_beta).loss.item()
    without = plain.loss(batch, weights, log_beta).loss.item()
    assert with_anchor == pytest.approx(without + 0.7 * expected, rel=1e-5)


def test_anchor_skips_objectives_with_equal_labels(tok):
    module = make_module(tok, sft_weight=1.0)
    batch = pair_batch(tok)
    batch.labels[0, :, 0] = 1.0        # prompt 0: no best response for objective 0
    weights = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    scores = -torch.arange(1.0, 7.0).reshape(3, 2)
    lengths = batch.response_mask.sum(-1).float()
    best = batch.labels[..., 0].argmax(1)
    idx = torch.arange(3)
    expected = (-scores[idx, best] / lengths[idx, best])[1:].sum() / 3
    assert module.anchor_nll(scores, batch, weights).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="sft_weight"):
        make_module(tok, sft_weight=-1.0)


def test_fixed_weights_train_an_unconditioned_policy_at_one_weight(tok):
    module = make_module(tok, n_prompts=0, fixed_weights=[0.25, 0.75], sft_weight=1.0)
    assert module.policy.hyper_prompt is None
    for step in (0, 7):  # the same weights at every step (a Dirichlet draw would differ)
        assert torch.equal(module.sampler.sample(3, 2, 0.1, step)[0], torch.tensor([[0.25, 0.75]] * 3))
    weights, log_beta = module.sample_conditions(3)
    assert torch.equal(weights, torch.tensor([[0.25, 0.75]] * 3))
    batch = pair_batch(tok)
    # the step's loss is the loss at the fixed weights; the weights do not reach the (absent) prompts
    assert module.training_step(batch, 0).item() == pytest.approx(module.loss(batch, weights, log_beta).loss.item())
    other = module.score(batch, torch.tensor([[1.0, 0.0]] * 3), log_beta)[0]
    assert torch.equal(other, module.score(batch, weights, log_beta)[0])
    with pytest.raises(ValueError, match="n_prompts=0"):
        make_module(tok, fixed_weights=[0.5, 0.5])                    # conditioned policy: refused
    with pytest.raises(ValueError, match="fixed weights"):
        make_module(tok, n_prompts=0, fixed_weights=[0.5, 0.6])       # not on the simplex


def test_prompt_lr_gives_the_hyper_prompt_its_own_step(tok):
    module = make_module(tok, lr=1e-4, prompt_lr=5e-3)
    opt = module.configure_optimizers()
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert set(by_lr) == {1e-4, 5e-3}
    assert by_lr[5e-3] == {id(p) for p in module.policy.hyper_prompt.parameters()}
    trained = {id(p) for p in module.parameters() if p.requires_grad}
    assert by_lr[1e-4] | by_lr[5e-3] == trained and not by_lr[1e-4] & by_lr[5e-3]
    same = make_module(tok, lr=1e-4).configure_optimizers()
    assert [g["lr"] for g in same.param_groups] == [1e-4, 1e-4]


def test_one_hot_pair_accuracy_absolute_and_shift(tok):
    from ltr_cos.llm.accuracy import one_hot_pair_accuracy, pair_accuracy

    module = make_module(tok)
    with torch.no_grad():
        for name, p in module.policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    module.train()
    batch = pair_batch(tok)
    absolute, shift = one_hot_pair_accuracy(module, batch)
    assert module.training
    lb = module.default_log_beta(3)
    s0, ref = module.score(batch, torch.tensor([[1.0, 0.0]] * 3), lb)
    s1, _ = module.score(batch, torch.tensor([[0.0, 1.0]] * 3), lb)
    # by hand: pairs with different labels, ordered by the margin like the labels
    for name, k, own, other in (("helpful", 0, s0, s1), ("harmless", 1, s1, s0)):
        for got, margin in ((absolute[name], own - ref), (shift[name], own - other)):
            right = total = 0
            for b in range(3):
                a_, b_ = batch.labels[b, 0, k], batch.labels[b, 1, k]
                if a_ != b_:
                    total += 1
                    right += int((margin[b, 0] - margin[b, 1]) * (a_ - b_) > 0)
            assert got == pytest.approx(right / total)
    assert pair_accuracy(torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2, dtype=torch.bool)).isnan()
