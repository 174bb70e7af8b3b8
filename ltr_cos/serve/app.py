"""The FastAPI app: ``POST /rank``, ``GET /metadata``, ``GET /health`` and the explorer page at ``/``.

Bad input always gets a 4xx JSON answer ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` whose
``loc`` names the field; 413 for a body over the size limit. ``/rank`` parses its body with pydantic's
JSON parser directly (about half the cost of FastAPI's ``json.loads`` + validation for a query of 100
candidates) and scores on the event loop: the model call is short and guarded by the service's lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError

from ltr_cos.pareto.select import Constraint
from ltr_cos.serve.explorer import Explorer
from ltr_cos.serve.schemas import (
    EvaluateRequest,
    RankRequest,
    RankResponse,
    RequestProblem,
    SelectRequest,
    pydantic_problem,
)
from ltr_cos.serve.service import RankService

STATIC = Path(__file__).resolve().parent / "static"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (by Content-Length, else while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise RequestProblem(["header", "content-length"], "Content-Length must be an integer", 400) from None
        if size > limit:
            raise RequestProblem(["body"], f"the request body of {size} bytes exceeds the limit of {limit} bytes",
                                 413, "too_large")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestProblem(["body"], f"the request body exceeds the limit of {limit} bytes", 413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise pydantic_problem(exc) from None


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_app(service: RankService, explorer: Explorer | None = None) -> FastAPI:
    """Build the app around a ``RankService`` (and an ``Explorer``; one without data is made if None)."""
    explorer = explorer or Explorer(service)
    limit = service.limits.max_body_bytes
    app = FastAPI(title="ltr_cos ranking service", version=str(service.model.info.get("ltr_cos_version")),
                  description="COS-DPO ranker: one model, any trade-off per request.")

    @app.exception_handler(RequestProblem)
    async def _problem(_request: Request, exc: RequestProblem) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "sha256": service.model.info.get("sha256")}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        return service.metadata()

    @app.post("/rank", response_model=RankResponse, openapi_extra=_body_schema(RankRequest))
    async def rank(request: Request) -> Response:
        body = await read_body(request, limit)
        result = service.rank(parse(RankRequest, body))
        return JSONResponse(result)

    @app.get("/explorer/config")
    async def explorer_config() -> dict[str, Any]:
        return explorer.config()

    @app.get("/explorer/front")
    async def explorer_front() -> dict[str, Any]:
        if explorer.front is None:
            raise RequestProblem(["query"], "the service runs without --pareto: no profiled front", 409)
        return explorer.front.to_dict()

    @app.get("/explorer/queries")
    async def explorer_queries() -> dict[str, Any]:
        if explorer.split is None:
            raise RequestProblem(["query"], "the service runs without --data: no split to explore", 409)
        return {"split": explorer.split.name, "queries": explorer.split.queries()}

    @app.post("/explorer/evaluate", openapi_extra=_body_schema(EvaluateRequest))
    async def explorer_evaluate(request: Request) -> dict[str, Any]:
        req = parse(EvaluateRequest, await read_body(request, limit))
        return await run_in_threadpool(explorer.evaluate, req.weights, req.beta, req.query)

    @app.post("/explorer/select", openapi_extra=_body_schema(SelectRequest))
    async def explorer_select(request: Request) -> dict[str, Any]:
        req = parse(SelectRequest, await read_body(request, limit))
        if explorer.front is None:
            raise RequestProblem(["body"], "the service runs without --pareto: no profiled grid", 409)
        names = explorer.front.objectives
        for field, name in [("maximize", req.maximize)] + [
            (["constraints", i, "objective"], c.objective) for i, c in enumerate(req.constraints)
        ]:
            if name not in names:
                loc = ["body", *(field if isinstance(field, list) else [field])]
                raise RequestProblem(loc, f"unknown objective {name!r}; the profile has {names}")
        bounds = [Constraint(c.objective, c.bound) for c in req.constraints]
        return explorer.front.select(req.maximize, bounds)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
