"""Hold out part of the training queries as validation and/or test splits (``data convert --vali-fraction``).

A step before the conversion: the train files are read as text, whole queries are assigned to splits by a
seeded permutation, and each split is written to a temporary LibSVM file (rows keep their order and their
``#`` comments; rows of files that get their queries from a ``.query`` file gain a ``qid:`` token, the
1-based group number). The converter then sees ordinary train/vali/test files, so the normalisation and
the objective transforms are fitted on the remaining train split only. ``split_record`` is what
``meta.json`` keeps under ``split``.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ltr_cos.errors import InputError


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.suffix == ".gz" else open(
        path, encoding="utf-8", errors="replace")


def _side_query_file(path: Path) -> Path | None:
    for cand in (Path(str(path) + ".query"), path.with_suffix(".query")):
        if cand != path and cand.is_file():
            return cand
    return None


def _rows(path: Path, query_file: Path | None) -> Iterator[tuple[str, str]]:
    """(query key, row text with a qid: token) of every data row of ``path``, in file order."""
    from ltr_cos.data.libsvm import read_query_file

    groups: Iterator[int] | None = None
    if query_file is not None:
        counts, _ = read_query_file(query_file)
        groups = iter(np.repeat(np.arange(1, len(counts) + 1), counts).tolist())
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            body = text.split("#", 1)[0].split()
            if not body:
                continue  # blank or comment-only line
            if len(body) > 1 and body[1].startswith("qid:"):
                yield f"{path}:{body[1][4:]}", text
            elif groups is not None:
                group = next(groups, None)
                if group is None:
                    raise InputError(f"more rows than the query file {query_file} counts", str(path), number)
                label, _, rest = text.lstrip().partition(" ")
                yield f"{path}:{group}", f"{label} qid:{group} {rest}"
            else:
                raise InputError("row has no qid: and no .query file was found for it; --vali-fraction and "
                                 "--test-fraction split by query", str(path), number)


def _check_fractions(fractions: Mapping[str, float]) -> None:
    for split, fraction in fractions.items():
        if not 0.0 < fraction < 1.0:
            raise InputError(f"--{split}-fraction must be between 0 and 1 (exclusive), got {fraction:g}")


def _counts(fractions: Mapping[str, float], n_queries: int) -> dict[str, int]:
    counts = {split: max(1, round(fraction * n_queries)) for split, fraction in fractions.items()}
    if sum(counts.values()) >= n_queries:
        raise InputError(f"--vali-fraction and --test-fraction leave no training query ({n_queries} queries in the "
                         "train files; held out: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    return counts


def split_by_query(
    train_files: Sequence[Path],
    fractions: Mapping[str, float],
    seed: int,
    workdir: Path,
    query_files: Mapping[Path, Path] | None = None,
) -> tuple[dict[str, list[Path]], dict]:
    """Split the queries of ``train_files`` into train and the ``fractions`` splits (``vali``, ``test``).

    Args:
        train_files: the train LibSVM files (with ``qid:`` or a ``.query`` file).
        fractions: {"vali": 0.1, "test": 0.2}: the share of queries each held-out split gets (rounded, >= 1).
        seed: seed of the permutation.
        workdir: folder for the split files (the caller removes it after the conversion).
        query_files: explicit ``.query`` files by data file (else ``<file>.query`` is used when present).

    Returns:
        ({split: [file]}, the record for meta.json).
    """
    _check_fractions(fractions)
    queries_of = {Path(k).resolve(): Path(v) for k, v in (query_files or {}).items()}

    def query_file(path: Path) -> Path | None:
        return queries_of.get(path.resolve()) or _side_query_file(path)

    keys: dict[str, int] = {}
    for path in train_files:
        for key, _ in _rows(path, query_file(path)):
            keys.setdefault(key, len(keys))
    counts = _counts(fractions, len(keys))
    order = np.random.default_rng(seed).permutation(len(keys))
    assignment = np.zeros(len(keys), dtype=np.int64)  # 0 = train, then the held-out splits in order
    start = 0
    for i, n in enumerate(counts.values(), start=1):
        assignment[order[start:start + n]] = i
        start += n
    names = ["train", *counts]
    workdir.mkdir(parents=True, exist_ok=True)
    out = {name: workdir / f"{name}.txt" for name in names}
    with ExitStack() as stack:
        handles = {name: stack.enter_context(open(out[name], "w", encoding="utf-8")) for name in names}
        for path in train_files:
            for key, text in _rows(path, query_file(path)):
                handles[names[assignment[keys[key]]]].write(text + "\n")
    record = {
        "from": "train",
        "fractions": dict(fractions),
        "seed": int(seed),
        "queries": {name: int((assignment == i).sum()) for i, name in enumerate(names)},
        "sources": [str(Path(p).resolve()) for p in train_files],
    }
    return {name: [file] for name, file in out.items()}, record


def record_split(out_dir: str | os.PathLike, meta: dict, record: dict, sources: Sequence[dict]) -> dict:
    """Write the split ``record`` into ``out_dir/meta.json`` and name the original train files as the source
    of every split made from them (instead of the temporary files); returns the new meta."""
    import json

    from ltr_cos.files import atomic_write_text

    meta = {**meta, "split": record}
    meta["sources"] = {**meta["sources"], **{name: list(sources) for name in record["queries"]}}
    atomic_write_text(Path(out_dir) / "meta.json", json.dumps(meta, indent=2) + "\n")
    return meta
