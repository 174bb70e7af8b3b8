"""LibSVM ranking files -> a Parquet dataset folder (the layout of docs/internals.md).

```
DIR/{train,vali,test}.parquet   qid int64, labels fixed_size_list<float32>[K], features fixed_size_list<float32>[F]
DIR/meta.json                   sources, splits, feature ids, objectives (+ fitted transforms), normalisation
DIR/_SUCCESS                    completion marker
```
DIR is built under a hidden temporary sibling name and renamed into place only when complete
(``ltr_cos.files.atomic_folder``), so an interrupted conversion never leaves anything that looks like a
dataset; leftovers of a killed run are removed by the next one.

Every file is parsed once, on all cores (``ltr_cos.data.libsvm``). Pass 1 checks every file, counts rows
and queries, collects the train values the objective transforms are fitted on, and keeps the parsed
blocks: in memory up to ``cache_bytes``, the rest as raw float32 in a spill file inside the temporary
folder. Pass 2 writes the Parquet files from the kept blocks while helper threads accumulate the
normalisation statistics and hash the sources and outputs. Memory stays bounded by ``cache_bytes`` plus
a few row groups.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import ltr_cos
from ltr_cos.data.libsvm import DEFAULT_CHUNK_BYTES, LibSVMTable, iter_libsvm
from ltr_cos.data.limits import MAX_FEATURE_ID
from ltr_cos.data.transforms import NormalizationAccumulator, apply_objectives, fit_objective
from ltr_cos.errors import InputError
from ltr_cos.files import atomic_folder, remove_stale_temporaries, sha256_file
from ltr_cos.objectives import ObjectiveSpec, preset

FORMAT_VERSION = 1
SPLIT_ORDER = ("train", "vali", "test")
_SPLIT_ALIASES = {"train": "train", "vali": "vali", "valid": "vali", "validation": "vali", "test": "test"}
# Features per Parquet row group (bytes of float32); blocks of whole queries are gathered up to this.
_ROW_GROUP_BYTES = 4 << 20  # measured: snappy encodes 4 MiB groups faster than 32 MiB ones
# Dictionary encoding of float features is slow and, on measured MSLR-shaped data, gives larger files
# than plain encoding with snappy.
_PARQUET_OPTIONS = {"use_dictionary": False, "compression": "snappy"}


def resolve_objectives(objectives: str | Sequence[ObjectiveSpec | dict]) -> tuple[ObjectiveSpec, ...]:
    """A preset name or a list of specs -> specs, the first being the main objective (the row label)."""
    if isinstance(objectives, str):
        try:
            specs = preset(objectives)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    else:
        specs = tuple(s if isinstance(s, ObjectiveSpec) else ObjectiveSpec.from_dict(s) for s in objectives)
    if not specs or not specs[0].is_main:
        raise InputError("the first objective must be the main one (the row label, feature_id None)")
    if any(s.is_main for s in specs[1:]):
        raise InputError("only the first objective may use the row label")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"objective names must be distinct, got {names}")
    ids = [s.feature_id for s in specs[1:]]
    if len(set(ids)) != len(ids):
        raise InputError(f"two objectives use the same feature column: {ids}")
    return specs


def _progress(total: int, enabled: bool, desc: str):
    if not enabled or not sys.stderr.isatty():
        return contextlib.nullcontext(_NoBar())
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)


class _NoBar:
    """A progress bar that shows nothing (no tqdm import when there is nothing to show)."""

    def update(self, n: int) -> None:
        """Ignore progress."""


def _normalise_splits(splits: Mapping[str, Sequence[str | os.PathLike]]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for name, files in splits.items():
        split = _SPLIT_ALIASES.get(name)
        if split is None:
            raise InputError(f"unknown split {name!r}; use train, vali or test")
        out.setdefault(split, []).extend(Path(f) for f in files)
    out = {s: out[s] for s in SPLIT_ORDER if out.get(s)}
    if not out:
        raise InputError("no input files")
    for files in out.values():
        for f in files:
            if not f.exists():
                raise InputError("file not found", str(f))
            if not f.is_file():
                raise InputError("not a regular file", str(f))
    return out


def _column(table: LibSVMTable, feature_id: int) -> np.ndarray:
    """Feature column by 1-based id, zeros when the block is narrower (absent sparse entries are 0)."""
    if feature_id <= table.n_features:
        return table.features[:, feature_id - 1]
    return np.zeros(len(table), np.float32)


class _BlockStore:
    """Parsed blocks kept from pass 1 to pass 2: in memory up to a byte budget, the rest in a spill file.

    Spilled blocks keep their qid and label in memory (12 bytes a row); their features go to the file as
    raw float32 bytes and are read back, in order, straight into the row group being assembled.
    """

    def __init__(self, spill_path: Path, budget: int) -> None:
        self._spill_path = spill_path
        self._budget = budget
        self._held = 0
        self._file = None
        self._blocks: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray, np.ndarray | tuple]]] = {}

    def add(self, key: tuple[str, int], table: LibSVMTable) -> None:
        """Keep a block of the file ``key`` (split, index)."""
        features = table.features
        if self._held + features.nbytes <= self._budget:
            self._held += features.nbytes
            kept: np.ndarray | tuple = features
        else:
            if self._file is None:
                self._file = open(self._spill_path, "w+b")  # noqa: SIM115 (closed by close())
            kept = (self._file.tell(), features.shape)
            self._file.write(np.ascontiguousarray(features, np.float32).data)
        self._blocks.setdefault(key, []).append((table.qid, table.label, kept))

    def groups(self, key: tuple[str, int], width: int, group_bytes: int) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield (qid, label, features float32 [n, width]) of the file's blocks, gathered into row groups."""
        blocks = self._blocks.pop(key, [])
        start = 0
        while start < len(blocks):
            stop, size = start, 0
            while stop < len(blocks) and (size == 0 or size + len(blocks[stop][1]) * width * 4 <= group_bytes):
                size += len(blocks[stop][1]) * width * 4
                stop += 1
            group = blocks[start:stop]
            features = np.zeros((sum(len(b[1]) for b in group), width), np.float32)
            row = 0
            for _, label, kept in group:
                n = len(label)
                if isinstance(kept, tuple):
                    offset, shape = kept
                    if shape[1] == width:  # read straight into the group
                        self._read(offset, features[row : row + n])
                    else:
                        part = np.empty(shape, np.float32)
                        self._read(offset, part)
                        features[row : row + n, : shape[1]] = part
                else:
                    features[row : row + n, : kept.shape[1]] = kept
                    self._held -= kept.nbytes
                row += n
            yield np.concatenate([b[0] for b in group]), np.concatenate([b[1] for b in group]), features
            for i in range(start, stop):
                blocks[i] = None  # release what was copied
            start = stop

    def _read(self, offset: int, out: np.ndarray) -> None:
        self._file.seek(offset)
        if self._file.readinto(out.data.cast("B")) != out.nbytes:
            raise OSError(f"spill file {self._spill_path} ended early")

    def close(self) -> None:
        """Close and delete the spill file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._spill_path.unlink(missing_ok=True)


def convert_dataset(
    splits: Mapping[str, Sequence[str | os.PathLike]],
    out_dir: str | os.PathLike,
    objectives: str | Sequence[ObjectiveSpec | dict] = "none",
    query_files: Mapping[str | os.PathLike, str | os.PathLike] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    extra_meta: Mapping[str, object] | None = None,
    cache_bytes: int = 256 << 20,
    threads: int | None = None,
    max_feature_id: int = MAX_FEATURE_ID,
    allow_negative_labels: bool = False,
) -> dict:
    """Convert LibSVM ranking files to a Parquet dataset folder.

    Args:
        splits: {"train" | "vali" | "test": [files]}; the files of a split are concatenated in order.
        out_dir: the dataset folder to create.
        objectives: preset name (``none``, ``mslr``, ``mslr2``, ``mq2008``) or ObjectiveSpecs / their dicts.
        query_files: {data file: LightGBM .query file} for files without qid (``<file>.query`` is found
            automatically).
        overwrite: replace an existing ``out_dir`` that an earlier conversion wrote.
        progress: show a progress bar (on a terminal).
        chunk_bytes: text parsed per step; bounds memory together with the query sizes.
        extra_meta: more JSON-serialisable keys for meta.json (e.g. where a download came from).
        cache_bytes: parsed features kept in memory between the two passes; the rest is spilled to a
            temporary file in the output's temporary folder (raw float32, deleted before publishing).
        threads: parser threads (default: the available CPUs, at most 8).
        max_feature_id: feature ids above it are refused with their file and line.
        allow_negative_labels: accept negative row labels (relevance grades are >= 0; a negative label is
            refused by default, naming its file and line). Non-integer grades are accepted: NDCG's 2^y - 1
            gain and the objective transforms use them as they are.

    Returns:
        The meta dict also written to ``out_dir/meta.json``.

    Raises:
        InputError: bad input (naming file and line), an objective column beyond the data's features, or
            an existing ``out_dir`` without ``overwrite``. Nothing is left at ``out_dir`` then.
    """
    files_by_split = _normalise_splits(splits)
    specs = resolve_objectives(objectives)
    out_dir = Path(out_dir)
    queries_of = {Path(k).resolve(): Path(v) for k, v in (query_files or {}).items()}
    if not out_dir.parent.is_dir():
        raise InputError("output's parent folder does not exist", str(out_dir.parent))
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError("output already exists; pass --overwrite (overwrite=True) to replace it", str(out_dir))
    remove_stale_temporaries(out_dir.parent, out_dir.name)
    with atomic_folder(out_dir, overwrite=overwrite, marker="_SUCCESS") as tmp:
        store = _BlockStore(tmp / ".blocks.spill", cache_bytes)
        try:
            return _convert(files_by_split, specs, queries_of, tmp, store, progress, chunk_bytes, threads,
                            dict(extra_meta or {}), max_feature_id, allow_negative_labels)
        finally:
            store.close()


def _convert(files_by_split, specs, queries_of, tmp: Path, store: _BlockStore, progress: bool, chunk_bytes: int,
             threads: int | None, extra_meta: dict, max_feature_id: int = MAX_FEATURE_ID,
             allow_negative_labels: bool = False) -> dict:
    fit_split = "train" if "train" in files_by_split else None
    total_bytes = sum(f.stat().st_size for fs in files_by_split.values() for f in fs)

    # Pass 1: parse and check everything once, count, find the feature count, collect the values the
    # objectives are fitted on, keep the blocks for pass 2.
    counts: dict[str, dict] = {}
    max_id = 0
    fit_width: int | None = None  # the train split's largest feature id, once read
    fit_label: list[np.ndarray] = []
    fit_columns: dict[int, list[np.ndarray]] = {s.feature_id: [] for s in specs[1:]}
    with _progress(total_bytes, progress, "reading") as bar:
        for split, files in files_by_split.items():
            rows = queries = 0
            first_line_of_qid: dict[int, tuple[Path, int]] = {}
            for index, path in enumerate(files):
                for table in iter_libsvm(path, query_file=queries_of.get(path.resolve()), require_qid=True,
                                         chunk_bytes=chunk_bytes, threads=threads, max_feature_id=max_feature_id):
                    _check_labels(table, allow_negative_labels)
                    if fit_width is not None:
                        _check_width(table, fit_width, split, fit_split)
                    max_id = max(max_id, table.n_features)
                    starts = np.flatnonzero(np.r_[True, table.qid[1:] != table.qid[:-1]])
                    for q, line in zip(table.qid[starts].tolist(), table.lines[starts].tolist()):
                        if q in first_line_of_qid and first_line_of_qid[q][0] != path:
                            other, other_line = first_line_of_qid[q]
                            raise InputError(
                                f"qid {q} also appears in {other} (line {other_line}), another file of the "
                                f"{split} split; the rows of one query must be contiguous", str(path), line)
                        first_line_of_qid.setdefault(q, (path, line))
                    rows += len(table)
                    queries += len(starts)
                    if fit_split in (None, split):
                        fit_label.append(table.label)
                        for fid, parts in fit_columns.items():
                            parts.append(_column(table, fid).copy())
                    store.add((split, index), table)
                bar.update(path.stat().st_size)
            counts[split] = {"rows": rows, "queries": queries}
            if split == fit_split:
                fit_width = max_id

    for spec in specs[1:]:
        if spec.feature_id > max_id:
            raise InputError(
                f"objective {spec.name!r} uses feature {spec.feature_id} but the data has feature ids "
                f"1..{max_id}; pick objectives that match the data (--objectives)")
    fitted = [
        fit_objective(s, np.concatenate(fit_label if s.is_main else fit_columns[s.feature_id]))
        for s in specs
    ]
    del fit_label, fit_columns
    objective_ids = {s.feature_id for s in specs[1:]}
    keep = np.array([j for j in range(max_id) if j + 1 not in objective_ids], dtype=np.int64)
    return _write(tmp, files_by_split, specs, fitted, keep, max_id, counts, fit_split, store, total_bytes,
                  progress, queries_of, extra_meta)


def _check_labels(table: LibSVMTable, allow_negative: bool) -> None:
    if allow_negative:
        return
    negative = np.flatnonzero(table.label < 0)
    if len(negative):
        row = int(negative[0])
        raise InputError(f"label {table.label[row]:g} is negative; relevance grades are 0 or more (NDCG's gain is "
                         "2^y - 1); pass --allow-negative-labels if your labels really are signed",
                         table.path, int(table.lines[row]))


def _check_width(table: LibSVMTable, fit_width: int, split: str, fit_split: str) -> None:
    """A split read after the fit split must not use feature ids the fit split never had."""
    if table.n_features <= fit_width:
        return
    wider = np.flatnonzero(table.features[:, fit_width:].any(axis=1))
    line = int(table.lines[wider[0]]) if len(wider) else None
    raise InputError(f"the {split} split uses feature ids up to {table.n_features}, but the {fit_split} split only "
                     f"1..{fit_width}: a model fitted on {fit_split} cannot read ids {fit_width + 1}.."
                     f"{table.n_features}; convert files with the same features (or drop those columns)",
                     table.path, line)


def _write(tmp: Path, files_by_split, specs, fitted, keep, max_id, counts, fit_split, store: _BlockStore,
           total_bytes, progress, queries_of, extra_meta) -> dict:
    """Pass 2: write the Parquet files, normalisation statistics, hashes and meta.json into ``tmp``."""
    n_out, n_obj = len(keep), len(specs)
    all_columns = n_out == max_id
    schema = pa.schema([
        ("qid", pa.int64()),
        ("labels", pa.list_(pa.float32(), n_obj)),
        ("features", pa.list_(pa.float32(), n_out)),
    ])
    norm = NormalizationAccumulator()
    splits_meta: dict[str, dict] = {}
    # The main thread encodes Parquet; helper threads prepare the next row group (spill read, objective
    # labels, model columns), accumulate the normalisation statistics (in row order) and hash the files.
    prepare = ThreadPoolExecutor(1, thread_name_prefix="ltr_cos-prepare")
    stats = ThreadPoolExecutor(1, thread_name_prefix="ltr_cos-norm")
    hashes = ThreadPoolExecutor(1, thread_name_prefix="ltr_cos-sha256")

    def groups(split: str, files: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray] | Path]:
        for index, path in enumerate(files):
            for qid, label, features in store.groups((split, index), max_id, _ROW_GROUP_BYTES):
                labels = apply_objectives(specs, fitted, label, features)
                yield qid, labels, features if all_columns else np.ascontiguousarray(features[:, keep])
            yield path  # this file is done

    try:
        source_hashes = {p: hashes.submit(_source_entry, p, queries_of) for fs in files_by_split.values() for p in fs}
        output_hashes: dict[str, Future] = {}
        pending: Future | None = None
        with _progress(total_bytes, progress, "writing") as bar:
            for split, files in files_by_split.items():
                out_path = tmp / f"{split}.parquet"
                with pq.ParquetWriter(out_path, schema, **_PARQUET_OPTIONS) as writer:
                    for item in _one_ahead(groups(split, files), prepare):
                        if isinstance(item, Path):
                            bar.update(item.stat().st_size)
                            continue
                        qid, labels, out = item
                        if fit_split in (None, split):
                            if pending is not None:
                                pending.result()  # at most one group waits: bounded memory
                            pending = stats.submit(norm.update, out)
                        writer.write_table(pa.table(
                            {
                                "qid": _arrow(qid, np.int64),
                                "labels": pa.FixedSizeListArray.from_arrays(_arrow(labels, np.float32), n_obj),
                                "features": pa.FixedSizeListArray.from_arrays(_arrow(out, np.float32), n_out),
                            },
                            schema=schema,
                        ))
                output_hashes[split] = hashes.submit(sha256_file, out_path)
                splits_meta[split] = {"file": out_path.name, **counts[split]}
        if pending is not None:
            pending.result()
        for split, future in output_hashes.items():
            splits_meta[split]["sha256"] = future.result()
        sources_meta = {split: [source_hashes[p].result() for p in files] for split, files in files_by_split.items()}
    finally:  # on an error or Ctrl-C, drop the work not yet started
        prepare.shutdown(cancel_futures=True)
        stats.shutdown(cancel_futures=True)
        hashes.shutdown(cancel_futures=True)

    objectives_meta = [{**s.to_dict(), "fitted": f} for s, f in zip(specs, fitted)]
    meta = {
        "format_version": FORMAT_VERSION,
        "ltr_cos_version": ltr_cos.__version__,
        "sources": sources_meta,
        "splits": splits_meta,
        "n_features": int(n_out),
        "feature_ids": [int(j + 1) for j in keep],
        "n_source_features": int(max_id),
        "objectives": objectives_meta,
        "objective_names": [s.name for s in specs],
        "normalization": norm.result(fitted_on=fit_split or "all"),
        "fitted_on": fit_split or "all",
    }
    meta.update({k: v for k, v in extra_meta.items() if k not in meta})
    if fit_split is None:
        meta["note"] = "no train split: objective transforms and normalisation were fitted on all given data"
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (tmp / "_SUCCESS").write_text("")
    return meta


def _one_ahead(items: Iterator, pool: ThreadPoolExecutor) -> Iterator:
    """Yield the items of ``items``, computing each next one on ``pool`` while the caller uses this one."""
    done = object()
    future = pool.submit(next, items, done)
    while (item := future.result()) is not done:
        future = pool.submit(next, items, done)
        yield item


def _arrow(values: np.ndarray, dtype: type) -> pa.Array:
    """A flat Arrow array of ``dtype`` over a NumPy array's memory (``pa.array`` would import pandas)."""
    values = np.ascontiguousarray(values, dtype).ravel()
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _source_entry(path: Path, queries_of: Mapping[Path, Path]) -> dict:
    entry = {"path": str(path.resolve()), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    query = queries_of.get(path.resolve())
    if query is None:
        side = Path(str(path) + ".query")
        query = side if side.is_file() else None
    if query is not None:
        entry["query_file"] = {"path": str(Path(query).resolve()), "sha256": sha256_file(query)}
    return entry


def is_complete(out_dir: str | os.PathLike) -> bool:
    """Whether a dataset folder is complete (has its ``_SUCCESS`` marker and meta.json)."""
    out_dir = Path(out_dir)
    return (out_dir / "_SUCCESS").is_file() and (out_dir / "meta.json").is_file()


def read_meta(out_dir: str | os.PathLike) -> dict:
    """meta.json of a complete dataset folder."""
    out_dir = Path(out_dir)
    if not is_complete(out_dir):
        raise InputError("not a complete dataset folder (no _SUCCESS marker or meta.json)", str(out_dir))
    try:
        return json.loads((out_dir / "meta.json").read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"meta.json is not valid JSON ({exc.msg})", str(out_dir / "meta.json"), exc.lineno) from None
