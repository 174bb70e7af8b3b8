"""Non-dominated filtering of points in objective space (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Rows compared per block: keeps the [block, N, d] comparison tensor small for large N.
_BLOCK = 256


def as_points(points: np.ndarray | Sequence, maximize: bool | Sequence[bool] = True) -> np.ndarray:
    """Validate ``points`` and orient every objective for maximisation.

    Args:
        points: [N, d] array-like of finite numbers.
        maximize: one flag for all objectives, or one per objective (False = smaller is better).

    Returns:
        float64 [N, d], objectives flipped in sign where minimised (a new array).
    """
    arr = np.array(points, dtype=np.float64)  # a copy: callers' arrays are never modified
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array [N, d], got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError("points need at least one objective (d >= 1)")
    if np.isnan(arr).any():
        raise ValueError("points contain NaN")
    sign = _orientation(maximize, arr.shape[1])
    return arr * sign


def _orientation(maximize: bool | Sequence[bool], d: int) -> np.ndarray:
    flags = np.asarray(maximize, dtype=bool)
    if flags.ndim == 0:
        flags = np.full(d, bool(flags))
    if flags.shape != (d,):
        raise ValueError(f"maximize must be one flag or {d} flags, got {np.asarray(maximize).tolist()}")
    return np.where(flags, 1.0, -1.0)


def non_dominated(points: np.ndarray | Sequence, maximize: bool | Sequence[bool] = True) -> np.ndarray:
    """Mask of the non-dominated points.

    Point i is dominated when another point is at least as good in every objective and strictly
    better in one. Exact duplicates do not dominate each other, so every copy of a non-dominated point
    is kept (filter duplicates first if one copy is wanted).

    Args:
        points: [N, d] array-like, no NaN.
        maximize: True (all objectives maximised, the NDCG case), False, or one flag per objective.

    Returns:
        bool [N], True for the non-dominated points (input order).
    """
    pts = as_points(points, maximize)
    n = pts.shape[0]
    keep = np.ones(n, dtype=bool)
    for lo in range(0, n, _BLOCK):
        block = pts[lo:lo + _BLOCK, None, :]  # [b, 1, d] against all points [1, N, d]
        at_least = (pts[None, :, :] >= block).all(axis=2)  # [b, N]: point j >= point i everywhere
        better = (pts[None, :, :] > block).any(axis=2)  # [b, N]: point j > point i somewhere
        keep[lo:lo + _BLOCK] = ~(at_least & better).any(axis=1)
    return keep
