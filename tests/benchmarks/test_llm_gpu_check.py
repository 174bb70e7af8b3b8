"""The LLM GPU check script's CPU dry run: it must stay runnable for sessions that have a GPU."""

from __future__ import annotations

import json

from benchmarks.llm_gpu_check import main


def test_llm_gpu_check_dry_run_reports_figures(tmp_path, capsys):
    out = tmp_path / "figures.json"
    code = main(["--device", "cpu", "--tiny", "--steps", "12", "--batch-size", "4", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code in (0, 1)           # 0 or 1 is the loss-fell verdict; anything else is a crash
    assert "tokens/s" in printed and "held-out pair accuracy" in printed
    figures = json.loads(out.read_text())
    assert figures["steps"] == 12 and figures["tokens_per_s"] > 0 and figures["peak_gpu_memory_gib"] is None
    for stage in ("heldout_pair_accuracy_before", "heldout_pair_accuracy_after"):
        for kind in ("implicit_reward", "weight_shift"):
            assert set(figures[stage][kind]) == {"helpful", "harmless"}
            assert all(0.0 <= v <= 1.0 for v in figures[stage][kind].values())
