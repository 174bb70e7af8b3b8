"""LibSVM ranking files -> a Parquet dataset folder (the layout of docs/internals.md).

```
DIR/{train,vali,test}.parquet   qid int64, labels fixed_size_list<float32>[K], features fixed_size_list<float32>[F]
DIR/meta.json                   sources, splits, feature ids, objectives (+ fitted transforms), normalisation
DIR/_SUCCESS                    completion marker
```
DIR is built as a hidden temporary sibling and renamed into place only when complete, so an interrupted
conversion never leaves anything that looks like a dataset; leftovers of a killed run are removed by
the next one. Memory stays bounded: files are streamed in chunks of whole queries, twice (pass 1 checks
every file and collects the train values the objective transforms are fitted on; pass 2 writes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import ltr_cos
from ltr_cos.data.libsvm import DEFAULT_CHUNK_BYTES, LibSVMTable, iter_libsvm
from ltr_cos.data.transforms import NormalizationAccumulator, apply_objectives, fit_objective
from ltr_cos.errors import InputError
from ltr_cos.objectives import ObjectiveSpec, preset

FORMAT_VERSION = 1
SPLIT_ORDER = ("train", "vali", "test")
_SPLIT_ALIASES = {"train": "train", "vali": "vali", "valid": "vali", "validation": "vali", "test": "test"}
_TMP_TAG = ".tmp-"


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


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
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc,
                disable=not enabled or not sys.stderr.isatty(), leave=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary siblings left by conversions that were killed (their process is gone)."""
    prefix = f".{out_dir.name}{_TMP_TAG}"
    for cand in out_dir.parent.glob(f"{prefix}*"):
        pid_text = cand.name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(cand, ignore_errors=True)


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
) -> dict:
    """Convert LibSVM ranking files to a Parquet dataset folder.

    Args:
        splits: {"train" | "vali" | "test": [files]}; the files of a split are concatenated in order.
        out_dir: the dataset folder to create.
        objectives: preset name (``none``, ``mslr``, ``mslr2``, ``mq2008``) or ObjectiveSpecs / their dicts.
        query_files: {data file: LightGBM .query file} for files without qid (``<file>.query`` is found
            automatically).
        overwrite: replace an existing ``out_dir``.
        progress: show a progress bar (on a terminal).
        chunk_bytes: text parsed per step; bounds memory together with the query sizes.
        extra_meta: more JSON-serialisable keys for meta.json (e.g. where a download came from).
        cache_bytes: parsed features kept between the two passes (larger data is parsed twice).

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
    _remove_stale_temporaries(out_dir)

    fit_split = "train" if "train" in files_by_split else None
    fit_files = [f for s, fs in files_by_split.items() if fit_split in (None, s) for f in fs]
    total_bytes = sum(f.stat().st_size for fs in files_by_split.values() for f in fs)

    def parse(path: Path) -> Iterator[LibSVMTable]:
        return iter_libsvm(path, query_file=queries_of.get(path.resolve()), require_qid=True,
                           chunk_bytes=chunk_bytes)

    # Parsed blocks of pass 1 are kept (up to cache_bytes) so that small and medium datasets are parsed
    # once; files beyond the budget are parsed again in pass 2.
    cache: dict[tuple[str, int], list[LibSVMTable]] = {}
    cached = 0

    # Pass 1: check everything, count, find the feature count, collect the values objectives are fitted on.
    counts: dict[str, dict] = {}
    max_id = 0
    fit_label: list[np.ndarray] = []
    fit_columns: dict[int, list[np.ndarray]] = {s.feature_id: [] for s in specs[1:]}
    with _progress(total_bytes, progress, "checking") as bar:
        for split, files in files_by_split.items():
            rows = queries = 0
            first_line_of_qid: dict[int, tuple[Path, int]] = {}
            for index, path in enumerate(files):
                kept: list[LibSVMTable] | None = []
                for table in parse(path):
                    if kept is not None:
                        cached += table.features.nbytes
                        kept.append(table)
                        if cached > cache_bytes:
                            cached -= sum(t.features.nbytes for t in kept)
                            kept = None
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
                    if path in fit_files:
                        fit_label.append(table.label)
                        for fid, parts in fit_columns.items():
                            parts.append(_column(table, fid).copy())
                if kept is not None:
                    cache[(split, index)] = kept
                bar.update(path.stat().st_size)
            counts[split] = {"rows": rows, "queries": queries}

    for spec in specs[1:]:
        if spec.feature_id > max_id:
            raise InputError(
                f"objective {spec.name!r} uses feature {spec.feature_id} but the data has feature ids "
                f"1..{max_id}; pick objectives that match the data (--objectives)")
    fitted = [
        fit_objective(s, np.concatenate(fit_label if s.is_main else fit_columns[s.feature_id]))
        for s in specs
    ]
    objective_ids = {s.feature_id for s in specs[1:]}
    keep = np.array([j for j in range(max_id) if j + 1 not in objective_ids], dtype=np.int64)

    tmp = out_dir.parent / f".{out_dir.name}{_TMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    def blocks(split: str, index: int, path: Path) -> Iterator[LibSVMTable]:
        for table in cache.pop((split, index), None) or parse(path):
            if table.n_features < max_id:  # sparse files: blocks are as wide as the ids seen so far
                table.features = np.pad(table.features, ((0, 0), (0, max_id - table.n_features)))
                table.n_features = max_id
            yield table

    tmp.mkdir()
    try:
        meta = _write(tmp, files_by_split, specs, fitted, keep, max_id, counts, fit_split, blocks,
                      total_bytes, progress, queries_of, dict(extra_meta or {}))
        _publish(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _write(tmp: Path, files_by_split, specs, fitted, keep, max_id, counts, fit_split, blocks,
           total_bytes, progress, queries_of, extra_meta) -> dict:
    n_out, n_obj = len(keep), len(specs)
    schema = pa.schema([
        ("qid", pa.int64()),
        ("labels", pa.list_(pa.float32(), n_obj)),
        ("features", pa.list_(pa.float32(), n_out)),
    ])
    norm = NormalizationAccumulator()
    splits_meta, sources_meta = {}, {}
    with _progress(total_bytes, progress, "writing") as bar:
        for split, files in files_by_split.items():
            out_path = tmp / f"{split}.parquet"
            with pq.ParquetWriter(out_path, schema) as writer:
                for index, path in enumerate(files):
                    for table in blocks(split, index, path):
                        labels = apply_objectives(specs, fitted, table.label, table.features)
                        features = np.ascontiguousarray(table.features[:, keep])
                        if fit_split in (None, split):
                            norm.update(features)
                        writer.write_table(pa.table(
                            {
                                "qid": pa.array(table.qid, pa.int64()),
                                "labels": pa.FixedSizeListArray.from_arrays(pa.array(labels.ravel()), n_obj),
                                "features": pa.FixedSizeListArray.from_arrays(pa.array(features.ravel()), n_out),
                            },
                            schema=schema,
                        ))
                    bar.update(path.stat().st_size)
            sources_meta[split] = [_source_entry(p, queries_of) for p in files]
            splits_meta[split] = {"file": out_path.name, **counts[split], "sha256": sha256_file(out_path)}

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
    text = json.dumps(meta, indent=2) + "\n"
    (tmp / "meta.json").write_text(text)
    (tmp / "_SUCCESS").write_text("")
    return meta


def _source_entry(path: Path, queries_of: Mapping[Path, Path]) -> dict:
    entry = {"path": str(path.resolve()), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    query = queries_of.get(path.resolve())
    if query is None:
        side = Path(str(path) + ".query")
        query = side if side.is_file() else None
    if query is not None:
        entry["query_file"] = {"path": str(Path(query).resolve()), "sha256": sha256_file(query)}
    return entry


def _publish(tmp: Path, out_dir: Path, overwrite: bool) -> None:
    """Move the finished folder into place (replacing an old one only with ``overwrite``)."""
    if out_dir.exists():
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        elif overwrite:
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
            return
        else:
            raise InputError("output already exists; pass --overwrite to replace it", str(out_dir))
    os.replace(tmp, out_dir)


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
