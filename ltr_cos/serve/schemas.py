"""Request and response models of the ranking service, its limits, and its error answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Limits:
    """What one request may hold; larger requests get a 4xx answer naming the field.

    Attributes:
        max_queries: queries per ``/rank`` request.
        max_candidates: candidates per query.
        max_body_bytes: bytes of a request body (checked before parsing).
    """

    max_queries: int = 64
    max_candidates: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Query(BaseModel):
    """One query: a row of ``n_features`` numbers per candidate, in the order of ``feature_ids``."""

    # strict: JSON numbers only (no "1.5" strings), and about 15 % faster to parse for 100 candidates
    model_config = ConfigDict(extra="forbid", strict=True)
    features: list[list[float]]


class RankRequest(BaseModel):
    """``POST /rank`` body: the weights (and beta) apply to every query of the request."""

    model_config = ConfigDict(extra="forbid", strict=True)
    weights: list[float] | None = Field(
        default=None, description="one weight per weighted objective; non-negative, summing to 1")
    beta: float | None = Field(default=None, description="DPO temperature, where the artifact takes it")
    queries: list[Query]


class RankResponse(BaseModel):
    """``POST /rank`` answer: per query, the scores in input order and the candidate indices best first."""

    scores: list[list[float]]
    order: list[list[int]]


class EvaluateRequest(BaseModel):
    """Explorer: rank one query of the split and score the whole split at the given weights."""

    model_config = ConfigDict(extra="forbid")
    weights: list[float] | None = None
    beta: float | None = None
    query: int = Field(ge=0, description="position of the query in the split")


class Bound(BaseModel):
    """A lower bound ``NDCG@k(objective) >= bound``."""

    model_config = ConfigDict(extra="forbid")
    objective: str
    bound: float


class SelectRequest(BaseModel):
    """Explorer: maximise one objective subject to lower bounds, over the profiled grid."""

    model_config = ConfigDict(extra="forbid")
    maximize: str
    constraints: list[Bound] = []


class RequestProblem(Exception):
    """A bad request: answered with ``status`` and ``{"detail": [{"loc", "msg", "type"}]}``.

    ``loc`` names the field, as pydantic and FastAPI do (``["body", "queries", 0, "features", 3]``).
    """

    def __init__(self, loc: list[Any], msg: str, status: int = 422, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.status = status
        self.detail = [{"loc": list(loc), "msg": msg, "type": kind}]


def pydantic_problem(exc: Any) -> RequestProblem:
    """A pydantic ``ValidationError`` as a ``RequestProblem`` with every error's field."""
    problem = RequestProblem(["body"], "invalid request")
    problem.detail = [
        {"loc": ["body", *err.get("loc", ())], "msg": err.get("msg", "invalid"), "type": err.get("type", "value_error")}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return problem
