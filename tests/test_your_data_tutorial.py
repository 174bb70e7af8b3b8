"""docs/your-data.md run as written (in a scratch folder, smaller and shorter), then README's Python scoring
lines on the artifact it exported."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _block(path: Path, name: str, language: str) -> str:
    text = path.read_text()
    found = re.search(rf"<!-- {name}:begin -->\s*```{language}\n(.*?)```\s*<!-- {name}:end -->", text, re.S)
    assert found, f"{path.name} lost its {name} block"
    return found.group(1)


def tutorial_script() -> str:
    """The tutorial's commands, made small for a test: fewer queries, one epoch per stage, a one-epoch
    benchmark of three methods (every other word as written)."""
    script = _block(REPO / "docs" / "your-data.md", "tutorial", "bash")
    script = script.replace("--queries 300", "--queries 120").replace("--queries 80", "--queries 40")
    script = re.sub(r"(--data\.data_dir data/mine)", r"\1 --trainer.max_epochs 1 --model.init_args.optim.min_steps 0", script)
    script = script.replace("--run first", "--run first --ref-epochs 1 --policy-epochs 1 --methods cos_dpo,dpo_ls,lightgbm")
    assert script.count("--trainer.max_epochs 1") == 2 and "--policy-epochs 1" in script
    return script


@pytest.mark.slow
def test_your_data_tutorial_runs(tmp_path):
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PYTHONUNBUFFERED="1", REPO=str(REPO), PATH=f"{bin_dir}:{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    # `ltr-cos` as this tree's command (an installed console script may belong to another checkout)
    shim = tmp_path / "bin" / "ltr-cos"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ltr_cos.cli "$@"\n')
    shim.chmod(0o755)
    env["PATH"] = f"{shim.parent}:{env['PATH']}"
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + tutorial_script()], cwd=work, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    meta = json.loads((work / "data/mine/meta.json").read_text())
    assert meta["objective_names"] == ["relevance", "quality", "clicks"]
    assert meta["split"]["queries"] == {"train": 96, "vali": 24} and meta["normalization"]["fitted_on"] == "train"
    assert {s: v["queries"] for s, v in meta["splits"].items()} == {"train": 96, "vali": 24, "test": 40}
    assert "clicks (feature 135, quantile" in result.stdout  # data info names the objectives
    grid = list(csv.DictReader((work / "runs/mine/pareto/pareto.csv").read_text().splitlines()))
    assert {float(r["beta"]) for r in grid} == {0.5, 1.0, 2.0} and len(grid) == 33
    ranked = (work / "runs/mine/ranked.tsv").read_text().splitlines()
    assert len(ranked) == 1 + sum(int(n) for n in (work / "mydata/test.txt.query").read_text().split())
    bench = work / "runs/mine/benchmark/mine/first"
    results = json.loads((bench / "results.json").read_text())
    assert results["objectives"] == ["relevance", "quality", "clicks"] and "lightgbm" in results["stage1"]
    assert (bench / "runs/mine_seed0/cos_dpo/cos_dpo.ckpt").is_file()

    # README's scoring lines on the exported artifact match `ltr-cos rank` on the first query
    from ltr_cos.data.libsvm import read_libsvm

    table = read_libsvm(work / "mydata/test.txt")
    first = table.qid == table.qid[0]
    namespace = {"X": table.features[first]}
    cwd = os.getcwd()
    try:
        os.chdir(work / "runs/mine")
        exec(_block(REPO / "README.md", "python-scoring", "python"), namespace)  # noqa: S102 - the README's lines
    finally:
        os.chdir(cwd)
    rows = [line.split("\t") for line in ranked[1:] if line.split("\t")[0] == ranked[1].split("\t")[0]]
    by_index = {int(r[1]): float(r[2]) for r in rows}
    assert np.allclose([by_index[i] for i in range(len(by_index))], namespace["scores"], atol=1e-5)
