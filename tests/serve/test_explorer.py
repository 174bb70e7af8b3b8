"""The explorer's endpoints: the profiled front, live ranking over a split, the operating-point finder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from ltr_cos.export import load_artifact  # noqa: E402
from ltr_cos.metrics.ndcg import ndcg_per_query  # noqa: E402
from ltr_cos.pareto.select import select_operating_point  # noqa: E402
from ltr_cos.serve.app import create_app  # noqa: E402
from ltr_cos.serve.explorer import Explorer, Front, Split  # noqa: E402
from ltr_cos.serve.service import RankService  # noqa: E402
from tests.serve.helpers import WEIGHTED, K, split_arrays  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(served):
    model = load_artifact(served["model"])
    service = RankService(model)
    split = Split(served["data"], "test", model.n_features, model.info["objective_names"])
    app = create_app(service, Explorer(service, Front(served["pareto"]), split))
    return TestClient(app), model, split_arrays(served["data"])


def test_index_and_static_files_are_served(setup):
    client = setup[0]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in ("/static/app.js", "/static/style.css"):
        assert src in page.text
        assert client.get(src).status_code == 200
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing from a CDN
    assert "https://" not in page.text + client.get("/static/app.js").text


def test_config_front_and_queries(setup, served):
    client, model, (_, _, _, qids) = setup
    config = client.get("/explorer/config").json()
    assert config["weighted_objectives"] == WEIGHTED and config["k"] == K and config["has_front"]
    assert config["split"] == {"name": "test", "queries": len(qids), "truncated": False}
    front = client.get("/explorer/front").json()
    table = pd.read_csv(served["pareto"] / "pareto.csv")
    assert len(front["rows"]) == len(table) and front["weighted"] == WEIGHTED
    np.testing.assert_allclose([r["ndcg"]["quality"] for r in front["rows"]], table[f"ndcg@{K}/quality"])
    n_front = len(pd.read_csv(served["pareto"] / "front.csv"))
    assert sum(r["on_front"] for r in front["rows"]) == n_front
    assert set(front["reference_point"]) == set(model.info["objective_names"])
    queries = client.get("/explorer/queries").json()["queries"]
    assert [q["qid"] for q in queries] == qids


def test_evaluate_equals_the_python_api(setup):
    client, model, (x, y, mask, qids) = setup
    weights, beta, query = [0.8, 0.2], 0.5, 3
    answer = client.post("/explorer/evaluate", json={"weights": weights, "beta": beta, "query": query}).json()
    n = int(mask[query].sum())
    scores = model.score(x[query, :n], None, weights, beta)
    assert [item["doc"] for item in answer["ranked"]] == np.argsort(-scores, kind="stable").tolist()
    np.testing.assert_allclose([item["score"] for item in answer["ranked"]], np.sort(scores)[::-1], rtol=1e-5)
    for item in answer["ranked"]:
        assert list(item["labels"].values()) == y[query, item["doc"]].tolist()
    ndcg, valid = ndcg_per_query(torch.from_numpy(scores[None]), torch.from_numpy(y[query:query + 1, :n]),
                                 torch.ones(1, n, dtype=torch.bool), K)
    for j, name in enumerate(model.info["objective_names"]):
        expected = float(ndcg[0, j]) if valid[0, j] else None
        assert answer["query_ndcg"][name] == pytest.approx(expected, abs=1e-6)
    assert answer["query"] == {"index": query, "qid": qids[query], "candidates": n}


def test_split_ndcg_at_a_grid_weight_equals_the_profile(setup, served):
    client = setup[0]
    table = pd.read_csv(served["pareto"] / "pareto.csv")
    row = table.iloc[1]
    weights = [float(row[f"weight/{n}"]) for n in WEIGHTED]
    answer = client.post("/explorer/evaluate", json={"weights": weights, "beta": float(row["beta"]), "query": 0}).json()
    for name, value in answer["split_ndcg"].items():
        assert value == pytest.approx(row[f"ndcg@{K}/{name}"], abs=1e-6)


def test_select_endpoint_matches_the_finder(setup, served):
    client = setup[0]
    table = pd.read_csv(served["pareto"] / "pareto.csv")
    bound = float(table[f"ndcg@{K}/relevance"].median())
    answer = client.post("/explorer/select", json={
        "maximize": "quality", "constraints": [{"objective": "relevance", "bound": bound}]}).json()
    expected = select_operating_point(table, "quality", [f"relevance>={bound!r}"], K)
    assert answer["found"] and answer["row"] == expected.row and answer["weights"] == expected.weights
    none = client.post("/explorer/select", json={
        "maximize": "quality", "constraints": [{"objective": "relevance", "bound": 1.5}]}).json()
    assert none == {"found": False, "message": "no profiled grid point meets every bound"}


@pytest.mark.parametrize("path,body,loc", [
    ("/explorer/evaluate", {"weights": [0.5, 0.5], "beta": 1.0, "query": 999}, ["body", "query"]),
    ("/explorer/evaluate", {"weights": [0.5, 0.4], "beta": 1.0, "query": 0}, ["body", "weights"]),
    ("/explorer/evaluate", {"weights": [0.5, 0.5], "beta": 1.0, "query": -1}, ["body", "query"]),
    ("/explorer/select", {"maximize": "speed"}, ["body", "maximize"]),
    ("/explorer/select", {"maximize": "quality", "constraints": [{"objective": "x", "bound": 0.1}]},
     ["body", "constraints", 0, "objective"]),
])
def test_explorer_errors_name_the_field(setup, path, body, loc):
    response = setup[0].post(path, json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc


def test_without_data_or_profile_the_explorer_says_so(served):
    model = load_artifact(served["model"])
    client = TestClient(create_app(RankService(model)))
    config = client.get("/explorer/config").json()
    assert config["split"] is None and not config["has_front"]
    assert client.get("/explorer/front").status_code == 409
    assert client.get("/explorer/queries").status_code == 409
    response = client.post("/explorer/evaluate", json={"weights": [0.5, 0.5], "beta": 1.0, "query": 0})
    assert response.status_code == 409 and "--data" in response.text


def test_front_of_three_weighted_objectives_and_two_betas(tmp_path):
    from ltr_cos.objectives import simplex_lattice
    from ltr_cos.pareto.front import non_dominated

    names = ["relevance", "a", "b", "c"]
    grid = simplex_lattice(3, 2)
    rng = np.random.default_rng(0)
    rows = []
    for beta in (0.5, 2.0):
        for w in grid:
            rows.append({"weight/a": w[0], "weight/b": w[1], "weight/c": w[2], "beta": beta}
                        | {f"ndcg@5/{n}": rng.uniform() for n in names})
    table = pd.DataFrame(rows)
    table.to_csv(tmp_path / "pareto.csv", index=False)
    table[non_dominated(table[["ndcg@5/a", "ndcg@5/b", "ndcg@5/c"]].to_numpy())].to_csv(tmp_path / "front.csv",
                                                                                      index=False)
    (tmp_path / "summary.json").write_text('{"k": 5}')
    front = Front(tmp_path).to_dict()
    assert front["weighted"] == ["a", "b", "c"] and front["objectives"] == names and front["k"] == 5
    assert [r["beta"] for r in front["rows"]] == table["beta"].tolist()
    assert sum(r["on_front"] for r in front["rows"]) == len(pd.read_csv(tmp_path / "front.csv"))
    assert front["reference_point"] is None
    chosen = Front(tmp_path).select("b", [])
    assert chosen["row"] == int(table["ndcg@5/b"].idxmax()) and chosen["beta"] == table["beta"][chosen["row"]]


def test_the_explorer_holds_at_most_the_queries_asked_for(served):
    model = load_artifact(served["model"])
    service = RankService(model)
    split = Split(served["data"], "test", model.n_features, model.info["objective_names"], max_queries=5)
    client = TestClient(create_app(service, Explorer(service, None, split)))
    assert client.get("/explorer/config").json()["split"] == {"name": "test", "queries": 5, "truncated": True}
    x, y, mask, _ = split_arrays(served["data"])
    answer = client.post("/explorer/evaluate", json={"weights": [0.5, 0.5], "beta": 1.0, "query": 4}).json()
    n = int(mask[4].sum())
    expected = model.score(x[4, :n], None, [0.5, 0.5], 1.0)
    assert [item["doc"] for item in answer["ranked"]] == np.argsort(-expected, kind="stable").tolist()
    assert client.post("/explorer/evaluate", json={"weights": [0.5, 0.5], "beta": 1.0, "query": 5}).status_code == 422


def test_split_and_profile_must_match_the_artifact(served, tmp_path):
    from ltr_cos.errors import InputError

    with pytest.raises(InputError, match="takes 7"):
        Split(served["data"], "test", 7, [])
    with pytest.raises(InputError, match="objectives"):
        Split(served["data"], "test", 134, ["relevance", "other"])
    with pytest.raises(InputError, match="no split 'nope'"):
        Split(served["data"], "nope", 134, [])
    with pytest.raises(InputError, match="no pareto.csv"):
        Front(tmp_path)
