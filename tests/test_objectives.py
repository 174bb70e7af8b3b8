import math

import numpy as np
import pytest
import torch

from ltr_cos.objectives import (
    PRESETS,
    ObjectiveSpec,
    grid_step_to_steps,
    preset,
    sample_log_beta,
    sample_weights,
    simplex_lattice,
)


@pytest.mark.parametrize("m, steps, size", [(2, 10, 11), (3, 10, 66), (5, 4, 70), (1, 3, 1)])
def test_lattice_sizes_match_spec(m, steps, size):
    grid = simplex_lattice(m, steps)
    assert grid.shape == (size, m)
    np.testing.assert_allclose(grid.sum(1), 1.0)
    assert (grid >= 0).all()
    # every coordinate is a multiple of 1/steps and no point repeats
    np.testing.assert_allclose(grid * steps, np.round(grid * steps), atol=1e-9)
    assert len({tuple(np.round(row * steps).astype(int)) for row in grid}) == size


def test_lattice_two_objectives_is_the_obvious_line():
    grid = simplex_lattice(2, 4)
    expected = {(1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 1.0)}
    assert {tuple(row) for row in grid} == expected


def test_grid_step_conversion():
    assert grid_step_to_steps(0.1) == 10
    assert grid_step_to_steps(0.25) == 4
    with pytest.raises(ValueError, match="divide 1"):
        grid_step_to_steps(0.3)


def test_dirichlet_weights_on_simplex_and_uniform_mean():
    gen = torch.Generator().manual_seed(0)
    w = sample_weights(20000, 3, alpha=1.0, generator=gen)
    assert w.shape == (20000, 3) and w.dtype == torch.float32
    torch.testing.assert_close(w.sum(1), torch.ones(20000), rtol=0, atol=1e-5)
    assert (w >= 0).all()
    # Dirichlet(1,1,1): each component has mean 1/3 and variance (1/3 * 2/3) / 4 = 1/18
    assert abs(w[:, 0].mean().item() - 1 / 3) < 0.01
    assert abs(w[:, 0].var().item() - 1 / 18) < 0.005


def test_dirichlet_concentration_and_per_batch_mode():
    gen = torch.Generator().manual_seed(1)
    concentrated = sample_weights(5000, 2, alpha=50.0, generator=gen)
    assert concentrated[:, 0].std() < 0.08  # alpha large: close to the centre
    shared = sample_weights(7, 2, per_query=False, generator=gen)
    assert torch.equal(shared, shared[:1].expand(7, 2))
    with pytest.raises(ValueError):
        sample_weights(2, 2, alpha=0.0)


def test_dirichlet_reproducible_with_generator():
    a = sample_weights(5, 3, generator=torch.Generator().manual_seed(3))
    b = sample_weights(5, 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_log_beta_is_log_uniform_in_range():
    lb = sample_log_beta(10000, 0.1, 10.0, generator=torch.Generator().manual_seed(0))
    assert lb.min() >= math.log(0.1) - 1e-6 and lb.max() <= math.log(10.0) + 1e-6
    assert abs(lb.mean().item()) < 0.05  # symmetric around log 1 = 0
    with pytest.raises(ValueError):
        sample_log_beta(3, 1.0, 0.5)


def test_presets_and_spec_validation():
    assert [o.feature_id for o in preset("mslr")[1:]] == [132, 133, 134, 135, 136]
    assert [o.feature_id for o in preset("mq2008")[1:]] == [45, 46]
    assert preset("mq2008")[1].invert and not preset("mq2008")[2].invert
    assert all(p[0].is_main for p in PRESETS.values())
    with pytest.raises(ValueError, match="unknown objectives preset"):
        preset("nope")
    with pytest.raises(ValueError, match="1-based"):
        ObjectiveSpec("x", feature_id=0)
    spec = ObjectiveSpec("q", 5, "log1p", True)
    assert ObjectiveSpec.from_dict(spec.to_dict()) == spec


def test_dirichlet_vertex_share_draws_one_hot_weights():
    from ltr_cos.objectives import DirichletSampler

    sampler = DirichletSampler(alpha=1.0, vertex_prob=0.3)
    weights, _, _ = sampler.sample(4000, 3, beta=1.0, step=7)
    one_hot = (weights == 1.0).any(-1)
    assert 0.27 < one_hot.float().mean() < 0.33  # about vertex_prob of the rows
    counts = (weights[one_hot] == 1.0).float().sum(0)
    assert counts.min() > 0.25 * one_hot.sum()  # every vertex, about equally often
    assert torch.allclose(weights.sum(-1), torch.ones(4000))
    shared, _, _ = DirichletSampler(vertex_prob=1.0, per_query=False).sample(5, 3, beta=1.0, step=1)
    assert (shared == shared[0]).all() and shared[0].max() == 1.0  # one vertex for the whole batch
    with pytest.raises(ValueError, match="vertex_prob"):
        DirichletSampler(vertex_prob=1.5)
