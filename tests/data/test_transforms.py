"""Objective transforms (hand-computed) and normalisation statistics (train only, streaming)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltr_cos.data.transforms import (
    STD_FLOOR,
    NormalizationAccumulator,
    apply_normalization,
    apply_objective,
    apply_objectives,
    fit_normalization,
    fit_objective,
    fit_objectives,
    signed_log1p,
)
from ltr_cos.objectives import ObjectiveSpec


def test_raw_and_inverted_raw():
    spec = ObjectiveSpec("x", 3, "raw")
    fitted = fit_objective(spec, np.array([1.0, 5.0, 2.0]))
    assert fitted == {"kind": "raw", "invert": False, "offset": 0.0}
    np.testing.assert_array_equal(apply_objective(spec, fitted, np.array([7.0, -1.0])), [7.0, -1.0])
    inv = ObjectiveSpec("x", 3, "raw", invert=True)
    fitted = fit_objective(inv, np.array([1.0, 5.0, 2.0]))
    assert fitted["offset"] == 5.0
    # offset - x: the smallest raw value becomes the best label, train labels stay >= 0
    np.testing.assert_array_equal(apply_objective(inv, fitted, np.array([1.0, 5.0, 2.0])), [4.0, 0.0, 3.0])


def test_log1p_is_signed():
    spec = ObjectiveSpec("clicks", 1, "log1p")
    fitted = fit_objective(spec, np.array([0.0, 10.0]))
    out = apply_objective(spec, fitted, np.array([0.0, np.e - 1, -(np.e - 1)]))
    np.testing.assert_allclose(out, [0.0, 1.0, -1.0], rtol=1e-6)
    assert out.dtype == np.float32


def test_quantile_cuts_hand_computed():
    spec = ObjectiveSpec("q", 1, "quantile", n_bins=4)
    values = np.arange(1.0, 9.0)  # 1..8: quartile cut points (linear) 2.75, 4.5, 6.25
    fitted = fit_objective(spec, values)
    assert fitted["cuts"] == [2.75, 4.5, 6.25] and fitted["n_grades"] == 4
    np.testing.assert_array_equal(apply_objective(spec, fitted, values), [0, 0, 1, 1, 2, 2, 3, 3])
    # values beyond the train range fall in the end grades
    np.testing.assert_array_equal(apply_objective(spec, fitted, np.array([-100.0, 100.0])), [0, 3])


def test_quantile_with_ties_and_few_values():
    spec = ObjectiveSpec("clicks", 1, "quantile", n_bins=5)
    # mostly zeros and a spread tail: zeros share grade 0, positives get the higher grades
    values = np.r_[np.zeros(80), np.arange(1.0, 21.0)]
    fitted = fit_objective(spec, values)
    grades = apply_objective(spec, fitted, values)
    assert set(grades[:80].tolist()) == {0.0}
    assert grades[80:].min() >= 1 and grades.max() <= 4
    assert np.all(np.diff(grades[80:]) >= 0)
    # two distinct values: each its own grade, cut half way
    binary = fit_objective(spec, np.r_[np.zeros(3), np.ones(97)])
    assert binary["cuts"] == [0.5]
    np.testing.assert_array_equal(apply_objective(spec, binary, np.array([0.0, 1.0])), [0, 1])
    # a constant column: one grade
    const = fit_objective(spec, np.full(10, 3.0))
    assert const["cuts"] == [] and const["n_grades"] == 1


def test_inverted_quantile_orders_small_values_best():
    spec = ObjectiveSpec("short_url", 45, "quantile", invert=True, n_bins=5)
    values = np.linspace(0.0, 1.0, 101)
    fitted = fit_objective(spec, values)
    grades = apply_objective(spec, fitted, values)
    assert grades[0] == 4 and grades[-1] == 0
    assert np.all(np.diff(grades) <= 0)


def test_fitted_params_are_json_and_reapply():
    specs = (ObjectiveSpec("relevance"), ObjectiveSpec("a", 2, "quantile"), ObjectiveSpec("b", 1, "log1p", invert=True))
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, 50).astype(np.float32)
    features = rng.random((50, 3)).astype(np.float32)
    fitted = fit_objectives(specs, label, features)
    again = json.loads(json.dumps(fitted))
    a = apply_objectives(specs, fitted, label, features)
    b = apply_objectives(specs, again, label, features)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a[:, 0], label)


def test_fit_refuses_wrong_kind_and_empty():
    spec = ObjectiveSpec("q", 1, "quantile")
    with pytest.raises(ValueError, match="no train values"):
        fit_objective(spec, np.array([]))
    with pytest.raises(ValueError, match="fitted kind"):
        apply_objective(spec, {"kind": "raw"}, np.ones(2))


def test_normalization_matches_numpy_and_floors_constant_columns():
    rng = np.random.default_rng(1)
    x = np.c_[rng.normal(3, 2, 500), rng.exponential(5, 500), np.full(500, 7.0), -rng.random(500)]
    stats = fit_normalization(x)
    t = np.sign(x) * np.log1p(np.abs(x))
    np.testing.assert_allclose(stats["mean"], t.mean(0), rtol=1e-12, atol=1e-12)
    expected_std = t.std(0)
    expected_std[2] = 1.0  # constant column: std floored to 1 so it maps to 0
    np.testing.assert_allclose(stats["std"], expected_std, rtol=1e-10)
    assert stats["kind"] == "signed_log1p_standardize" and stats["fitted_on"] == "train"
    assert t.std(0)[2] < STD_FLOOR
    z = apply_normalization(x, stats)
    np.testing.assert_allclose(z.mean(0), [0, 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(z[:, [0, 1, 3]].std(0), [1, 1, 1], rtol=1e-4)


def test_streaming_accumulator_equals_one_shot():
    rng = np.random.default_rng(2)
    x = rng.lognormal(2, 1.5, (1000, 6)) * rng.choice([-1, 1], (1000, 6))
    acc = NormalizationAccumulator()
    for block in np.array_split(x, [1, 7, 300, 301, 999]):
        acc.update(block)
    one = fit_normalization(x)
    streamed = acc.result()
    np.testing.assert_allclose(streamed["mean"], one["mean"], rtol=1e-12)
    np.testing.assert_allclose(streamed["std"], one["std"], rtol=1e-12)
    assert streamed["rows"] == 1000


def test_signed_log1p():
    np.testing.assert_allclose(signed_log1p(np.array([-3.0, 0.0, 3.0])), [-np.log(4), 0, np.log(4)])
