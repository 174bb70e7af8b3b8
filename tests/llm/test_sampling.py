"""Training conditions of LlmCosDpoModule: drawn per (seed, step, rank), so a resumed run draws the same."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.errors import InputError
from ltr_cos.llm.data import collate_encoded, encode_example
from ltr_cos.llm.module import LlmCosDpoModule

from .helpers import PAIRS, trained_tokenizer


@pytest.fixture(scope="module")
def tok():
    return trained_tokenizer()


def make_module(tok, **kw) -> LlmCosDpoModule:
    torch.manual_seed(0)
    return LlmCosDpoModule(base="random:llama", tokenizer=tok, prompt_hidden=16, **kw)


def _at_step(module: LlmCosDpoModule, step: int, batch_size: int = 5):
    module.trainer = None
    module._step_for_test = step
    return module.sample_conditions(batch_size)


@pytest.fixture
def stepped(monkeypatch):
    # global_step reads the trainer; outside fit, set it through the property
    monkeypatch.setattr(LlmCosDpoModule, "global_step", property(lambda self: self._step_for_test))


def test_same_step_same_draws_other_step_other_draws(tok, stepped):
    module = make_module(tok, temperature_conditioning=True, beta_min=0.2, beta_max=5.0)
    w3, lb3 = _at_step(module, 3)
    torch.rand(7)                                           # the global RNG does not matter
    w3b, lb3b = _at_step(module, 3)
    w4, lb4 = _at_step(module, 4)
    assert torch.equal(w3, w3b) and torch.equal(lb3, lb3b)
    assert not torch.allclose(w3, w4) and not torch.allclose(lb3, lb4)
    assert w3.shape == (5, 2) and torch.allclose(w3.sum(1), torch.ones(5))
    assert ((lb3 >= math.log(0.2) - 1e-6) & (lb3 <= math.log(5.0) + 1e-6)).all()
    assert len(set(w3[:, 0].tolist())) == 5                 # one weight vector per prompt


def test_fixed_beta_and_one_weight_per_batch(tok, stepped):
    module = make_module(tok, beta=0.3, per_query_weights=False)
    weights, log_beta = _at_step(module, 0)
    assert torch.equal(weights, weights[:1].expand(5, -1))
    assert torch.allclose(log_beta, torch.full((5,), math.log(0.3)))
    # the Dirichlet concentration reaches the sampler: alpha = 100 keeps weights near the centre
    central, _ = _at_step(make_module(tok, alpha=100.0), 0, 50)
    assert (central - 0.5).abs().max() < 0.2


def test_bad_sampler_settings_are_input_errors(tok):
    with pytest.raises(InputError, match="beta_min <= beta_max"):
        make_module(tok, temperature_conditioning=True, beta_min=2.0, beta_max=1.0)
    with pytest.raises(InputError, match="alpha must be > 0"):
        make_module(tok, alpha=0.0)
    with pytest.raises(InputError, match="beta must be > 0"):
        make_module(tok, beta=0.0)
    with pytest.raises(InputError, match=r"weighted_objectives \['safe'\] are not among"):
        make_module(tok, weighted_objectives=["safe"])


class _Recording(LlmCosDpoModule):
    """Keeps the conditions drawn at each step."""

    def sample_conditions(self, batch_size):
        weights, log_beta = super().sample_conditions(batch_size)
        self.drawn = getattr(self, "drawn", {})
        self.drawn[self.global_step] = (weights.clone(), log_beta.clone())
        return weights, log_beta


def _fit(tok, max_steps: int, root, ckpt_path=None):
    pl.seed_everything(0, verbose=False)
    module = _Recording(base="random:llama", tokenizer=tok, prompt_hidden=16, temperature_conditioning=True)
    items = [encode_example(tok, ex) for ex in PAIRS.examples]
    # every batch the same size (the draws depend on the step and the batch size only)
    loader = torch.utils.data.DataLoader(items, batch_size=len(items), collate_fn=lambda b: collate_encoded(b, tok.pad_token_id))
    trainer = pl.Trainer(accelerator="cpu", max_steps=max_steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root))
    trainer.fit(module, train_dataloaders=loader, ckpt_path=ckpt_path)
    return trainer, module


def test_a_resumed_run_draws_the_conditions_of_an_uninterrupted_one(tok, tmp_path):
    _, whole = _fit(tok, 4, tmp_path / "whole")
    trainer, first = _fit(tok, 2, tmp_path / "first")
    trainer.save_checkpoint(tmp_path / "step2.ckpt")
    _, resumed = _fit(tok, 4, tmp_path / "resumed", ckpt_path=str(tmp_path / "step2.ckpt"))
    assert sorted(whole.drawn) == [0, 1, 2, 3] and sorted(first.drawn) == [0, 1] and sorted(resumed.drawn) == [2, 3]
    for step in (0, 1, 2, 3):
        done = first if step < 2 else resumed
        assert torch.equal(done.drawn[step][0], whole.drawn[step][0])
        assert torch.equal(done.drawn[step][1], whole.drawn[step][1])
    assert not torch.allclose(whole.drawn[2][0], whole.drawn[0][0])
