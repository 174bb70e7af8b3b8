import math

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.errors import InputError
from ltr_cos.losses import cos_dpo_loss, rescale_temperature
from ltr_cos.models import Ranker
from ltr_cos.objectives import FixedWeights
from ltr_cos.training import (
    BackboneSettings,
    ConditioningSettings,
    CosDpoModule,
    EvaluationSettings,
    OptimizerSettings,
    ReferenceModule,
    load_ranker_from_checkpoint,
)
from ltr_cos.training.evaluate import batches_from_tensors, evaluate_grid

from .helpers import collate, data_info, loader, make_lists

N_FEATURES = 6


def _trainer(tmp_path, epochs):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                      log_every_n_steps=1)


@pytest.fixture(scope="module")
def reference_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    pl.seed_everything(0)
    module = ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[16], dropout=0.0),
                             optim=OptimizerSettings(lr=0.01))
    trainer = _trainer(tmp, 8)
    trainer.fit(module, loader(make_lists(96), shuffle=True), loader(make_lists(32, seed=1)))
    assert trainer.callback_metrics["val/score"] > 0.8  # the label is an easy function of two features
    path = tmp / "reference.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize("conditioning", ["film", "concat"])
def test_policy_starts_exactly_at_reference(reference_ckpt, conditioning):
    module = CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(N_FEATURES),
                          conditioning=ConditioningSettings(conditioning)).eval()
    batch = collate(make_lists(8, seed=5))
    weights = torch.distributions.Dirichlet(torch.ones(2)).sample((8,))
    with torch.no_grad():
        torch.testing.assert_close(module(batch.features, batch.mask, weights),
                                   module.reference(batch.features, batch.mask), atol=1e-6, rtol=0)


def test_reference_feature_count_mismatch_is_a_clear_error(reference_ckpt):
    with pytest.raises(InputError, match="takes 6 features but the dataset has 7"):
        CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(7))
    with pytest.raises(InputError, match="not found"):
        CosDpoModule(reference_ckpt="nope.ckpt", data_info=data_info(6))


def test_cos_dpo_trains_responds_to_weights_and_reloads(reference_ckpt, tmp_path):
    pl.seed_everything(0)
    module = CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(N_FEATURES), beta=0.5,
                          conditioning=ConditioningSettings("film"), optim=OptimizerSettings(lr=0.01),
                          evaluation=EvaluationSettings(val_grid_steps=2))
    trainer = _trainer(tmp_path, 10)
    trainer.fit(module, loader(make_lists(128, seed=2), shuffle=True), loader(make_lists(48, seed=3)))
    metrics = trainer.callback_metrics
    # grid 0 is w = (1, 0) (all weight on aux_a), grid 2 is w = (0, 1)
    assert metrics["val/grid0/ndcg@10/aux_a"] > metrics["val/grid2/ndcg@10/aux_a"] + 0.05
    assert metrics["val/grid2/ndcg@10/aux_b"] > metrics["val/grid0/ndcg@10/aux_b"] + 0.05
    assert metrics["val/hypervolume"] > 0

    path = tmp_path / "policy.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_ranker_from_checkpoint(path)
    assert loaded.info["stage"] == "cos_dpo" and loaded.info["weighted_objectives"] == ["aux_a", "aux_b"]
    batch = collate(make_lists(4, seed=9))
    w = torch.tensor([[0.3, 0.7]] * 4)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.ranker(batch.features, batch.mask, w), module(batch.features, batch.mask, w))

    # batched grid evaluation equals one forward per weight
    items = make_lists(20, seed=4)
    b = collate(items)
    batches = batches_from_tensors(b.features, b.mask, b.labels, 8)
    grid = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]).numpy()
    together = evaluate_grid(loaded, batches, grid)
    one_by_one = evaluate_grid(loaded, batches, grid, weights_per_pass=1)
    assert (together.to_numpy() - one_by_one.to_numpy()).__abs__().max() < 1e-6
    assert list(together.columns[:3]) == ["weight/aux_a", "weight/aux_b", "beta"]


def test_dpo_ls_policy_is_unconditioned(reference_ckpt, tmp_path):
    module = CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(N_FEATURES),
                          sampler=FixedWeights([0.2, 0.8]))
    assert module.policy.config.conditioning is None
    trainer = _trainer(tmp_path, 1)
    trainer.fit(module, loader(make_lists(16, seed=2)), loader(make_lists(8, seed=3)))
    trainer.save_checkpoint(tmp_path / "ls.ckpt")
    loaded = load_ranker_from_checkpoint(tmp_path / "ls.ckpt")
    assert loaded.info["fixed_weights"] == [0.2, 0.8] and loaded.info["conditioning"] is None
    with pytest.raises(InputError, match="fixed weights must sum to 1"):
        CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(N_FEATURES),
                     sampler=FixedWeights([0.5, 0.6]))


def test_nan_loss_stops_training_with_the_step(reference_ckpt, tmp_path):
    items = make_lists(8, seed=2)
    items[3] = (items[3][0] * float("nan"), items[3][1])
    module = ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[8]))
    with pytest.raises(FloatingPointError, match="global step 0"):
        _trainer(tmp_path, 1).fit(module, loader(items, batch_size=8))


def test_temperature_rescaling_matches_closed_form_optimum():
    """docs/method.md §5: the ListNet-DPO optimum at beta' is f_ref + (beta/beta') (f*_beta - f_ref).

    An unconditioned ranker with one-hot features can represent any score vector, so training it to
    convergence at beta=1 and at beta'=4 and comparing with the rescaled beta=1 model checks the rule.
    """
    torch.manual_seed(0)
    n = 5
    features = torch.eye(n).unsqueeze(0)  # [1, 5, 5]: one query, candidate i has feature i
    mask = torch.ones(1, n, dtype=torch.bool)
    labels = torch.zeros(1, n, 2)
    labels[0, :, 1] = torch.tensor([0.0, 1.0, 2.0, 0.5, 3.0])
    reference = Ranker(n_features=n, hidden_sizes=(8,), dropout=0.0)

    def train(beta):
        policy = Ranker(n_features=n, hidden_sizes=(8,), dropout=0.0)
        policy.load_reference(reference)
        opt = torch.optim.Adam(policy.parameters(), lr=0.05)
        w = torch.ones(1, 1)
        for _ in range(1500):
            opt.zero_grad()
            with torch.no_grad():
                ref = reference(features, mask)
            out = cos_dpo_loss(policy(features, mask), ref, labels, mask, w, torch.tensor([beta]), [1])
            out.loss.backward()
            opt.step()
        return policy(features, mask).detach()

    with torch.no_grad():
        ref = reference(features, mask)
    f1, f4 = train(1.0), train(4.0)
    moved = rescale_temperature(f1, ref, 1.0, 4.0)
    # scores matter up to a per-query constant: compare the Plackett-Luce distributions at beta'=4
    p_trained = torch.softmax(4.0 * (f4 - ref), -1)
    p_moved = torch.softmax(4.0 * (moved - ref), -1)
    torch.testing.assert_close(p_moved, p_trained, atol=2e-3, rtol=0)
    # and both equal the target distribution softmax(labels) (ListNet-DPO optimum)
    torch.testing.assert_close(p_trained, torch.softmax(labels[..., 1], -1), atol=2e-3, rtol=0)
    # the rule is not trivially true: the un-rescaled beta=1 policy is far from the beta'=4 optimum
    assert (torch.softmax(4.0 * (f1 - ref), -1) - p_trained).abs().max() > 0.1
    assert math.isclose(float(rescale_temperature(torch.ones(1, 1), torch.zeros(1, 1), 2.0, 4.0)), 0.5)


def test_last_checkpoint_follows_every_epoch(tmp_path):
    """`--ckpt_path last` must resume from the latest epoch, not from the last improvement."""
    from ltr_cos.training.cli import RankingCheckpoint

    module = ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[8]), optim=OptimizerSettings(lr=0.0))
    callback = RankingCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/score", mode="max", save_last=True,
                                 filename="best")
    trainer = pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, callbacks=[callback],
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, loader(make_lists(16)), loader(make_lists(8, seed=1)))
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    best = torch.load(tmp_path / "ckpt" / "best.ckpt", weights_only=True)
    assert best["epoch"] == 0  # lr = 0: the score never improves after the first epoch
    assert last["epoch"] == 2


def test_train_loss_is_a_query_weighted_epoch_mean(reference_ckpt, tmp_path):
    """161 queries at batch size 32: the last batch holds one query, here with equal auxiliary labels (loss 0,
    no preference). The logged epoch loss must be the query-weighted mean of the valid queries, not 0."""
    from pytorch_lightning.loggers import CSVLogger

    items = make_lists(161, seed=3)
    x, y = items[-1]
    y[:, 1:] = 1.0  # no preference on either auxiliary objective
    module = CosDpoModule(reference_ckpt=str(reference_ckpt), data_info=data_info(N_FEATURES),
                          optim=OptimizerSettings(lr=0.0))  # lr 0: every batch's loss is measured at the start
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=CSVLogger(tmp_path), enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(module, loader(items, batch_size=32))
    logged = trainer.callback_metrics
    expected = {}
    with torch.no_grad():
        totals = {name: [0.0, 0.0] for name in ("train/loss", "train/loss/aux_a", "train/loss/aux_b")}
        for step, batch in enumerate(loader(items, batch_size=32)):
            w, beta, log_beta = module.sampler.sample(batch.batch_size, 2, module.beta, step)
            out = cos_dpo_loss(module(batch.features, batch.mask, w, log_beta), module.reference(batch.features,
                               batch.mask), batch.labels, batch.mask, w, beta, [1, 2])
            if step == 5:
                assert batch.batch_size == 1 and out.loss == 0 and out.valid_count.sum() == 0
            for name, value, n in (("train/loss", out.loss, out.valid_count.max()),
                                   ("train/loss/aux_a", out.per_objective[0], out.valid_count[0]),
                                   ("train/loss/aux_b", out.per_objective[1], out.valid_count[1])):
                totals[name][0] += float(value) * float(n)
                totals[name][1] += float(n)
        expected = {name: s / n for name, (s, n) in totals.items()}
    for name, value in expected.items():
        assert float(logged[name]) == pytest.approx(value, rel=1e-5)
    rows = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    losses = [r.split(",")[header.index("train/loss")] for r in rows[1:]]
    written = [float(v) for v in losses if v]
    assert written == [pytest.approx(float(logged["train/loss"]), rel=1e-5)]  # one epoch value, no 0.000 step


def test_reference_train_loss_weights_the_last_small_batch(tmp_path):
    module = ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[16], dropout=0.0),
                             optim=OptimizerSettings(lr=0.0))
    items = make_lists(33, seed=4)
    trainer = _trainer(tmp_path, 1)
    trainer.fit(module, loader(items, batch_size=32))
    from ltr_cos.losses import listnet_loss

    with torch.no_grad():
        per_batch = [(float(listnet_loss(module(b.features, b.mask), b.labels[..., 0], b.mask)), b.batch_size)
                     for b in loader(items, batch_size=32)]
    expected = sum(v * n for v, n in per_batch) / sum(n for _, n in per_batch)
    assert float(trainer.callback_metrics["train/loss/relevance"]) == pytest.approx(expected, rel=1e-5)
