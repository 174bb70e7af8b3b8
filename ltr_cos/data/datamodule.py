"""LightningDataModule over a converted dataset folder (the only module of ``ltr_cos.data`` using Lightning)."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSamplerWrapper
from torch.utils.data import DataLoader

from ltr_cos.data.collate import collate_queries
from ltr_cos.data.dataset import LengthSortedSampler, QuerySampler, RankingDataset, build_cache, load_meta
from ltr_cos.errors import InputError


class RankingDataModule(pl.LightningDataModule):
    """Train/val/test/predict loaders of :class:`~ltr_cos.types.RankingBatch` for one dataset folder.

    meta.json is read at construction, so ``n_features``, ``objective_names`` and ``normalization`` are
    known before ``setup()`` (the CLI links them into the model). A split that the folder lacks is an
    error only when its loader is requested.

    Args:
        data_dir: dataset folder written by ``ltr-cos data convert``.
        batch_size: queries per training batch.
        eval_batch_size: queries per evaluation batch (default: ``batch_size``).
        max_list_length: training lists longer than this are subsampled (None = keep all).
        num_workers: DataLoader worker processes.
        seed: seed of the training order and of list subsampling.
        bucket_batches: length bucketing of training batches: each window of this many batches is sorted by
            list length before it is cut into batches (0 = plain random batches). Padding then wastes
            little compute while the order stays random.
        train_split, val_split, test_split, predict_split: split names of the folder.
    """

    def __init__(
        self,
        data_dir: str,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        max_list_length: int | None = 128,
        num_workers: int = 0,
        seed: int = 0,
        bucket_batches: int = 50,
        train_split: str = "train",
        val_split: str = "vali",
        test_split: str = "test",
        predict_split: str = "test",
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise InputError(f"eval_batch_size must be >= 1, got {eval_batch_size}")
        if max_list_length is not None and max_list_length < 1:
            raise InputError(f"max_list_length must be >= 1 or None, got {max_list_length}")
        if num_workers < 0:
            raise InputError(f"num_workers must be >= 0, got {num_workers}")
        self.save_hyperparameters()
        self.data_dir = str(data_dir)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.max_list_length = max_list_length
        self.num_workers = num_workers
        self.seed = seed
        if bucket_batches < 0:
            raise InputError(f"bucket_batches must be >= 0, got {bucket_batches}")
        self.bucket_batches = bucket_batches
        self.splits = {"fit": train_split, "validate": val_split, "test": test_split, "predict": predict_split}
        self._meta = load_meta(self.data_dir)
        self._datasets: dict[tuple[str, bool], RankingDataset] = {}

    @property
    def meta(self) -> dict:
        return self._meta

    @property
    def n_features(self) -> int:
        return int(self._meta["n_features"])

    @property
    def objective_names(self) -> list[str]:
        return list(self._meta["objective_names"])

    @property
    def normalization(self) -> dict:
        return dict(self._meta["normalization"])

    def _stage_splits(self, stage: str | None) -> list[str]:
        if stage is None:
            return list(dict.fromkeys(self.splits.values()))
        if stage == "fit":  # fit also validates
            return [self.splits["fit"], self.splits["validate"]]
        return [self.splits[stage]] if stage in self.splits else []

    def prepare_data(self) -> None:
        """Build the memory-mappable caches once (Lightning calls this on one process per node)."""
        for split in self._stage_splits(None):
            if split in self._meta["splits"]:
                build_cache(self.data_dir, split, self._meta)

    def setup(self, stage: str | None = None) -> None:
        """Open the splits of a stage that the folder has (missing ones fail in their loader)."""
        for split in self._stage_splits(stage):
            if split in self._meta["splits"]:
                self._dataset(split, train=(split == self.splits["fit"] and stage in (None, "fit")))

    def _dataset(self, split: str, train: bool) -> RankingDataset:
        key = (split, train)
        if key not in self._datasets:
            self._datasets[key] = RankingDataset(
                self.data_dir, split, max_list_length=self.max_list_length if train else None,
                seed=self.seed, train=train, meta=self._meta,
            )
        return self._datasets[key]

    def _loader(self, dataset: RankingDataset, batch_size: int, sampler) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate_queries,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset(self.splits["fit"], train=True)
        sampler = QuerySampler(dataset, seed=self.seed, shuffle=True, batch_size=self.batch_size,
                               bucket_batches=self.bucket_batches)
        return self._loader(dataset, self.batch_size, sampler)

    def _eval_loader(self, stage: str) -> DataLoader:
        dataset = self._dataset(self.splits[stage], train=False)
        sampler = LengthSortedSampler(dataset.lengths)
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            # Lightning's own DistributedSampler pads by repeating queries, which the summed NDCG states
            # would count twice; this one shards without repeats (ranks may differ by one batch, which is
            # safe in evaluation: no per-batch collectives).
            sampler = UnrepeatedDistributedSamplerWrapper(sampler, num_replicas=trainer.world_size,
                                                          rank=trainer.global_rank, shuffle=False)
        return self._loader(dataset, self.eval_batch_size, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validate")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader("predict")
