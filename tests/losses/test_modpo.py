"""MODPO's margin transform for any number of objectives (docs/method.md §9): the base objective and z."""

import pytest
import torch

from ltr_cos.errors import InputError
from ltr_cos.losses import modpo_base, modpo_logits


def test_base_is_the_largest_weight_ties_to_the_first():
    assert modpo_base([0.5, 0.3, 0.2]) == 0
    assert modpo_base([0.2, 0.3, 0.5]) == 2
    assert modpo_base([0.25, 0.375, 0.375]) == 1  # tie between 2 and 3: the first
    assert modpo_base([0.3, 0.1 + 0.2, 0.4 - 0.1]) == 0  # equal up to rounding (0.30000000000000004) is a tie
    assert modpo_base([0.0, 0.0, 1.0, 0.0]) == 2
    with pytest.raises(InputError):
        modpo_base([])


def _inputs(m: int):
    gen = torch.Generator().manual_seed(m)
    scores, ref = torch.randn(2, 4, generator=gen), torch.randn(2, 4, generator=gen)
    rewards = torch.randn(2, 4, m - 1, generator=gen)  # the non-base objectives' single policies
    return scores, ref, rewards


def test_logits_for_three_objectives_with_a_middle_base():
    scores, ref, f = _inputs(3)
    beta = torch.tensor([0.5, 2.0])
    w = [0.25, 0.5, 0.25]
    z = modpo_logits(scores, ref, f, w, beta, base=1)
    b = beta[:, None]
    # rewards in objective order without the base: objective 1 then objective 3
    expected = (b * (scores - ref) - 0.25 * b * (f[..., 0] - ref) - 0.25 * b * (f[..., 1] - ref)) / 0.5
    torch.testing.assert_close(z, expected)
    # the order of the rewards matters: objective 3's reward weighted by w_3
    w2 = [0.2, 0.5, 0.3]
    z2 = modpo_logits(scores, ref, f, w2, beta, base=1)
    torch.testing.assert_close(z2, (b * (scores - ref) - 0.2 * b * (f[..., 0] - ref) - 0.3 * b * (f[..., 1] - ref)) / 0.5)


@pytest.mark.parametrize("m", [2, 3, 5])
def test_one_hot_weight_is_plain_dpo_on_its_objective(m):
    scores, ref, f = _inputs(m)
    for k in range(m):
        w = [1.0 if j == k else 0.0 for j in range(m)]
        torch.testing.assert_close(modpo_logits(scores, ref, f, w, 0.7, base=modpo_base(w)), 0.7 * (scores - ref))


def test_first_objective_as_base_keeps_the_original_transform():
    """w_1 the largest: z = (beta h - sum_{k >= 2} w_k r_k) / w_1, as MODPO was defined for objective 1."""
    scores, ref, f = _inputs(4)
    w = [0.4, 0.3, 0.2, 0.1]
    assert modpo_base(w) == 0
    expected = (scores - ref) - sum(w[k] * (f[..., k - 1] - ref) for k in (1, 2, 3))
    torch.testing.assert_close(modpo_logits(scores, ref, f, w, 1.0), expected / 0.4)


def test_bad_inputs_are_refused():
    scores, ref, f = _inputs(3)
    with pytest.raises(InputError, match="outside 0..2"):
        modpo_logits(scores, ref, f, [0.2, 0.3, 0.5], 1.0, base=3)
    with pytest.raises(InputError, match="positive weight"):
        modpo_logits(scores, ref, f, [0.0, 0.5, 0.5], 1.0, base=0)
    with pytest.raises(InputError, match="needs reward scores"):
        modpo_logits(scores, ref, f[..., :1], [0.2, 0.3, 0.5], 1.0, base=2)
