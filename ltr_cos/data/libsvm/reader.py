"""Reading whole files: chunks of whole lines parsed on a pool of threads, reassembled in file order.

The file is read in chunks cut at line ends (512 KiB by default). Each chunk is parsed and densified by
``fast.py`` on a worker thread (the heavy steps are NumPy and Arrow kernels that release the GIL, so two
cores give about twice the speed of one); results are taken back in file order, where line numbers,
query ids and the file-wide rules are settled. A chunk the fast parser rejects is diagnosed by ``diagnose.py`` in file
order, so the error names the first bad line of the file, exactly as a one-thread read would.
"""

from __future__ import annotations

import gzip
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltr_cos.data.libsvm.diagnose import _raise_first_error
from ltr_cos.data.libsvm.fast import _Block, _Found, _parse_block
from ltr_cos.data.libsvm.queries import _QidResolver
from ltr_cos.data.limits import MAX_FEATURE_ID
from ltr_cos.errors import InputError

# Chunks are cut at line ends. Small chunks keep each chunk's index arrays (several times the text) in
# the CPU caches and still amortise the per-call overhead of the vectorised steps; measured on
# MSLR-shaped text, 512 KiB used about 15% less CPU than 1 MiB on two threads, and 1 MiB less than 8 MiB.
DEFAULT_CHUNK_BYTES = 512 << 10
_MAX_THREADS = 8


def default_threads() -> int:
    """Parser threads: the CPUs this process may run on, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_THREADS))


@dataclass
class LibSVMTable:
    """A parsed ranking file (or a block of whole queries of one).

    Attributes:
        qid: int64 [N], query id of each row (from ``qid:``, from the ``.query`` file as 1-based group
            numbers, or 0 for a file read as a single query).
        label: float32 [N], the row label (main objective).
        features: float32 [N, F], dense features; absent sparse entries are 0.
        n_features: F, the number of feature columns (column j holds feature id j + 1).
        path: the source file.
        lines: int64 [N], 1-based line of each row in the source file (for error messages).
    """

    qid: np.ndarray
    label: np.ndarray
    features: np.ndarray
    n_features: int
    path: str
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def n_queries(self) -> int:
        """Number of query blocks (rows of one query are contiguous)."""
        if len(self.qid) == 0:
            return 0
        return int(np.count_nonzero(self.qid[1:] != self.qid[:-1]) + 1)



def _open_binary(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """Yield chunks of whole lines, each ending with a newline."""
    rest = b""
    with _open_binary(path) as handle:
        while True:
            try:
                block = handle.read(chunk_bytes)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise InputError(f"cannot read ({exc})", str(path)) from None
            if not block:
                break
            cut = block.rfind(b"\n")
            if cut < 0:
                rest += block
                continue
            # one copy: the start of a line left from the last block, then this block up to its last line end
            chunk, rest = b"".join((rest, memoryview(block)[: cut + 1])), block[cut + 1 :]
            yield chunk
    if rest:
        yield rest + b"\n"


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path))
    if not path.is_file():
        raise InputError("not a regular file", str(path))
    return path


def _try_parse(chunk: bytes, n_features: int | None, limit: int) -> _Block | _Found:
    """The parsed block, or the _Found of its first rejected line (runs on a worker thread)."""
    try:
        return _parse_block(chunk, n_features, limit)
    except _Found as found:
        return found


def _iter_blocks(path: Path, n_features: int | None, chunk_bytes: int, threads: int,
                 max_feature_id: int = MAX_FEATURE_ID) -> Iterator[_Block]:
    """Yield the parsed blocks of a file in file order, their ``lines`` being lines of the file.

    Up to ``2 * threads`` chunks are in flight, which bounds memory. Raises the InputError of the first bad
    line of the file.
    """
    first_line = 1
    limit = n_features if n_features is not None else max_feature_id

    def settle(chunk: bytes, result: _Block | _Found) -> _Block:
        nonlocal first_line
        if isinstance(result, _Found):
            if result.message is not None:
                raise InputError(result.message, str(path), first_line + result.line)
            try:
                _raise_first_error(chunk, first_line, str(path), limit, result.line)
            except InputError as exc:
                if n_features is None and "is out of range" in exc.message:
                    raise InputError(f"{exc.message}: ids above {max_feature_id:,} are refused unless "
                                     "--max-feature-id (max_feature_id) allows them", exc.path, exc.line) from None
                raise
        result.lines += first_line - 1
        first_line += result.n_lines
        return result

    if threads <= 1:
        for chunk in _iter_chunks(path, chunk_bytes):
            yield settle(chunk, _try_parse(chunk, n_features, limit))
        return
    pool = ThreadPoolExecutor(threads, thread_name_prefix="ltr_cos-libsvm")
    pending: deque = deque()
    chunks = _iter_chunks(path, chunk_bytes)
    try:
        while True:
            try:
                chunk = next(chunks, None)
            except InputError:  # a read error: what comes before it (and its errors) goes first
                while pending:
                    done, future = pending.popleft()
                    yield settle(done, future.result())
                raise
            if chunk is None:
                break
            pending.append((chunk, pool.submit(_try_parse, chunk, n_features, limit)))
            if len(pending) > 2 * threads:
                done, future = pending.popleft()
                yield settle(done, future.result())
        while pending:
            done, future = pending.popleft()
            yield settle(done, future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        chunks.close()


def _iter_resolved(
    path: Path,
    query_file: str | os.PathLike | None,
    n_features: int | None,
    require_qid: bool | None,
    chunk_bytes: int,
    threads: int | None,
    max_feature_id: int = MAX_FEATURE_ID,
) -> Iterator[tuple[_Block, np.ndarray]]:
    """Yield (block, final qid) per chunk, checking everything; raises at the end for file-wide problems."""
    resolver = _QidResolver(
        path, Path(query_file) if query_file is not None else None, require_qid, query_file is not None
    )
    for block in _iter_blocks(path, n_features, chunk_bytes, threads or default_threads(), max_feature_id):
        if block.n:
            yield block, resolver.resolve(block)
    resolver.finish()


def _stack(parts: list[np.ndarray], width: int) -> np.ndarray:
    """Stack feature blocks [n_i, w_i] (w_i <= width) into one float32 [sum n_i, width], zero-padded."""
    if len(parts) == 1 and parts[0].shape[1] == width:
        return parts[0]
    out = np.zeros((sum(len(p) for p in parts), width), np.float32)
    start = 0
    for part in parts:
        out[start : start + len(part), : part.shape[1]] = part
        start += len(part)
    return out


def read_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int | None = None,
    max_feature_id: int = MAX_FEATURE_ID,
) -> LibSVMTable:
    """Read a whole LibSVM ranking file into memory.

    Args:
        path: text file, optionally gzip-compressed.
        query_file: LightGBM ``.query`` file for a file without ``qid:``; by default ``<path>.query`` is
            used when it exists and the rows have no qid.
        n_features: number of feature columns; ids above it are an error. Default: the largest id seen.
        max_feature_id: without ``n_features``, the largest feature id accepted (a larger one is refused with
            its file and line; default 1,000,000).
        require_qid: True: every row needs ``qid:`` (or a query file). None/False: a file with neither is
            read as one query with qid 0. Rows with and without ``qid:`` mixed are always an error.
        chunk_bytes: text parsed per step (bounds the temporary index arrays).
        threads: parser threads (default: the available CPUs, at most 8).

    Returns:
        LibSVMTable with qid int64 [N], label float32 [N], features float32 [N, F].

    Raises:
        InputError: naming the file and 1-based line of the first bad row, or the file-wide problem.
    """
    path = _check_path(path)
    qids, labels, lines, dense = [], [], [], []
    for block, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes, threads,
                                        max_feature_id):
        qids.append(qid)
        labels.append(block.label)
        lines.append(block.lines)
        dense.append(block.features)
    width = n_features if n_features is not None else max(d.shape[1] for d in dense)
    features = np.zeros((sum(len(d) for d in dense), width), np.float32)
    start = 0
    while dense:
        part = dense.pop(0)  # release each block once copied
        features[start : start + len(part), : part.shape[1]] = part
        start += len(part)
    return LibSVMTable(
        qid=np.concatenate(qids),
        label=np.concatenate(labels),
        features=features,
        n_features=width,
        path=str(path),
        lines=np.concatenate(lines),
    )


def iter_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int | None = None,
    max_feature_id: int = MAX_FEATURE_ID,
) -> Iterator[LibSVMTable]:
    """Stream a LibSVM ranking file as blocks of whole queries, in bounded memory.

    Each block holds the rows of one or more complete queries in file order (a query that crosses a chunk
    boundary is carried into the next block). Arguments are those of :func:`read_libsvm`.

    Yields:
        LibSVMTable blocks; ``features`` is [n, F] with F = ``n_features`` when given, else the largest
        feature id seen so far in the file (pass ``n_features`` to get one width for every block).
    """
    path = _check_path(path)
    name = str(path)
    width = n_features or 0
    # pieces (qid, label, lines, features) of the last query seen, which may go on in the next chunk
    carry: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def table(pieces: list) -> LibSVMTable:
        nonlocal width
        qid, label, lines, feats = zip(*pieces)
        width = max(width, *(f.shape[1] for f in feats))
        return LibSVMTable(np.concatenate(qid), np.concatenate(label), _stack(list(feats), width), width, name,
                           np.concatenate(lines))

    for block, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes, threads,
                                        max_feature_id):
        whole = (qid, block.label, block.lines, block.features)
        starts = np.flatnonzero(qid[1:] != qid[:-1]) + 1  # where the block's later queries start
        start = 0
        if carry and int(qid[0]) == int(carry[-1][0][-1]):  # the carried query goes on
            start = int(starts[0]) if len(starts) else block.n
            carry.append(tuple(a[:start] for a in whole))
            if start == block.n:
                continue
        if carry:
            yield table(carry)
        last = int(starts[-1]) if len(starts) else 0
        if last > start:  # whole queries in the middle: views of the block, not copies
            yield table([tuple(a[start:last] for a in whole)])
        carry = [tuple(a[max(start, last):] for a in whole)]
    if carry:
        yield table(carry)


def scan_libsvm(
    path: str | os.PathLike,
    query_file: str | os.PathLike | None = None,
    n_features: int | None = None,
    require_qid: bool | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int | None = None,
    max_feature_id: int = MAX_FEATURE_ID,
) -> dict:
    """Check a whole file without keeping it: returns {rows, queries, max_feature_id}."""
    path = _check_path(path)
    n_rows = n_queries = max_id = 0
    last = None
    for block, qid in _iter_resolved(path, query_file, n_features, require_qid, chunk_bytes, threads,
                                        max_feature_id):
        n_rows += block.n
        n_queries += int(np.count_nonzero(qid[1:] != qid[:-1])) + int(qid[0] != last)
        last = int(qid[-1])
        max_id = max(max_id, block.max_id)
    return {"rows": n_rows, "queries": n_queries, "max_feature_id": max_id}
