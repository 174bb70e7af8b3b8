"""Exact hypervolume: hand-made boxes, a slow inclusion-exclusion oracle, and moocore on random fronts."""

from __future__ import annotations

import itertools
import time

import moocore
import numpy as np
import pytest

from ltr_cos.pareto import hypervolume


def inclusion_exclusion(points: np.ndarray, ref: np.ndarray) -> float:
    """Slow oracle (maximisation, small n): sum over subsets of (-1)^(|S|+1) vol(intersection)."""
    extents = [p - ref for p in points if (p > ref).all()]
    total = 0.0
    for size in range(1, len(extents) + 1):
        for subset in itertools.combinations(extents, size):
            total += (-1) ** (size + 1) * float(np.prod(np.min(subset, axis=0)))
    return total


def random_front(rng: np.random.Generator, n: int, d: int, kind: str) -> np.ndarray:
    if kind == "sphere":  # every point non-dominated: the hardest case for exact algorithms
        x = np.abs(rng.normal(size=(n, d)))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    if kind == "grid":  # coarse values: ties, duplicates, weakly dominated points
        return rng.integers(1, 5, size=(n, d)) / 4.0
    return rng.random((n, d))


def test_single_box_and_two_overlapping_boxes():
    assert hypervolume([[0.5, 0.4, 0.2]], [0.0, 0.0, 0.0]) == pytest.approx(0.04, rel=1e-12)
    # 2-D: 2x1 and 1x2 rectangles overlap in a unit square: 2 + 2 - 1.
    assert hypervolume([[2.0, 1.0], [1.0, 2.0]], [0.0, 0.0]) == pytest.approx(3.0, rel=1e-12)
    # Shifted reference point: extents (1.5, 0.5) and (0.5, 1.5), overlap 0.25.
    assert hypervolume([[2.0, 1.0], [1.0, 2.0]], [0.5, 0.5]) == pytest.approx(0.75 + 0.75 - 0.25, rel=1e-12)
    # 4-D and 5-D: two boxes sharing all but two axes.
    assert hypervolume([[2, 1, 1, 1], [1, 2, 1, 1]], [0, 0, 0, 0]) == pytest.approx(3.0, rel=1e-12)
    assert hypervolume([[2, 1, 3, 1, 1], [1, 2, 3, 1, 1]], [0] * 5) == pytest.approx(9.0, rel=1e-12)


def test_points_not_strictly_better_than_ref_contribute_nothing():
    ref = [0.5, 0.5]
    assert hypervolume([[0.5, 0.9], [0.9, 0.5], [0.1, 0.1]], ref) == 0.0
    assert hypervolume([[0.5, 0.9], [0.7, 0.7]], ref) == pytest.approx(0.04, rel=1e-12)
    assert hypervolume(np.zeros((0, 3)), [0, 0, 0]) == 0.0


def test_minimisation_and_mixed_flags():
    # Minimise both: point (1, 1) against ref (2, 3) spans 1 x 2.
    assert hypervolume([[1.0, 1.0]], [2.0, 3.0], maximize=False) == pytest.approx(2.0)
    # Maximise x, minimise y: point (3, 1), ref (1, 2): 2 x 1.
    assert hypervolume([[3.0, 1.0]], [1.0, 2.0], maximize=[True, False]) == pytest.approx(2.0)


def test_dominated_duplicate_and_order_do_not_matter():
    rng = np.random.default_rng(0)
    points = random_front(rng, 30, 4, "sphere")
    base = hypervolume(points, np.zeros(4))
    extra = np.vstack([points, points[:5], points[:5] * 0.9])  # duplicates and dominated points
    assert hypervolume(extra[rng.permutation(len(extra))], np.zeros(4)) == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_matches_inclusion_exclusion_on_small_sets(d):
    rng = np.random.default_rng(d)
    for kind in ("uniform", "sphere", "grid"):
        points = random_front(rng, 9, d, kind)
        ref = np.full(d, 0.1)
        assert hypervolume(points, ref) == pytest.approx(inclusion_exclusion(points, ref), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["uniform", "sphere", "grid"])
def test_matches_moocore_on_random_fronts(d, kind):
    rng = np.random.default_rng(100 * d + len(kind))
    for n in (1, 7, 40, 100):
        points = random_front(rng, n, d, kind)
        ref = rng.uniform(0.0, 0.3, size=d)  # some points fall outside the reference box
        expected = moocore.hypervolume(-points, ref=-ref)  # moocore minimises
        assert hypervolume(points, ref) == pytest.approx(expected, rel=1e-10, abs=1e-15)
        # The same set written for minimisation.
        assert hypervolume(-points, -ref, maximize=False) == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_five_objectives_hundred_points_is_fast():
    points = random_front(np.random.default_rng(7), 100, 5, "sphere")
    start = time.perf_counter()
    value = hypervolume(points, np.zeros(5))
    elapsed = time.perf_counter() - start
    assert value == pytest.approx(moocore.hypervolume(-points, ref=np.zeros(5)), rel=1e-10)
    assert elapsed < 3.0, f"hypervolume of 100 points in 5-D took {elapsed:.2f} s (about 0.15 s expected)"


def test_errors():
    with pytest.raises(ValueError, match="shape"):
        hypervolume([[1.0, 2.0]], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[1.0, np.inf]], [0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[1.0, np.nan]], [0.0, 0.0])
