"""The HTTP service through FastAPI's TestClient: answers, validation, equality with the Python API."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from ltr_cos.export import load_artifact  # noqa: E402
from ltr_cos.objectives import SIMPLEX_TOLERANCE  # noqa: E402
from ltr_cos.serve.app import create_app  # noqa: E402
from ltr_cos.serve.schemas import Limits  # noqa: E402
from ltr_cos.serve.service import RankService  # noqa: E402
from tests.serve.helpers import BETA_RANGE, split_arrays  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
LIMITS = Limits(max_queries=4, max_candidates=50, max_body_bytes=200_000)


@pytest.fixture(scope="module")
def model(served):
    return load_artifact(served["model"])


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(RankService(model, LIMITS)))


@pytest.fixture(scope="module", autouse=True)
def pool(served):
    """Candidate rows of the test split: the inputs the artifact's normalisation was fitted for."""
    x, _, mask, _ = split_arrays(served["data"])
    POOL.append(x[mask])
    yield
    POOL.clear()


POOL: list[np.ndarray] = []


def _queries(seed: int, lengths=(7, 3)):
    """Queries of real candidate rows drawn at random from the test split."""
    rng = np.random.default_rng(seed)
    return [POOL[0][rng.choice(len(POOL[0]), n, replace=False)] for n in lengths]


def _noise(seed: int, lengths, n_features: int = 134):
    """Random numbers with long decimal expansions (a large body)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n_features)) for n in lengths]


def _body(queries, weights=(0.3, 0.7), beta=2.0, **extra):
    body = {"weights": list(weights), "queries": [{"features": q.tolist()} for q in queries], **extra}
    if beta is not None:
        body["beta"] = beta
    return body


def test_health_and_metadata_use_the_sidecar_keys(client, model):
    assert client.get("/health").json() == {"status": "ok", "sha256": model.info["sha256"]}
    meta = client.get("/metadata").json()
    for key in ("objective_names", "weighted_objectives", "feature_ids", "n_features", "beta_range", "sha256",
                "ltr_cos_version", "format"):
        assert meta[key] == model.info[key], key
    serving = meta["serving"]
    assert serving["limits"] == LIMITS.to_dict() and serving["simplex_tolerance"] == SIMPLEX_TOLERANCE
    assert serving["accepted_beta_range"] == BETA_RANGE and serving["needs_weights"] and serving["needs_beta"]


def test_rank_equals_the_python_api(client, model):
    queries = _queries(0)
    answer = client.post("/rank", json=_body(queries)).json()
    assert set(answer) == {"scores", "order"}
    for q, scores, order in zip(queries, answer["scores"], answer["order"]):
        expected = model.score(q, None, [0.3, 0.7], 2.0)
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
        assert order == np.argsort(-expected, kind="stable").tolist()
    # other weights give other scores: the weights reach the model
    other = client.post("/rank", json=_body(queries, weights=(0.9, 0.1))).json()
    assert not np.allclose(other["scores"][0], answer["scores"][0])


def test_rank_equals_the_rank_command(client, model, served, tmp_path):
    """The same LibSVM rows through `ltr-cos rank` and through POST /rank give the same scores and order."""
    from ltr_cos.cli import main
    from ltr_cos.data.libsvm import read_libsvm
    from ltr_cos.export.features import select_file_columns

    source = served["data"].parent / "synth" / "test.txt"
    out = tmp_path / "ranked.tsv"
    argv = ["rank", "--model", str(served["model"]), "--input", str(source), "--weights", "0.25,0.75",
            "--beta", "0.5", "--out", str(out)]
    assert main(argv) == 0
    rows = np.array([line.split("\t")[:4] for line in out.read_text().splitlines()[1:]], dtype=np.float64)
    table = read_libsvm(source)
    features, _ = select_file_columns(table.features, model.info, str(source))
    qids = list(dict.fromkeys(table.qid.tolist()))[:LIMITS.max_queries]
    body = _body([features[table.qid == q] for q in qids], weights=(0.25, 0.75), beta=0.5)
    answer = client.post("/rank", json=body).json()
    for q, scores, order in zip(qids, answer["scores"], answer["order"]):
        mine = rows[rows[:, 0] == q]
        assert mine[:, 1].astype(int).tolist() == order
        np.testing.assert_allclose(mine[:, 2], np.asarray(scores)[order], rtol=1e-6, atol=1e-6)


BAD = [
    ("wrong feature count", lambda q: _body([q[0][:, :-1]]), 422, ["body", "queries", 0, "features", 0]),
    ("ragged rows", lambda q: {"weights": [0.5, 0.5], "beta": 1.0,
                               "queries": [{"features": [q[0][0].tolist(), q[0][1, :5].tolist()]}]},
     422, ["body", "queries", 0, "features", 1]),
    ("weight length", lambda q: _body(q, weights=(0.2, 0.3, 0.5)), 422, ["body", "weights"]),
    ("negative weight", lambda q: _body(q, weights=(1.2, -0.2)), 422, ["body", "weights"]),
    ("weights not summing to 1", lambda q: _body(q, weights=(0.3, 0.6)), 422, ["body", "weights"]),
    ("weights missing", lambda q: {"beta": 1.0, "queries": [{"features": q[0].tolist()}]}, 422, ["body", "weights"]),
    ("weights as text", lambda q: _body(q, weights=("a", "b")), 422, ["body", "weights", 0]),
    ("beta above the range", lambda q: _body(q, beta=50.0), 422, ["body", "beta"]),
    ("beta zero", lambda q: _body(q, beta=0.0), 422, ["body", "beta"]),
    ("beta missing", lambda q: _body(q, beta=None), 422, ["body", "beta"]),
    ("too many queries", lambda q: _body(q * 3), 422, ["body", "queries"]),
    ("too many candidates", lambda q: _body([np.zeros((51, 134), np.float32)]), 422, ["body", "queries", 0, "features"]),
    ("no query", lambda q: _body([]), 422, ["body", "queries"]),
    ("empty query", lambda q: {"weights": [0.5, 0.5], "beta": 1.0, "queries": [{"features": []}]},
     422, ["body", "queries", 0, "features"]),
    ("unknown field", lambda q: _body(q, weigths=[0.5, 0.5]), 422, ["body", "weigths"]),
    ("body too large", lambda q: _body(_noise(9, lengths=(50,) * 4)), 413, ["body"]),
]


@pytest.mark.parametrize("case,make,status,loc", BAD, ids=[c[0] for c in BAD])
def test_bad_requests_get_4xx_naming_the_field(client, case, make, status, loc):
    response = client.post("/rank", json=make(_queries(1)))
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc and detail[0]["msg"]


@pytest.mark.parametrize("text,loc,message", [
    ('{"weights": [NaN, 1.0], "beta": 1.0, "queries": [{"features": [[0]]}]}', ["body", "weights"], "finite"),
    ('{"weights": [0.5, 0.5], "beta": 1.0, "queries": [{"features": [[' + ", ".join(["1e39"] + ["0"] * 133)
     + "]]}]}", ["body", "queries", 0, "features", 0], "finite"),
    ('{"weights": [0.5, 0.5], "beta": Infinity, "queries": []}', ["body", "beta"], "finite"),
    ('{"weights": [0.5, 0.5], "queries": [', ["body"], "JSON"),
    ("", ["body"], "JSON"),
])
def test_non_json_numbers_and_broken_bodies(client, text, loc, message):
    response = client.post("/rank", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][: len(loc)] == loc
    assert message.lower() in response.text.lower()


def test_weight_sum_tolerance_is_the_shared_one(client):
    queries = _queries(2)
    near = 0.7 + SIMPLEX_TOLERANCE / 2
    assert client.post("/rank", json=_body(queries, weights=(0.3, near))).status_code == 200
    far = 0.7 + SIMPLEX_TOLERANCE * 2
    assert client.post("/rank", json=_body(queries, weights=(0.3, far))).status_code == 422


def test_declared_body_size_is_refused_before_reading(client):
    response = client.post("/rank", content=b"{}", headers={"Content-Type": "application/json",
                                                           "Content-Length": str(LIMITS.max_body_bytes + 1)})
    assert response.status_code == 413 and response.json()["detail"][0]["type"] == "too_large"


def test_beta_is_refused_by_an_artifact_without_it(served):
    client = TestClient(create_app(RankService(load_artifact(served["weights_only"]), LIMITS)))
    response = client.post("/rank", json=_body(_queries(3)))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "beta"]
    assert client.post("/rank", json=_body(_queries(3), beta=None)).status_code == 200


def test_a_bad_request_does_not_disturb_the_next_good_one(client):
    good = _body(_queries(4))
    first = client.post("/rank", json=good).json()
    for make in (m for _, m, _, _ in BAD):
        client.post("/rank", json=make(_queries(5)))
    assert client.post("/rank", json=good).json() == first


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["weights", "beta", "queries", "features", "x"]), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_no_input_gets_a_server_error(client, body):
    response = client.post("/rank", content=json.dumps(body, allow_nan=True),
                           headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500 or response.status_code == 200
    assert "detail" in response.json() or "scores" in response.json()


def test_concurrent_requests_each_get_their_own_answer(client, model):
    queries = _queries(6, lengths=(20,))
    weights = [(w, 1 - w) for w in np.linspace(0, 1, 8)]
    expected = [model.score(queries[0], None, list(w), 1.0) for w in weights]
    errors: list[str] = []

    def worker(i: int) -> None:
        for _ in range(5):
            got = client.post("/rank", json=_body(queries, weights=weights[i], beta=1.0)).json()["scores"][0]
            if not np.allclose(got, expected[i], rtol=1e-5, atol=1e-5):
                errors.append(f"thread {i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(weights))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_numbers_must_be_json_numbers(client):
    queries = _queries(7, lengths=(2,))
    body = _body(queries)
    body["queries"][0]["features"][1][3] = "1.5"
    response = client.post("/rank", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "queries", 0, "features", 1, 3]
    body = _body(queries, weights=(0, 1))  # integers are numbers
    assert client.post("/rank", json=body).status_code == 200
