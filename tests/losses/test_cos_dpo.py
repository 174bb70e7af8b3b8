"""The Weight-/Temperature-COS-DPO objective (docs/method.md §4-5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ltr_cos.losses import CosDpoLoss, CosDpoOutput, cos_dpo_loss, listnet_dpo_loss, pl_dpo_loss
from ltr_cos.objectives import sample_log_beta, sample_weights
from tests.losses import numpy_reference as ref


def batch(seed: int, b: int = 8, n: int = 6, k: int = 3, distinct: bool = False):
    """float64 scores, ref_scores [b, n], labels [b, n, k] with some all-equal columns, ragged mask."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, n, generator=g, dtype=torch.float64)
    ref_scores = torch.randn(b, n, generator=g, dtype=torch.float64)
    if distinct:
        labels = torch.rand(b, n, k, generator=g, dtype=torch.float64) * 4
    else:
        labels = torch.randint(0, 3, (b, n, k), generator=g).to(torch.float64)
    labels[1, :, 2] = 1.0  # query 1 carries no preference for objective 2
    lengths = torch.randint(2, n + 1, (b,), generator=g)
    mask = torch.arange(n)[None, :] < lengths[:, None]
    return scores, ref_scores, labels, mask


# ---------------------------------------------------------------- against the NumPy reference


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("objectives", [[1, 2], [0, 1, 2]])
@pytest.mark.parametrize("cosine_lambda", [0.0, 0.3])
def test_listnet_form_matches_numpy(seed, objectives, cosine_lambda):
    s, r, y, m = batch(seed)
    g = torch.Generator().manual_seed(seed)
    weights = sample_weights(s.shape[0], len(objectives), alpha=1.0, generator=g).double()
    beta = torch.exp(sample_log_beta(s.shape[0], generator=g)).double()
    out = cos_dpo_loss(s, r, y, m, weights, beta, objectives, form="listnet", cosine_lambda=cosine_lambda, gain="exp2")
    per_query, valid = ref.listnet_dpo(s.numpy(), r.numpy(), y[..., objectives].numpy(), m.numpy(), beta.numpy(), gain="exp2")
    loss, per_objective, fraction = ref.cos_dpo(per_query, valid, weights.numpy(), cosine_lambda)
    assert isinstance(out, CosDpoOutput)
    assert out.loss.item() == pytest.approx(loss, abs=1e-10)
    np.testing.assert_allclose(out.per_objective.detach().numpy(), per_objective, atol=1e-10)
    np.testing.assert_allclose(out.valid_fraction.numpy(), fraction, atol=1e-12)


@pytest.mark.parametrize("cosine_lambda", [0.0, 1.0])
def test_pl_form_matches_numpy(cosine_lambda):
    s, r, y, m = batch(2, distinct=True)
    y[1, :, 2] = 1.0
    g = torch.Generator().manual_seed(0)
    weights = sample_weights(s.shape[0], 2, alpha=0.5, generator=g).double()
    beta = torch.full((s.shape[0],), 0.7, dtype=torch.float64)
    out = cos_dpo_loss(s, r, y, m, weights, beta, [1, 2], form="pl", cosine_lambda=cosine_lambda, top_k=3)
    per_query, valid = ref.pl_dpo_average(s.numpy(), r.numpy(), y[..., [1, 2]].numpy(), m.numpy(), beta.numpy(), top_k=3)
    loss, per_objective, _ = ref.cos_dpo(per_query, valid, weights.numpy(), cosine_lambda)
    assert out.loss.item() == pytest.approx(loss, abs=1e-10)
    np.testing.assert_allclose(out.per_objective.detach().numpy(), per_objective, atol=1e-10)


# ---------------------------------------------------------------- identities


@pytest.mark.parametrize("form,loss_fn", [("listnet", listnet_dpo_loss), ("pl", pl_dpo_loss)])
@pytest.mark.parametrize("corner", [0, 1])
def test_one_hot_weights_equal_the_single_objective_loss(form, loss_fn, corner):
    s, r, y, m = batch(3, distinct=True)
    y[1, :, 2] = 1.0
    beta = torch.full((s.shape[0],), 2.0, dtype=torch.float64)
    weights = torch.zeros(s.shape[0], 2, dtype=torch.float64)
    weights[:, corner] = 1.0
    out = cos_dpo_loss(s, r, y, m, weights, beta, [1, 2], form=form)
    per_query, valid = loss_fn(s, r, y[..., 1 + corner], m, beta)
    single = per_query[valid].mean()  # mean over the queries valid for that objective
    assert out.loss.item() == pytest.approx(single.item(), abs=1e-12)


def test_listnet_linearity_identity():
    # sum_k w_k CE(p^k, q) = CE(sum_k w_k p^k, q) (docs/method.md §4), checked against a mixed target built here
    s, r, y, m = batch(4)
    y[1, :, 2] = y[1, :, 1]  # keep every query informative for both objectives
    y[:, 0, 1], y[:, 1, 1], y[:, 0, 2], y[:, 1, 2] = 0.0, 2.0, 2.0, 0.0
    weights = sample_weights(s.shape[0], 2, generator=torch.Generator().manual_seed(1)).double()
    beta = torch.full((s.shape[0],), 1.3, dtype=torch.float64)
    out = cos_dpo_loss(s, r, y, m, weights, beta, [1, 2], form="listnet", tau=0.8)
    assert torch.all(out.valid_fraction == 1)
    mixed = []
    for b in range(s.shape[0]):
        idx = [i for i in range(s.shape[1]) if m[b, i]]
        target = np.zeros(len(idx))
        for k, col in enumerate([1, 2]):
            logits = np.array([y[b, i, col].item() / 0.8 for i in idx])
            target += weights[b, k].item() * np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        z = np.array([1.3 * (s[b, i] - r[b, i]).item() for i in idx])
        log_q = z - (z.max() + math.log(np.exp(z - z.max()).sum()))
        mixed.append(-(target * log_q).sum())
    # every query valid for both objectives, so sum_k mean_b w_bk L_bk = mean_b CE(mixed target, q)
    assert out.loss.item() == pytest.approx(float(np.mean(mixed)), abs=1e-10)


def test_cosine_term_hand_value():
    # one query, two candidates: L_k = -log sigmoid(h_a - h_b) for the winner of each objective
    s, r = torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    y = torch.tensor([[[0.0, 100.0, 0.0], [0.0, 0.0, 100.0]]], dtype=torch.float64)  # objective 1: cand 0 wins
    weights = torch.tensor([[0.25, 0.75]], dtype=torch.float64)
    out = cos_dpo_loss(s, r, y, torch.ones(1, 2, dtype=torch.bool), weights, 1.0, [1, 2], form="pl", cosine_lambda=2.0)
    l1, l2 = math.log1p(math.exp(-1.0)), math.log1p(math.exp(1.0))
    cosine = (0.25 * l1 + 0.75 * l2) / (math.hypot(0.25, 0.75) * math.hypot(l1, l2))
    assert out.loss.item() == pytest.approx(0.25 * l1 + 0.75 * l2 - 2.0 * cosine, abs=1e-12)


def test_cosine_uses_only_the_valid_objectives():
    # objective 2 is uninformative: the cosine is over (w_1, L_1) alone, i.e. 1
    s, r = torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    y = torch.tensor([[[0.0, 1.0, 3.0], [0.0, 0.0, 3.0]]], dtype=torch.float64)
    weights = torch.tensor([[0.4, 0.6]], dtype=torch.float64)
    out = cos_dpo_loss(s, r, y, torch.ones(1, 2, dtype=torch.bool), weights, 1.0, [1, 2], form="pl", cosine_lambda=1.0)
    assert out.valid_fraction.tolist() == [1.0, 0.0]
    assert out.loss.item() == pytest.approx(0.4 * math.log1p(math.exp(-1.0)) - 1.0, abs=1e-12)


def test_uninformative_queries_do_not_dilute_an_objective():
    s, r, y, m = batch(5)
    weights = torch.full((s.shape[0], 2), 0.5, dtype=torch.float64)
    beta = torch.ones(s.shape[0], dtype=torch.float64)
    base = cos_dpo_loss(s, r, y, m, weights, beta, [1, 2])
    y2 = y.clone()
    y2[3, :, 1] = 7.0  # query 3 loses its preference for objective 1 only
    changed = cos_dpo_loss(s, r, y2, m, weights, beta, [1, 2])
    per_query, valid = listnet_dpo_loss(s, r, y2[..., 1], m, beta)
    assert changed.per_objective[0].item() == pytest.approx(per_query[valid].mean().item(), abs=1e-12)
    assert changed.per_objective[1].item() == pytest.approx(base.per_objective[1].item(), abs=1e-12)
    assert changed.valid_fraction[0].item() == pytest.approx(base.valid_fraction[0].item() - 1 / s.shape[0])


# ---------------------------------------------------------------- degenerate inputs and gradients


@pytest.mark.parametrize("form", ["listnet", "pl"])
@pytest.mark.parametrize("cosine_lambda", [0.0, 0.5])
def test_no_valid_query_gives_zero_loss_and_zero_gradient(form, cosine_lambda):
    s = torch.randn(3, 4, requires_grad=True)
    y = torch.ones(3, 4, 3)
    m = torch.tensor([[True] * 4, [True, False, False, False], [False] * 4])
    out = cos_dpo_loss(s, torch.zeros(3, 4), y, m, torch.full((3, 2), 0.5), torch.ones(3), [1, 2], form=form,
                       cosine_lambda=cosine_lambda)
    out.loss.backward()
    assert out.loss.item() == 0.0 and torch.all(s.grad == 0)
    assert out.per_objective.tolist() == [0.0, 0.0] and out.valid_fraction.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("form", ["listnet", "pl"])
def test_finite_at_extremes_with_zero_weight_corners(form):
    s, r, y, m = batch(6)
    s = (torch.sign(s) * 1e4).float().requires_grad_()
    m[2] = False  # an all-padding row
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 4)
    out = cos_dpo_loss(s, (-1e4 * torch.sign(r)).float(), y.float(), m, weights, torch.full((8,), 10.0), [1, 2],
                       form=form, cosine_lambda=0.5)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(s.grad).all()
    assert torch.all(s.grad[2] == 0) and torch.all(s.grad[~m] == 0)


def test_module_wrapper_equals_function():
    s, r, y, m = batch(7)
    weights = sample_weights(s.shape[0], 3, generator=torch.Generator().manual_seed(3)).double()
    beta = torch.full((s.shape[0],), 0.5, dtype=torch.float64)
    module = CosDpoLoss(form="pl", cosine_lambda=0.2, ties="average", objectives=[0, 1, 2])
    got = module(s, r, y, m, weights, beta, generator=torch.Generator().manual_seed(4))
    want = cos_dpo_loss(s, r, y, m, weights, beta, [0, 1, 2], form="pl", cosine_lambda=0.2, ties="average",
                        generator=torch.Generator().manual_seed(4))
    assert got.loss.item() == want.loss.item()


def test_bad_arguments_raise():
    s, r, y, m = batch(8)
    with pytest.raises(ValueError, match="weights"):
        cos_dpo_loss(s, r, y, m, torch.full((8, 3), 1 / 3), 1.0, [1, 2])
    with pytest.raises(ValueError, match="objectives"):
        cos_dpo_loss(s, r, y, m, torch.full((8, 2), 0.5), 1.0, [1, 5])
    with pytest.raises(ValueError, match="form"):
        cos_dpo_loss(s, r, y, m, torch.full((8, 2), 0.5), 1.0, [1, 2], form="lambda")
