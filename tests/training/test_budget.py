"""The training budget's floor (``OptimizerSettings.min_steps``), the learning-rate schedule, and the
score an unconditioned policy's checkpoints are selected by."""

import math

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.errors import InputError
from ltr_cos.objectives import FixedWeights
from ltr_cos.training import BackboneSettings, CosDpoModule, EvaluationSettings, OptimizerSettings, ReferenceModule

from .helpers import data_info, loader, make_lists

N_FEATURES = 6


def _trainer(tmp_path, epochs, **kw):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kw)


class _LearningRates(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])


def _reference(optim: OptimizerSettings) -> ReferenceModule:
    return ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[8], dropout=0.0), optim=optim)


def test_min_steps_raises_the_epochs_of_small_data(tmp_path):
    pl.seed_everything(0)
    train = loader(make_lists(40), shuffle=True)  # 40 lists / batch 16 = 3 steps per epoch
    trainer = _trainer(tmp_path, 2)
    trainer.fit(_reference(OptimizerSettings(lr=0.01, min_steps=20)), train)
    assert trainer.global_step == 21  # ceil(20 / 3) = 7 epochs of 3 steps
    assert trainer.current_epoch == 7

    trainer = _trainer(tmp_path, 10)  # the epochs already give more than min_steps: unchanged
    trainer.fit(_reference(OptimizerSettings(lr=0.01, min_steps=20)), train)
    assert trainer.global_step == 30

    trainer = _trainer(tmp_path, 2, max_steps=4)  # an explicit max_steps wins
    trainer.fit(_reference(OptimizerSettings(lr=0.01, min_steps=20)), train)
    assert trainer.global_step == 4


def test_cosine_schedule_warms_up_then_decays_to_the_floor(tmp_path):
    pl.seed_everything(0)
    seen = _LearningRates()
    trainer = _trainer(tmp_path, 4, callbacks=[seen])
    optim = OptimizerSettings(lr=0.01, schedule="cosine", warmup=0.25, min_lr_ratio=0.1)
    trainer.fit(_reference(optim), loader(make_lists(64), shuffle=True))  # 4 steps per epoch, 16 in all
    assert len(seen.seen) == 16
    assert seen.seen[:4] == pytest.approx([0.0025, 0.005, 0.0075, 0.01])  # 4 warm-up steps
    assert seen.seen[4] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(seen.seen[4:], seen.seen[5:]))  # then never up again
    assert seen.seen[-1] == pytest.approx(0.001)  # min_lr_ratio * lr at the last step
    assert optim.lr_factor(9, 16) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 11)))


def test_constant_schedule_keeps_the_rate(tmp_path):
    seen = _LearningRates()
    _trainer(tmp_path, 2, callbacks=[seen]).fit(_reference(OptimizerSettings(lr=0.01)), loader(make_lists(32)))
    assert seen.seen == [0.01] * 4


@pytest.mark.parametrize("bad", [dict(schedule="step"), dict(warmup=1.0), dict(min_lr_ratio=2.0), dict(min_steps=-1),
                                 dict(lr=-1.0)])
def test_bad_optimizer_settings_are_refused(bad):
    with pytest.raises(InputError, match="optim\\."):
        OptimizerSettings(**bad)


def test_a_per_weight_policy_is_selected_by_its_weighted_ndcg(tmp_path):
    pl.seed_everything(0)
    ref_trainer = _trainer(tmp_path, 3)
    ref_trainer.fit(_reference(OptimizerSettings(lr=0.01)), loader(make_lists(64), shuffle=True))
    ckpt = tmp_path / "ref.ckpt"
    ref_trainer.save_checkpoint(ckpt)
    module = CosDpoModule(reference_ckpt=str(ckpt), data_info=data_info(N_FEATURES), sampler=FixedWeights([0.25, 0.75]),
                          evaluation=EvaluationSettings(ndcg_ks=[10]))
    trainer = _trainer(tmp_path, 1, limit_train_batches=0)
    trainer.validate(module, loader(make_lists(32, seed=3)))
    m = trainer.callback_metrics
    expected = 0.25 * m["val/grid0/ndcg@10/aux_a"] + 0.75 * m["val/grid0/ndcg@10/aux_b"]
    assert float(m["val/score"]) == pytest.approx(float(expected), abs=1e-6)
    assert not torch.isclose(m["val/score"], m["val/hypervolume"])  # not the product of the two NDCGs
