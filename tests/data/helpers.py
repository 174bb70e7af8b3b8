"""Build tiny dataset folders in exactly the documented format (docs/internals.md), straight with pyarrow."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_dataset_folder(
    directory: str | Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    objective_names: list[str],
    normalization: dict | None = None,
    row_group_size: int | None = None,
) -> Path:
    """Write ``DIR/{split}.parquet``, ``DIR/meta.json`` and ``DIR/_SUCCESS``.

    Args:
        directory: the folder to create.
        splits: split -> (qid int64 [N], labels float32 [N, K], features float32 [N, F]); rows of a query
            contiguous.
        objective_names: K names, index 0 = main.
        normalization: meta's normalisation dict; default: identity statistics fitted on train.
        row_group_size: Parquet row-group size (small values put queries across group boundaries).

    Returns:
        the folder.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    n_features = next(iter(splits.values()))[2].shape[1]
    if normalization is None:
        normalization = {"kind": "signed_log1p_standardize", "mean": [0.0] * n_features,
                         "std": [1.0] * n_features, "fitted_on": "train"}
    meta_splits = {}
    for split, (qid, labels, features) in splits.items():
        qid = np.asarray(qid, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.float32).reshape(len(qid), -1)
        features = np.asarray(features, dtype=np.float32)
        assert labels.shape[1] == len(objective_names) and features.shape == (len(qid), n_features)
        table = pa.table({
            "qid": pa.array(qid, pa.int64()),
            "labels": pa.FixedSizeListArray.from_arrays(pa.array(labels.ravel(), pa.float32()), labels.shape[1]),
            "features": pa.FixedSizeListArray.from_arrays(pa.array(features.ravel(), pa.float32()), n_features),
        })
        path = root / f"{split}.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        queries = int(np.count_nonzero(np.r_[True, qid[1:] != qid[:-1]])) if len(qid) else 0
        meta_splits[split] = {"file": path.name, "rows": len(qid), "queries": queries, "sha256": _sha256(path)}
    meta = {
        "format_version": 1,
        "ltr_cos_version": "0.1.0",
        "sources": {split: [] for split in splits},
        "splits": meta_splits,
        "n_features": n_features,
        "feature_ids": list(range(1, n_features + 1)),
        "n_source_features": n_features,
        "objectives": [{"name": name, "feature_id": None if k == 0 else n_features + k, "transform": "raw",
                        "invert": False, "n_bins": 5, "fitted": {}} for k, name in enumerate(objective_names)],
        "objective_names": list(objective_names),
        "normalization": normalization,
    }
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
    (root / "_SUCCESS").write_text("")
    return root


def random_split(
    rng: np.random.Generator, lengths: list[int], n_features: int = 3, n_objectives: int = 2, first_qid: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A split with the given list lengths: qids first_qid, first_qid + 7, ...; labels 0..4 integers."""
    qid = np.repeat(first_qid + 7 * np.arange(len(lengths)), lengths).astype(np.int64)
    n = int(sum(lengths))
    labels = rng.integers(0, 5, size=(n, n_objectives)).astype(np.float32)
    features = rng.normal(size=(n, n_features)).astype(np.float32)
    return qid, labels, features
