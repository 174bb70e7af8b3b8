"""GPU checks (skipped without CUDA): both stages train on one GPU in bf16-mixed, and a CUDA ranker scores
as the CPU one does."""

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.models import Ranker
from ltr_cos.objectives import DirichletSampler
from ltr_cos.training import (
    BackboneSettings,
    ConditioningSettings,
    CosDpoModule,
    OptimizerSettings,
    ReferenceModule,
)

from .helpers import collate, data_info, loader, make_lists

pytestmark = pytest.mark.gpu


def _gpu_trainer(tmp_path, epochs):
    return pl.Trainer(max_epochs=epochs, accelerator="gpu", devices=1, precision="bf16-mixed", logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path)


def test_both_stages_train_on_gpu_in_bf16(tmp_path):
    pl.seed_everything(0)
    reference = ReferenceModule(data_info(6), BackboneSettings(arch="transformer", d_model=32, n_heads=4, n_layers=2,
                                                               dim_feedforward=64), optim=OptimizerSettings(lr=0.005))
    trainer = _gpu_trainer(tmp_path, 6)
    trainer.fit(reference, loader(make_lists(128), shuffle=True), loader(make_lists(32, seed=1)))
    assert trainer.callback_metrics["val/score"] > 0.7
    trainer.save_checkpoint(tmp_path / "ref.ckpt")

    policy = CosDpoModule(reference_ckpt=str(tmp_path / "ref.ckpt"), data_info=data_info(6),
                          conditioning=ConditioningSettings("prompt"),
                          sampler=DirichletSampler(beta_min=0.1, beta_max=10.0), optim=OptimizerSettings(lr=0.005))
    trainer = _gpu_trainer(tmp_path, 6)
    trainer.fit(policy, loader(make_lists(128, seed=2), shuffle=True), loader(make_lists(32, seed=3)))
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"]) and metrics["val/hypervolume"] > 0
    assert trainer.strategy.root_device.type == "cuda"  # (fit moves the module back to the CPU at the end)


def test_cuda_scores_match_cpu():
    torch.manual_seed(0)
    ranker = Ranker(n_features=6, arch="transformer", d_model=32, n_heads=4, n_layers=2, dim_feedforward=64,
                    dropout=0.0, conditioning="film", n_weights=2).eval()
    with torch.no_grad():
        for p in ranker.conditioner.parameters():
            p.normal_(0, 0.2)
    batch = collate(make_lists(16, seed=4))
    weights = torch.distributions.Dirichlet(torch.ones(2)).sample((16,))
    with torch.no_grad():
        cpu = ranker(batch.features, batch.mask, weights)
        gpu = ranker.cuda()(batch.features.cuda(), batch.mask.cuda(), weights.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
