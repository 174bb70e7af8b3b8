"""Rankers: shapes, padding and permutation properties, extremes, normalisation, config, overfitting."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ltr_cos.errors import InputError
from ltr_cos.models import FeatureNormalizer, Ranker, RankerConfig

F = 6
SMALL = {"hidden_sizes": (16, 8), "d_model": 16, "n_heads": 2, "n_layers": 2, "dim_feedforward": 32}

# (arch, conditioning, temperature_conditioning): every combination the ranker accepts
VARIANTS = [
    ("mlp", None, False),
    ("mlp", "concat", False),
    ("mlp", "film", True),
    ("transformer", None, False),
    ("transformer", "concat", True),
    ("transformer", "film", False),
    ("transformer", "prompt", True),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def make(arch: str, conditioning: str | None = None, beta: bool = False, seed: int = 0, **kw) -> Ranker:
    torch.manual_seed(seed)
    ranker = Ranker(
        F,
        arch=arch,
        conditioning=conditioning,
        n_weights=3 if conditioning else 0,
        temperature_conditioning=beta,
        **{**SMALL, **kw},
    )
    if conditioning in ("concat", "film"):
        # leave the exact no-op start so the conditioning path really acts in these property tests
        for p in ranker.conditioner.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return ranker.eval()


def inputs(ranker: Ranker, b: int, n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(b, n, F, generator=g) * 3
    weights = torch.distributions.Dirichlet(torch.ones(3)).sample((b,)) if ranker.needs_weights else None
    log_beta = torch.randn(b, generator=g) if ranker.needs_log_beta else None
    return features, weights, log_beta


@pytest.mark.parametrize("arch,conditioning,beta", VARIANTS)
def test_shapes_and_padding_is_exact_zero(arch, conditioning, beta):
    ranker = make(arch, conditioning, beta)
    features, weights, log_beta = inputs(ranker, 3, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    scores = ranker(features, mask, weights, log_beta)
    assert scores.shape == (3, 5) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    assert (scores[~mask] == 0.0).all()
    assert (scores[mask] != 0.0).all()


@pytest.mark.parametrize("arch,conditioning,beta", VARIANTS)
def test_appending_padding_changes_no_real_score(arch, conditioning, beta):
    ranker = make(arch, conditioning, beta)
    features, weights, log_beta = inputs(ranker, 2, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    base = ranker(features, mask, weights, log_beta)
    # extra slots hold garbage, NaN included: only the mask says they are padding
    extra = torch.full((2, 3, F), float("nan"))
    extra[:, 0] = 1e6
    padded = ranker(
        torch.cat([features, extra], 1),
        torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1),
        weights,
        log_beta,
    )
    torch.testing.assert_close(padded[:, :4], base, rtol=0, atol=1e-5)
    assert (padded[:, 4:] == 0).all()


@pytest.mark.parametrize("arch,conditioning,beta", VARIANTS)
def test_permutation_equivariance(arch, conditioning, beta):
    ranker = make(arch, conditioning, beta)
    features, weights, log_beta = inputs(ranker, 2, 7)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    perm = torch.tensor([6, 2, 0, 5, 1, 3, 4])
    scores = ranker(features, mask, weights, log_beta)
    permuted = ranker(features[:, perm], mask[:, perm], weights, log_beta)
    torch.testing.assert_close(permuted, scores[:, perm], rtol=0, atol=1e-5)


@pytest.mark.parametrize("arch,conditioning,beta", VARIANTS)
def test_all_padding_rows_and_single_candidates_are_finite_in_train_and_eval(arch, conditioning, beta):
    ranker = make(arch, conditioning, beta)
    features, weights, log_beta = inputs(ranker, 3, 4)
    features = features * 1e3
    mask = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1]], dtype=torch.bool)
    for train in (False, True):
        ranker.train(train)
        scores = ranker(features, mask, weights, log_beta)
        assert torch.isfinite(scores).all()
        assert (scores[0] == 0).all()
        (scores * torch.arange(1.0, 5.0)).sum().backward()
        for name, p in ranker.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), name
        ranker.zero_grad()
    ranker.eval()
    one = ranker(features[:, :1], torch.ones(3, 1, dtype=torch.bool), weights, log_beta)
    assert one.shape == (3, 1) and torch.isfinite(one).all()


def test_mlp_scores_candidates_independently():
    ranker = make("mlp")
    features, _, _ = inputs(ranker, 1, 5)
    mask = torch.ones(1, 5, dtype=torch.bool)
    scores = ranker(features, mask)
    alone = torch.cat([ranker(features[:, i : i + 1], mask[:, :1]) for i in range(5)], dim=1)
    torch.testing.assert_close(scores, alone, rtol=0, atol=1e-6)


def test_transformer_scores_depend_on_the_other_candidates():
    ranker = make("transformer")
    features, _, _ = inputs(ranker, 1, 5)
    mask = torch.ones(1, 5, dtype=torch.bool)
    full = ranker(features, mask)
    mask_fewer = mask.clone()
    mask_fewer[0, 4] = False
    fewer = ranker(features, mask_fewer)
    assert (full[0, :4] - fewer[0, :4]).abs().max() > 1e-4


def test_normalizer_matches_hand_computed_values():
    mean, std = [0.5, -1.0, 0.0], [2.0, 0.5, 0.0]  # std 0 = a constant column: divide by 1
    layer = FeatureNormalizer(mean, std)
    x = torch.tensor([[math.e - 1.0, -(math.e**2 - 1.0), 0.0]])
    # sign(x)*log1p(|x|) = [1, -2, 0]; then ((1-0.5)/2, (-2+1)/0.5, (0-0)/1)
    torch.testing.assert_close(layer(x), torch.tensor([[0.25, -2.0, 0.0]]))
    identity = FeatureNormalizer.identity(3)
    assert torch.equal(identity(x), x)


def test_normalization_inside_the_ranker_and_config_roundtrip():
    norm = {"kind": "signed_log1p_standardize", "mean": [0.1] * F, "std": [2.0] * F, "fitted_on": "train"}
    ranker = make("transformer", "film", True, normalization=norm)
    record = json.loads(json.dumps(ranker.config.to_dict()))  # JSON-able, as checkpoints and sidecars store it
    assert record["normalization"]["mean"] == pytest.approx([0.1] * F)
    assert RankerConfig.from_dict(record) == ranker.config
    rebuilt = Ranker(RankerConfig.from_dict(record)).eval()
    rebuilt.load_state_dict(ranker.state_dict())
    features, weights, log_beta = inputs(ranker, 2, 4)
    mask = torch.ones(2, 4, dtype=torch.bool)
    torch.testing.assert_close(
        rebuilt(features, mask, weights, log_beta), ranker(features, mask, weights, log_beta)
    )
    # the same backbone without normalisation scores differently: the layer is really applied
    plain = make("transformer", "film", True)
    plain.load_state_dict(ranker.state_dict())
    plain.normalizer.enabled = False
    assert not torch.allclose(
        plain(features, mask, weights, log_beta), ranker(features, mask, weights, log_beta)
    )


def test_torchscript_matches_eager():
    for arch, conditioning, beta in VARIANTS:
        ranker = make(arch, conditioning, beta)
        scripted = torch.jit.script(ranker)
        features, weights, log_beta = inputs(ranker, 2, 5)
        mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
        torch.testing.assert_close(
            scripted(features, mask, weights, log_beta),
            ranker(features, mask, weights, log_beta),
            rtol=0,
            atol=1e-6,
        )


def test_bad_inputs_and_settings_get_clear_errors():
    cond = make("mlp", "concat")
    plain = Ranker(F, n_weights=2)
    features = torch.randn(2, 3, F)
    mask = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(InputError, match="conditioned on weights"):
        cond(features, mask)
    with pytest.raises(InputError, match=r"weights must be \[B, m\] = \[2, 3\]"):
        cond(features, mask, torch.ones(2, 2) / 2)
    with pytest.raises(InputError, match=r"weights must be \[B, m\] = \[2, 2\]"):
        plain(features, mask, torch.ones(2, 3) / 3)
    with pytest.raises(InputError, match="log_beta"):
        make("mlp", "film", True)(features, mask, torch.ones(2, 3) / 3)
    with pytest.raises(InputError, match=f"features must be \\[B, L, {F}\\]"):
        cond(torch.randn(2, 3, F + 1), mask, torch.ones(2, 3) / 3)
    with pytest.raises(InputError, match="bool"):
        cond(features, mask.float(), torch.ones(2, 3) / 3)
    with pytest.raises(InputError, match="prompt.*transformer"):
        Ranker(F, arch="mlp", conditioning="prompt", n_weights=2)
    with pytest.raises(InputError, match="unknown ranker arch"):
        Ranker(F, arch="gru")
    with pytest.raises(InputError, match="temperature_conditioning"):
        Ranker(F, temperature_conditioning=True)
    with pytest.raises(InputError, match="normalization has 2 features"):
        Ranker(F, normalization={"mean": [0.0, 0.0], "std": [1.0, 1.0]})
    with pytest.raises(InputError, match="multiple of n_heads"):
        Ranker(F, arch="transformer", d_model=10, n_heads=4)


def test_tiny_transformer_overfits_a_tiny_batch_with_listnet():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    features = torch.randn(4, 6, F, generator=g)
    labels = torch.randint(0, 4, (4, 6), generator=g).float()
    labels[:, 0] = 5.0  # a unique best candidate per query
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[2, 4:] = False
    ranker = Ranker(F, arch="transformer", dropout=0.0, **{**SMALL, "d_model": 32, "dim_feedforward": 64})
    opt = torch.optim.Adam(ranker.parameters(), lr=1e-2)

    def listnet(scores):  # cross-entropy between softmax(labels) and softmax(scores), valid slots only
        neg = torch.finfo(scores.dtype).min
        target = torch.softmax(labels.masked_fill(~mask, neg), -1)
        return -(target * torch.log_softmax(scores.masked_fill(~mask, neg), -1)).sum(-1).mean()

    target = torch.softmax(labels.masked_fill(~mask, -1e9), -1)
    entropy = -(target * torch.log(target.clamp_min(1e-30))).sum(-1).mean()
    start = listnet(ranker(features, mask)).item()
    for _ in range(100):
        opt.zero_grad()
        loss = listnet(ranker(features, mask))
        loss.backward()
        opt.step()
    ranker.eval()
    scores = ranker(features, mask)
    final = listnet(scores).item()
    assert final - entropy.item() < 0.02 < start - entropy.item()
    assert (scores.masked_fill(~mask, -1e9).argmax(-1) == 0).all()


def test_ranker_config_of_another_format_version_is_refused():
    record = make("mlp", "film", False).config.to_dict()
    with pytest.raises(InputError, match="format_version 0 is not supported"):
        RankerConfig.from_dict({**record, "format_version": 0})
    legacy = {k: v for k, v in record.items() if k != "format_version"}  # a record of the first releases
    with pytest.raises(InputError, match="format_version None"):
        RankerConfig.from_dict(legacy)
    with pytest.raises(InputError, match="unknown ranker configuration fields"):
        RankerConfig.from_dict({**record, "condition_on_beta": False})
