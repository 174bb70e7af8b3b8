"""README's quick start, run as written (in a scratch folder), plus the golden-run checks."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart:begin -->\s*```bash\n(.*?)```\s*<!-- quickstart:end -->", text, re.S)
    assert block, "README lost its quick start block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_quickstart_starts_from_make_install():
    text = (REPO / "README.md").read_text()
    assert text.index("make install") < text.index("<!-- quickstart:begin -->")
    assert "make test" in text
    assert quickstart_commands()[0] == "source .venv/bin/activate"


@pytest.mark.slow
def test_readme_quickstart_runs_and_the_front_moves_with_the_weight(tmp_path):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    commands = quickstart_commands()
    # `source .venv/bin/activate` from the repo root means: this interpreter's bin first on PATH
    script = "set -euo pipefail\n" + "\n".join(
        c if c != "source .venv/bin/activate" else f'export PATH="{Path(sys.executable).parent}:$PATH"'
        for c in commands)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=1500,
                            env=env, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # golden run: the reference ranker learned relevance (floor on main NDCG@10, validation split)
    rows = list(csv.DictReader((tmp_path / "runs/quickstart/reference/metrics.csv").read_text().splitlines()))
    best_main = max(float(r["val/ndcg@10/relevance"]) for r in rows if r.get("val/ndcg@10/relevance"))
    assert best_main > 0.65

    # each auxiliary objective is higher at the corner that favours it than at the opposite corner
    out = tmp_path / "runs/quickstart/pareto"
    grid = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    favours_quality = next(r for r in grid if float(r["weight/quality"]) == 1.0)
    favours_clicks = next(r for r in grid if float(r["weight/url_clicks"]) == 1.0)
    assert float(favours_quality["ndcg@10/quality"]) > float(favours_clicks["ndcg@10/quality"]) + 0.05
    assert float(favours_clicks["ndcg@10/url_clicks"]) > float(favours_quality["ndcg@10/url_clicks"]) + 0.05
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid_size"] == 11 and summary["hypervolume"]["origin"]["auxiliary"] > 0
    assert (out / "front.png").stat().st_size > 10_000
    assert "ndcg@10/quality" in result.stdout  # the grid table is printed
