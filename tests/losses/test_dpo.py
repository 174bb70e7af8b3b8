"""Listwise (ListNet and PL form) and pairwise DPO losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ltr_cos.losses import listnet_dpo_loss, pairwise_dpo_loss, pl_dpo_loss
from tests.losses import numpy_reference as ref


def t(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def random_dpo_batch(seed: int, b: int = 6, n: int = 6, k: int = 3, distinct: bool = False):
    """float64 scores, ref_scores [b, n], labels [b, n, k], ragged mask, beta [b] in [0.1, 10]."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, n, generator=g, dtype=torch.float64) * 2
    ref_scores = torch.randn(b, n, generator=g, dtype=torch.float64)
    if distinct:
        labels = torch.rand(b, n, k, generator=g, dtype=torch.float64) * 4
    else:
        labels = torch.randint(0, 3, (b, n, k), generator=g).to(torch.float64)
    lengths = torch.randint(1, n + 1, (b,), generator=g)
    lengths[0] = n
    mask = torch.arange(n)[None, :] < lengths[:, None]
    beta = torch.exp(torch.empty(b, dtype=torch.float64).uniform_(math.log(0.1), math.log(10.0), generator=g))
    perm = torch.randperm(n, generator=g)
    return scores[:, perm], ref_scores[:, perm], labels[:, perm], mask[:, perm], beta


def as_numpy(*tensors):
    return [x.numpy() for x in tensors]


# ---------------------------------------------------------------- hand-computed values


def test_listnet_dpo_hand_two_candidates():
    # h = (1 - 0.5, 0 - 0.5) = (0.5, -0.5); beta = 2 -> logits (1, -1); target softmax(1, 0)
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    lse = math.log(math.e + math.exp(-1))
    expected = -(p[0] * (1 - lse) + p[1] * (-1 - lse))
    per_query, valid = listnet_dpo_loss(
        t([[1.0, 0.0]]), t([[0.5, 0.5]]), t([[[1.0], [0.0]]]), torch.ones(1, 2, dtype=torch.bool), t([2.0])
    )
    assert per_query.shape == (1, 1) and valid.tolist() == [[True]]
    assert per_query.item() == pytest.approx(expected, abs=1e-12)


def test_listnet_dpo_at_the_reference_is_log_n():
    # scores == ref_scores -> q uniform over n real candidates -> -sum_i p_i log(1/n) = log n
    s = torch.randn(2, 5, dtype=torch.float64)
    y = torch.randn(2, 5, 2, dtype=torch.float64)
    m = torch.tensor([[True] * 5, [True, True, True, False, False]])
    per_query, valid = listnet_dpo_loss(s, s.clone(), y, m, t([0.3, 7.0]))
    assert valid.all()
    torch.testing.assert_close(per_query, t([[math.log(5)] * 2, [math.log(3)] * 2]), atol=1e-12, rtol=0)


def test_pl_dpo_hand_three_candidates():
    # z = beta * h = 0.5 * (2, -2, 4) = (1, -1, 2); labels (0, 2, 1) order candidates 1, 2, 0
    z1, z2, z0 = -1.0, 2.0, 1.0
    expected = (math.log(math.exp(z1) + math.exp(z2) + math.exp(z0)) - z1) + (math.log(math.exp(z2) + math.exp(z0)) - z2)
    scores, ref_scores = t([[3.0, -1.0, 4.0]]), t([[1.0, 1.0, 0.0]])
    per_query, valid = pl_dpo_loss(scores, ref_scores, t([[0.0, 2.0, 1.0]]), torch.ones(1, 3, dtype=torch.bool), 0.5)
    assert valid.tolist() == [[True]]
    assert per_query.item() == pytest.approx(expected, abs=1e-12)
    # top-1 truncation keeps only the first position's term
    top1, _ = pl_dpo_loss(scores, ref_scores, t([[0.0, 2.0, 1.0]]), torch.ones(1, 3, dtype=torch.bool), 0.5, top_k=1)
    assert top1.item() == pytest.approx(math.log(math.exp(z1) + math.exp(z2) + math.exp(z0)) - z1, abs=1e-12)


def test_pairwise_dpo_hand_value():
    got = pairwise_dpo_loss(t([1.5, -2.0]), t([0.5, 1.0]), t([2.0, 0.1]))
    expected = [-log_sigmoid(2.0 * (1.5 - 0.5)), -log_sigmoid(0.1 * (-2.0 - 1.0))]
    torch.testing.assert_close(got, t(expected), atol=1e-12, rtol=0)


# ---------------------------------------------------------------- the pairwise case (docs/method.md §3)


@pytest.mark.parametrize("seed", [0, 1])
def test_pl_dpo_on_two_candidates_is_pairwise_dpo(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(8, 2, generator=g, dtype=torch.float64) * 3
    ref_scores = torch.randn(8, 2, generator=g, dtype=torch.float64)
    beta = torch.rand(8, generator=g, dtype=torch.float64) * 5 + 0.1
    labels = t([[1.0, 0.0]] * 4 + [[0.0, 2.0]] * 4)[..., None]  # winner is candidate 0, then candidate 1
    h = scores - ref_scores
    winner = (labels[..., 0] == labels[..., 0].amax(1, keepdim=True)).long().argmax(1)
    h_a, h_b = h.gather(1, winner[:, None])[:, 0], h.gather(1, 1 - winner[:, None])[:, 0]
    per_query, valid = pl_dpo_loss(scores, ref_scores, labels, torch.ones(8, 2, dtype=torch.bool), beta)
    expected = [-log_sigmoid(bb * (a - c)) for bb, a, c in zip(beta.tolist(), h_a.tolist(), h_b.tolist())]
    assert valid.all()
    torch.testing.assert_close(per_query[:, 0], t(expected), atol=1e-12, rtol=0)
    torch.testing.assert_close(pairwise_dpo_loss(h_a, h_b, beta), t(expected), atol=1e-12, rtol=0)


@pytest.mark.parametrize("labels,tau", [([1.0, 0.0], 1e-3), ([0.0, 100.0], 1.0)])
def test_listnet_dpo_with_one_hot_target_tends_to_pairwise_dpo(labels, tau):
    scores, ref_scores, beta = t([[0.7, -0.4]]), t([[0.1, 0.3]]), t([1.7])
    per_query, _ = listnet_dpo_loss(scores, ref_scores, t([labels])[..., None], torch.ones(1, 2, dtype=torch.bool), beta, tau=tau)
    a, b = (0, 1) if labels[0] > labels[1] else (1, 0)
    h = [0.7 - 0.1, -0.4 - 0.3]
    assert per_query.item() == pytest.approx(-log_sigmoid(1.7 * (h[a] - h[b])), abs=1e-9)


# ---------------------------------------------------------------- slow NumPy reference


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gain,tau", [("identity", 1.0), ("exp2", 0.5)])
def test_listnet_dpo_matches_numpy(seed, gain, tau):
    s, r, y, m, beta = random_dpo_batch(seed)
    per_query, valid = listnet_dpo_loss(s, r, y, m, beta, gain=gain, tau=tau)
    exp_loss, exp_valid = ref.listnet_dpo(*as_numpy(s, r, y, m, beta), gain=gain, tau=tau)
    np.testing.assert_array_equal(valid.numpy(), exp_valid)
    np.testing.assert_allclose(per_query.numpy(), exp_loss, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("top_k", [None, 2])
def test_pl_dpo_without_ties_matches_numpy(seed, top_k):
    s, r, y, m, beta = random_dpo_batch(seed, distinct=True)
    exp_loss, exp_valid = ref.pl_dpo_average(*as_numpy(s, r, y, m, beta), top_k=top_k)
    for ties in ("random", "average"):
        per_query, valid = pl_dpo_loss(s, r, y, m, beta, ties=ties, top_k=top_k)
        np.testing.assert_array_equal(valid.numpy(), exp_valid)
        np.testing.assert_allclose(per_query.numpy(), exp_loss, atol=1e-10)


def test_pl_dpo_average_ties_estimates_the_exact_average():
    s, r, y, m, beta = random_dpo_batch(4, b=4, n=5, k=2)
    exact, _ = ref.pl_dpo_average(*as_numpy(s, r, y, m, beta))
    g = torch.Generator().manual_seed(0)
    estimate, _ = pl_dpo_loss(s, r, y, m, beta, ties="average", n_tie_samples=4000, generator=g)
    # Monte-Carlo error with 4000 samples: well under 2% of the loss on these lists
    np.testing.assert_allclose(estimate.numpy(), exact, rtol=0.02, atol=1e-3)


def test_pl_dpo_random_ties_take_tie_consistent_values():
    s, r, y, m, beta = random_dpo_batch(5, b=3, n=4, k=1)
    g = torch.Generator().manual_seed(1)
    z = (beta[:, None] * (s - r)).numpy()
    for _ in range(20):
        per_query, valid = pl_dpo_loss(s, r, y, m, beta, ties="random", generator=g)
        for b in range(3):
            if not valid[b, 0]:
                continue
            idx = [i for i in range(4) if m[b, i]]
            orders = ref.tie_consistent_orders([y[b, i, 0].item() for i in idx])
            values = [ref.pl_nll([z[b, idx[o]] for o in order]) for order in orders]
            assert min(abs(v - per_query[b, 0].item()) for v in values) < 1e-10


# ---------------------------------------------------------------- validity (docs/method.md §3: no preference -> excluded)


@pytest.mark.parametrize("loss_fn", [listnet_dpo_loss, pl_dpo_loss])
def test_equal_labels_short_lists_and_padding_rows_are_invalid_with_zero_gradient(loss_fn):
    scores = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    ref_scores = torch.randn(4, 3, dtype=torch.float64)
    labels = t(
        [
            [[2.0, 1.0], [2.0, 0.0], [9.0, 1.0]],  # objective 0 differs only in the padded slot
            [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],  # both informative
            [[1.0, 3.0], [0.0, 3.0], [5.0, 3.0]],  # one real candidate
            [[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]],  # all padding
        ]
    )
    mask = torch.tensor([[True, True, False], [True, True, True], [True, False, False], [False] * 3])
    per_query, valid = loss_fn(scores, ref_scores, labels, mask, t([1.0, 1.0, 1.0, 1.0]))
    assert valid.tolist() == [[False, True], [True, True], [False, False], [False, False]]
    assert torch.all(per_query[~valid] == 0)
    per_query.sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[2:] == 0) and torch.all(scores.grad[:, 2][mask[:, 2].logical_not()] == 0)


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("loss_fn", [listnet_dpo_loss, pl_dpo_loss])
def test_padding_invariance_values_and_gradients(loss_fn):
    s, r, y, m, beta = random_dpo_batch(6, distinct=True)
    g = torch.Generator().manual_seed(2)
    b, n, k = y.shape
    s_pad = torch.cat([s, torch.randn(b, 3, generator=g, dtype=s.dtype) * 1e4], 1)
    r_pad = torch.cat([r, torch.randn(b, 3, generator=g, dtype=s.dtype) * 1e4], 1)
    y_pad = torch.cat([y, torch.randint(0, 50, (b, 3, k), generator=g).to(y.dtype)], 1)
    m_pad = torch.cat([m, torch.zeros(b, 3, dtype=torch.bool)], 1)
    s1, s2 = s.clone().requires_grad_(), s_pad.clone().requires_grad_()
    l1, v1 = loss_fn(s1, r, y, m, beta)
    l2, v2 = loss_fn(s2, r_pad, y_pad, m_pad, beta)
    (l1 * torch.arange(1, k + 1)).sum().backward()
    (l2 * torch.arange(1, k + 1)).sum().backward()
    assert torch.equal(v1, v2)
    torch.testing.assert_close(l2, l1, atol=1e-10, rtol=0)
    torch.testing.assert_close(s2.grad[:, :n], s1.grad, atol=1e-12, rtol=0)
    assert torch.all(s2.grad[:, n:] == 0)


@pytest.mark.parametrize("loss_fn", [listnet_dpo_loss, pl_dpo_loss])
def test_permutation_invariance(loss_fn):
    s, r, y, m, beta = random_dpo_batch(7, distinct=True)
    perm = torch.randperm(s.shape[1], generator=torch.Generator().manual_seed(3))
    l1, v1 = loss_fn(s, r, y, m, beta)
    l2, v2 = loss_fn(s[:, perm], r[:, perm], y[:, perm], m[:, perm], beta)
    assert torch.equal(v1, v2)
    torch.testing.assert_close(l2, l1, atol=1e-10, rtol=0)


@pytest.mark.parametrize("loss_fn", [listnet_dpo_loss, pl_dpo_loss])
def test_depends_on_beta_times_log_ratio_only(loss_fn):
    # the basis of the linear transformation property (docs/method.md §5): (beta, h) and (beta / c, c h) agree
    s, r, y, m, beta = random_dpo_batch(8, distinct=True)
    l1, _ = loss_fn(s, r, y, m, beta)
    l2, _ = loss_fn(r + 4.0 * (s - r), r, y, m, beta / 4.0)
    torch.testing.assert_close(l2, l1, atol=1e-10, rtol=0)


def test_scalar_beta_equals_broadcast_tensor_and_two_dim_labels_are_one_objective():
    s, r, y, m, _ = random_dpo_batch(9)
    l1, v1 = listnet_dpo_loss(s, r, y[..., 0], m, 0.5)
    l2, v2 = listnet_dpo_loss(s, r, y[..., :1], m, torch.full((s.shape[0],), 0.5, dtype=torch.float64))
    assert l1.shape == (s.shape[0], 1)
    assert torch.equal(v1, v2) and torch.equal(l1, l2)


@pytest.mark.parametrize("loss_fn", [listnet_dpo_loss, pl_dpo_loss])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extreme_scores_and_beta(loss_fn, dtype):
    s, r, y, m, _ = random_dpo_batch(10)
    s = (torch.sign(s) * 1e4).to(dtype).requires_grad_()
    r = (-torch.sign(r) * 1e4).to(dtype)
    per_query, _ = loss_fn(s, r, y.to(dtype), m, torch.full((s.shape[0],), 10.0, dtype=dtype))
    per_query.sum().backward()
    assert torch.isfinite(per_query).all() and torch.isfinite(s.grad).all()


def test_pairwise_dpo_finite_at_extremes():
    hc = torch.tensor([1e4, -1e4], requires_grad=True)
    loss = pairwise_dpo_loss(hc, torch.tensor([-1e4, 1e4]), 10.0)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(hc.grad).all()
    assert loss[0].item() == 0.0 and loss[1].item() == pytest.approx(2e5)


def test_inputs_are_not_modified():
    s, r, y, m, beta = random_dpo_batch(11)
    copies = [x.clone() for x in (s, r, y, m, beta)]
    listnet_dpo_loss(s, r, y, m, beta)
    pl_dpo_loss(s, r, y, m, beta, ties="average")
    for a, b in zip((s, r, y, m, beta), copies):
        assert torch.equal(a, b)


def test_bad_arguments_raise():
    s, r, y, m, beta = random_dpo_batch(12)
    with pytest.raises(ValueError, match="beta"):
        listnet_dpo_loss(s, r, y, m, beta[:2])
    with pytest.raises(ValueError, match="ties"):
        pl_dpo_loss(s, r, y, m, beta, ties="first")
    with pytest.raises(ValueError, match="ref_scores"):
        pl_dpo_loss(s, r[:, :2], y, m, beta)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    log_beta=st.floats(math.log(0.1), math.log(10.0)),
)
def test_dpo_losses_finite_on_random_inputs(n, seed, scale, log_beta):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(3, n, generator=g) * scale).requires_grad_()
    r = torch.randn(3, n, generator=g) * scale
    y = torch.randint(0, 3, (3, n, 2), generator=g).float()
    m = torch.rand(3, n, generator=g) < 0.7
    for fn in (listnet_dpo_loss, pl_dpo_loss):
        per_query, valid = fn(s, r, y, m, math.exp(log_beta))
        (grad,) = torch.autograd.grad(per_query.sum(), s)
        assert torch.isfinite(per_query).all() and torch.isfinite(grad).all()
        assert torch.all(grad[~m] == 0) and torch.all(per_query[~valid] == 0)
