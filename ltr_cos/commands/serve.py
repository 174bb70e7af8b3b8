"""``ltr-cos serve``: an HTTP ranking service with per-request weights, and the Pareto explorer page.

``POST /rank`` scores queries at the weights (and beta) of each request, ``GET /metadata`` describes the
artifact, ``GET /health`` answers while the service is up, and ``/`` is the explorer page (the front
from ``--pareto``, live ranking over ``--data``). See docs/serving.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from ltr_cos.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltr-cos serve", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="artifact folder written by `ltr-cos export`")
    p.add_argument("--pareto", default=None, help="output folder of `ltr-cos pareto` (the explorer's front)")
    p.add_argument("--data", default=None, help="dataset folder (`ltr-cos data convert`) for the explorer")
    p.add_argument("--split", default="test", help="split of --data the explorer ranks (default: test)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="uvicorn worker processes, each with its own copy of the model (default 1)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads per worker for the model (default 1; more do not speed up small requests)")
    p.add_argument("--max-queries", type=int, default=64, help="queries per /rank request (default 64)")
    p.add_argument("--max-candidates", type=int, default=1000, help="candidates per query (default 1000)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body in MiB (default 8)")
    p.add_argument("--beta-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="accepted beta (default: the sidecar's beta_range)")
    p.add_argument("--explore-queries", type=int, default=2000,
                   help="queries of the split the explorer holds in memory (default 2000)")
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return p


# The worker processes of uvicorn import the app by name; they find their settings here.
_ENV = "LTR_COS_SERVE_ARGS"


def _limits(args: argparse.Namespace):
    from ltr_cos.serve.schemas import Limits

    try:
        return Limits(args.max_queries, args.max_candidates, int(args.max_body_mb * 1024 * 1024))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def build_app(args: argparse.Namespace):
    """Load the artifact (and profile, split) and return the FastAPI app."""
    from ltr_cos.export import load_artifact
    from ltr_cos.serve.app import create_app
    from ltr_cos.serve.explorer import Explorer, Front, Split
    from ltr_cos.serve.service import RankService

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    model = load_artifact(args.model, threads=args.threads)
    if model.info.get("format") == "torchscript":
        import torch

        torch.set_num_threads(args.threads)
    service = RankService(model, _limits(args), tuple(args.beta_range) if args.beta_range else None)
    front = Front(args.pareto) if args.pareto else None
    split = None
    if args.data:
        split = Split(args.data, args.split, model.n_features, list(model.info.get("objective_names") or []),
                      max_queries=args.explore_queries)
    explorer = Explorer(service, front, split)
    explorer.warm_up()
    return create_app(service, explorer)


def worker_app():
    """App factory for uvicorn's worker processes (``--workers`` > 1)."""
    import json

    return build_app(argparse.Namespace(**json.loads(os.environ[_ENV])))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        if args.workers < 1:
            raise InputError(f"--workers must be >= 1, got {args.workers}")
        if not 0 < args.port < 65536:
            raise InputError(f"--port must be in 1..65535, got {args.port}")
        app = build_app(args)  # also checks every input once, before any worker starts
        print(f"ltr-cos serve: http://{args.host}:{args.port}/ (explorer), POST /rank, GET /metadata; "
              f"{args.workers} worker(s); Ctrl-C stops", file=sys.stderr)
        if args.workers == 1:
            uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
        else:
            import json

            os.environ[_ENV] = json.dumps(vars(args))
            uvicorn.run("ltr_cos.commands.serve:worker_app", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_level=args.log_level, access_log=False)
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
