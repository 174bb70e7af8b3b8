"""`ltr-cos llm fit | generate | pareto` end to end on the CPU smoke config, and every LLM YAML parses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ltr_cos.commands.llm import main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "llm").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_llm_config_parses(config, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_.value.code == 0
    assert "model:" in capsys.readouterr().out


def test_fit_generate_pareto(tmp_path, capsys):
    config = Path(__file__).resolve().parents[2] / "configs" / "llm" / "cpu_smoke.yaml"
    main(["fit", "--config", str(config), "--trainer.max_steps", "3", "--trainer.val_check_interval", "3",
          "--trainer.default_root_dir", str(tmp_path), "--data.train", "synthetic:pku:12:0",
          "--data.val", "synthetic:pku:4:1", "--model.prompt_hidden", "16"])
    ckpt = next(tmp_path.rglob("*.ckpt"))
    assert (ckpt.parent.parent / "config.yaml").exists()
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(ckpt), "--weights", "0.3,0.7", "--prompt", "How do I make tea?",
                 "--max-new-tokens", "3"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["weights"] == {"helpful": 0.3, "harmless": 0.7}
    assert main(["generate", "--checkpoint", str(ckpt), "--weights", "0.3", "--prompt", "x"]) == 2
    assert "--weights must have 2 values (helpful, harmless), got 1" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(ckpt), "--weights", "0.3,0.6", "--prompt", "x"]) == 2
    assert "--weights must sum to 1 (within 0.0001), got sum 0.9" in capsys.readouterr().err
    out = tmp_path / "pareto"
    assert main(["pareto", "--checkpoint", str(ckpt), "--prompt", "How do I make tea?", "--grid-step", "0.5",
                 "--reward", "helpful=rule:detail", "--reward", "harmless=rule:caution",
                 "--max-new-tokens", "3", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    assert [r["weight/helpful"] for r in rows] == ["1.0", "0.5", "0.0"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objectives"] == ["helpful", "harmless"] and summary["grid_size"] == 3
    assert main(["pareto", "--checkpoint", str(ckpt), "--prompt", "x", "--reward", "helpful=rule:detail",
                 "--out", str(tmp_path / "p2")]) == 2
    assert "no --reward for objectives ['harmless']" in capsys.readouterr().err


def test_demo_command_on_a_tiny_random_model(tmp_path, capsys):
    # the SmolLM2 demo's path (train, generate over the weight grid, print, write generations.json) on a tiny
    # random model; the real model's run is tests/llm/test_smollm2.py
    assert main(["demo", "--base", "random:llama", "--steps", "2", "--max-new-tokens", "3",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mean rule rewards" in out and "reference" in out
    saved = json.loads((tmp_path / "generations.json").read_text())
    assert [p["weights"] for p in saved["grid"]] == [[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]
    assert saved["settings"]["sft_weight"] == 2.0 and len(saved["train_loss"]) == 2
    assert set(saved["heldout_pair_accuracy"]) == {"brevity", "courtesy"}
    assert not list(tmp_path.glob("*.tmp"))
