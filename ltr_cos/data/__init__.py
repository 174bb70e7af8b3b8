"""Ranking data: synthetic generator, dataset folders, query-grouped Dataset, collate and DataModule.

Exports are resolved lazily so that ``import ltr_cos.data.libsvm`` (the converter) pays neither for
torch nor for Lightning; Lightning stays confined to ``datamodule.py``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RankingDataModule": "ltr_cos.data.datamodule",
    "RankingDataset": "ltr_cos.data.dataset",
    "load_meta": "ltr_cos.data.dataset",
    "collate_queries": "ltr_cos.data.collate",
    "generate_synthetic": "ltr_cos.data.synthetic",
    "write_synthetic_libsvm": "ltr_cos.data.synthetic",
}

__all__ = [
    "RankingDataModule",
    "RankingDataset",
    "collate_queries",
    "generate_synthetic",
    "load_meta",
    "write_synthetic_libsvm",
]

if TYPE_CHECKING:  # for type checkers and IDEs only
    from ltr_cos.data.collate import collate_queries
    from ltr_cos.data.datamodule import RankingDataModule
    from ltr_cos.data.dataset import RankingDataset, load_meta
    from ltr_cos.data.synthetic import generate_synthetic, write_synthetic_libsvm


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'ltr_cos.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
