"""Pareto-front figures (PNG). matplotlib is imported inside the functions, on the Agg canvas, so the
rest of the package never pays for it and no display is needed. Files are written to a temporary name
beside the target and renamed, so a reader never sees a half-written PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltr_cos.files import atomic_save
from ltr_cos.pareto.front import non_dominated

Table = Mapping[str, Any]  # column name -> 1-D array-like (a DataFrame qualifies)

WEIGHT_PREFIX = "weight/"


def _values(table: Table, column: str) -> np.ndarray:
    if column not in table:
        raise KeyError(f"table has no column {column!r}; columns: {list(table)}")
    return np.asarray(table[column], dtype=np.float64).reshape(-1)


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)  # a private Agg canvas: no pyplot state, no GUI backend
    return fig


def _save_atomic(fig, out_path: str | os.PathLike) -> Path:
    return atomic_save(out_path, lambda tmp: fig.savefig(tmp, format="png"))


def _weight_label(table: Table, row: int) -> str | None:
    columns = [c for c in table if str(c).startswith(WEIGHT_PREFIX)]
    if not columns:
        return None
    return "w=(" + ", ".join(f"{_values(table, c)[row]:.2g}" for c in columns) + ")"


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def plot_front(
    tables: Mapping[str, Table],
    x: str,
    y: str,
    out_path: str | os.PathLike,
    title: str,
    reference_point: Sequence[float] | Mapping[str, float] | None = None,
    caption: str | None = None,
    n_annotations: int = 3,
) -> Path:
    """Two-objective front of one or more methods' weight grids.

    Every grid point is drawn (dominated ones hollow); the non-dominated points of each method are
    joined in order of ``x``. The first method's front is annotated with its weights at a few points.

    Args:
        tables: method name -> grid table (columns ``x``, ``y`` and optional ``weight/*``); one legend
            entry per method.
        x, y: column names of the two objectives (both maximised).
        out_path: PNG file to write.
        title: figure title.
        reference_point: (x, y) values, or a mapping with keys ``x`` and ``y``; marked and printed.
        caption: extra text under the figure (k, empty-query rule, data split...).
        n_annotations: how many front points of the first method get a weight label.

    Returns:
        The written path.
    """
    if not tables:
        raise ValueError("plot_front needs at least one table")
    fig = _new_figure(6.4, 5.4)
    ax = fig.add_subplot(1, 1, 1)
    colors = [f"C{i}" for i in range(10)]
    weights: list[str] = []
    for i, (method, table) in enumerate(tables.items()):
        xs, ys = _values(table, x), _values(table, y)
        color = colors[i % len(colors)]
        front = non_dominated(np.stack([xs, ys], axis=1))
        order = np.flatnonzero(front)[np.argsort(xs[front], kind="stable")]
        ax.plot(xs[order], ys[order], "-o", color=color, markersize=5, linewidth=1.5,
                label=f"{method} ({int(front.sum())}/{len(xs)} on front)")
        ax.scatter(xs[~front], ys[~front], facecolors="none", edgecolors=color, s=25, linewidths=1.0)
        if i == 0 and n_annotations > 0:
            picks = np.unique(np.linspace(0, len(order) - 1, min(n_annotations, len(order))).round().astype(int))
            middle = 0.5 * (xs.min() + xs.max())
            for row in order[picks]:
                label = _weight_label(table, int(row))
                if label:
                    right = xs[row] > middle  # labels point inwards so none leaves the axes
                    ax.annotate(label, (xs[row], ys[row]), textcoords="offset points",
                                xytext=(-6 if right else 6, 6), ha="right" if right else "left",
                                fontsize=8, color=color)
            weights = [str(c)[len(WEIGHT_PREFIX):] for c in table if str(c).startswith(WEIGHT_PREFIX)]
    lines = [f"weights shown for {next(iter(tables))}: w = ({', '.join(weights)})"] if weights else []
    if reference_point is not None:
        if isinstance(reference_point, Mapping):
            rx, ry = float(reference_point[x]), float(reference_point[y])
        else:
            rx, ry = (float(v) for v in reference_point)
        ax.scatter([rx], [ry], marker="X", s=80, color="black", zorder=5, label="reference point")
        lines.append(f"reference point: {x} = {_fmt(rx)}, {y} = {_fmt(ry)}")
    if caption:
        lines.append(caption)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if lines:
        fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.03 * (len(lines) + 1) if lines else 0, 1, 1))
    return _save_atomic(fig, out_path)


def plot_scatter_matrix(
    table: Table,
    objectives: Sequence[str],
    out_path: str | os.PathLike,
    title: str | None = None,
    reference_point: Sequence[float] | Mapping[str, float] | None = None,
    caption: str | None = None,
) -> Path:
    """Pairwise scatter matrix of a grid over m > 2 objectives.

    Off-diagonal panel (i, j) plots column ``objectives[j]`` (x) against ``objectives[i]`` (y), points
    non-dominated over all the given objectives filled, the rest hollow; the diagonal shows each
    objective's histogram over the grid.

    Args:
        table: grid table with the ``objectives`` columns.
        objectives: column names (all maximised).
        out_path: PNG file to write.
        title: figure title.
        reference_point: one value per objective (sequence in ``objectives`` order, or mapping by
            column name); drawn as a black cross in every panel and printed under the figure.
        caption: extra text under the figure.

    Returns:
        The written path.
    """
    objectives = list(objectives)
    m = len(objectives)
    if m < 2:
        raise ValueError("a scatter matrix needs at least two objectives")
    values = np.stack([_values(table, c) for c in objectives], axis=1)  # [G, m]
    front = non_dominated(values)
    ref = None
    if reference_point is not None:
        ref = (np.array([float(reference_point[c]) for c in objectives]) if isinstance(reference_point, Mapping)
               else np.asarray(reference_point, dtype=np.float64).reshape(-1))
        if len(ref) != m:
            raise ValueError(f"reference point has {len(ref)} values for {m} objectives")
    size = 2.2 * m
    fig = _new_figure(size, size + 0.4)
    axes = fig.subplots(m, m, squeeze=False)
    for i in range(m):
        for j in range(m):
            ax = axes[i][j]
            if i == j:
                ax.hist(values[:, i], bins=min(15, max(3, len(values) // 3)), color="C0", alpha=0.7)
            else:
                ax.scatter(values[~front, j], values[~front, i], facecolors="none", edgecolors="C0", s=12,
                           linewidths=0.8)
                ax.scatter(values[front, j], values[front, i], color="C3", s=14)
                if ref is not None:
                    ax.scatter([ref[j]], [ref[i]], marker="X", color="black", s=40)
            if i == m - 1:
                ax.set_xlabel(objectives[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(objectives[i], fontsize=8)
            ax.tick_params(labelsize=7)
    lines = [f"{int(front.sum())}/{len(values)} grid points non-dominated (filled)"]
    if ref is not None:
        lines.append("reference point: " + ", ".join(f"{c} = {_fmt(v)}" for c, v in zip(objectives, ref)))
    if caption:
        lines.append(caption)
    if title:
        fig.suptitle(title)
    fig.text(0.5, 0.005, "\n".join(lines), ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.02 + 0.02 * len(lines), 1, 0.97 if title else 1))
    return _save_atomic(fig, out_path)
