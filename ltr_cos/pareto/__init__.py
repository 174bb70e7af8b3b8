"""Pareto analysis of a weight grid: non-dominated filter, exact hypervolume, grid summary, plots
(docs/method.md §8).

NumPy only; matplotlib is imported lazily inside the plotting functions.
"""

from ltr_cos.pareto.front import non_dominated
from ltr_cos.pareto.hypervolume import hypervolume
from ltr_cos.pareto.plots import plot_front, plot_scatter_matrix
from ltr_cos.pareto.summary import (
    common_nadir,
    ndcg_column,
    ndcg_matrix,
    spearman,
    summarize_grid,
    weight_column,
)

__all__ = [
    "common_nadir",
    "hypervolume",
    "ndcg_column",
    "ndcg_matrix",
    "non_dominated",
    "plot_front",
    "plot_scatter_matrix",
    "spearman",
    "summarize_grid",
    "weight_column",
]
