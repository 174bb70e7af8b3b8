"""Which input columns an exported ranker reads: the match between a file's (or array's) feature ids and the
artifact's ``feature_ids``. Torch-free; used by ``ltr-cos rank`` and ``ExportedRanker.score``.

A model never scores features it was not trained on: ids it needs that the input lacks, or ids beyond those
of its training data, are refused with the ids named (zero-filling missing ids only on explicit request).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ltr_cos.errors import InputError


def compact_ids(ids: Sequence[int], limit: int = 12) -> str:
    """``[3, 7, 8, 9, 12]`` -> ``"3, 7-9, 12"`` (at most ``limit`` runs, then ``...``)."""
    ids = sorted(int(i) for i in ids)
    runs: list[str] = []
    start = prev = None
    for i in [*ids, None]:
        if i is not None and prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    shown = ", ".join(runs[:limit])
    return shown + (f", ... ({len(ids)} ids)" if len(runs) > limit else "")


def model_feature_ids(info: dict) -> list[int]:
    """The 1-based source feature ids an artifact reads, in input order."""
    ids = info.get("feature_ids")
    return [int(i) for i in ids] if ids is not None else list(range(1, int(info["n_features"]) + 1))


def select_file_columns(features: np.ndarray, info: dict, path: str, allow_missing: bool = False
                        ) -> tuple[np.ndarray, list[int]]:
    """The model's input columns from a file's dense features (column j = feature id j + 1).

    Args:
        features: float32 [N, F_file]; F_file is the largest feature id in the file.
        info: the artifact's sidecar.
        path: the file (for messages).
        allow_missing: score ids the file lacks as 0 (sparse files may omit trailing zero features).

    Returns:
        (float32 [N, n_features] in the model's input order, the zero-filled ids).

    Raises:
        InputError: the file has ids beyond the training data's, or lacks ids the model needs.
    """
    width = features.shape[1]
    ids = model_feature_ids(info)
    n_source = info.get("n_source_features")
    if n_source is not None and width > int(n_source):
        raise InputError(f"the file has feature ids up to {width}, but the model was trained on data with ids "
                         f"1..{n_source}: extra ids {compact_ids(range(int(n_source) + 1, width + 1))}; this is not "
                         "the data this model was trained for", path)
    missing = [i for i in ids if i > width]
    if missing and not allow_missing:
        raise InputError(f"the file's largest feature id is {width}, but the model reads ids up to {max(ids)}: "
                         f"missing ids {compact_ids(missing)}; check that the file matches the model, or pass "
                         "--allow-missing-features to score the missing ids as 0", path)
    if missing:
        features = np.pad(features, ((0, 0), (0, max(ids) - width)))
    return features[:, np.asarray(ids, dtype=np.int64) - 1], missing


def reorder_columns(features: np.ndarray, given_ids: Sequence[int], info: dict) -> np.ndarray:
    """Columns of ``features`` [..., len(given_ids)] (ids ``given_ids``) put in the model's input order.

    Raises:
        InputError: naming the ids the model needs that are missing and the extra ids it does not read.
    """
    given = [int(i) for i in given_ids]
    if len(set(given)) != len(given):
        raise InputError("feature_ids lists an id twice")
    if features.shape[-1] != len(given):
        raise InputError(f"feature_ids lists {len(given)} ids but the features have {features.shape[-1]} columns")
    ids = model_feature_ids(info)
    missing, extra = sorted(set(ids) - set(given)), sorted(set(given) - set(ids))
    if missing or extra:
        parts = ([f"missing ids {compact_ids(missing)}"] if missing else []) + (
            [f"extra ids {compact_ids(extra)}"] if extra else [])
        raise InputError(f"the features' ids do not match the model's feature_ids: {'; '.join(parts)}")
    position = {fid: j for j, fid in enumerate(given)}
    return features[..., [position[fid] for fid in ids]]
