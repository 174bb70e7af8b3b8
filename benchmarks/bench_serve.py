"""Load test of `ltr-cos serve` on 127.0.0.1: latency and throughput against the artifact in-process.

One query of 100 candidates per request. For each concurrency (1, 8, 32 by default) keep-alive client
connections send requests back to back for a bounded number of requests and seconds; p50/p99 latency
(client side, request sent to response read), requests/s and the server's CPU time per request (robust
to other jobs on a shared machine). The in-process peer is
``ExportedRanker.score`` on the same query in this process, in the same run, and the same call on 8 and
32 copies of the query at once (what micro-batching concurrent requests could save). Then 10,000 requests at
concurrency 8 with one bad request in ten (bad weights, wrong feature count, broken JSON, a body over
the limit): every good answer must equal the first good answer byte for byte, and the server's memory
(RSS, all its processes) is compared before and after. Only 127.0.0.1 is ever contacted; every loop is
bounded in requests and in time.

    .venv/bin/python -m benchmarks.bench_serve --model runs/quickstart/artifact [--workers 1] [--json out.json]

Without ``--model`` it exports a FiLM MLP of the quick start's size (134 features, hidden 128-64).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # never anything else


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "n": len(a)}


def _default_artifact(folder: Path) -> Path:
    import torch

    from ltr_cos.export import export_ranker
    from ltr_cos.models import Ranker

    torch.manual_seed(0)
    ranker = Ranker(134, hidden_sizes=(128, 64), conditioning="film", n_weights=2)
    info = {"objective_names": ["relevance", "quality", "url_clicks"], "weighted_objectives": ["quality", "url_clicks"],
            "feature_ids": list(range(1, 135)), "beta": 1.0}
    return export_ranker(ranker, folder / "artifact", info=info)


def _request(body: bytes, path: str = "/rank") -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def _load(port: int, requests: list[bytes], good: list[bool], concurrency: int, max_requests: int,
                max_seconds: float) -> dict:
    """Send requests[i % len] over ``concurrency`` keep-alive connections; stop at max_requests or max_seconds."""
    latencies: list[float] = []
    counter = {"next": 0, "bad_ok": 0, "good_other": 0, "errors": 0}
    reference: dict[str, bytes] = {}
    deadline = time.perf_counter() + max_seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while counter["next"] < max_requests and time.perf_counter() < deadline:
                i = counter["next"]
                counter["next"] += 1
                payload, is_good = requests[i % len(requests)], good[i % len(requests)]
                t0 = time.perf_counter()
                writer.write(payload)
                await writer.drain()
                status, body = await _read_response(reader)
                elapsed = (time.perf_counter() - t0) * 1e3
                if is_good:
                    latencies.append(elapsed)
                    first = reference.setdefault("good", body)
                    if status != 200 or body != first:
                        counter["good_other"] += 1
                elif status < 400 or status >= 500:
                    counter["bad_ok"] += 1
                if status == 413:  # the server closes after refusing an unread body: reconnect
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
        except (ConnectionError, asyncio.IncompleteReadError):
            counter["errors"] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {**_percentiles(latencies), "requests": counter["next"], "seconds": wall,
            "requests_per_s": counter["next"] / wall, "good_answers_differing": counter["good_other"],
            "bad_requests_not_4xx": counter["bad_ok"], "connection_errors": counter["errors"]}


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def _rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def _start(model: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "ltr_cos.cli", "serve", "--model", model, "--host", HOST, "--port", str(port),
           "--workers", str(workers), "--threads", str(threads), "--max-body-mb", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import urllib.request

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not start within 60 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _bodies(model, x: np.ndarray, weights: list[float], beta: float | None) -> tuple[list[bytes], list[bool]]:
    good = {"weights": weights, "queries": [{"features": x.tolist()}]}
    if beta is not None:
        good["beta"] = beta
    bad = [
        {**good, "weights": [0.5, 0.6][: len(weights)] + [0.0] * (len(weights) - 2)},
        {**good, "queries": [{"features": x[:, :-1].tolist()}]},
        None,  # broken JSON
        {**good, "queries": [{"features": x.tolist()}] * 12},  # over the 1 MiB body limit
    ]
    requests, flags = [], []
    for i in range(40):
        if i % 10 == 9:
            b = bad[(i // 10) % len(bad)]
            requests.append(_request(b'{"weights": [0.5, 0.5], "queries": [' if b is None else json.dumps(b).encode()))
            flags.append(False)
        else:
            requests.append(_request(json.dumps(good).encode()))
            flags.append(True)
    return requests, flags


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="artifact folder (default: export a quick-start-sized MLP)")
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--workers", type=int, nargs="+", default=[1], help="uvicorn worker counts to measure")
    p.add_argument("--threads", type=int, default=1, help="model threads per worker")
    p.add_argument("--requests", type=int, default=3000, help="requests per concurrency level (bound)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per concurrency level (bound)")
    p.add_argument("--soak", type=int, default=10_000, help="requests of the memory and bad-request run")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)

    import torch

    from ltr_cos.export import load_artifact

    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    model_path = args.model or str(_default_artifact(Path(tmp.name)))
    model = load_artifact(model_path, threads=args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.candidates, model.n_features)).astype(np.float32).round(4)
    m = model.n_weights
    weights = ([0.3, 0.7] + [0.0] * (m - 2)) if m >= 2 else ([1.0] if m == 1 else None)
    beta = model.trained_beta if model.needs_beta else None
    if model.needs_beta and model.beta_control == "input":
        beta = 1.0

    # in-process peer: the same query through ExportedRanker.score
    for _ in range(200):
        model.score(x, None, weights, beta)
    calls = []
    t_start = time.perf_counter()
    while len(calls) < 3000 and time.perf_counter() - t_start < args.seconds:
        t0 = time.perf_counter()
        model.score(x, None, weights, beta)
        calls.append((time.perf_counter() - t0) * 1e3)
    in_process = {**_percentiles(calls), "calls_per_s": len(calls) / (time.perf_counter() - t_start)}
    print(f"in-process ExportedRanker.score, {args.candidates} candidates: p50 {in_process['p50_ms']:.3f} ms, "
          f"p99 {in_process['p99_ms']:.3f} ms, {in_process['calls_per_s']:.0f} calls/s", flush=True)

    # would micro-batching concurrent requests pay? one call on B queries against B calls on one
    batching = {}
    for b in (8, 32):
        xb = np.repeat(x[None], b, 0)
        wb = None if weights is None else np.tile(weights, (b, 1))
        times = []
        for _ in range(100):
            t0 = time.perf_counter()
            model.score(xb, None, wb, beta)
            times.append((time.perf_counter() - t0) * 1e3)
        per_request = float(np.median(times)) / b
        batching[b] = {"batched_ms_per_query": per_request, "saved_ms_per_request": in_process["p50_ms"] - per_request}
        print(f"micro-batching {b} queries in one call: {per_request:.3f} ms per query "
              f"(saves {in_process['p50_ms'] - per_request:.3f} ms per request)", flush=True)
    in_process["batching"] = batching

    requests, flags = _bodies(model, x, weights, beta)
    good_only = [r for r, f in zip(requests, flags) if f][:1]
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(), "load_average": os.getloadavg()},
               "model": {"path": model_path, "format": model.info.get("format"), "n_features": model.n_features,
                         "sha256": model.info.get("sha256")},
               "candidates": args.candidates, "in_process": in_process, "http": {}}
    for workers in args.workers:
        port = _free_port()
        proc = _start(model_path, port, workers, args.threads)
        try:
            asyncio.run(_load(port, good_only, [True], 4, 500, 10.0))  # warm-up
            levels = {}
            for c in args.concurrency:
                cpu0 = _cpu_s(proc.pid)
                levels[c] = asyncio.run(_load(port, good_only, [True], c, args.requests, args.seconds))
                r = levels[c]
                # server CPU per request: what a request costs whatever else the machine runs
                r["server_cpu_ms_per_request"] = (_cpu_s(proc.pid) - cpu0) * 1e3 / r["requests"]
                print(f"workers={workers} concurrency={c}: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
                      f"{r['requests_per_s']:.0f} req/s ({r['requests']} requests), server CPU "
                      f"{r['server_cpu_ms_per_request']:.3f} ms/request", flush=True)
            base = levels[args.concurrency[0]]["requests_per_s"]
            for c in args.concurrency:
                levels[c]["speed_up_vs_first"] = levels[c]["requests_per_s"] / base
            rss_before = _rss_mb(proc.pid)
            soak = asyncio.run(_load(port, requests, flags, 8, args.soak, 300.0))
            rss_after = _rss_mb(proc.pid)
            soak.update({"rss_before_mb": rss_before, "rss_after_mb": rss_after,
                         "rss_growth_mb": rss_after - rss_before, "bad_fraction": flags.count(False) / len(flags)})
            print(f"workers={workers} soak: {soak['requests']} requests at concurrency 8, 1 in 10 bad; "
                  f"good answers differing {soak['good_answers_differing']}, bad not 4xx "
                  f"{soak['bad_requests_not_4xx']}; RSS {rss_before:.1f} -> {rss_after:.1f} MiB", flush=True)
            results["http"][workers] = {"levels": levels, "soak": soak}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        from ltr_cos.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
