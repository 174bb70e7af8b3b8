"""load_llm_checkpoint: current and pre-rename hyper-parameter names, and clear errors for bad files."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.commands.llm import main
from ltr_cos.errors import InputError
from ltr_cos.llm.checkpoint import load_llm_checkpoint, read_hyperparameters
from ltr_cos.llm.module import LlmCosDpoModule


def _save(module: LlmCosDpoModule, hparams: dict, path) -> None:
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams,
                "pytorch-lightning_version": pl.__version__}, path)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    module = LlmCosDpoModule(base="random:llama", objective_names=["brevity", "courtesy", "correct"],
                             weighted_objectives=["courtesy", "brevity"], temperature_conditioning=True,
                             beta_min=0.2, beta_max=5.0, per_query_weights=False, prompt_hidden=16)
    with torch.no_grad():
        for p in module.policy.hyper_prompt.parameters():
            p.add_(0.01)
    return module


def test_a_checkpoint_with_the_current_names_round_trips(trained, tmp_path):
    _save(trained, dict(trained.hparams), tmp_path / "new.ckpt")
    loaded = load_llm_checkpoint(tmp_path / "new.ckpt")
    assert loaded.weighted_objectives == ["courtesy", "brevity"] and loaded.objective_columns == [1, 0]
    assert not loaded.training
    for name, value in trained.policy.trainable_state_dict().items():
        assert torch.equal(loaded.policy.trainable_state_dict()[name], value), name


def test_a_checkpoint_with_the_old_names_is_read_under_the_new_ones(trained, tmp_path):
    old = dict(trained.hparams)
    for new_name, old_name in (("objective_names", "objectives"), ("weighted_objectives", "weighted"),
                               ("temperature_conditioning", "condition_on_beta"),
                               ("per_query_weights", "weights_per_query")):
        old[old_name] = old.pop(new_name)
    old["beta_range"] = (old.pop("beta_min"), old.pop("beta_max"))
    _save(trained, old, tmp_path / "old.ckpt")
    loaded = load_llm_checkpoint(tmp_path / "old.ckpt")
    hp = loaded.hparams
    assert loaded.objective_names == ["brevity", "courtesy", "correct"]
    assert loaded.weighted_objectives == ["courtesy", "brevity"]
    assert hp.temperature_conditioning and (hp.beta_min, hp.beta_max) == (0.2, 5.0) and not hp.per_query_weights
    assert "objectives" not in hp and "beta_range" not in hp
    w, lb = torch.tensor([[0.3, 0.7]]), torch.tensor([0.5])
    assert torch.equal(loaded.policy.prompt_vectors(w, lb), trained.policy.eval().prompt_vectors(w, lb))


def test_bad_checkpoint_files_are_input_errors(tmp_path, capsys):
    with pytest.raises(InputError, match="no such checkpoint file"):
        read_hyperparameters(tmp_path / "missing.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot read the checkpoint"):
        read_hyperparameters(tmp_path / "text.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(InputError, match="not an `ltr-cos llm fit` checkpoint"):
        load_llm_checkpoint(tmp_path / "other.ckpt")
    assert main(["generate", "--checkpoint", str(tmp_path / "missing.ckpt"), "--weights", "1", "--prompt", "x"]) == 2
    err = capsys.readouterr().err
    assert "ltr-cos: error: " in err and "missing.ckpt: no such checkpoint file" in err and "Traceback" not in err


def test_generate_asks_a_beta_conditioned_policy_for_beta(trained, tmp_path, capsys):
    _save(trained, dict(trained.hparams), tmp_path / "beta.ckpt")
    args = ["generate", "--checkpoint", str(tmp_path / "beta.ckpt"), "--weights", "0.5,0.5", "--prompt", "Hi",
            "--max-new-tokens", "2"]
    assert main(args) == 2
    assert "--beta (> 0) is required: the policy is conditioned on beta, trained in [0.2, 5]" in capsys.readouterr().err
    assert main([*args, "--beta", "1.0"]) == 0
    assert '"weights": {"courtesy": 0.5, "brevity": 0.5}' in capsys.readouterr().out
