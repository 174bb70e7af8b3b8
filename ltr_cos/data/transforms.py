"""Objective label transforms and feature-normalisation statistics, fitted on the train split only.

Everything fitted here is a small JSON-friendly dict stored in ``meta.json`` (``objectives[k]["fitted"]``
and ``normalization``), so a dataset can be re-applied or audited without the training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # objectives imports torch; this module needs only the spec's attributes
    from ltr_cos.objectives import ObjectiveSpec

NORMALIZATION_KIND = "signed_log1p_standardize"
# A column whose train std is below this is (nearly) constant: its std is set to 1 so it maps to ~0
# instead of blowing small test-time differences up by 1/std.
STD_FLOOR = 1e-6


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|), elementwise, in float64 (defined for negative values too)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


# ----------------------------------------------------------------------------------------------------
# Objective transforms
# ----------------------------------------------------------------------------------------------------


def fit_objective(spec: ObjectiveSpec, values: np.ndarray) -> dict:
    """Fit the transform of one objective on its train values.

    Args:
        spec: the objective.
        values: float [N] raw train values (the row label or the feature column).

    Returns:
        JSON-serialisable parameters: ``kind`` (raw | log1p | quantile), ``invert``, ``offset`` (inversion
        is ``offset - x`` with ``offset`` = the train maximum, so inverted train values stay >= 0), and for
        quantile ``cuts`` (ascending cut points; grade = number of cuts strictly below the value, so tied
        values share a grade and grades run 0..len(cuts) <= n_bins - 1) and ``n_grades``. With at most
        ``n_bins`` distinct train values each value gets its own grade.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"objective {spec.name!r}: no train values to fit its transform on")
    fitted: dict = {"kind": spec.transform, "invert": bool(spec.invert), "offset": 0.0}
    if spec.invert:
        fitted["offset"] = float(values.max())
        values = fitted["offset"] - values
    if spec.transform == "quantile":
        distinct = np.unique(values)
        if len(distinct) <= spec.n_bins:
            # few distinct values (counts, flags): each gets its own grade, cut half way between them
            cuts = (distinct[1:] + distinct[:-1]) / 2
        else:
            # interior quantiles; ties collapse into fewer cuts, and a cut at the maximum would leave
            # the top grade empty on train
            levels = np.arange(1, spec.n_bins) / spec.n_bins
            cuts = np.unique(np.quantile(values, levels, method="linear"))
            cuts = cuts[cuts < distinct[-1]]
        fitted["cuts"] = [float(c) for c in cuts]
        fitted["n_grades"] = int(len(cuts) + 1)
    return fitted


def apply_objective(spec: ObjectiveSpec, fitted: dict, values: np.ndarray) -> np.ndarray:
    """Apply a fitted transform.

    Args:
        spec: the objective (its ``transform`` must match ``fitted["kind"]``).
        fitted: the dict returned by :func:`fit_objective`.
        values: float [N] raw values.

    Returns:
        float32 [N] labels of this objective (larger = better).
    """
    if fitted.get("kind") != spec.transform:
        raise ValueError(f"objective {spec.name!r}: fitted kind {fitted.get('kind')!r} != {spec.transform!r}")
    x = np.asarray(values, dtype=np.float64)
    if fitted.get("invert"):
        x = float(fitted["offset"]) - x
    if spec.transform == "log1p":
        x = signed_log1p(x)
    elif spec.transform == "quantile":
        x = np.searchsorted(np.asarray(fitted["cuts"], dtype=np.float64), x, side="left").astype(np.float64)
    return x.astype(np.float32)


def objective_values(spec: ObjectiveSpec, label: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The raw values of one objective: the row label for the main objective, else its feature column.

    Args:
        label: float32 [N]; features: float32 [N, F_source] with column j = feature id j + 1.
    """
    if spec.feature_id is None:
        return label
    if spec.feature_id > features.shape[1]:
        raise ValueError(
            f"objective {spec.name!r} uses feature {spec.feature_id} but the data has {features.shape[1]} features"
        )
    return features[:, spec.feature_id - 1]


def fit_objectives(
    specs: Sequence[ObjectiveSpec], label: np.ndarray, features: np.ndarray
) -> list[dict]:
    """Fit every objective on train rows (label float32 [N], features float32 [N, F_source])."""
    return [fit_objective(s, objective_values(s, label, features)) for s in specs]


def apply_objectives(
    specs: Sequence[ObjectiveSpec], fitted: Sequence[dict], label: np.ndarray, features: np.ndarray
) -> np.ndarray:
    """Labels of all objectives: float32 [N, K], column k = objective k after its fitted transform."""
    out = np.empty((len(label), len(specs)), np.float32)
    for k, (spec, params) in enumerate(zip(specs, fitted)):
        out[:, k] = apply_objective(spec, params, objective_values(spec, label, features))
    return out


# ----------------------------------------------------------------------------------------------------
# Feature normalisation statistics
# ----------------------------------------------------------------------------------------------------


class NormalizationAccumulator:
    """Streaming mean/std of signed_log1p(features), one block of rows at a time.

    Blocks are merged with Chan et al.'s pairwise update of (count, mean, M2) in float64, which stays
    accurate where a naive sum of squares would cancel.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, features: np.ndarray) -> None:
        """Add a block: float [n, F]."""
        if features.ndim != 2:
            raise ValueError(f"features must be [n, F], got shape {features.shape}")
        n = features.shape[0]
        if n == 0:
            return
        # signed_log1p in place (copysign(log1p|x|, x) is sign(x) * log1p|x| up to the sign of a zero)
        x = np.asarray(features, dtype=np.float64)
        t = np.abs(x)
        np.log1p(t, out=t)
        np.copysign(t, x, out=t)
        block_mean = t.mean(axis=0)
        np.subtract(t, block_mean, out=t)
        block_m2 = np.square(t, out=t).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, block_mean, block_m2
            return
        if block_mean.shape != self.mean.shape:
            raise ValueError(f"feature count changed from {self.mean.shape[0]} to {block_mean.shape[0]}")
        total = self.count + n
        delta = block_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + block_m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self, fitted_on: str = "train") -> dict:
        """The statistics as stored in meta.json: {kind, mean [F], std [F], fitted_on, rows}."""
        if self.mean is None:
            raise ValueError("no rows to fit the normalisation on")
        std = np.sqrt(self.m2 / self.count)  # population std, the statistics of the data seen
        std = np.where(std < STD_FLOOR, 1.0, std)
        return {
            "kind": NORMALIZATION_KIND,
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in std],
            "fitted_on": fitted_on,
            "rows": int(self.count),
        }


def fit_normalization(features: np.ndarray, fitted_on: str = "train") -> dict:
    """Normalisation statistics of float [N, F] features: {kind, mean, std, fitted_on, rows}."""
    acc = NormalizationAccumulator()
    acc.update(np.asarray(features))
    return acc.result(fitted_on)


def apply_normalization(features: np.ndarray, stats: dict) -> np.ndarray:
    """(signed_log1p(x) - mean) / std with stored statistics; float32 [N, F] (the model does the same)."""
    if stats.get("kind") != NORMALIZATION_KIND:
        raise ValueError(f"unknown normalisation kind {stats.get('kind')!r}")
    mean = np.asarray(stats["mean"], np.float64)
    std = np.asarray(stats["std"], np.float64)
    return ((signed_log1p(features) - mean) / std).astype(np.float32)
