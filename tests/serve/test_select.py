"""The operating-point finder on grid tables, and `ltr-cos pareto --select/--maximize` argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from ltr_cos.errors import InputError
from ltr_cos.pareto.select import (
    Constraint,
    describe_selection,
    parse_constraint,
    select_from_folder,
    select_operating_point,
)

NAMES = ["relevance", "quality", "clicks"]


def _table(seed: int, n: int = 30, k: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet([1, 1], size=n)
    table = {"weight/quality": w[:, 0], "weight/clicks": w[:, 1], "beta": np.full(n, 1.0)}
    for name in NAMES:
        table[f"ndcg@{k}/{name}"] = rng.uniform(0.2, 0.9, n).round(2)  # rounding makes ties likely
        table[f"ndcg@1/{name}"] = rng.uniform(0, 1, n)
    return table


@pytest.mark.parametrize("seed", range(5))
def test_finder_agrees_with_brute_force(seed):
    table = _table(seed)
    rng = np.random.default_rng(100 + seed)
    bounds = {"relevance": rng.uniform(0.2, 0.7), "clicks": rng.uniform(0.2, 0.6)}
    chosen = select_operating_point(table, "quality", [f"{n}>={b}" for n, b in bounds.items()])
    rows = [i for i in range(30) if all(table[f"ndcg@10/{n}"][i] >= b for n, b in bounds.items())]
    if not rows:
        assert chosen is None
        return
    key = [(table["ndcg@10/quality"][i], table["ndcg@10/relevance"][i] + table["ndcg@10/clicks"][i], -i)
           for i in rows]
    best = rows[max(range(len(rows)), key=key.__getitem__)]
    assert chosen.row == best and chosen.n_feasible == len(rows)
    assert chosen.weights == {"quality": table["weight/quality"][best], "clicks": table["weight/clicks"][best]}
    assert chosen.ndcg["quality"] == table["ndcg@10/quality"][best]


def test_k_selects_the_columns():
    table = _table(0)
    assert select_operating_point(table, "quality", k=1).row == int(np.argmax(table["ndcg@1/quality"]))
    with pytest.raises(InputError, match="no ndcg@5"):
        select_operating_point(table, "quality", k=5)


def test_no_point_qualifies_is_said_plainly():
    table = _table(1)
    assert select_operating_point(table, "quality", ["relevance>=0.95"]) is None
    text = describe_selection(None, "quality", ["relevance>=0.95"])
    assert text.startswith("no profiled grid point qualifies") and "relevance>=0.95" in text


def test_description_prints_the_weight_vector():
    table = _table(2)
    chosen = select_operating_point(table, "clicks", [Constraint("relevance", 0.3)])
    text = describe_selection(chosen, "clicks", [Constraint("relevance", 0.3)])
    weights = ",".join(f"{chosen.weights[n]:g}" for n in ("quality", "clicks"))
    assert f"--weights {weights} --beta 1" in text


@pytest.mark.parametrize("text", ["relevance>0.6", "relevance<=0.6", "relevance>=", ">=0.5", "relevance>=nan",
                                  "relevance>=0.6.1"])
def test_malformed_constraints_are_refused(text):
    with pytest.raises(InputError):
        parse_constraint(text)


def test_unknown_objective_is_refused():
    with pytest.raises(InputError, match="unknown objective 'speed'"):
        select_operating_point(_table(0), "speed")
    with pytest.raises(InputError, match="unknown objective 'speed'"):
        select_operating_point(_table(0), "quality", ["speed>=0.1"])


def test_parse_constraint_reads_spaces_and_exponents():
    assert parse_constraint(" relevance >= 6e-1 ") == Constraint("relevance", 0.6)


def test_select_from_a_profile_folder(served):
    import pandas as pd

    table = pd.read_csv(served["pareto"] / "pareto.csv")
    chosen = select_operating_point(table, "quality", ["relevance>=0"])
    text = select_from_folder(served["pareto"], "quality", ["relevance>=0"])
    assert f"--weights {chosen.weights['quality']:g},{chosen.weights['url_clicks']:g}" in text
    with pytest.raises(InputError, match="no pareto.csv"):
        select_from_folder(served["data"], "quality", [])


def test_pareto_command_checks_selection_arguments_before_profiling(tmp_path, capsys):
    from ltr_cos.cli import main

    base = ["pareto", "--ckpt", str(tmp_path / "missing.ckpt"), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*base, "--select", "relevance>=0.6"]) == 2
    assert "--select needs --maximize" in capsys.readouterr().err
    assert main([*base, "--maximize", "quality", "--select", "relevance=0.6"]) == 2
    assert "OBJECTIVE>=VALUE" in capsys.readouterr().err
