"""The benchmark's settings: the default weight grid per number of weighted objectives, and the goals."""

import math

import pytest

from benchmarks.settings import QUICK, Settings, default_grid_steps, goal_cpu_ratio
from ltr_cos.objectives import simplex_lattice


@pytest.mark.parametrize(("m", "steps", "points"), [(2, 10, 11), (3, 10, 66), (4, 6, 84), (5, 4, 70)])
def test_default_grid_is_the_finest_lattice_of_at_most_100_points(m, steps, points):
    assert default_grid_steps(m) == steps
    assert len(simplex_lattice(m, steps)) == points
    # one step finer would exceed 100 points (or the step cap of 10)
    assert steps == 10 or math.comb(steps + m, m - 1) > 100
    assert Settings().steps_for(m) == steps


def test_explicit_grid_steps_win_and_bad_values_are_refused():
    assert Settings(grid_steps=3).steps_for(5) == 3
    assert QUICK.grid_steps is None
    with pytest.raises(ValueError, match="grid_steps"):
        Settings(grid_steps=0)
    with pytest.raises(ValueError, match="at least one"):
        default_grid_steps(0)
    with pytest.raises(ValueError, match="cos_dpo_budgets"):
        Settings(cos_dpo_budgets=(0.5, 0.0))


def test_cpu_goal_tightens_with_the_grid():
    assert [goal_cpu_ratio(m) for m in (2, 3, 4, 5, 6)] == [0.2, 0.1, 0.1, 0.05, 0.05]
