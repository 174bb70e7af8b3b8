"""Ranker.score_grid equals one forward call per grid weight, for every conditioning path."""

import math

import pytest
import torch

from ltr_cos.models import Ranker


@pytest.mark.parametrize(
    "arch, conditioning, beta",
    [("mlp", "film", False), ("mlp", "concat", True), ("mlp", "film", True), ("transformer", "prompt", False),
     ("transformer", "film", True)],
)
def test_score_grid_matches_per_weight_forward(arch, conditioning, beta):
    torch.manual_seed(0)
    ranker = Ranker(n_features=7, arch=arch, hidden_sizes=(16, 8), d_model=16, n_heads=2, n_layers=1,
                    dim_feedforward=32, dropout=0.0, conditioning=conditioning, n_weights=3,
                    temperature_conditioning=beta, normalization={"mean": [0.1] * 7, "std": [2.0] * 7}).eval()
    # the conditioning paths start as a no-op: randomise them so the weights matter
    with torch.no_grad():
        for p in ranker.conditioner.parameters():
            p.normal_(0, 0.3)
    features = torch.randn(4, 9, 7) * 3
    mask = torch.rand(4, 9) > 0.3
    mask[:, 0] = True
    grid = torch.distributions.Dirichlet(torch.ones(3)).sample((5,))
    log_beta = torch.full((5,), math.log(0.7)) if beta else None
    with torch.no_grad():
        together = ranker.score_grid(features, mask, grid, log_beta)
        one_by_one = torch.stack([
            ranker(features, mask, w.expand(4, -1), None if log_beta is None else log_beta[:1].expand(4))
            for w in grid
        ])
    assert together.shape == (5, 4, 9)
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)
    assert (together[0] - together[-1]).abs().max() > 1e-3  # the weights really changed the scores
    assert (together[:, ~mask] == 0).all()
