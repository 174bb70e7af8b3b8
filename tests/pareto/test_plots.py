"""Front plots: files are written atomically, are valid PNGs, and matplotlib stays lazy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ltr_cos.objectives import simplex_lattice
from ltr_cos.pareto import plot_front, plot_scatter_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def grid_table(m: int, steps: int, shift: float = 0.0) -> pd.DataFrame:
    names = ["quality", "clicks", "dwell"][:m]
    weights = simplex_lattice(m, steps)
    table = {f"weight/{n}": weights[:, j] for j, n in enumerate(names)}
    table["ndcg@10/relevance"] = 0.7 - 0.05 * weights.std(axis=1) - shift
    for j, n in enumerate(names):
        table[f"ndcg@10/{n}"] = 0.4 + 0.3 * np.sqrt(weights[:, j]) - shift
    return pd.DataFrame(table)


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    return image


def test_plot_front_overlay_writes_a_png(tmp_path):
    tables = {"COS-DPO": grid_table(2, 10), "DPO-LS": grid_table(2, 10, shift=0.03)}
    out = plot_front(tables, "ndcg@10/quality", "ndcg@10/clicks", tmp_path / "figs" / "front.png",
                     "test front", reference_point=(0.45, 0.5), caption="k=10, empty-query rule: drop")
    assert out == tmp_path / "figs" / "front.png"
    image = read_png(out)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in out.parent.iterdir()) == ["front.png"]  # no temporary file left


def test_plot_front_replaces_an_existing_file_and_takes_a_mapping_reference(tmp_path):
    target = tmp_path / "front.png"
    target.write_bytes(b"old")
    plot_front({"only": grid_table(2, 4)}, "ndcg@10/quality", "ndcg@10/clicks", target, "t",
               reference_point={"ndcg@10/quality": 0.4, "ndcg@10/clicks": 0.4})
    read_png(target)


def test_plot_front_errors(tmp_path):
    with pytest.raises(KeyError, match="ndcg@10/nope"):
        plot_front({"a": grid_table(2, 4)}, "ndcg@10/quality", "ndcg@10/nope", tmp_path / "f.png", "t")
    with pytest.raises(ValueError, match="at least one"):
        plot_front({}, "x", "y", tmp_path / "f.png", "t")
    assert not any(tmp_path.iterdir())


def test_scatter_matrix_for_three_objectives(tmp_path):
    table = grid_table(3, 10)
    columns = ["ndcg@10/relevance", "ndcg@10/quality", "ndcg@10/clicks", "ndcg@10/dwell"][:3]
    out = plot_scatter_matrix(table, columns, tmp_path / "matrix.png", title="66-point grid",
                              reference_point=[0.6, 0.45, 0.45])
    read_png(out)
    with pytest.raises(ValueError, match="3 objectives"):
        plot_scatter_matrix(table, columns, tmp_path / "bad.png", reference_point=[0.1, 0.2])


def test_importing_pareto_does_not_import_matplotlib():
    code = "import sys, ltr_cos.pareto; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_front_draws_one_labelled_curve_per_table():
    from ltr_cos.pareto.plots import front_figure

    tables = {f"COS-DPO, beta={b}": grid_table(2, 4, shift=0.01 * i) for i, b in enumerate((0.5, 1, 2))}
    fig = front_figure(tables, "ndcg@10/quality", "ndcg@10/clicks", "front (beta 0.5, 1, 2)")
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in tables:
        assert any(text.startswith(name) for text in legend), legend
    assert "beta 0.5, 1, 2" in ax.get_title()


def test_scatter_matrix_has_a_title_counts_on_the_diagonal_and_weight_colours():
    from ltr_cos.pareto.plots import scatter_matrix_figure

    table = grid_table(3, 4)
    columns = ["ndcg@10/relevance", "ndcg@10/quality", "ndcg@10/clicks", "ndcg@10/dwell"]
    fig = scatter_matrix_figure(table, columns)
    assert fig._suptitle is not None and fig._suptitle.get_text() == "Grid over 4 objectives"
    panels = fig.axes[:16]
    for i in range(4):
        assert panels[5 * i].get_ylabel() == "grid points"  # the diagonal histograms count grid points
    colorbar = fig.axes[16]
    assert colorbar.get_ylabel() == "grid weight on the x-axis objective"
    # panel (0, 1): x = quality, coloured by weight/quality
    colours = panels[1].collections[0].get_array()
    assert np.allclose(colours, table["weight/quality"])
    assert panels[1].get_ylabel() == "ndcg@10/relevance" and panels[4].get_ylabel() == "ndcg@10/quality"
