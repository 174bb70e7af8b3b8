"""RankingDataModule: properties before setup, train/eval loaders, workers, Lightning's DDP sampler injection."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from ltr_cos.data import RankingDataModule
from ltr_cos.errors import InputError
from ltr_cos.types import RankingBatch
from tests.data.helpers import random_split, write_dataset_folder

TRAIN_LENGTHS = [40, 3, 12, 1, 25, 7, 9, 30, 2, 16, 5, 11]
VALI_LENGTHS = [50, 2, 3, 48, 1, 20, 4]


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(2)
    splits = {"train": random_split(rng, TRAIN_LENGTHS, n_features=4, n_objectives=3),
              "vali": random_split(rng, VALI_LENGTHS, n_features=4, n_objectives=3, first_qid=500)}
    norm = {"kind": "signed_log1p_standardize", "mean": [0.5] * 4, "std": [2.0] * 4, "fitted_on": "train"}
    return write_dataset_folder(tmp_path / "ds", splits, ["relevance", "quality", "clicks"], norm), splits


def _epoch_qids(loader):
    return [q for batch in loader for q in batch.qids.tolist()]


def test_properties_before_setup(folder):
    root, _ = folder
    dm = RankingDataModule(str(root), batch_size=4)
    assert dm.n_features == 4
    assert dm.objective_names == ["relevance", "quality", "clicks"]
    assert dm.normalization["mean"] == [0.5] * 4 and dm.normalization["fitted_on"] == "train"
    assert dm.meta["splits"]["vali"]["queries"] == len(VALI_LENGTHS)
    assert dm.hparams.max_list_length == 128  # saved for checkpoints and the CLI
    with pytest.raises(InputError, match="batch_size"):
        RankingDataModule(str(root), batch_size=0)
    with pytest.raises(InputError, match="_SUCCESS|not found"):
        RankingDataModule(str(root / "missing"))


def test_train_loader_shuffles_caps_and_covers_every_query(folder):
    root, (splits) = folder
    dm = RankingDataModule(str(root), batch_size=5, max_list_length=10, seed=3)
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    all_qids = sorted(set(splits["train"][0].tolist()))
    orders = []
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)  # what Lightning does at each epoch start
        batches = list(loader)
        for batch in batches:
            assert isinstance(batch, RankingBatch)
            assert batch.features.shape[1] <= 10 and batch.features.shape[1] == batch.mask.sum(1).max()
        qids = _epoch_qids(batches)
        assert sorted(qids) == all_qids
        orders.append(qids)
    assert orders[0] != orders[1] and orders[1] != orders[2]
    again = RankingDataModule(str(root), batch_size=5, max_list_length=10, seed=3).train_dataloader()
    again.sampler.set_epoch(1)
    first = next(iter(again))
    assert first.qids.tolist() == orders[1][:5]


def test_eval_loader_pads_per_batch_and_sorts_by_length(folder):
    root, splits = folder
    dm = RankingDataModule(str(root), batch_size=8, eval_batch_size=2, max_list_length=4)
    dm.setup("validate")
    batches = list(dm.val_dataloader())
    assert [b.features.shape[1] for b in batches] == [50, 20, 3, 1]  # longest of each batch, not of the split
    for b in batches:
        assert b.mask.sum(1).max() == b.features.shape[1]
    qid, labels, _ = splits["vali"]
    assert sorted(_epoch_qids(batches)) == sorted(set(qid.tolist()))
    # full lists (no subsampling outside training), labels intact and aligned with their qid
    first = batches[0]
    start = int(np.flatnonzero(qid == first.qids[0].item())[0])
    np.testing.assert_array_equal(first.labels[0].numpy(), labels[start:start + 50])


def test_missing_split_fails_only_in_its_loader(folder):
    root, _ = folder
    dm = RankingDataModule(str(root), test_split="test")
    dm.setup("test")  # no error: the folder has no test split
    with pytest.raises(InputError, match=r"no split 'test' \(it has: train, vali\)"):
        dm.test_dataloader()
    with pytest.raises(InputError, match="no split 'test'"):
        dm.predict_dataloader()


def test_worker_process_loader_matches_in_process(folder):
    root, _ = folder
    dms = [RankingDataModule(str(root), batch_size=4, max_list_length=6, num_workers=w, seed=1) for w in (0, 1)]
    loaders = [dm.train_dataloader() for dm in dms]
    for loader in loaders:
        loader.sampler.set_epoch(2)
    for a, b in zip(*[list(loader) for loader in loaders]):
        assert torch.equal(a.features, b.features) and torch.equal(a.qids, b.qids)
    val = [torch.cat([b.qids for b in dm.val_dataloader()]) for dm in dms]
    assert torch.equal(val[0], val[1])


def test_lightning_distributed_sampler_injection(folder):
    """Lightning replaces the sampler under DDP; every rank must get its own share of queries."""
    from lightning_fabric.utilities.data import _set_sampler_epoch
    from pytorch_lightning.trainer.connectors.data_connector import _get_distributed_sampler
    from pytorch_lightning.trainer.states import RunningStage
    from pytorch_lightning.utilities.data import _is_dataloader_shuffled, _update_dataloader

    root, splits = folder
    dm = RankingDataModule(str(root), batch_size=3, max_list_length=8, seed=5, predict_split="vali")
    stages = {"train": (dm.train_dataloader, RunningStage.TRAINING, "train"),
              "val": (dm.val_dataloader, RunningStage.VALIDATING, "vali"),
              "predict": (dm.predict_dataloader, RunningStage.PREDICTING, "vali")}
    shares = {stage: [] for stage in stages}
    for rank in (0, 1):
        for stage, (make, mode, _) in stages.items():
            loader = make()
            # the same calls Lightning's data connector makes for a 2-process DDP run
            sampler = _get_distributed_sampler(loader, shuffle=_is_dataloader_shuffled(loader), overfit_batches=0,
                                               mode=mode, num_replicas=2, rank=rank)
            loader = _update_dataloader(loader, sampler, mode=mode)
            _set_sampler_epoch(loader, 1)
            shares[stage].append(_epoch_qids(loader))
    for stage, (_, _, split) in stages.items():
        rank0, rank1 = shares[stage]
        assert abs(len(rank0) - len(rank1)) <= 1
        assert set(rank0) | set(rank1) == set(splits[split][0].tolist())
    for stage in ("train", "predict"):
        assert not set(shares[stage][0]) & set(shares[stage][1])
    assert sorted(shares["predict"][0] + shares["predict"][1]) == sorted(splits["vali"][0][
        np.r_[True, np.diff(splits["vali"][0]) != 0]].tolist())


class _RecordingModule(pl.LightningModule):
    """A one-parameter model that records what each training epoch saw."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(4))
        self.seen: list[list[tuple[int, int]]] = []

    def on_train_epoch_start(self) -> None:
        self.seen.append([])

    def training_step(self, batch: RankingBatch, batch_idx: int):
        lengths = batch.mask.sum(1).tolist()
        self.seen[-1].extend(zip(batch.qids.tolist(), lengths))
        return (batch.features @ self.w)[batch.mask].square().mean()

    def validation_step(self, batch: RankingBatch, batch_idx: int) -> None:
        self.log("val_rows", batch.mask.sum().float(), batch_size=batch.batch_size)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_fit_with_a_lightning_trainer(folder):
    root, splits = folder
    dm = RankingDataModule(str(root), batch_size=4, max_list_length=8, seed=0)
    model = _RecordingModule()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    assert len(model.seen) == 2
    for seen in model.seen:
        assert sorted(q for q, _ in seen) == sorted(set(splits["train"][0].tolist()))
        assert max(n for _, n in seen) == 8
    assert [q for q, _ in model.seen[0]] != [q for q, _ in model.seen[1]]  # Lightning advanced the epoch


def test_synthetic_to_convert_to_datamodule_chain(tmp_path):
    """The real chain: synthetic LibSVM text -> ``convert_dataset`` -> RankingDataModule batches."""
    from ltr_cos.data import generate_synthetic, write_synthetic_libsvm
    from ltr_cos.data.convert import convert_dataset

    for split, seed in (("train", 1), ("vali", 2)):
        write_synthetic_libsvm(tmp_path / f"{split}.txt", n_queries=12, seed=seed, docs_per_query=(3, 30))
    out = tmp_path / "ds"
    convert_dataset({"train": [tmp_path / "train.txt"], "vali": [tmp_path / "vali.txt"]}, out,
                    objectives="mslr2", progress=False)
    dm = RankingDataModule(str(out), batch_size=4, eval_batch_size=5, max_list_length=None)
    assert dm.n_features == 134  # 132 QualityScore and 135 url clicks left the model inputs
    assert dm.objective_names == ["relevance", "quality", "url_clicks"]
    assert len(dm.normalization["mean"]) == 134
    qid, labels, features = generate_synthetic(n_queries=12, seed=2, docs_per_query=(3, 30))
    kept = np.delete(np.arange(136), [131, 134])
    seen = set()
    for batch in dm.val_dataloader():
        for b, q in enumerate(batch.qids.tolist()):
            rows = qid == q
            n = int(rows.sum())
            assert int(batch.mask[b].sum()) == n
            np.testing.assert_array_equal(batch.features[b, :n].numpy(), features[rows][:, kept])
            np.testing.assert_array_equal(batch.labels[b, :n, 0].numpy(), labels[rows])
            seen.add(q)
    assert seen == set(qid.tolist())
    assert sum(batch.batch_size for batch in dm.train_dataloader()) == 12


def test_length_bucketing_pads_less_and_keeps_the_epoch_a_permutation(tmp_path):
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 200, size=240).tolist()
    splits = {"train": random_split(rng, lengths, n_features=3, n_objectives=1)}
    root = write_dataset_folder(tmp_path / "ds", splits, ["relevance"])

    def padded_slots(bucket_batches):
        dm = RankingDataModule(str(root), batch_size=8, max_list_length=None, bucket_batches=bucket_batches,
                               seed=1)
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(0)
        batches = list(loader)
        qids = sorted(q for b in batches for q in b.qids.tolist())
        assert qids == sorted(set(splits["train"][0].tolist()))  # every query once per epoch
        return sum(b.mask.numel() for b in batches), sum(int(b.mask.sum()) for b in batches), batches

    plain_slots, real, plain = padded_slots(0)
    bucket_slots, real_bucketed, bucketed = padded_slots(10)
    assert real == real_bucketed == sum(lengths)
    assert bucket_slots < 0.7 * plain_slots  # random batches pad far more
    # batch order is still shuffled: not simply longest first
    firsts = [int(b.mask.sum(1).max()) for b in bucketed]
    assert firsts != sorted(firsts, reverse=True)
