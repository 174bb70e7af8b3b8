"""Conditioning paths: exact no-op start from f_ref, reference loading, and that c steers the scores."""

from __future__ import annotations

import pytest
import torch

from ltr_cos.errors import InputError
from ltr_cos.models import Ranker

F = 5
SMALL = {"hidden_sizes": (16, 8), "d_model": 16, "n_heads": 2, "n_layers": 2, "dim_feedforward": 32}
NORM = {
    "kind": "signed_log1p_standardize",
    "mean": [0.2, -0.1, 0.0, 0.3, 0.1],
    "std": [1.5, 0.7, 1.0, 2.0, 1.1],
}


pytestmark = pytest.mark.usefixtures("one_thread")


def reference(arch: str, seed: int = 0) -> Ranker:
    torch.manual_seed(seed)
    return Ranker(F, arch=arch, normalization=NORM, **SMALL).eval()


def policy(arch: str, conditioning: str, beta: bool = False, seed: int = 1) -> Ranker:
    torch.manual_seed(seed)  # a different seed: the backbone must come from load_reference, not chance
    return Ranker(
        F,
        arch=arch,
        conditioning=conditioning,
        n_weights=3,
        temperature_conditioning=beta,
        normalization=NORM,
        **SMALL,
    )


def batch(b: int = 4, n: int = 6, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(b, n, F, generator=g) * 2
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 3:] = False
    mask[3, :] = False
    return features, mask


def dirichlet(b: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.distributions.Dirichlet(torch.ones(3)).sample((b,))


def gradient_step(model: Ranker, features, mask, beta: bool) -> None:
    """One SGD step on a loss that depends on the weights, so the conditioning path leaves zero."""
    model.train()
    weights = dirichlet(features.shape[0], 5)
    log_beta = torch.randn(features.shape[0]) if beta else None
    scores = model(features, mask, weights, log_beta)
    target = features[..., 0] * weights[:, :1] - features[..., 1] * weights[:, 1:2]
    loss = ((scores - target) ** 2)[mask].mean()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    model.zero_grad()
    model.eval()


@pytest.mark.parametrize("arch", ["mlp", "transformer"])
@pytest.mark.parametrize("conditioning", ["concat", "film"])
@pytest.mark.parametrize("beta", [False, True])
def test_concat_and_film_start_as_exact_no_op(arch, conditioning, beta):
    ref = reference(arch)
    pol = policy(arch, conditioning, beta).load_reference(ref).eval()
    features, mask = batch()
    ref_scores = ref(features, mask)
    for seed in range(3):
        weights = dirichlet(4, seed)
        log_beta = torch.randn(4) * 2 if beta else None
        torch.testing.assert_close(pol(features, mask, weights, log_beta), ref_scores, rtol=0, atol=1e-6)
    # and the conditioning path learns: after one step the scores depend on the weights
    gradient_step(pol, features, mask, beta)
    log_beta = torch.zeros(4) if beta else None
    a = pol(features, mask, torch.tensor([[1.0, 0, 0]] * 4), log_beta)
    b = pol(features, mask, torch.tensor([[0.0, 1, 0]] * 4), log_beta)
    assert (a - b)[mask].abs().max() > 1e-4


def test_policies_from_different_seeds_differ_before_load_reference():
    ref = reference("transformer")
    pol = policy("transformer", "film").eval()
    features, mask = batch()
    # guards the no-op test above: without load_reference the scores would not match
    assert not torch.allclose(pol(features, mask, dirichlet(4, 0)), ref(features, mask), atol=1e-3)


def test_load_reference_from_a_state_dict_ignores_conditioner_keys():
    ref = reference("mlp")
    other = policy("mlp", "film", seed=7)
    state = {
        **ref.state_dict(),
        **{k: v for k, v in other.state_dict().items() if k.startswith("conditioner.")},
    }
    pol = policy("mlp", "concat").load_reference(state).eval()
    features, mask = batch()
    torch.testing.assert_close(pol(features, mask, dirichlet(4, 0)), ref(features, mask), rtol=0, atol=1e-6)
    assert torch.equal(pol.normalizer.mean, ref.normalizer.mean)


def test_load_reference_lists_mismatches():
    pol = policy("mlp", "concat")
    with pytest.raises(InputError, match=r"hidden_sizes: \[32\] \(reference\) vs \[16, 8\]"):
        pol.load_reference(Ranker(F, hidden_sizes=(32,)))
    tpol = policy("transformer", "film")
    with pytest.raises(InputError, match="n_heads: 4"):
        tpol.load_reference(Ranker(F, arch="transformer", **{**SMALL, "n_heads": 4}))
    state = reference("mlp").state_dict()
    state.pop("backbone.out.bias")
    state["backbone.extra"] = torch.zeros(1)
    state["backbone.hidden.0.weight"] = torch.zeros(16, F + 1)
    with pytest.raises(InputError) as err:
        pol.load_reference(state)
    message = str(err.value)
    assert "missing in reference: ['backbone.out.bias']" in message
    assert "unexpected in reference: ['backbone.extra']" in message
    assert "backbone.hidden.0.weight: (16, 6) vs (16, 5)" in message
    with pytest.raises(InputError, match="Ranker or a state dict"):
        pol.load_reference([1, 2])


def test_concat_changes_the_order_not_only_a_shift():
    ref = reference("mlp")
    pol = policy("mlp", "concat").load_reference(ref).eval()
    with torch.no_grad():
        pol.conditioner.extra_columns.weight.normal_(std=1.0)
    features, mask = batch()
    a = pol(features, mask, torch.tensor([[1.0, 0, 0]] * 4))
    b = pol(features, mask, torch.tensor([[0.0, 0, 1]] * 4))
    diff = (a - b)[0]
    # a per-query constant would leave every softmax unchanged; the ReLU makes it candidate-specific
    assert diff.std() > 1e-3


@pytest.mark.parametrize("beta", [False, True])
def test_prompt_path_steers_scores_with_random_init(beta):
    ref = reference("transformer")
    pol = policy("transformer", "prompt", beta).load_reference(ref).eval()
    features, mask = batch()
    log_beta = torch.zeros(4) if beta else None
    a = pol(features, mask, torch.tensor([[1.0, 0, 0]] * 4), log_beta)
    b = pol(features, mask, torch.tensor([[0.0, 1, 0]] * 4), log_beta)
    assert (a - b)[mask].abs().max() > 1e-4
    assert a.shape == (4, 6) and (a[~mask] == 0).all()  # prompts are never scored
    # the prompt MLP's output is the only route for the weights: zero it and the weights stop mattering
    with torch.no_grad():
        pol.conditioner.net[-1].weight.zero_()
    a = pol(features, mask, torch.tensor([[1.0, 0, 0]] * 4), log_beta)
    b = pol(features, mask, torch.tensor([[0.0, 1, 0]] * 4), log_beta)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_prompt_path_learns_after_a_gradient_step():
    pol = policy("transformer", "prompt").load_reference(reference("transformer")).eval()
    features, mask = batch()
    weights = dirichlet(4, 0)
    before = pol(features, mask, weights)
    prompt_weight = pol.conditioner.net[-1].weight.detach().clone()
    gradient_step(pol, features, mask, False)
    assert (pol(features, mask, weights) - before)[mask].abs().max() > 1e-4
    assert (pol.conditioner.net[-1].weight - prompt_weight).abs().max() > 0  # gradients reach the prompt MLP


@pytest.mark.parametrize(
    "arch,conditioning",
    [("mlp", "concat"), ("mlp", "film"), ("transformer", "film"), ("transformer", "prompt")],
)
def test_beta_conditioning_changes_scores_once_its_path_is_non_zero(arch, conditioning):
    pol = policy(arch, conditioning, beta=True).load_reference(reference(arch)).eval()
    with torch.no_grad():
        for p in pol.conditioner.parameters():
            p.normal_(std=0.5)
    features, mask = batch()
    weights = dirichlet(4, 0)
    low = pol(features, mask, weights, torch.full((4,), -2.0))
    high = pol(features, mask, weights, torch.full((4,), 2.0))
    assert (low - high)[mask].abs().max() > 1e-4
    assert torch.isfinite(low).all() and (low[~mask] == 0).all()


def test_beta_only_conditioning():
    pol = Ranker(
        F, arch="transformer", conditioning="film", n_weights=0, temperature_conditioning=True, **SMALL
    ).eval()
    assert pol.needs_log_beta and not pol.needs_weights
    features, mask = batch()
    assert pol(features, mask, None, torch.zeros(4)).shape == (4, 6)
    with pytest.raises(InputError, match="log_beta"):
        pol(features, mask)
