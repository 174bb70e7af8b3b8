"""Query-grouped torch Dataset over a converted dataset folder (see docs/internals.md for the format).

A split is read through a memory-mapped, uncompressed Arrow IPC copy of its Parquet file
(``DIR/.cache/{split}-{key}.arrow``, built once, keyed by the Parquet file's hash, size and mtime), so
rows are paged in by the OS on demand and shared between DataLoader workers instead of being held
once per process. Features and labels are zero-copy numpy views of that map.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_save, sha256_file

FORMAT_VERSION = 1
CACHE_DIR = ".cache"
_CACHE_ENV = "LTR_COS_CACHE_DIR"  # where caches go when the dataset folder is read-only
_BATCH_ROWS = 65_536  # rows per Parquet read while building the cache (bounds its memory)


def _query_starts(qid: np.ndarray) -> np.ndarray:
    """First row of each run of equal qids; int64 [Q]."""
    if len(qid) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]]).astype(np.int64)


def _check_schema(schema: pa.Schema, path: Path, n_features: int, n_objectives: int) -> None:
    expected = {
        "qid": pa.int64(),
        "labels": pa.list_(pa.float32(), n_objectives),
        "features": pa.list_(pa.float32(), n_features),
    }
    for name, typ in expected.items():
        idx = schema.get_field_index(name)
        if idx < 0:
            raise InputError(f"column {name!r} is missing (columns: {schema.names})", path=str(path))
        actual = schema.field(idx).type
        # the child field name of a list type does not matter, only value type and size
        same = actual == typ or (
            pa.types.is_fixed_size_list(actual) and pa.types.is_fixed_size_list(typ)
            and actual.list_size == typ.list_size and actual.value_type == typ.value_type
        )
        if not same:
            raise InputError(f"column {name!r} has type {actual}, meta.json implies {typ}", path=str(path))


def load_meta(data_dir: str | os.PathLike, verify_hash: bool = False) -> dict:
    """Read and check ``meta.json`` of a dataset folder.

    Checks the completion marker, the format version, and for every split that the Parquet file exists
    with the schema, rows and queries that meta.json states.

    Args:
        data_dir: the dataset folder.
        verify_hash: also compare the sha256 of each Parquet file with meta.json (reads every byte).

    Returns:
        the meta dict.

    Raises:
        InputError: naming the file and what differs.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError("dataset folder not found", path=str(root))
    if not (root / "_SUCCESS").exists():
        raise InputError("not a complete dataset folder (no _SUCCESS marker; was the conversion interrupted?)",
                         path=str(root))
    meta_path = root / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise InputError("meta.json is missing", path=str(meta_path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"meta.json is not valid JSON: {e}", path=str(meta_path)) from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"format_version {version!r} is not supported (this ltr_cos reads {FORMAT_VERSION})",
                         path=str(meta_path))
    for key in ("splits", "n_features", "objective_names", "normalization"):
        if key not in meta:
            raise InputError(f"key {key!r} is missing", path=str(meta_path))
    n_features, n_objectives = int(meta["n_features"]), len(meta["objective_names"])
    for split, info in meta["splits"].items():
        path = root / info["file"]
        if not path.exists():
            raise InputError(f"split {split!r}: file {info['file']} is missing", path=str(root))
        parquet = pq.ParquetFile(path)
        _check_schema(parquet.schema_arrow, path, n_features, n_objectives)
        rows = parquet.metadata.num_rows
        if rows != info["rows"]:
            raise InputError(f"split {split!r} has {rows} rows but meta.json says {info['rows']}", path=str(path))
        queries = len(_query_starts(parquet.read(columns=["qid"]).column("qid").to_numpy()))
        if queries != info["queries"]:
            raise InputError(f"split {split!r} has {queries} queries but meta.json says {info['queries']}",
                             path=str(path))
        if verify_hash:
            actual = sha256_file(path)
            if actual != info.get("sha256"):
                raise InputError(f"split {split!r}: sha256 {actual} differs from meta.json's {info.get('sha256')}",
                                 path=str(path))
    return meta


def _cache_dir(root: Path) -> Path:
    """``DIR/.cache`` when writable, else a per-dataset folder under $LTR_COS_CACHE_DIR or the temp dir."""
    preferred = root / CACHE_DIR
    try:
        preferred.mkdir(exist_ok=True)
        if os.access(preferred, os.W_OK):
            return preferred
    except OSError:
        pass
    base = Path(os.environ.get(_CACHE_ENV, Path(tempfile.gettempdir()) / "ltr_cos-cache"))
    fallback = base / hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _cache_key(parquet_path: Path, sha256: str | None) -> str:
    st = parquet_path.stat()
    return hashlib.sha256(f"{sha256}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def build_cache(data_dir: str | os.PathLike, split: str, meta: dict | None = None) -> Path:
    """Build (once) the uncompressed Arrow IPC copy of a split and return its path.

    Record batches are cut at query boundaries, so each query lies inside one batch and can be read as
    one contiguous slice. Written to a temporary name and renamed, so concurrent builders (DDP ranks)
    never see a partial file.
    """
    root = Path(data_dir)
    meta = load_meta(root) if meta is None else meta
    info = _split_info(meta, split, root)
    parquet_path = root / info["file"]
    cache_dir = _cache_dir(root)
    target = cache_dir / f"{split}-{_cache_key(parquet_path, info.get('sha256'))}.arrow"
    if target.exists():
        return target
    # The cache is built once per file version, so checking the hash here costs one read per change and
    # refuses a Parquet file altered after conversion (same rows and queries, other values).
    expected = info.get("sha256")
    if expected is not None and sha256_file(parquet_path) != expected:
        raise InputError(f"split {split!r}: the file's sha256 differs from meta.json's (changed after conversion?)",
                         path=str(parquet_path))
    def write(tmp: Path) -> None:
        parquet = pq.ParquetFile(parquet_path)
        schema = pa.schema([parquet.schema_arrow.field(name) for name in ("qid", "labels", "features")])
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            pending: pa.Table | None = None
            # One row group at a time: a reader over the whole file keeps decoded data buffered (its
            # memory grew with the file, ~460 bytes a row for MSLR-WEB30K), a per-group one does not.
            batches = (batch for group in range(parquet.num_row_groups)
                       for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, row_groups=[group],
                                                         columns=["qid", "labels", "features"]))
            for batch in batches:
                table = pa.Table.from_batches([batch], schema=schema)
                if pending is not None:
                    table = pa.concat_tables([pending, table])
                qid = table.column("qid").to_numpy()
                # hold back the last query: it may continue in the next batch
                last_start = int(_query_starts(qid)[-1])
                if last_start > 0:
                    writer.write_table(table.slice(0, last_start).combine_chunks())
                pending = table.slice(last_start)
            if pending is not None and pending.num_rows:
                writer.write_table(pending.combine_chunks())

    # a temporary name unique to this process, then a rename: concurrent builders (DDP processes of one
    # node) never see a partial cache
    atomic_save(target, write)
    for stale in cache_dir.glob(f"{split}-*.arrow"):  # caches of earlier versions of this split
        if stale != target:
            with contextlib.suppress(OSError):  # another process may have removed it already
                stale.unlink()
    return target


def _split_info(meta: dict, split: str, root: Path) -> dict:
    try:
        return meta["splits"][split]
    except KeyError:
        available = ", ".join(sorted(meta["splits"])) or "none"
        raise InputError(f"the dataset has no split {split!r} (it has: {available})", path=str(root)) from None


class RankingDataset(Dataset):
    """The queries of one split; item i is one query's full (or, in train mode, subsampled) list.

    Args:
        data_dir: dataset folder.
        split: split name (``train``, ``vali``, ``test``).
        max_list_length: in train mode, longer lists are randomly subsampled to this length, keeping at
            least one candidate with main label > 0 when the list has one. Ignored when ``train`` is False.
        seed: subsampling seed; the sample of query i depends only on (seed, epoch, i).
        train: enable subsampling.
        meta: an already loaded meta dict (skips re-reading meta.json).

    Items are ``(features float32 [n, F], labels float32 [n, K], qid int)``. An index may also be a pair
    ``(i, epoch)``, which :class:`QuerySampler` yields so that worker processes need no epoch state.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        split: str,
        max_list_length: int | None = None,
        seed: int = 0,
        train: bool = False,
        meta: dict | None = None,
    ) -> None:
        if max_list_length is not None and max_list_length < 1:
            raise InputError(f"max_list_length must be >= 1 or None, got {max_list_length}")
        self.data_dir = Path(data_dir)
        self.split = split
        self.meta = load_meta(self.data_dir) if meta is None else meta
        self.info = _split_info(self.meta, split, self.data_dir)
        self.max_list_length = max_list_length
        self.seed = int(seed)
        self.train = bool(train)
        self.epoch = 0
        self.n_features = int(self.meta["n_features"])
        self.n_objectives = len(self.meta["objective_names"])
        self.cache_path = build_cache(self.data_dir, split, self.meta)
        self._open()
        if len(self) != self.info["queries"]:
            raise InputError(f"split {split!r}: the cache holds {len(self)} queries but meta.json says "
                             f"{self.info['queries']}", path=str(self.cache_path))

    def _open(self) -> None:
        """Map the cache file and index the queries (also run after unpickling in a worker)."""
        self._mmap = pa.memory_map(str(self.cache_path), "r")
        reader = pa.ipc.open_file(self._mmap)
        self._features: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        batch_index, starts, ends, qids = [], [], [], []
        for b in range(reader.num_record_batches):
            batch = reader.get_batch(b)
            for name in ("labels", "features"):
                if batch.column(name).null_count:
                    raise InputError(f"column {name!r} has null entries", path=str(self.cache_path))
            # flatten() honours slice offsets; zero_copy_only guarantees views into the map
            self._features.append(batch.column("features").flatten().to_numpy(zero_copy_only=True)
                                  .reshape(-1, self.n_features))
            self._labels.append(batch.column("labels").flatten().to_numpy(zero_copy_only=True)
                                .reshape(-1, self.n_objectives))
            qid = batch.column("qid").to_numpy(zero_copy_only=True)
            s = _query_starts(qid)
            batch_index.append(np.full(len(s), b, dtype=np.int64))
            starts.append(s)
            ends.append(np.r_[s[1:], len(qid)].astype(np.int64))
            qids.append(qid[s])
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        self._batch_index, self._starts, self._ends = cat(batch_index), cat(starts), cat(ends)
        self.qids = cat(qids).astype(np.int64)
        self.lengths = self._ends - self._starts  # int64 [Q] candidates per query

    def __getstate__(self) -> dict:
        # memory maps and views are not picklable: a worker reopens the (already built) cache file
        state = self.__dict__.copy()
        for key in ("_mmap", "_features", "_labels"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def __len__(self) -> int:
        return len(self._starts)

    def set_epoch(self, epoch: int) -> None:
        """Select the subsampling randomness of an epoch (for indices given without an epoch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[Tensor, Tensor, int]:
        i, epoch = (int(index[0]), int(index[1])) if isinstance(index, (tuple, list)) else (int(index), self.epoch)
        if not -len(self) <= i < len(self):
            raise IndexError(f"query index {i} out of range for {len(self)} queries")
        i %= len(self)
        b, s, e = self._batch_index[i], self._starts[i], self._ends[i]
        features, labels = self._features[b][s:e], self._labels[b][s:e]
        n = e - s
        if self.train and self.max_list_length is not None and n > self.max_list_length:
            keep = self._subsample(labels[:, 0], i, epoch)
            features, labels = features[keep], labels[keep]  # fancy indexing copies
        else:
            features, labels = features.copy(), labels.copy()  # the map is read-only; torch wants writable
        return torch.from_numpy(features), torch.from_numpy(labels), int(self.qids[i])

    def _subsample(self, main_labels: np.ndarray, i: int, epoch: int) -> np.ndarray:
        """Sorted row indices [max_list_length]: one random positive (if any) plus a random rest."""
        rng = np.random.default_rng([self.seed, epoch, i])
        n, k = len(main_labels), self.max_list_length
        positives = np.flatnonzero(main_labels > 0)
        if len(positives) == 0:
            return np.sort(rng.choice(n, size=k, replace=False))
        anchor = positives[rng.integers(len(positives))]
        others = np.delete(np.arange(n), anchor)
        rest = rng.choice(others, size=k - 1, replace=False)
        return np.sort(np.r_[anchor, rest])  # keep source order


class QuerySampler(Sampler):
    """Shuffled query order for training, seeded by (seed, epoch); yields ``(index, epoch)`` pairs.

    Carrying the epoch with the index makes list subsampling reproducible whatever the number of
    workers and whether they persist. Lightning calls :meth:`set_epoch` (also through its distributed
    wrapper), and every rank draws the same order, which the distributed wrapper then shards.
    """

    def __init__(self, dataset: RankingDataset, seed: int = 0, shuffle: bool = True,
                 batch_size: int | None = None, bucket_batches: int = 0) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.shuffle = shuffle
        self.batch_size = batch_size
        self.bucket_batches = int(bucket_batches)
        if self.bucket_batches > 0 and not batch_size:
            raise ValueError("length bucketing needs the batch size")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n, epoch = len(self.dataset), self.epoch
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=generator).tolist()
            if self.bucket_batches > 0:
                order = self._bucketed(order, generator)
        else:
            order = range(n)
        return iter([(i, epoch) for i in order])

    def _bucketed(self, order: list[int], generator: torch.Generator) -> list[int]:
        """Length bucketing: sort each window of ``bucket_batches`` batches by (capped) list length, cut
        it into batches, and shuffle the batch order. Batches then hold lists of similar length, so they
        pad little (with random order, padding is most of a batch), while the order stays random."""
        lengths = np.asarray(self.dataset.lengths)
        cap = self.dataset.max_list_length
        if cap is not None:
            lengths = np.minimum(lengths, cap)
        size, window = int(self.batch_size), int(self.batch_size) * self.bucket_batches
        batches: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = np.asarray(order[start:start + window])
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + size].tolist() for i in range(0, len(chunk), size))
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [i for b in shuffled for i in batches[b]]


class LengthSortedSampler(Sampler):
    """Evaluation order: queries by decreasing length (ties by position), so batches pad little.

    The longest batch comes first, so an out-of-memory failure shows at once.
    """

    def __init__(self, lengths: np.ndarray) -> None:
        self.lengths = np.asarray(lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(np.argsort(-self.lengths, kind="stable").tolist())
