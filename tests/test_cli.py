"""The `ltr-cos` command: help texts, and every shipped YAML config parses."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ltr_cos.cli import EXTRA_COMMANDS, main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
# fragments that only make sense stacked on a model config
STACK_ON = {"loss": CONFIGS / "model" / "cos_dpo_film.yaml"}


def test_configs_exist():
    assert len(ALL_YAML) > 10


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_yaml_is_a_mapping(path):
    content = yaml.safe_load(path.read_text())
    assert isinstance(content, dict) and content


RANKER_YAML = [p for p in ALL_YAML if p.parent.name != "llm"]


def _assert_contains(resolved, given, key):
    """What a fragment sets is what the CLI resolved (nested groups may add their defaults)."""
    if isinstance(given, dict):
        for sub, value in given.items():
            _assert_contains(resolved[sub], value, f"{key}.{sub}")
    else:
        assert resolved == given, key


@pytest.mark.parametrize("path", RANKER_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_ranker_config_parses_with_the_lightning_cli(path, capsys):
    from ltr_cos.training.cli import run_lightning_cli

    args = ["fit"]
    base = STACK_ON.get(path.parent.name)
    if base is not None:
        args += ["--config", str(base)]
    args += ["--config", str(path), "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(args)
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert "trainer" in printed and "data" in printed
    own = yaml.safe_load(path.read_text())
    # the values the fragment sets are what the CLI resolved
    for section, values in own.items():
        if section == "model" and "init_args" in values:
            for key, value in values["init_args"].items():
                _assert_contains(printed["model"]["init_args"][key], value, key)
        elif section in ("data", "trainer") and isinstance(values, dict):
            for key, value in values.items():
                if not isinstance(value, (dict, list)):
                    assert printed[section][key] == value, key


def test_stacked_fragments_override_in_order(capsys):
    from ltr_cos.training.cli import run_lightning_cli

    with pytest.raises(SystemExit):
        run_lightning_cli(["fit", "--config", str(CONFIGS / "model" / "cos_dpo_film.yaml"),
                           "--config", str(CONFIGS / "loss" / "pl_dpo.yaml"),
                           "--config", str(CONFIGS / "loss" / "cosine.yaml"), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] == "ltr_cos.training.CosDpoModule"
    loss = printed["model"]["init_args"]["loss"]
    assert loss["class_path"] == "ltr_cos.losses.CosDpoLoss"
    assert loss["init_args"]["form"] == "pl" and loss["init_args"]["cosine_lambda"] == 0.1
    assert printed["model"]["init_args"]["conditioning"]["kind"] == "film"


def test_top_level_help_lists_every_command(capsys):
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    for name in ["fit", "validate", "test", "predict", *EXTRA_COMMANDS]:
        assert f"  {name}" in out


def test_unknown_command_fails_clearly(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_fit_help():
    """`ltr-cos fit -h` through the installed console script."""
    exe = Path(sys.executable).parent / "ltr-cos"
    out = subprocess.run([str(exe), "fit", "-h"], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--model" in out.stdout and "--data.data_dir" in out.stdout and "--checkpoint.monitor" in out.stdout


@pytest.mark.parametrize("command", sorted(EXTRA_COMMANDS))
def test_each_tool_has_help(command, capsys):
    import importlib

    module = importlib.import_module(EXTRA_COMMANDS[command][0])
    try:
        code = module.main(["-h"])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code in (0, None)
    assert "usage" in capsys.readouterr().out.lower()


def test_the_data_order_follows_the_run_seed_and_fit_says_where_the_run_went(tmp_path, monkeypatch, capsys):
    from ltr_cos.training.cli import run_lightning_cli
    from tests.reliability.helpers import make_dataset

    data = make_dataset(tmp_path, train_queries=16, vali_queries=4)
    monkeypatch.chdir(tmp_path)
    common = ["--model", "ltr_cos.training.ReferenceModule", "--data.data_dir", str(data)]
    cli = run_lightning_cli([*common, "--seed_everything", "7"], run=False)
    assert cli.datamodule.seed == 7
    cli = run_lightning_cli([*common, "--seed_everything", "7", "--data.seed", "3"], run=False)
    assert cli.datamodule.seed == 3  # an explicit data seed stays
    monkeypatch.setenv("LTR_COS_RUN_VERSION", "v1")
    run_lightning_cli(["fit", *common, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"])
    out = capsys.readouterr().out
    assert "run folder: runs/ltr_cos/v1" in out and "best checkpoint: " in out and "best.ckpt" in out
