"""Operating-point finder: maximise one objective subject to lower bounds on others, over a profiled grid.

Works on a grid table (``pareto.csv`` of ``ltr-cos pareto``: ``weight/{objective}``, ``beta`` and
``ndcg@{k}/{objective}`` columns; any mapping from column name to a 1-D array). Only the rows that were
profiled are candidates: the finder never interpolates between grid weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltr_cos.errors import InputError
from ltr_cos.pareto.summary import ndcg_column, weight_column

_CONSTRAINT = re.compile(r"^\s*([^<>=\s]+)\s*>=\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """A lower bound ``NDCG@k(objective) >= bound``."""

    objective: str
    bound: float

    def __str__(self) -> str:
        return f"{self.objective}>={self.bound:g}"


@dataclass(frozen=True)
class Selection:
    """The chosen grid row.

    Attributes:
        row: its position in the table.
        weights: {weighted objective: weight}.
        beta: its temperature (None when the table has no ``beta`` column).
        ndcg: {objective: NDCG@k} for every objective of the table.
        n_feasible: how many rows met every bound.
    """

    row: int
    weights: dict[str, float]
    beta: float | None
    ndcg: dict[str, float]
    n_feasible: int

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "weights": self.weights, "beta": self.beta, "ndcg": self.ndcg,
                "n_feasible": self.n_feasible}


def parse_constraint(text: str) -> Constraint:
    """``"relevance>=0.60"`` -> Constraint("relevance", 0.6); a clear error for anything else."""
    match = _CONSTRAINT.match(str(text))
    if not match:
        raise InputError(f"a constraint must read OBJECTIVE>=VALUE, such as relevance>=0.60; got {text!r}")
    try:
        bound = float(match.group(2))
    except ValueError:
        raise InputError(f"the bound of {text!r} is not a number") from None
    if not np.isfinite(bound):
        raise InputError(f"the bound of {text!r} must be finite")
    return Constraint(match.group(1), bound)


def table_objectives(table: Mapping[str, Any], k: int) -> tuple[list[str], list[str]]:
    """(objectives with an ``ndcg@k`` column, weighted objectives with a ``weight/`` column), in table order."""
    prefix = f"ndcg@{k}/"
    objectives = [c[len(prefix):] for c in table if c.startswith(prefix)]
    weighted = [c[len("weight/"):] for c in table if c.startswith("weight/")]
    return objectives, weighted


def select_operating_point(
    table: Mapping[str, Any],
    maximize: str,
    constraints: Sequence[Constraint | str] = (),
    k: int = 10,
) -> Selection | None:
    """The grid row with the largest NDCG@k of ``maximize`` among the rows meeting every lower bound.

    Ties go to the row with the larger sum of the other objectives' NDCG@k, then to the earlier row.

    Args:
        table: a grid table (``pareto.csv`` read with pandas, or a dict of columns).
        maximize: the objective to maximise.
        constraints: lower bounds, as ``Constraint`` or text such as ``"relevance>=0.6"``.
        k: the NDCG cut-off whose columns are compared.

    Returns:
        The selection, or None when no row meets every bound.

    Raises:
        InputError: an objective without an ``ndcg@k`` column in the table, or a malformed constraint.
    """
    objectives, weighted = table_objectives(table, k)
    if not objectives:
        raise InputError(f"the grid table has no ndcg@{k}/... columns (was it profiled with another --k?)")
    bounds = [c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints]
    for name in (maximize, *(c.objective for c in bounds)):
        if name not in objectives:
            raise InputError(f"unknown objective {name!r}; the table has {objectives} at k={k}")
    values = {name: np.asarray(table[ndcg_column(name, k)], dtype=np.float64).reshape(-1) for name in objectives}
    n = len(values[maximize])
    feasible = np.ones(n, dtype=bool)
    for bound in bounds:
        feasible &= values[bound.objective] >= bound.bound  # NaN never qualifies
    feasible &= np.isfinite(values[maximize])
    if not feasible.any():
        return None
    others = sum((values[name] for name in objectives if name != maximize), np.zeros(n))
    rows = np.flatnonzero(feasible)
    # lexsort: last key is primary; a stable sort keeps table order for full ties
    best = rows[np.lexsort((rows, -np.nan_to_num(others[rows], nan=-np.inf), -values[maximize][rows]))[0]]
    beta = float(np.asarray(table["beta"]).reshape(-1)[best]) if "beta" in table else None
    return Selection(
        row=int(best),
        weights={name: float(np.asarray(table[weight_column(name)]).reshape(-1)[best]) for name in weighted},
        beta=beta,
        ndcg={name: float(values[name][best]) for name in objectives},
        n_feasible=int(feasible.sum()),
    )


def describe_selection(selection: Selection | None, maximize: str, constraints: Sequence[Constraint | str],
                       k: int = 10) -> str:
    """A plain-words report of ``select_operating_point``'s answer, for the command line."""
    bounds = [str(c if isinstance(c, Constraint) else parse_constraint(c)) for c in constraints]
    asked = f"maximise {maximize}" + (f" subject to {', '.join(bounds)}" if bounds else "")
    if selection is None:
        return f"no profiled grid point qualifies: {asked} (NDCG@{k}); loosen a bound or profile a finer grid"
    weights = ",".join(f"{w:g}" for w in selection.weights.values())
    lines = [
        f"operating point ({asked}, NDCG@{k}; {selection.n_feasible} grid rows qualify):",
        f"  --weights {weights}" + (f" --beta {selection.beta:g}" if selection.beta is not None else ""),
        "  weights: " + ", ".join(f"{name}={w:g}" for name, w in selection.weights.items()),
        f"  NDCG@{k}: " + ", ".join(f"{name}={v:.4f}" for name, v in selection.ndcg.items()),
    ]
    return "\n".join(lines)


def check_selection_args(maximize: str | None, constraints: Sequence[str]) -> None:
    """Refuse malformed ``--select`` texts, or ``--select`` without ``--maximize``, before any work."""
    if constraints and not maximize:
        raise InputError("--select needs --maximize OBJECTIVE (the objective to maximise under the bounds)")
    for text in constraints:
        parse_constraint(text)


def select_from_folder(folder, maximize: str, constraints: Sequence[str], k: int = 10) -> str:
    """Read ``FOLDER/pareto.csv`` and describe the operating point found there (see ``select_operating_point``)."""
    import pandas as pd

    path = Path(folder) / "pareto.csv"
    if not path.is_file():
        raise InputError("no pareto.csv here (the output folder of `ltr-cos pareto`)", str(folder))
    table = pd.read_csv(path)
    return describe_selection(select_operating_point(table, maximize, constraints, k), maximize, constraints, k)
