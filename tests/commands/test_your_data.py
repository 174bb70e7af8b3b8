"""`ltr-cos data convert|fetch` on a user's data: custom objectives, query splits, explicit folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltr_cos.commands.data import main
from ltr_cos.errors import InputError
from ltr_cos.objectives import MAIN, ObjectiveSpec, objectives_from_options, parse_objective_spec


def _letor(path, n_queries=40, n_features=6, seed=0, qid=True):
    """A LibSVM file (with qid:, or without it plus a .query side file) and its query ids."""
    rng = np.random.default_rng(seed)
    lines, counts = [], []
    for q in range(1, n_queries + 1):
        n = int(rng.integers(2, 6))
        counts.append(n)
        for d in range(n):
            feats = " ".join(f"{j}:{rng.integers(0, 9)}" for j in range(1, n_features + 1))
            lines.append(f"{rng.integers(0, 3)} {f'qid:{q} ' if qid else ''}{feats} #docid=q{q}d{d}")
    path.write_text("\n".join(lines) + "\n")
    if not qid:
        path.with_name(path.name + ".query").write_text("\n".join(map(str, counts)) + "\n")
    return path


def test_objective_spec_parser():
    assert parse_objective_spec("f31=31:quantile") == ObjectiveSpec("f31", 31, "quantile")
    assert parse_objective_spec("f28inv=28:quantile:invert:bins=3") == ObjectiveSpec("f28inv", 28, "quantile",
                                                                                       True, 3)
    assert parse_objective_spec("clicks=4:log1p") == ObjectiveSpec("clicks", 4, "log1p")
    assert objectives_from_options(None, ["a=1", "b=2:invert"]) == (MAIN, ObjectiveSpec("a", 1),
                                                                    ObjectiveSpec("b", 2, invert=True))
    assert objectives_from_options("mslr2", []) == "mslr2"


@pytest.mark.parametrize(("spec", "names"), [
    ("f31:31:quantile", "expected NAME=FEATURE_ID"),
    ("f=x:quantile", "feature id 'x'"),
    ("f=0", "feature id 0 must be >= 1"),
    ("f=3:qunatile", "unknown part 'qunatile'"),
    ("f=3:quantile:bins=1", "'bins=1': bins must be >= 2"),
    ("f=3:quantile:bins=many", "'bins=many' must be bins=N"),
    ("f=3:bins=4", "bins=N needs the quantile transform"),
    ("f=3:raw:log1p", "given twice"),
    ("f g=3", "name 'f g'"),
])
def test_objective_spec_errors_name_the_bad_part(spec, names):
    with pytest.raises(InputError, match=None) as info:
        parse_objective_spec(spec)
    assert names in str(info.value) and spec in str(info.value)


def test_objectives_option_errors(tmp_path):
    with pytest.raises(InputError, match="unknown objectives preset 'anything'"):
        objectives_from_options("anything", [])
    with pytest.raises(InputError, match="not both"):
        objectives_from_options("mslr2", ["a=1"])
    bad = tmp_path / "o.yaml"
    bad.write_text("- name: a\n  feature_id: two\n")
    with pytest.raises(InputError, match="feature_id must be a whole number"):
        objectives_from_options(str(bad), [])
    bad.write_text("- f=3:sqrt\n")
    with pytest.raises(InputError, match="objective 1: .*unknown part 'sqrt'"):
        objectives_from_options(str(bad), [])


def test_convert_with_custom_objectives_and_yaml(tmp_path, capsys):
    train = _letor(tmp_path / "train.txt")
    test = _letor(tmp_path / "test.txt", n_queries=10, seed=1)
    assert main(["convert", str(train), str(test), "--out", str(tmp_path / "a"), "--objective", "f3=3:quantile",
                 "--objective", "f5inv=5:quantile:invert:bins=3", "--no-progress"]) == 0
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["objective_names"] == ["relevance", "f3", "f5inv"]
    assert meta["objectives"][2]["invert"] and meta["objectives"][2]["n_bins"] == 3
    assert meta["n_features"] == 4
    spec = tmp_path / "objectives.yaml"
    spec.write_text("objectives:\n  - f3=3:quantile\n  - {name: f5inv, feature_id: 5, transform: quantile, "
                    "invert: true, n_bins: 3}\n")
    assert main(["convert", str(train), str(test), "--out", str(tmp_path / "b"), "--objectives", str(spec),
                 "--no-progress"]) == 0
    meta_b = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta_b["objectives"] == meta["objectives"]
    capsys.readouterr()
    assert main(["convert", str(train), "--out", str(tmp_path / "c"), "--objective", "f3:3:quantile"]) == 2
    assert "--objective 'f3:3:quantile': expected NAME=FEATURE_ID" in capsys.readouterr().err
    assert main(["convert", str(train), "--out", str(tmp_path / "c"), "--objective", "f9=9"]) == 2
    assert "objective 'f9' uses feature 9 but the data has feature ids 1..6" in capsys.readouterr().err


@pytest.mark.parametrize("qid", [True, False])
def test_vali_and_test_fraction_split_by_query(tmp_path, capsys, qid):
    train = _letor(tmp_path / "train.txt", n_queries=50, qid=qid)
    def args(out, seed=3):
        return ["convert", str(train), "--out", str(tmp_path / out), "--vali-fraction", "0.2", "--test-fraction",
                "0.1", "--split-seed", str(seed), "--no-progress"]

    assert main(args("d")) == 0
    out = capsys.readouterr().out
    assert "split: train 35 queries, vali 10 queries, test 5 queries of the train files (seed 3)" in out
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["split"]["queries"] == {"train": 35, "vali": 10, "test": 5}
    assert meta["split"]["fractions"] == {"vali": 0.2, "test": 0.1} and meta["split"]["seed"] == 3
    assert {s: v["queries"] for s, v in meta["splits"].items()} == {"train": 35, "vali": 10, "test": 5}
    assert meta["normalization"]["fitted_on"] == "train"
    assert meta["sources"]["vali"][0]["path"] == str(train.resolve())
    assert not [p for p in tmp_path.iterdir() if ".split-" in p.name]  # temporary files removed
    assert main(["info", str(tmp_path / "d")]) == 0
    assert "held out of the train files: vali 10 queries (0.2), test 5 queries (0.1); seed 3" in capsys.readouterr().out
    # the same seed gives the same split; another seed another one
    assert main(args("e")) == 0
    assert main(args("f", seed=4)) == 0
    import pyarrow.parquet as pq

    def qids(d):
        return sorted(set(pq.read_table(tmp_path / d / "vali.parquet", columns=["qid"])["qid"].to_pylist()))

    assert qids("d") == qids("e") != qids("f")


def test_split_errors(tmp_path, capsys):
    train = _letor(tmp_path / "train.txt", n_queries=5)
    vali = _letor(tmp_path / "vali.txt", n_queries=5)
    assert main(["convert", str(train), "--out", str(tmp_path / "x"), "--vali-fraction", "1.5"]) == 2
    assert "--vali-fraction must be between 0 and 1" in capsys.readouterr().err
    assert main(["convert", str(train), "--out", str(tmp_path / "x"), "--vali-fraction", "0.6",
                 "--test-fraction", "0.4"]) == 2
    assert "leave no training query (5 queries" in capsys.readouterr().err
    assert main(["convert", str(train), str(vali), "--out", str(tmp_path / "x"), "--vali-fraction", "0.2"]) == 2
    assert "--vali-fraction and vali files" in capsys.readouterr().err


def test_fold_on_data_without_folds_is_an_error(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    _letor(folder / "train.txt")
    _letor(folder / "test.txt", n_queries=5)
    assert main(["convert", str(folder), "--fold", "1", "--out", str(tmp_path / "o")]) == 2
    assert "--fold 1: this folder has no folds" in capsys.readouterr().err
    assert main(["convert", str(folder / "train.txt"), "--fold", "2", "--out", str(tmp_path / "o")]) == 2
    assert "--fold 2: the files are not S1..S5 parts" in capsys.readouterr().err
    only_test = tmp_path / "only_test"
    only_test.mkdir()
    _letor(only_test / "test.txt", n_queries=5)
    assert main(["convert", str(only_test), "--out", str(tmp_path / "o")]) == 2
    assert "no train split among the inputs (found test)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_synth_help_lists_presets(capsys):
    assert main(["synth", "-h"]) == 0
    out = capsys.readouterr().out
    assert "mslr-web10k" in out and "mslr-web30k" in out and "synthetic MSLR-like" in out


def test_fetch_takes_custom_objectives(monkeypatch, tmp_path, capsys):
    import ltr_cos.data.fetch as fetch

    seen = {}

    def fake_fetch(name, out, **kwargs):
        seen.update(kwargs)
        raise InputError("stop here")

    monkeypatch.setattr(fetch, "fetch_dataset", fake_fetch)
    assert main(["fetch", "mq2008", "--out", str(tmp_path / "m"), "--objective", "pr=41:quantile"]) == 2
    assert seen["objectives"] == (MAIN, ObjectiveSpec("pr", 41, "quantile"))
    assert main(["fetch", "mq2008", "--out", str(tmp_path / "m")]) == 2
    assert seen["objectives"] is None  # the dataset's own preset
    assert main(["fetch", "mq2008", "--out", str(tmp_path / "m"), "--objectives", "nope"]) == 2
    assert "unknown objectives preset 'nope'" in capsys.readouterr().err
