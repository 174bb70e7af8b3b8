"""Small in-memory ranking data for training tests (no files, no datamodule)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ltr_cos.types import RankingBatch

OBJECTIVES = ["relevance", "aux_a", "aux_b"]


def make_lists(n_queries: int, n_features: int = 6, max_len: int = 8, seed: int = 0):
    """Queries whose labels follow the features: relevance from features 0-1, aux_a from 2, aux_b from -feature 2 + 3.

    aux_a and aux_b conflict (both read feature 2 with opposite signs), so a trade-off exists.
    """
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n_queries):
        n = int(torch.randint(2, max_len + 1, (1,), generator=gen))
        x = torch.randn(n, n_features, generator=gen)
        rel = (x[:, 0] + 0.5 * x[:, 1] > 0.3).float() + (x[:, 0] > 1.2).float()
        aux_a = (x[:, 2] > 0).float() + (x[:, 2] > 1).float()
        aux_b = (-x[:, 2] + 0.5 * x[:, 3] > 0).float() * 2
        items.append((x, torch.stack([rel, aux_a, aux_b], dim=1)))
    return items


class ListDataset(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(items) -> RankingBatch:
    n = max(x.shape[0] for x, _ in items)
    f, k = items[0][0].shape[1], items[0][1].shape[1]
    features = torch.zeros(len(items), n, f)
    labels = torch.zeros(len(items), n, k)
    mask = torch.zeros(len(items), n, dtype=torch.bool)
    for i, (x, y) in enumerate(items):
        features[i, : len(x)] = x
        labels[i, : len(y)] = y
        mask[i, : len(x)] = True
    return RankingBatch(features=features, labels=labels, mask=mask, qids=torch.arange(len(items)))


def loader(items, batch_size: int = 16, shuffle: bool = False) -> DataLoader:
    return DataLoader(ListDataset(items), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=torch.Generator().manual_seed(0) if shuffle else None)


def data_info(n_features: int = 6, objective_names=OBJECTIVES, normalization=None, feature_ids=None,
              n_source_features=None) -> dict:
    """The dataset facts a training module is built on (the CLI links them from meta.json)."""
    return {"n_features": n_features, "objective_names": list(objective_names), "normalization": normalization,
            "feature_ids": feature_ids, "n_source_features": n_source_features}
