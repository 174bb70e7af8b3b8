"""NDCG@k: hand-computed values, agreement with allRank and scikit-learn, accumulation and reduction."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score

from ltr_cos.metrics import NDCGMetric, ndcg_per_query, ndcg_table


def allrank_ndcg(*args, **kwargs):
    """allRank's NDCG, imported on use (the oracle is a test dependency, absent from GPU images)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # allRank imports pkg_resources, deprecated
        from allrank.models.metrics import ndcg

    return ndcg(*args, **kwargs)

LOG2_3 = math.log2(3.0)


def random_batch(seed: int, b: int = 64, n: int = 12, k_obj: int = 3, max_grade: int = 4, prefix_mask: bool = False):
    """Random lists with label ties, padding, a few no-positive queries, and tie-free scores."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, n, generator=g)  # continuous: no score ties
    labels = torch.randint(0, max_grade + 1, (b, n, k_obj), generator=g).float()
    # Skew towards 0 so some queries have no positive label for some objective.
    labels = labels * (torch.rand(b, n, k_obj, generator=g) < 0.3)
    if prefix_mask:
        lengths = torch.randint(2, n + 1, (b,), generator=g)
        mask = torch.arange(n)[None, :] < lengths[:, None]
    else:
        mask = torch.rand(b, n, generator=g) < 0.75
        mask[:, :2] = True  # at least two real candidates (scikit-learn needs two)
    return scores, labels, mask


def allrank_inputs(scores, labels, mask):
    """allRank's encoding: padding is y = -1 (its PADDED_Y_VALUE)."""
    return scores.clone(), torch.where(mask, labels, torch.full_like(labels, -1.0))


# ---------------------------------------------------------------- hand-computed values

def test_hand_computed_values_and_stable_tie_rule():
    # Query 0: two tied top scores; the stable rule ranks candidate 0 (label 0) above candidate 1 (label 2).
    scores = torch.tensor([[1.0, 1.0, 0.5, 9.0], [3.0, 2.0, 1.0, 0.0]])
    labels = torch.tensor([[0.0, 2.0, 1.0, 4.0], [1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    ndcg, valid = ndcg_per_query(scores, labels, mask, k=2)
    # exp2 gains [0, 3, 1]; ranked [0, 3]; ideal [3, 1]. The padded label 4 with score 9 is ignored.
    expected0 = (3 / LOG2_3) / (3 + 1 / LOG2_3)
    assert ndcg.tolist() == pytest.approx([expected0, 1.0], abs=1e-6)
    assert valid.tolist() == [True, True]
    ndcg_lin, _ = ndcg_per_query(scores, labels, mask, k=2, gain="linear")
    assert ndcg_lin[0].item() == pytest.approx((2 / LOG2_3) / (2 + 1 / LOG2_3), abs=1e-6)
    ndcg_all, _ = ndcg_per_query(scores, labels, mask, k=3)
    expected_all = (3 / LOG2_3 + 1 / 2) / (3 + 1 / LOG2_3)
    assert ndcg_all[0].item() == pytest.approx(expected_all, abs=1e-6)


def test_ties_follow_list_order():
    scores = torch.zeros(1, 3)
    labels = torch.tensor([[0.0, 0.0, 1.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    ndcg, _ = ndcg_per_query(scores, labels, mask, k=3)
    assert ndcg.item() == pytest.approx(0.5, abs=1e-7)  # gain 1 ranked third: 1/log2(4)
    ndcg, _ = ndcg_per_query(scores, labels.flip(1), mask, k=3)
    assert ndcg.item() == pytest.approx(1.0, abs=1e-7)


def test_no_positive_gain_is_invalid_and_zero():
    scores = torch.tensor([[0.3, 0.2, 0.1]])
    labels = torch.tensor([[[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    labels[0, 2, 0] = 3.0  # a positive label on a padded candidate does not count
    ndcg, valid = ndcg_per_query(scores, labels, mask, k=5)
    assert valid.tolist() == [[False, True]]
    assert ndcg.tolist() == [[0.0, 1.0]]


def test_real_minus_inf_score_still_ranks_above_padding():
    scores = torch.tensor([[0.0, float("-inf"), 5.0]])
    labels = torch.tensor([[0.0, 1.0, 0.0]])
    mask = torch.tensor([[False, True, True]])  # padding sits first in the row
    ndcg, _ = ndcg_per_query(scores, labels, mask, k=2)
    assert ndcg.item() == pytest.approx(1 / LOG2_3, abs=1e-6)


def test_k_longer_than_list_counts_the_whole_list():
    scores, labels, mask = random_batch(0, n=6)
    at_6, _ = ndcg_per_query(scores, labels, mask, k=6)
    at_50, _ = ndcg_per_query(scores, labels, mask, k=50)
    torch.testing.assert_close(at_6, at_50, rtol=0, atol=0)


def test_padding_and_permutation_invariance():
    scores, labels, mask = random_batch(1)
    base, valid = ndcg_per_query(scores, labels, mask, k=5)
    # Append padded columns with huge scores and labels: nothing changes.
    pad = 4
    scores_p = torch.cat([scores, torch.full((scores.shape[0], pad), 1e4)], 1)
    labels_p = torch.cat([labels, torch.full((labels.shape[0], pad, labels.shape[2]), 4.0)], 1)
    mask_p = torch.cat([mask, torch.zeros(mask.shape[0], pad, dtype=torch.bool)], 1)
    padded, valid_p = ndcg_per_query(scores_p, labels_p, mask_p, k=5)
    torch.testing.assert_close(padded, base)
    assert torch.equal(valid, valid_p)
    # Permuting candidates (scores, labels and mask together) changes nothing when scores do not tie.
    perm = torch.randperm(scores.shape[1], generator=torch.Generator().manual_seed(2))
    permuted, _ = ndcg_per_query(scores[:, perm], labels[:, perm], mask[:, perm], k=5)
    torch.testing.assert_close(permuted, base)


def test_inputs_are_not_modified_and_bad_inputs_raise():
    scores, labels, mask = random_batch(3)
    copies = scores.clone(), labels.clone(), mask.clone()
    ndcg_per_query(scores, labels, mask, k=3)
    assert all(torch.equal(a, b) for a, b in zip(copies, (scores, labels, mask)))
    with pytest.raises(ValueError, match="gain"):
        ndcg_per_query(scores, labels, mask, k=3, gain="log")
    with pytest.raises(ValueError, match="cut-offs"):
        ndcg_per_query(scores, labels, mask, k=0)
    with pytest.raises(ValueError, match="mask"):
        ndcg_per_query(scores, labels, mask.float(), k=3)
    with pytest.raises(ValueError, match="labels"):
        ndcg_per_query(scores, labels[:, :-1], mask, k=3)
    with pytest.raises(ValueError, match=r"\[B, L, 2\]"):
        NDCGMetric(["a", "b"]).update(scores, labels, mask)
    with pytest.raises(ValueError, match="empty"):
        NDCGMetric(["a"], empty="skip")


# ---------------------------------------------------------------- allRank

@pytest.mark.parametrize("gain", ["exp2", "linear"])
@pytest.mark.parametrize("prefix_mask", [True, False])
def test_matches_allrank_with_filler_one(gain, prefix_mask):
    scores, labels, mask = random_batch(10 + prefix_mask, prefix_mask=prefix_mask)
    ks = (1, 3, 5, 10, 40)  # 40 > L: allRank clips its ats to the slate length
    gain_fn = (lambda x: torch.pow(2, x) - 1) if gain == "exp2" else (lambda x: x)
    metric = NDCGMetric(["a", "b", "c"], ks=ks, gain=gain, empty="one")
    metric.update(scores, labels, mask)
    means = metric.compute()
    for j, name in enumerate("abc"):
        y_pred, y_true = allrank_inputs(scores, labels[..., j], mask)
        theirs = allrank_ndcg(y_pred, y_true, ats=list(ks), gain_function=gain_fn)  # [B, len(ks)], filler 1.0
        for i, k in enumerate(ks):
            ours, valid = ndcg_per_query(scores, labels[..., j], mask, k=k, gain=gain)
            ours = torch.where(valid, ours, torch.ones_like(ours))
            torch.testing.assert_close(ours, theirs[:, i], rtol=0, atol=2e-6)
            assert means[f"ndcg@{k}/{name}"].item() == pytest.approx(theirs[:, i].mean().item(), abs=2e-6)
    # The fixture must exercise the empty rule: some (query, objective) pairs have no positive label.
    assert 0 < (labels * mask[..., None]).amax(1).eq(0).sum() < labels.shape[0] * labels.shape[2]


# ---------------------------------------------------------------- scikit-learn

@pytest.mark.parametrize("gain", ["exp2", "linear"])
def test_matches_sklearn_per_query_and_zero_and_drop_rules(gain):
    scores, labels, mask = random_batch(20, b=40, n=9)
    ks = (1, 4, 9, 25)
    zero = NDCGMetric(["a", "b", "c"], ks=ks, gain=gain, empty="zero")
    drop = NDCGMetric(["a", "b", "c"], ks=ks, gain=gain, empty="drop")
    zero.update(scores, labels, mask)
    drop.update(scores, labels, mask)
    zero_means, drop_means = zero.compute(), drop.compute()
    for j, name in enumerate("abc"):
        for k in ks:
            ours, valid = ndcg_per_query(scores, labels[..., j], mask, k=k, gain=gain)
            theirs, positive = [], []
            for q in range(scores.shape[0]):  # scikit-learn takes one ragged list at a time
                real = mask[q]
                y = labels[q, real, j].double().numpy()
                gains = 2.0**y - 1.0 if gain == "exp2" else y
                theirs.append(ndcg_score(gains[None, :], scores[q, real].double().numpy()[None, :], k=k))
                positive.append(gains.sum() > 0)
            theirs, positive = np.array(theirs), np.array(positive)
            np.testing.assert_allclose(ours.double().numpy(), theirs, rtol=0, atol=1e-6)  # sklearn: 0 if empty
            assert valid.numpy().tolist() == positive.tolist()
            assert zero_means[f"ndcg@{k}/{name}"].item() == pytest.approx(theirs.mean(), abs=1e-6)
            assert drop_means[f"ndcg@{k}/{name}"].item() == pytest.approx(theirs[positive].mean(), abs=1e-6)


# ---------------------------------------------------------------- accumulation, rules, reduction

def test_empty_rules_by_hand_and_all_padding_rows_ignored():
    # Three queries, one objective: NDCG 1.0, 0.5 (gain ranked third of three), and one with no positive
    # label; a fourth row is pure padding (not a query).
    scores = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])[..., None]
    mask = torch.tensor([[True] * 3, [True] * 3, [True] * 3, [False] * 3])
    expected = {"drop": (1.0 + 0.5) / 2, "one": (1.0 + 0.5 + 1.0) / 3, "zero": (1.0 + 0.5 + 0.0) / 3}
    for rule, value in expected.items():
        assert ndcg_table(scores, labels, mask, ["rel"], ks=(3,), empty=rule) == pytest.approx({"ndcg@3/rel": value})
    metric = NDCGMetric(["rel"], ks=(3,))
    metric.update(scores, labels, mask)
    assert metric.empty_fraction() == pytest.approx({"rel": 1 / 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about compute() before update()
        assert math.isnan(NDCGMetric(["rel"]).compute()["ndcg@1/rel"].item())  # no query at all


def test_accumulates_over_batches_like_one_batch():
    scores, labels, mask = random_batch(30, b=50)
    whole = NDCGMetric(["a", "b", "c"])
    whole.update(scores, labels, mask)
    batched = NDCGMetric(["a", "b", "c"])
    for lo in range(0, 50, 16):
        batched.update(scores[lo:lo + 16], labels[lo:lo + 16], mask[lo:lo + 16])
    for key, value in whole.compute().items():
        assert batched.compute()[key].item() == pytest.approx(value.item(), abs=1e-6)


@pytest.mark.parametrize("empty", ["drop", "one", "zero"])
def test_state_reduction_across_processes(empty):
    """Two "processes" each see half the data; summing their states (the DDP reduction) equals one pass."""
    scores, labels, mask = random_batch(40, b=60)
    single = NDCGMetric(["a", "b", "c"], empty=empty)
    single.update(scores, labels, mask)
    rank0 = NDCGMetric(["a", "b", "c"], empty=empty)
    rank1 = NDCGMetric(["a", "b", "c"], empty=empty)
    rank0.update(scores[:25], labels[:25], mask[:25])
    rank1.update(scores[25:], labels[25:], mask[25:])
    # Every state is declared with a sum reduction, so a DDP all-reduce is a plain sum.
    assert set(rank0._reductions) == {"ndcg_sum", "n_valid", "n_queries"}
    summed = {name: getattr(rank0, name) + getattr(rank1, name) for name in rank0._reductions}
    rank0.merge_state(rank1)
    for name, value in summed.items():
        torch.testing.assert_close(getattr(rank0, name), value)
    for key, value in single.compute().items():
        assert rank0.compute()[key].item() == pytest.approx(value.item(), abs=1e-7)


def test_metric_keys_and_reset():
    scores, labels, mask = random_batch(50, k_obj=2)
    metric = NDCGMetric(["relevance", "quality"], ks=(1, 10))
    metric.update(scores, labels, mask)
    out = metric.compute()
    assert list(out) == ["ndcg@1/relevance", "ndcg@1/quality", "ndcg@10/relevance", "ndcg@10/quality"]
    assert all(0.0 <= v.item() <= 1.0 for v in out.values())
    metric.reset()
    assert metric.n_queries.item() == 0


def test_finite_at_extreme_scores_and_length_one_lists():
    scores = torch.tensor([[1e4, -1e4], [-1e4, 0.0]])
    labels = torch.tensor([[0.0, 3.0], [2.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    ndcg, valid = ndcg_per_query(scores, labels, mask, k=10)
    assert torch.isfinite(ndcg).all() and valid.all()
    assert ndcg[1].item() == 1.0


@pytest.mark.gpu
def test_cuda_matches_cpu():
    scores, labels, mask = random_batch(60, b=128)
    cpu = NDCGMetric(["a", "b", "c"], ks=(1, 5, 10, 40))
    cpu.update(scores, labels, mask)
    gpu = NDCGMetric(["a", "b", "c"], ks=(1, 5, 10, 40)).to("cuda")
    gpu.update(scores.cuda(), labels.cuda(), mask.cuda())
    for key, value in cpu.compute().items():
        assert gpu.compute()[key].item() == pytest.approx(value.item(), abs=1e-6)
    ours, valid = ndcg_per_query(scores.cuda(), labels.cuda(), mask.cuda(), k=5)
    expected, expected_valid = ndcg_per_query(scores, labels, mask, k=5)
    torch.testing.assert_close(ours.cpu(), expected, rtol=0, atol=1e-6)
    assert torch.equal(valid.cpu(), expected_valid)
