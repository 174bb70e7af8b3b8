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
    """Two-objective front of one or more methods' weight grids, written to ``out_path`` (see
    ``front_figure`` for the arguments).

    Returns:
        The written path.
    """
    fig = front_figure(tables, x, y, title, reference_point, caption, n_annotations)
    return _save_atomic(fig, out_path)


def front_figure(
    tables: Mapping[str, Table],
    x: str,
    y: str,
    title: str,
    reference_point: Sequence[float] | Mapping[str, float] | None = None,
    caption: str | None = None,
    n_annotations: int = 3,
):
    """The figure of ``plot_front``: a two-objective front of one or more methods' weight grids.

    Every grid point is drawn (dominated ones hollow); the non-dominated points of each method are
    joined in order of ``x``. The first method's front is annotated with its weights at a few points.

    Args:
        tables: method name -> grid table (columns ``x``, ``y`` and optional ``weight/*``); one legend
            entry per method (or per temperature of one method: ``COS-DPO, beta=0.5``...).
        x, y: column names of the two objectives (both maximised).
        title: figure title.
        reference_point: (x, y) values, or a mapping with keys ``x`` and ``y``; marked and printed.
        caption: extra text under the figure (k, empty-query rule, data split...).
        n_annotations: how many front points of the first method get a weight label.

    Returns:
        A matplotlib Figure.
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
    return fig


def plot_scatter_matrix(
    table: Table,
    objectives: Sequence[str],
    out_path: str | os.PathLike,
    title: str | None = None,
    reference_point: Sequence[float] | Mapping[str, float] | None = None,
    caption: str | None = None,
) -> Path:
    """Pairwise scatter matrix of a grid over m > 2 objectives, written to ``out_path`` (see
    ``scatter_matrix_figure``).

    Returns:
        The written path.
    """
    return _save_atomic(scatter_matrix_figure(table, objectives, title, reference_point, caption), out_path)


def scatter_matrix_figure(
    table: Table,
    objectives: Sequence[str],
    title: str | None = None,
    reference_point: Sequence[float] | Mapping[str, float] | None = None,
    caption: str | None = None,
):
    """The figure of ``plot_scatter_matrix``: a pairwise scatter matrix of a grid over m > 2 objectives.

    Off-diagonal panel (i, j) plots column ``objectives[j]`` (x) against ``objectives[i]`` (y). Each point
    is coloured by its grid weight on the x-axis objective (``weight/<name>`` for an ``ndcg@k/<name>``
    column; grey where that objective carries no weight, as the main one), with a colour bar; points
    non-dominated over all the given objectives have a black edge. The diagonal panel of an objective is
    its histogram over the grid (y axis: number of grid points).

    Args:
        table: grid table with the ``objectives`` columns.
        objectives: column names (all maximised).
        title: figure title.
        reference_point: one value per objective (sequence in ``objectives`` order, or mapping by
            column name); drawn as a black cross in every panel and printed under the figure.
        caption: extra text under the figure.

    Returns:
        A matplotlib Figure.
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
    weight_of = {}
    for c in objectives:
        column = WEIGHT_PREFIX + str(c).split("/", 1)[-1]
        if column in table:
            weight_of[c] = _values(table, column)
    size = 2.2 * m
    fig = _new_figure(size + 0.8, size + 0.6)
    axes = fig.subplots(m, m, squeeze=False)
    colored = None
    for i in range(m):
        for j in range(m):
            ax = axes[i][j]
            if i == j:
                ax.hist(values[:, i], bins=min(15, max(3, len(values) // 3)), color="C0", alpha=0.7)
                ax.set_title(f"{objectives[i]}", fontsize=7)
                ax.set_ylabel("grid points", fontsize=7)
            else:
                w = weight_of.get(objectives[j])
                style = dict(c=w, cmap="viridis", vmin=0.0, vmax=1.0) if w is not None else dict(color="0.6")
                points = ax.scatter(values[:, j], values[:, i], s=14, linewidths=np.where(front, 1.0, 0.0),
                                    edgecolors="black", **style)
                if w is not None:
                    colored = points
                if ref is not None:
                    ax.scatter([ref[j]], [ref[i]], marker="X", color="black", s=40)
                if j == 0 or (i == 0 and j == 1):
                    ax.set_ylabel(objectives[i], fontsize=8)
            if i == m - 1:
                ax.set_xlabel(objectives[j], fontsize=8)
            ax.tick_params(labelsize=7)
    lines = [f"{int(front.sum())}/{len(values)} grid points non-dominated (black edge); diagonal: histogram "
             "of each objective over the grid"]
    if ref is not None:
        lines.append("reference point: " + ", ".join(f"{c} = {_fmt(v)}" for c, v in zip(objectives, ref)))
    if caption:
        lines.append(caption)
    fig.suptitle(title or f"Grid over {m} objectives")
    fig.text(0.5, 0.005, "\n".join(lines), ha="center", va="bottom", fontsize=8)
    if colored is None:
        fig.tight_layout(rect=(0, 0.02 + 0.02 * len(lines), 1, 0.97))
    else:  # room on the right for one colour bar shared by every panel
        fig.subplots_adjust(left=0.1, bottom=0.1 + 0.02 * len(lines), top=0.92, right=0.84, wspace=0.35,
                            hspace=0.45)
        bar = fig.colorbar(colored, cax=fig.add_axes((0.88, 0.3, 0.02, 0.4)))
        bar.set_label("grid weight on the x-axis objective", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig
