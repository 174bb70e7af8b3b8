"""Non-dominated filter: hand-made sets, orientation flags, and a brute-force comparison."""

from __future__ import annotations

import numpy as np
import pytest

from ltr_cos.pareto import non_dominated


def brute_force(points: np.ndarray) -> np.ndarray:
    """Slow definition (maximisation): i is dominated if some j is >= everywhere and > somewhere."""
    n = len(points)
    keep = []
    for i in range(n):
        dominated = any(
            all(points[j] >= points[i]) and any(points[j] > points[i]) for j in range(n) if j != i
        )
        keep.append(not dominated)
    return np.array(keep, dtype=bool)


def test_hand_made_2d_with_duplicates():
    points = [(1, 2), (2, 1), (1, 1), (2, 1), (0, 3), (0, 0), (0.5, 2)]
    # (1, 1) is dominated by (1, 2); (0, 0) by everything; (0.5, 2) by (1, 2); both copies of (2, 1) stay.
    assert non_dominated(points).tolist() == [True, True, False, True, True, False, False]


def test_minimisation_and_mixed_flags():
    points = np.array([(1.0, 2.0), (2.0, 1.0), (1.0, 1.0), (3.0, 3.0)])
    assert non_dominated(points, maximize=False).tolist() == [False, False, True, False]
    # Maximise x, minimise y: (2, 1) dominates (1, 1), which dominates (1, 2); (3, 3) and (2, 1) trade off.
    assert non_dominated(points, maximize=[True, False]).tolist() == [False, True, False, True]


def test_3d_hand_made():
    points = np.array([(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5, 0.5, 0), (0.4, 0.4, 0), (1, 0, 0.1)])
    # (0.4, 0.4, 0) <= (0.5, 0.5, 0); (1, 0, 0) <= (1, 0, 0.1).
    assert non_dominated(points).tolist() == [False, True, True, True, False, True]


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_with_ties_across_blocks(seed):
    rng = np.random.default_rng(seed)
    d = 2 + seed % 3
    points = rng.integers(0, 6, size=(300, d)).astype(float)  # many ties and duplicates; > one block
    expected = brute_force(points)
    assert np.array_equal(non_dominated(points), expected)
    assert np.array_equal(non_dominated(-points, maximize=False), expected)


def test_edge_cases_and_errors():
    assert non_dominated(np.zeros((0, 3))).shape == (0,)
    assert non_dominated([[1.0, 2.0]]).tolist() == [True]
    points = np.array([[1.0, 2.0], [0.0, 0.0]])
    copy = points.copy()
    non_dominated(points, maximize=False)
    assert np.array_equal(points, copy)  # input untouched
    with pytest.raises(ValueError, match="NaN"):
        non_dominated([[1.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        non_dominated([1.0, 2.0])
    with pytest.raises(ValueError, match="flags"):
        non_dominated(points, maximize=[True, False, True])
