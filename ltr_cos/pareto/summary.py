"""Summary of a weight-grid evaluation (docs/method.md §8): front, hypervolumes, main-objective spread, response to w.

A grid table has one row per grid weight, with columns ``weight/{objective}`` for the weighted
objectives and ``ndcg@{k}/{objective}`` for every objective (``weight_column`` and ``ndcg_column``
spell them). Any mapping from column name to a 1-D array works: a ``pandas.DataFrame`` or a dict.
Pure NumPy: no model, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ltr_cos.pareto.front import non_dominated
from ltr_cos.pareto.hypervolume import hypervolume

Table = Mapping[str, Any]  # column name -> 1-D array-like (a DataFrame qualifies)
PointLike = Mapping[str, float] | Sequence[float] | np.ndarray


def weight_column(objective: str) -> str:
    """Column of the grid table holding the weight of ``objective``."""
    return f"weight/{objective}"


def ndcg_column(objective: str, k: int = 10) -> str:
    """Column of the grid table holding NDCG@k of ``objective`` (the metric's key)."""
    return f"ndcg@{k}/{objective}"


def _column(table: Table, name: str) -> np.ndarray:
    if name not in table:
        raise KeyError(f"grid table has no column {name!r}; columns: {list(table)}")
    values = np.asarray(table[name], dtype=np.float64).reshape(-1)
    if np.isnan(values).any():
        raise ValueError(f"column {name!r} contains NaN (an objective with no valid query?)")
    return values


def ndcg_matrix(table: Table, objectives: Sequence[str], k: int = 10) -> np.ndarray:
    """NDCG@k columns of ``objectives`` stacked as float64 [G, len(objectives)]."""
    columns = [_column(table, ndcg_column(name, k)) for name in objectives]
    if len({len(c) for c in columns}) > 1:
        raise ValueError("grid table columns have different lengths")
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def _point(point: PointLike, objective_names: Sequence[str], what: str) -> dict[str, float]:
    """A per-objective point given by name (mapping) or in ``objective_names`` order (sequence)."""
    if isinstance(point, Mapping):
        missing = [name for name in objective_names if name not in point]
        if missing:
            raise KeyError(f"{what} lacks objectives {missing}")
        return {name: float(point[name]) for name in objective_names}
    values = np.asarray(point, dtype=np.float64).reshape(-1)
    if len(values) != len(objective_names):
        raise ValueError(f"{what} has {len(values)} values for {len(objective_names)} objectives")
    return dict(zip(objective_names, map(float, values)))


def common_nadir(tables: Sequence[Table], objective_names: Sequence[str], k: int = 10) -> dict[str, float]:
    """Per objective, the worst NDCG@k over every grid point of every compared method (docs/method.md §8, reference (c))."""
    if not tables:
        raise ValueError("common_nadir needs at least one table")
    stacked = np.concatenate([ndcg_matrix(t, objective_names, k) for t in tables], axis=0)
    return dict(zip(objective_names, map(float, stacked.min(axis=0))))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when either input is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError("spearman needs equal-length inputs")
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    if len(a) < 2 or denom == 0:
        return None
    return float(np.clip((ra * rb).sum() / denom, -1.0, 1.0))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    # Tied values share the mean of their ranks.
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def summarize_grid(
    table: Table,
    objective_names: Sequence[str],
    weighted_objectives: Sequence[str],
    main: str = "relevance",
    reference_point: PointLike | None = None,
    nadir: PointLike | None = None,
    k: int = 10,
) -> dict[str, Any]:
    """Summary of one method's weight grid.

    Args:
        table: grid table (see module docstring), G rows.
        objective_names: every objective with an NDCG column (main and auxiliary).
        weighted_objectives: objectives that carry a weight column (the simplex axes).
        main: the main objective; the others of ``objective_names`` are the auxiliary ones.
        reference_point: the frozen reference ranker's NDCG@k per objective (mapping by name, or a
            sequence in ``objective_names`` order); reference (a).
        nadir: a common nadir for comparisons between methods (``common_nadir``); reference (c).
        k: the NDCG cut-off whose columns are read.

    Returns:
        A JSON-ready dict: ``k``, ``grid_size``, ``objectives``, ``main``, ``auxiliary``,
        ``weighted_objectives``, ``front_rows`` (row positions non-dominated over all objectives),
        ``front_rows_auxiliary`` (over the auxiliary ones), ``hypervolume`` = {"reference_model",
        "origin", "common_nadir"} each None (reference not given) or {"point": {objective: value},
        "auxiliary": HV over the auxiliary objectives, "with_main": HV with the main objective as one
        more axis}, ``main_ndcg`` = {"mean", "std" (population, ddof=0)}, and ``spearman`` =
        {weighted objective: rank correlation of its weight with its NDCG over the grid, None when
        either is constant}.
    """
    objective_names = list(objective_names)
    if main not in objective_names:
        raise ValueError(f"main objective {main!r} is not among {objective_names}")
    unknown = [name for name in weighted_objectives if name not in objective_names]
    if unknown:
        raise ValueError(f"weighted objectives {unknown} are not among {objective_names}")
    auxiliary = [name for name in objective_names if name != main]
    with_main = [main, *auxiliary]

    values = ndcg_matrix(table, objective_names, k)  # [G, K]
    if values.shape[0] == 0:
        raise ValueError("grid table has no rows")
    column_of = {name: j for j, name in enumerate(objective_names)}
    aux_values = values[:, [column_of[n] for n in auxiliary]]
    all_values = values[:, [column_of[n] for n in with_main]]

    def hv_block(point: PointLike | None, what: str) -> dict[str, Any] | None:
        if point is None:
            return None
        ref = _point(point, objective_names, what)
        return {
            "point": ref,
            "auxiliary": hypervolume(aux_values, [ref[n] for n in auxiliary]) if auxiliary else None,
            "with_main": hypervolume(all_values, [ref[n] for n in with_main]),
        }

    main_values = values[:, column_of[main]]
    return {
        "k": int(k),
        "grid_size": int(values.shape[0]),
        "objectives": objective_names,
        "main": main,
        "auxiliary": auxiliary,
        "weighted_objectives": list(weighted_objectives),
        "front_rows": np.flatnonzero(non_dominated(values)).tolist(),
        "front_rows_auxiliary": np.flatnonzero(non_dominated(aux_values)).tolist() if auxiliary else [],
        "hypervolume": {
            "reference_model": hv_block(reference_point, "reference_point"),
            "origin": hv_block([0.0] * len(objective_names), "origin"),
            "common_nadir": hv_block(nadir, "nadir"),
        },
        "main_ndcg": {"mean": float(main_values.mean()), "std": float(main_values.std())},
        "spearman": {
            name: spearman(_column(table, weight_column(name)), values[:, column_of[name]])
            for name in weighted_objectives
        },
    }
