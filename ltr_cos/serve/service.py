"""The ranking service without HTTP: validate a request, score it with the artifact, order the candidates.

One lock guards the model: requests from any number of threads (or the event loop) are safe, and a
request that fails validation never reaches the model, so it cannot disturb the next one.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np

from ltr_cos.errors import InputError
from ltr_cos.objectives import SIMPLEX_TOLERANCE, check_simplex
from ltr_cos.serve.schemas import Limits, RankRequest, RequestProblem

# a beta a hair outside the range (typed as 0.1 for a range stored as 0.1000001) is still accepted
_BETA_SLACK = 1e-6


class RankService:
    """Scores requests with one exported ranker.

    Args:
        model: an ``ExportedRanker`` (``ltr_cos.export.load_artifact``).
        limits: request limits.
        beta_range: accepted (low, high) beta; None = the sidecar's ``beta_range``, or for an artifact
            that rescales around its reference ranker without one, trained beta / 10 .. x 10.
    """

    def __init__(self, model: Any, limits: Limits | None = None,
                 beta_range: tuple[float, float] | None = None) -> None:
        self.model = model
        self.limits = limits or Limits()
        self.lock = threading.Lock()
        self.names = list(model.info.get("weighted_objectives") or [])
        self.beta_range = self._beta_range(beta_range)

    def _beta_range(self, given: tuple[float, float] | None) -> tuple[float, float] | None:
        if not self.model.needs_beta:
            return None
        if given is None:
            given = self.model.info.get("beta_range")
        if given is None and self.model.trained_beta is not None:
            given = (self.model.trained_beta / 10.0, self.model.trained_beta * 10.0)
        if given is None:
            return None
        low, high = float(given[0]), float(given[1])
        if not (0 < low <= high and math.isfinite(high)):
            raise InputError(f"beta range must satisfy 0 < low <= high, got {given}")
        return low, high

    def metadata(self) -> dict[str, Any]:
        """The sidecar under its own keys, plus a ``serving`` block (limits, accepted beta, tolerance)."""
        info = dict(self.model.info)
        info["serving"] = {
            "limits": self.limits.to_dict(),
            "needs_weights": self.model.needs_weights,
            "needs_beta": self.model.needs_beta,
            "beta_control": self.model.beta_control,
            "accepted_beta_range": list(self.beta_range) if self.beta_range else None,
            "default_beta": self.default_beta(),
            "simplex_tolerance": SIMPLEX_TOLERANCE,
        }
        return info

    def default_beta(self) -> float | None:
        """The beta used when a request gives none: the trained beta of a rescaling artifact."""
        if self.model.needs_beta and self.model.beta_control == "rescale":
            return self.model.trained_beta
        return None

    # ------------------------------------------------------------------ validation
    def check_knobs(self, weights: list[float] | None, beta: float | None) -> tuple[Any, float | None]:
        """Validated (weights, beta) of a request; ``RequestProblem`` naming the field otherwise."""
        if self.model.needs_weights:
            if weights is None:
                raise RequestProblem(["body", "weights"], f"this model needs weights over {self.names}",
                                     kind="missing")
            try:
                weights = check_simplex(weights, self.model.n_weights, self.names, "weights")
            except InputError as exc:
                raise RequestProblem(["body", "weights"], str(exc)) from None
            if weights.ndim != 1:
                raise RequestProblem(["body", "weights"], "weights must be one list of numbers")
        elif weights is not None:
            raise RequestProblem(["body", "weights"], "this model is not conditioned on weights; leave weights out")
        if not self.model.needs_beta:
            if beta is not None:
                raise RequestProblem(["body", "beta"], "this model takes no beta; leave beta out")
            return weights, None
        if beta is None:
            beta = self.default_beta()
            if beta is None:
                raise RequestProblem(["body", "beta"], f"this model needs beta in {list(self.beta_range or ())}",
                                     kind="missing")
        if not math.isfinite(beta) or beta <= 0:
            raise RequestProblem(["body", "beta"], f"beta must be finite and > 0, got {beta}")
        if self.beta_range is not None:
            low, high = self.beta_range
            if beta < low * (1 - _BETA_SLACK) or beta > high * (1 + _BETA_SLACK):
                raise RequestProblem(["body", "beta"], f"beta must lie in [{low:g}, {high:g}], got {beta:g}")
        return weights, float(beta)

    def check_queries(self, queries: list[Any]) -> list[np.ndarray]:
        """Each query's features as float32 [L, F]; ``RequestProblem`` naming the query and row otherwise."""
        limits, n_features = self.limits, self.model.n_features
        if not queries:
            raise RequestProblem(["body", "queries"], "queries must hold at least one query")
        if len(queries) > limits.max_queries:
            raise RequestProblem(["body", "queries"],
                                 f"at most {limits.max_queries} queries per request, got {len(queries)}",
                                 kind="too_long")
        out = []
        for i, query in enumerate(queries):
            rows = query.features
            loc = ["body", "queries", i, "features"]
            if not rows:
                raise RequestProblem(loc, "a query needs at least one candidate")
            if len(rows) > limits.max_candidates:
                raise RequestProblem(loc, f"at most {limits.max_candidates} candidates per query, got {len(rows)}",
                                     kind="too_long")
            try:
                with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused just below
                    x = np.asarray(rows, dtype=np.float32)
            except ValueError:  # rows of different lengths
                x = None
            if x is None or x.shape[1] != n_features:
                j, width = next((j, len(row)) for j, row in enumerate(rows) if len(row) != n_features)
                raise RequestProblem([*loc, j], f"each candidate needs {n_features} features "
                                     f"(in the order of feature_ids), got {width}")
            finite = np.isfinite(x).all(1)
            if not finite.all():
                j = int(np.flatnonzero(~finite)[0])
                raise RequestProblem([*loc, j], "features must be finite numbers (found NaN or inf, or a value "
                                     "beyond float32)")
            out.append(x)
        return out

    # ------------------------------------------------------------------ scoring
    def score_padded(self, features: list[np.ndarray], weights: Any, beta: float | None) -> list[np.ndarray]:
        """Score already-checked queries in one batch; float32 [L_i] per query."""
        n = max(len(x) for x in features)
        batch = np.zeros((len(features), n, self.model.n_features), dtype=np.float32)
        mask = np.zeros((len(features), n), dtype=bool)
        for i, x in enumerate(features):
            batch[i, : len(x)] = x
            mask[i, : len(x)] = True
        with self.lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the range was checked above; no per-request warning spam
            try:
                scores = self.model.score(batch, mask, weights, beta)
            except InputError as exc:  # a check the service missed: still the request's fault, not a 500
                raise RequestProblem(["body"], str(exc)) from None
        return [scores[i, : len(x)] for i, x in enumerate(features)]

    def rank(self, request: RankRequest) -> dict[str, list]:
        """``{"scores": [[...]], "order": [[...]]}`` for a request; ties keep the input order."""
        weights, beta = self.check_knobs(request.weights, request.beta)
        features = self.check_queries(request.queries)
        scores = self.score_padded(features, weights, beta)
        order = [np.lexsort((np.arange(len(s)), -s.astype(np.float64))) for s in scores]
        return {"scores": [s.tolist() for s in scores], "order": [o.tolist() for o in order]}
