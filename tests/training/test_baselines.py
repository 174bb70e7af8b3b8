"""Baselines (docs/method.md §9): DPO Soup interpolation and the MODPO margin transform."""

import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.errors import InputError
from ltr_cos.losses import listnet_dpo_loss, modpo_logits, modpo_loss
from ltr_cos.models import Ranker
from ltr_cos.objectives import FixedWeights
from ltr_cos.training import (
    BackboneSettings,
    CosDpoModule,
    ModpoModule,
    OptimizerSettings,
    ReferenceModule,
    load_ranker_from_checkpoint,
    single_objective_weights,
    soup_ranker,
)

from .helpers import collate, data_info, loader, make_lists

N_FEATURES = 6


def _trainer(tmp_path, epochs):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)


def _random_ranker(seed: int, **kwargs) -> Ranker:
    torch.manual_seed(seed)
    return Ranker(N_FEATURES, hidden_sizes=(8, 4), dropout=0.0, **kwargs).eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A briefly trained reference ranker and the two single-objective DPO policies built on it."""
    tmp = tmp_path_factory.mktemp("baselines")
    pl.seed_everything(0)
    ref = ReferenceModule(data_info(N_FEATURES), BackboneSettings(hidden_sizes=[16], dropout=0.0),
                          optim=OptimizerSettings(lr=0.01))
    trainer = _trainer(tmp, 3)
    trainer.fit(ref, loader(make_lists(64), shuffle=True))
    paths = {"reference": str(tmp / "reference.ckpt")}
    trainer.save_checkpoint(paths["reference"])
    for k in range(2):
        pl.seed_everything(1)
        policy = CosDpoModule(reference_ckpt=paths["reference"], data_info=data_info(N_FEATURES),
                              sampler=FixedWeights(single_objective_weights(2, k)), optim=OptimizerSettings(lr=0.05))
        trainer = _trainer(tmp, 3)
        trainer.fit(policy, loader(make_lists(64, seed=2), shuffle=True))
        paths[f"single_{k}"] = str(tmp / f"single_{k}.ckpt")
        trainer.save_checkpoint(paths[f"single_{k}"])
    return paths


def test_single_objective_weights():
    assert single_objective_weights(3, 1) == [0.0, 1.0, 0.0]
    with pytest.raises(InputError):
        single_objective_weights(2, 2)


def test_soup_one_hot_gives_exactly_that_policy():
    policies = [_random_ranker(0), _random_ranker(1)]
    batch = collate(make_lists(6, n_features=N_FEATURES, seed=3))
    with torch.no_grad():
        own = [p(batch.features, batch.mask) for p in policies]
        assert not torch.equal(own[0], own[1])
        for k in range(2):
            soup = soup_ranker(policies, single_objective_weights(2, k))
            assert torch.equal(soup(batch.features, batch.mask), own[k])


def test_soup_interpolates_every_parameter():
    policies = [_random_ranker(0), _random_ranker(1)]
    soup = soup_ranker(policies, [0.3, 0.7])
    states = [{k: v.clone() for k, v in p.state_dict().items()} for p in policies]
    for key, value in soup.state_dict().items():
        if torch.is_floating_point(value):
            torch.testing.assert_close(value, 0.3 * states[0][key] + 0.7 * states[1][key])
    # the inputs are left unchanged
    for before, policy in zip(states, policies):
        for key, value in policy.state_dict().items():
            assert torch.equal(value, before[key])


def test_soup_of_three_policies():
    policies = [_random_ranker(0), _random_ranker(1), _random_ranker(2)]
    w = [0.2, 0.3, 0.5]
    soup = soup_ranker(policies, w)
    states = [p.state_dict() for p in policies]
    for key, value in soup.state_dict().items():
        if torch.is_floating_point(value):
            torch.testing.assert_close(value, sum(wk * st[key] for wk, st in zip(w, states)))
    batch = collate(make_lists(6, n_features=N_FEATURES, seed=3))
    with torch.no_grad():
        corner = soup_ranker(policies, single_objective_weights(3, 2))
        assert torch.equal(corner(batch.features, batch.mask), policies[2](batch.features, batch.mask))
    with pytest.raises(InputError, match="soup weights"):
        soup_ranker(policies, [0.5, 0.5])  # two weights for three policies


def test_soup_refuses_bad_inputs():
    policies = [_random_ranker(0), _random_ranker(1)]
    with pytest.raises(InputError, match="soup weights must sum to 1"):
        soup_ranker(policies, [0.5, 0.6])
    other = Ranker(N_FEATURES, hidden_sizes=(8,), dropout=0.0)
    with pytest.raises(InputError, match="different configuration"):
        soup_ranker([policies[0], other], [0.5, 0.5])
    conditioned = Ranker(N_FEATURES, hidden_sizes=(8, 4), dropout=0.0, conditioning="film", n_weights=2)
    with pytest.raises(InputError, match="unconditioned"):
        soup_ranker([conditioned, conditioned], [0.5, 0.5])


def test_modpo_logits_formula():
    gen = torch.Generator().manual_seed(0)
    scores, ref, f2 = (torch.randn(3, 5, generator=gen) for _ in range(3))
    beta = torch.tensor([0.5, 1.0, 2.0])
    z = modpo_logits(scores, ref, f2[..., None], [0.25, 0.75], beta)
    b = beta[:, None]
    expected = (b * (scores - ref) - 0.75 * b * (f2 - ref)) / 0.25
    torch.testing.assert_close(z, expected)
    # w = (1, 0): plain DPO logits beta * h
    torch.testing.assert_close(modpo_logits(scores, ref, f2[..., None], [1.0, 0.0], beta), b * (scores - ref))
    with pytest.raises(InputError, match="positive weight"):
        modpo_logits(scores, ref, f2[..., None], [0.0, 1.0], beta)  # base 0 given, but w_1 = 0


def test_modpo_loss_with_first_weight_one_is_plain_dpo_on_objective_one():
    batch = collate(make_lists(12, seed=4))
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(batch.mask.shape, generator=gen)
    ref = torch.randn(batch.mask.shape, generator=gen)
    f2 = torch.randn(batch.mask.shape, generator=gen)
    labels = batch.labels[..., 1]
    z = modpo_logits(scores, ref, f2[..., None], [1.0, 0.0], 0.7)
    per_query, valid = listnet_dpo_loss(scores, ref, labels, batch.mask, 0.7)
    expected = per_query[valid].mean()
    torch.testing.assert_close(modpo_loss(z, labels, batch.mask), expected)


def test_modpo_module_reduces_to_dpo_ls_at_first_corner(checkpoints):
    common = {"reference_ckpt": checkpoints["reference"], "data_info": data_info(N_FEATURES), "beta": 0.8}
    modpo = ModpoModule(reward_ckpts=[checkpoints["single_1"]], weights=[1.0, 0.0], **common)
    dpo_ls = CosDpoModule(sampler=FixedWeights([1.0, 0.0]), **common)
    dpo_ls.policy.load_state_dict(modpo.policy.state_dict())
    batch = collate(make_lists(16, seed=6))
    torch.testing.assert_close(modpo.training_step(batch, 0), dpo_ls.training_step(batch, 0))


def _modpo_inputs(modpo, reward_ckpt):
    """A batch and, on it, the reference, policy and reward scores (the inputs of MODPO's margin)."""
    batch = collate(make_lists(16, seed=7))
    reward = load_ranker_from_checkpoint(reward_ckpt).ranker
    with torch.no_grad():
        return (batch, modpo.reference(batch.features, batch.mask), modpo.policy(batch.features, batch.mask),
                reward(batch.features, batch.mask))


def test_modpo_module_takes_the_largest_weight_as_base(checkpoints):
    """w = (0.3, 0.7): DPO on objective 2 (aux_b, label column 2) with the objective-1 policy as the reward."""
    common = {"reference_ckpt": checkpoints["reference"], "data_info": data_info(N_FEATURES), "beta": 0.8}
    modpo = ModpoModule(reward_ckpts=[checkpoints["single_0"]], weights=[0.3, 0.7], **common).eval()
    assert modpo.base == 1
    batch, ref, scores, f1 = _modpo_inputs(modpo, checkpoints["single_0"])
    z = (0.8 * (scores - ref) - 0.3 * 0.8 * (f1 - ref)) / 0.7
    per_query, valid = listnet_dpo_loss(z, torch.zeros_like(z), batch.labels[..., 2], batch.mask, 1.0)
    torch.testing.assert_close(modpo.training_step(batch, 0), per_query[valid].mean())
    # the corner e_2 is plain DPO on objective 2
    corner = ModpoModule(reward_ckpts=[checkpoints["single_0"]], weights=[0.0, 1.0], **common)
    dpo_ls = CosDpoModule(sampler=FixedWeights([0.0, 1.0]), **common)
    dpo_ls.policy.load_state_dict(corner.policy.state_dict())
    torch.testing.assert_close(corner.training_step(batch, 0), dpo_ls.training_step(batch, 0))


def test_modpo_module_uses_the_reward_margin(checkpoints):
    common = {"reference_ckpt": checkpoints["reference"], "data_info": data_info(N_FEATURES), "beta": 0.8}
    # an explicit base: objective 1, although w_2 is larger
    modpo = ModpoModule(reward_ckpts=[checkpoints["single_1"]], weights=[0.4, 0.6], base=0, **common).eval()
    batch, ref, scores, f2 = _modpo_inputs(modpo, checkpoints["single_1"])
    z = (0.8 * (scores - ref) - 0.6 * 0.8 * (f2 - ref)) / 0.4
    per_query, valid = listnet_dpo_loss(z, torch.zeros_like(z), batch.labels[..., 1], batch.mask, 1.0)
    torch.testing.assert_close(modpo.training_step(batch, 0), per_query[valid].mean())
    # the single-objective policy has moved away from f_ref, so the margin is not zero
    assert (f2 - ref)[batch.mask].abs().max() > 1e-4


def test_modpo_module_refuses_bad_setups(checkpoints):
    common = {"reference_ckpt": checkpoints["reference"], "data_info": data_info(N_FEATURES)}
    with pytest.raises(InputError, match="positive weight"):
        ModpoModule(reward_ckpts=[checkpoints["single_1"]], weights=[0.0, 1.0], base=0, **common)
    with pytest.raises(InputError, match="outside 0..1"):
        ModpoModule(reward_ckpts=[checkpoints["single_1"]], weights=[0.5, 0.5], base=2, **common)
    with pytest.raises(InputError, match="needs 1 reward checkpoints"):
        ModpoModule(reward_ckpts=[], weights=[0.5, 0.5], **common)
    with pytest.raises(InputError, match="unconditioned single-objective"):
        ModpoModule(reward_ckpts=[checkpoints["reference"]], weights=[0.5, 0.5], **common)


def test_modpo_trains_and_reloads(checkpoints, tmp_path):
    pl.seed_everything(0)
    modpo = ModpoModule(reward_ckpts=[checkpoints["single_1"]], weights=[0.5, 0.5],
                        reference_ckpt=checkpoints["reference"], data_info=data_info(N_FEATURES),
                        optim=OptimizerSettings(lr=0.05))
    before = {k: v.clone() for k, v in modpo.policy.state_dict().items()}
    trainer = _trainer(tmp_path, 2)
    trainer.fit(modpo, loader(make_lists(48, seed=8), shuffle=True))
    assert any(not torch.equal(before[k], v) for k, v in modpo.policy.state_dict().items())
    path = tmp_path / "modpo.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_ranker_from_checkpoint(path)
    batch = collate(make_lists(4, seed=9))
    with torch.no_grad():
        torch.testing.assert_close(loaded.ranker(batch.features, batch.mask),
                                   modpo.policy.eval()(batch.features, batch.mask))
