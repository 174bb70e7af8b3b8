"""docs/method.md §8 grid summary on a hand-made table (every expected value worked out by hand below)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from ltr_cos.pareto import common_nadir, ndcg_column, spearman, summarize_grid, weight_column

OBJECTIVES = ["relevance", "quality", "clicks"]
WEIGHTED = ["quality", "clicks"]

# Three grid points A, B, C.
TABLE = {
    "weight/quality": [1.0, 0.5, 0.0],
    "weight/clicks": [0.0, 0.5, 1.0],
    "beta": [0.1, 0.1, 0.1],
    "ndcg@10/relevance": [0.6, 0.7, 0.9],
    "ndcg@10/quality": [0.8, 0.6, 0.3],
    "ndcg@10/clicks": [0.2, 0.5, 0.4],
    "ndcg@5/quality": [0.0, 0.0, 0.0],  # another cut-off, must not be read
}
OTHER_METHOD = {
    "ndcg@10/relevance": [0.55, 0.8],
    "ndcg@10/quality": [0.4, 0.35],
    "ndcg@10/clicks": [0.25, 0.1],
}
REFERENCE = {"relevance": 0.65, "quality": 0.5, "clicks": 0.3}


def test_column_names():
    assert weight_column("quality") == "weight/quality"
    assert ndcg_column("clicks", 5) == "ndcg@5/clicks"


def test_common_nadir_by_hand():
    assert common_nadir([TABLE, OTHER_METHOD], OBJECTIVES) == pytest.approx(
        {"relevance": 0.55, "quality": 0.3, "clicks": 0.1}
    )


def test_summary_by_hand():
    nadir = common_nadir([TABLE, OTHER_METHOD], OBJECTIVES)
    out = summarize_grid(TABLE, OBJECTIVES, WEIGHTED, main="relevance", reference_point=REFERENCE, nadir=nadir)
    assert out["grid_size"] == 3 and out["k"] == 10 and out["auxiliary"] == ["quality", "clicks"]
    # Auxiliary space: C (0.3, 0.4) <= B (0.6, 0.5). With relevance, C (0.9, ...) is best there.
    assert out["front_rows_auxiliary"] == [0, 1]
    assert out["front_rows"] == [0, 1, 2]
    hv = out["hypervolume"]
    # Origin. Auxiliary: 0.8*0.2 + 0.6*0.5 - 0.6*0.2 = 0.34.
    # With main, A=(.6,.8,.2) B=(.7,.6,.5) C=(.9,.3,.4): .096+.21+.108 - (.072+.036+.084) + .036 = 0.258.
    assert hv["origin"]["auxiliary"] == pytest.approx(0.34)
    assert hv["origin"]["with_main"] == pytest.approx(0.258)
    assert hv["origin"]["point"] == {"relevance": 0.0, "quality": 0.0, "clicks": 0.0}
    # Reference ranker (0.65, 0.5, 0.3): only B improves on it everywhere: (0.1*0.2) and (0.05*0.1*0.2).
    assert hv["reference_model"]["auxiliary"] == pytest.approx(0.02)
    assert hv["reference_model"]["with_main"] == pytest.approx(0.001)
    assert hv["reference_model"]["point"] == REFERENCE
    # Common nadir (0.55, 0.3, 0.1): C ties the nadir's quality so it adds nothing.
    # Auxiliary: A (0.5, 0.1), B (0.3, 0.4): 0.05 + 0.12 - 0.03 = 0.14.
    # With main: A (0.05, 0.5, 0.1), B (0.15, 0.3, 0.4): 0.0025 + 0.018 - 0.0015 = 0.019.
    assert hv["common_nadir"]["auxiliary"] == pytest.approx(0.14)
    assert hv["common_nadir"]["with_main"] == pytest.approx(0.019)
    # Relevance 0.6, 0.7, 0.9: mean 0.7333, population std sqrt(0.046667 / 3).
    assert out["main_ndcg"]["mean"] == pytest.approx(2.2 / 3)
    assert out["main_ndcg"]["std"] == pytest.approx(np.sqrt((0.4**2 + 0.1**2 + 0.5**2) / 9 / 3))
    # Weight ranks vs NDCG ranks: quality (3,2,1) vs (3,2,1) -> 1; clicks (1,2,3) vs (1,3,2) -> 1 - 6*2/24.
    assert out["spearman"] == pytest.approx({"quality": 1.0, "clicks": 0.5})
    json.dumps(out, allow_nan=False)  # JSON-ready: plain floats, ints, lists, None


def test_dataframe_and_sequence_reference_give_the_same_summary():
    by_dict = summarize_grid(TABLE, OBJECTIVES, WEIGHTED, reference_point=REFERENCE)
    by_frame = summarize_grid(pd.DataFrame(TABLE), OBJECTIVES, WEIGHTED,
                              reference_point=[REFERENCE[name] for name in OBJECTIVES])
    assert by_dict == by_frame
    assert by_dict["hypervolume"]["common_nadir"] is None


def test_other_k_and_undefined_spearman():
    table = {**TABLE, "ndcg@5/relevance": [0.5, 0.5, 0.5], "ndcg@5/quality": [0.2, 0.2, 0.2],
             "ndcg@5/clicks": [0.1, 0.3, 0.2]}
    out = summarize_grid(table, OBJECTIVES, WEIGHTED, k=5)
    assert out["spearman"]["quality"] is None  # constant NDCG: the model ignores that weight
    assert out["main_ndcg"] == {"mean": 0.5, "std": 0.0}
    assert out["hypervolume"]["origin"]["auxiliary"] == pytest.approx(0.2 * 0.3)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 4, size=15).astype(float)
        b = rng.integers(0, 5, size=15).astype(float) + 0.5 * a
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_bad_tables_raise():
    with pytest.raises(KeyError, match="ndcg@10/dwell"):
        summarize_grid(TABLE, [*OBJECTIVES, "dwell"], WEIGHTED)
    with pytest.raises(ValueError, match="main objective"):
        summarize_grid(TABLE, OBJECTIVES, WEIGHTED, main="clicks_main")
    with pytest.raises(ValueError, match="NaN"):
        summarize_grid({**TABLE, "ndcg@10/clicks": [0.2, float("nan"), 0.4]}, OBJECTIVES, WEIGHTED)
    with pytest.raises(KeyError, match="lacks"):
        summarize_grid(TABLE, OBJECTIVES, WEIGHTED, reference_point={"relevance": 0.5})
