"""Reference-stage losses: hand-computed values, the NumPy reference, allRank, and properties."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ltr_cos.losses import (
    ApproxNDCGLoss,
    LambdaLoss,
    ListMLELoss,
    ListNetLoss,
    approx_ndcg_loss,
    lambda_loss,
    listmle_loss,
    listnet_loss,
)
from tests.losses import numpy_reference as ref

LOSSES = {
    "listnet": listnet_loss,
    "listmle": listmle_loss,
    "lambda": lambda_loss,
    "approx_ndcg": approx_ndcg_loss,
}


def t(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def full_mask(b: int, n: int) -> torch.Tensor:
    return torch.ones(b, n, dtype=torch.bool)


def random_batch(seed: int, b: int = 6, n: int = 7, distinct: bool = False):
    """float64 scores/labels [b, n] with ragged padding (every row keeps >= 1 candidate)."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, n, generator=g, dtype=torch.float64) * 2
    if distinct:
        labels = torch.rand(b, n, generator=g, dtype=torch.float64) * 4
    else:
        labels = torch.randint(0, 5, (b, n), generator=g).to(torch.float64)
    lengths = torch.randint(1, n + 1, (b,), generator=g)
    lengths[0] = n
    mask = torch.arange(n)[None, :] < lengths[:, None]
    # scatter the padding inside the list too, not only at its end
    perm = torch.randperm(n, generator=g)
    return scores[:, perm], labels[:, perm], mask[:, perm]


def allrank_inputs(scores, labels, mask):
    """allRank marks padding with y = -1 (its PADDED_Y_VALUE); our labels are >= 0."""
    from allrank.data.dataset_loading import PADDED_Y_VALUE

    return scores.clone(), torch.where(mask, labels, torch.full_like(labels, float(PADDED_Y_VALUE)))


@pytest.fixture(scope="module")
def allrank_losses():
    pytest.importorskip("allrank")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from allrank.models import losses
    return losses


# ---------------------------------------------------------------- hand-computed values


def test_listnet_hand_two_candidates():
    # p = q = softmax(1, 0) -> loss = entropy of (e/(e+1), 1/(e+1))
    p1, p2 = math.e / (math.e + 1), 1 / (math.e + 1)
    expected = -(p1 * math.log(p1) + p2 * math.log(p2))
    got = listnet_loss(t([[1.0, 0.0]]), t([[1.0, 0.0]]), full_mask(1, 2))
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_listnet_hand_exp2_gain_and_tau():
    # labels (2, 0, 1): gains (3, 0, 1) / tau 0.5 -> (6, 0, 2); scores (0, 1, 2)
    z = math.exp(6) + math.exp(0) + math.exp(2)
    p = [math.exp(6) / z, 1 / z, math.exp(2) / z]
    zq = 1 + math.e + math.exp(2)
    logq = [0 - math.log(zq), 1 - math.log(zq), 2 - math.log(zq)]
    expected = -sum(pi * lq for pi, lq in zip(p, logq))
    got = listnet_loss(t([[0.0, 1.0, 2.0]]), t([[2.0, 0.0, 1.0]]), full_mask(1, 3), gain="exp2", tau=0.5)
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_listmle_hand_three_candidates():
    # labels (2, 1, 0) order the candidates 0, 1, 2; scores (1, 2, 0)
    expected = (math.log(math.e + math.exp(2) + 1) - 1) + (math.log(math.exp(2) + 1) - 2) + 0.0
    got = listmle_loss(t([[1.0, 2.0, 0.0]]), t([[2.0, 1.0, 0.0]]), full_mask(1, 3))
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_lambda_loss_hand_two_candidates():
    # scores (0, 1) rank candidate 1 (label 0) first and candidate 0 (label 1) second. maxDCG = 1,
    # G = (1, 0); |1/D_2 - 1/D_1| = 1 - 1/log2(3) and delta for a gap of 1 is 1/log2(2) - 1/log2(3).
    mu, sigma = 10.0, 1.5
    weight = mu * (1 - 1 / math.log2(3)) + (1 - 1 / math.log2(3))
    expected = -weight * math.log2(1 / (1 + math.exp(-sigma * (0.0 - 1.0))))
    got = lambda_loss(t([[0.0, 1.0]]), t([[1.0, 0.0]]), full_mask(1, 2), sigma=sigma, mu=mu)
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_approx_ndcg_hand_two_candidates():
    # G = (1, 0) after maxDCG = 1; smooth position of candidate 0 = 1 + sigmoid(-(0 - 1)) = 1 + sigmoid(1)
    alpha = 2.0
    position = 1 + 1 / (1 + math.exp(-alpha * 1.0))
    expected = -1.0 / math.log2(1 + position)
    got = approx_ndcg_loss(t([[0.0, 1.0]]), t([[1.0, 0.0]]), full_mask(1, 2), alpha=alpha)
    assert got.item() == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- slow NumPy reference


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gain,tau,drop", [("identity", 1.0, False), ("exp2", 0.7, False), ("identity", 2.0, True)])
def test_listnet_matches_numpy(seed, gain, tau, drop):
    s, y, m = random_batch(seed)
    got = listnet_loss(s, y, m, gain=gain, tau=tau, drop_uninformative=drop)
    assert got.item() == pytest.approx(ref.listnet(s.numpy(), y.numpy(), m.numpy(), gain, tau, drop), abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_listmle_matches_numpy(seed):
    s, y, m = random_batch(seed, distinct=True)
    assert listmle_loss(s, y, m).item() == pytest.approx(ref.listmle_no_ties(s.numpy(), y.numpy(), m.numpy()), abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k,sigma,mu", [(None, 1.0, 10.0), (3, 2.0, 5.0), (1, 1.0, 10.0)])
def test_lambda_loss_matches_numpy(seed, k, sigma, mu):
    s, y, m = random_batch(seed)
    expected = ref.lambda_ndcg2pp(s.numpy(), y.numpy(), m.numpy(), k, sigma, mu)
    assert lambda_loss(s, y, m, k=k, sigma=sigma, mu=mu).item() == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_approx_ndcg_matches_numpy(seed, alpha):
    s, y, m = random_batch(seed)
    expected = ref.approx_ndcg(s.numpy(), y.numpy(), m.numpy(), alpha)
    assert approx_ndcg_loss(s, y, m, alpha=alpha).item() == pytest.approx(expected, abs=1e-10)


# ---------------------------------------------------------------- allRank on the same inputs


@pytest.mark.parametrize("seed", [3, 4])
def test_listnet_matches_allrank(allrank_losses, seed):
    # allRank's listNet is our identity gain with tau = 1, plus eps = 1e-10 inside its log
    s, y, m = random_batch(seed)
    expected = allrank_losses.listNet(*allrank_inputs(s, y, m))
    assert listnet_loss(s, y, m).item() == pytest.approx(expected.item(), abs=1e-7)


@pytest.mark.parametrize("seed", [3, 4])
def test_listmle_matches_allrank_without_ties(allrank_losses, seed):
    # allRank shuffles before sorting to break ties at random: with distinct labels the order is unique
    s, y, m = random_batch(seed, distinct=True)
    expected = allrank_losses.listMLE(*allrank_inputs(s, y, m))
    assert listmle_loss(s, y, m).item() == pytest.approx(expected.item(), abs=1e-7)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("k,sigma,mu", [(None, 1.0, 10.0), (4, 0.5, 3.0)])
def test_lambda_loss_matches_allrank(allrank_losses, seed, k, sigma, mu):
    # allRank's reduction="sum" adds every pair of the batch: our mean over the (non-empty) queries x B
    s, y, m = random_batch(seed)
    expected = allrank_losses.lambdaLoss(
        *allrank_inputs(s, y, m), weighing_scheme="ndcgLoss2PP_scheme", k=k, sigma=sigma, mu=mu
    )
    assert lambda_loss(s, y, m, k=k, sigma=sigma, mu=mu).item() * s.shape[0] == pytest.approx(expected.item(), rel=1e-7)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_approx_ndcg_matches_allrank(allrank_losses, seed, alpha):
    s, y, m = random_batch(seed)
    expected = allrank_losses.approxNDCGLoss(*allrank_inputs(s, y, m), alpha=alpha)
    assert approx_ndcg_loss(s, y, m, alpha=alpha).item() == pytest.approx(expected.item(), abs=1e-7)


# ---------------------------------------------------------------- ties in ListMLE


def test_listmle_ties_are_broken_uniformly_at_random():
    # labels (1, 1, 0): the two tied candidates come in either order, each with probability 1/2
    s, y, m = t([[0.3, -1.2, 0.5]]), t([[1.0, 1.0, 0.0]]), full_mask(1, 3)
    values = ref.listmle_orders(s[0].tolist(), y[0].tolist(), m[0].tolist())
    assert len(values) == 2 and abs(values[0] - values[1]) > 0.1
    g = torch.Generator().manual_seed(0)
    draws = [listmle_loss(s, y, m, generator=g).item() for _ in range(400)]
    hits = [min(range(2), key=lambda i: abs(values[i] - d)) for d in draws]
    assert all(min(abs(v - d) for v in values) < 1e-12 for d in draws)
    assert 150 < sum(hits) < 250  # Binomial(400, 1/2): 5 standard deviations either side


def test_listmle_generator_makes_it_reproducible():
    s, y, m = random_batch(5)
    a = listmle_loss(s, y, m, generator=torch.Generator().manual_seed(7))
    b = listmle_loss(s, y, m, generator=torch.Generator().manual_seed(7))
    assert a.item() == b.item()


# ---------------------------------------------------------------- properties


def _pad(scores, labels, mask, extra: int, seed: int):
    """Append ``extra`` padded candidates with arbitrary (huge) scores and labels."""
    g = torch.Generator().manual_seed(seed)
    b = scores.shape[0]
    s = torch.cat([scores, torch.randn(b, extra, generator=g, dtype=scores.dtype) * 1e4], 1)
    y = torch.cat([labels, torch.randint(0, 30, (b, extra), generator=g).to(labels.dtype)], 1)
    m = torch.cat([mask, torch.zeros(b, extra, dtype=torch.bool)], 1)
    return s, y, m


@pytest.mark.parametrize("name", list(LOSSES))
def test_padding_invariance_values_and_gradients(name):
    fn = LOSSES[name]
    s, y, m = random_batch(6, distinct=(name == "listmle"))
    s1 = s.clone().requires_grad_()
    loss1 = fn(s1, y, m)
    loss1.backward()
    s_pad, y_pad, m_pad = _pad(s, y, m, extra=4, seed=1)
    s2 = s_pad.clone().requires_grad_()
    loss2 = fn(s2, y_pad, m_pad)
    loss2.backward()
    assert loss2.item() == pytest.approx(loss1.item(), abs=1e-10)
    torch.testing.assert_close(s2.grad[:, : s.shape[1]], s1.grad, atol=1e-12, rtol=0)
    assert torch.all(s2.grad[:, s.shape[1]:] == 0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_permutation_invariance(name):
    fn = LOSSES[name]
    s, y, m = random_batch(7, distinct=(name == "listmle"))
    perm = torch.randperm(s.shape[1], generator=torch.Generator().manual_seed(0))
    assert fn(s[:, perm], y[:, perm], m[:, perm]).item() == pytest.approx(fn(s, y, m).item(), abs=1e-10)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extreme_scores(name, dtype):
    s, y, m = random_batch(8)
    s = (torch.sign(s) * 1e4).to(dtype).requires_grad_()
    loss = LOSSES[name](s, y.to(dtype), m)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()


@pytest.mark.parametrize("name", list(LOSSES))
def test_all_padding_rows_are_ignored_with_zero_gradient(name):
    s, y, m = random_batch(9, distinct=(name == "listmle"))
    m_empty = m.clone()
    m_empty[2] = False
    s_kept = s[[0, 1, 3, 4, 5]]
    expected = LOSSES[name](s_kept, y[[0, 1, 3, 4, 5]], m[[0, 1, 3, 4, 5]])
    s1 = s.clone().requires_grad_()
    loss = LOSSES[name](s1, y, m_empty)
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    assert torch.all(s1.grad[2] == 0) and torch.isfinite(s1.grad).all()


@pytest.mark.parametrize("name", list(LOSSES))
def test_batch_of_only_padding_gives_zero(name):
    s = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    loss = LOSSES[name](s, torch.ones(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(s.grad == 0)


@pytest.mark.parametrize("name", ["listnet", "listmle", "lambda"])
def test_length_one_lists_give_zero(name):
    s = torch.tensor([[3.0, 0.0], [-2.0, 0.0]], requires_grad=True)
    loss = LOSSES[name](s, torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[True, False], [True, False]]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(s.grad).all()


def test_approx_ndcg_length_one_list_is_perfect():
    # one candidate with a positive gain sits at smooth position 1: NDCG = 1
    loss = approx_ndcg_loss(torch.tensor([[3.0, 9.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([[True, False]]))
    assert loss.item() == pytest.approx(-1.0)


def test_listnet_drop_uninformative_excludes_equal_label_queries():
    s = t([[0.0, 1.0], [2.0, 0.0]])
    y = t([[1.0, 0.0], [3.0, 3.0]])
    m = full_mask(2, 2)
    only_first = listnet_loss(s[:1], y[:1], m[:1])
    assert listnet_loss(s, y, m, drop_uninformative=True).item() == pytest.approx(only_first.item(), abs=1e-12)
    # without the option the equal-label query counts with its uniform target, as in allRank
    uniform = -0.5 * (math.log(1 / (1 + math.exp(2))) + math.log(math.exp(2) / (1 + math.exp(2))))
    assert listnet_loss(s, y, m).item() == pytest.approx((only_first.item() + uniform) / 2, abs=1e-12)


def test_inputs_are_not_modified():
    s, y, m = random_batch(10)
    copies = (s.clone(), y.clone(), m.clone())
    for fn in LOSSES.values():
        fn(s, y, m)
    for a, b in zip((s, y, m), copies):
        assert torch.equal(a, b)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="labels"):
        listnet_loss(torch.zeros(2, 3), torch.zeros(2, 3, 2), full_mask(2, 3))
    with pytest.raises(ValueError, match="mask"):
        lambda_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3))


# ---------------------------------------------------------------- module wrappers


def test_modules_select_the_objective_column():
    s, y, m = random_batch(11)
    labels = torch.stack([torch.zeros_like(y), y], -1)  # [B, L, 2], objective 1 carries y
    assert ListNetLoss(gain="exp2", objective=1)(s, labels, m).item() == pytest.approx(
        listnet_loss(s, y, m, gain="exp2").item(), abs=1e-12
    )
    assert LambdaLoss(k=3, objective=1)(s, labels, m).item() == pytest.approx(lambda_loss(s, y, m, k=3).item())
    assert ApproxNDCGLoss(alpha=2.0)(s, y, m).item() == pytest.approx(approx_ndcg_loss(s, y, m, alpha=2.0).item())
    sd, yd, md = random_batch(11, distinct=True)
    assert ListMLELoss()(sd, yd, md).item() == pytest.approx(listmle_loss(sd, yd, md).item())


# ---------------------------------------------------------------- property: finite everywhere


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 1e2, 1e4]),
)
def test_losses_finite_on_random_padded_lists(n, seed, scale):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(3, n, generator=g) * scale).requires_grad_()
    y = torch.randint(0, 5, (3, n), generator=g).float()
    m = torch.rand(3, n, generator=g) < 0.7
    for fn in LOSSES.values():
        loss = fn(s, y, m)
        (grad,) = torch.autograd.grad(loss, s)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert torch.all(grad[~m] == 0)
