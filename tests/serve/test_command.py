"""`ltr-cos serve` as a user starts it: a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.serve.helpers import free_port, start_server, stop_server

pytest.importorskip("uvicorn")


def post(port: int, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_help_lists_the_options(capsys):
    from ltr_cos.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "-h"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--model", "--pareto", "--data", "--split", "--host", "--port", "--workers", "--max-candidates"):
        assert option in out


def test_bad_model_is_a_one_line_error(tmp_path, capsys):
    from ltr_cos.cli import main

    assert main(["serve", "--model", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("ltr-cos: error:")


@pytest.mark.slow
def test_serve_answers_over_http(served):
    from ltr_cos.export import load_artifact

    model = load_artifact(served["model"])
    port = free_port()
    proc = start_server(["--model", str(served["model"]), "--pareto", str(served["pareto"]),
                         "--data", str(served["data"]), "--max-candidates", "30"], port)
    try:
        x = np.random.default_rng(0).standard_normal((12, model.n_features)).astype(np.float32)
        status, answer = post(port, "/rank", {"weights": [0.4, 0.6], "beta": 1.5, "queries": [{"features": x.tolist()}]})
        assert status == 200
        np.testing.assert_allclose(answer["scores"][0], model.score(x, None, [0.4, 0.6], 1.5), atol=1e-6)
        status, answer = post(port, "/rank", {"weights": [0.4, 0.6], "beta": 1.5,
                                              "queries": [{"features": np.zeros((31, model.n_features)).tolist()}]})
        assert status == 422 and "at most 30 candidates" in answer["detail"][0]["msg"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert b"ltr_cos explorer" in response.read()
    finally:
        stop_server(proc)


def test_worker_processes_build_the_same_app_from_the_environment(served, monkeypatch):
    """uvicorn's worker processes (--workers > 1) rebuild the app from the settings the command left."""
    from fastapi.testclient import TestClient

    from ltr_cos.commands.serve import _ENV, build_parser, worker_app

    args = build_parser().parse_args(["--model", str(served["weights_only"]), "--max-queries", "2"])
    monkeypatch.setenv(_ENV, json.dumps(vars(args)))
    client = TestClient(worker_app())
    serving = client.get("/metadata").json()["serving"]
    assert serving["limits"]["max_queries"] == 2 and not serving["needs_beta"]
