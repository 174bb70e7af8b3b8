"""Query groups: ``qid:`` columns, LightGBM ``.query`` side files, and the file-wide rules about them.

A file's rows either all carry ``qid:`` or none do; without it the groups come from a ``.query`` file
(one document count per line), or the whole file is one query. The rows of a query must be contiguous.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ltr_cos.data.libsvm.fast import _Block
from ltr_cos.errors import InputError

_COUNT = re.compile(r"\d+")


def read_query_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a LightGBM ``.query`` file (one positive document count per line).

    Returns:
        counts int64 [G] and the 1-based line of each count int64 [G].
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("query file not found", str(path))
    counts, lines = [], []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            if not _COUNT.fullmatch(text) or int(text) < 1:
                raise InputError(f"expected a positive document count, got {text!r}", str(path), number)
            counts.append(int(text))
            lines.append(number)
    if not counts:
        raise InputError("query file is empty", str(path))
    return np.asarray(counts, np.int64), np.asarray(lines, np.int64)


def _side_query_file(path: Path) -> Path | None:
    """LightGBM convention: ``train.txt`` -> ``train.txt.query`` (also ``train.query`` beside ``train.txt``)."""
    for cand in (Path(str(path) + ".query"), path.with_suffix(".query")):
        if cand != path and cand.is_file():
            return cand
    return None


class _QidResolver:
    """Turns per-chunk rows into rows with final qids, checking the file-wide rules as it goes."""

    def __init__(self, path: Path, query_file: Path | None, require_qid: bool | None, explicit_query: bool):
        self.path = str(path)
        self.query_file = query_file
        self.require_qid = require_qid
        self.explicit_query = explicit_query
        self.mode: bool | None = None  # whether rows carry qid:, decided by the first row
        self.mode_line = 0
        self.rows_seen = 0
        self.first_line_of_qid: dict[int, int] = {}
        self.last_qid: int | None = None
        self.counts_end: np.ndarray | None = None
        self.counts_lines: np.ndarray | None = None

    def resolve(self, rows: _Block) -> np.ndarray:
        """Return the final qid int64 [n] of the chunk's rows."""
        n = rows.n
        if n == 0:
            return np.zeros(0, np.int64)
        if self.mode is None:
            self.mode = bool(rows.has_qid[0])
            self.mode_line = int(rows.lines[0])
            if self.mode and self.explicit_query:
                raise InputError(
                    f"rows have qid: but a query file ({self.query_file}) was also given; use one or the other",
                    self.path, self.mode_line,
                )
            if not self.mode:
                if self.query_file is None and not self.explicit_query:
                    self.query_file = _side_query_file(Path(self.path))
                if self.query_file is not None:
                    counts, lines = read_query_file(self.query_file)
                    self.counts_end = np.cumsum(counts)
                    self.counts_lines = lines
                elif self.require_qid:
                    raise InputError(
                        "row has no qid: and there is no .query file giving the query groups "
                        f"(expected 'label qid:Q id:value ...' or a {Path(self.path).name}.query file)",
                        self.path, self.mode_line,
                    )
        deviating = rows.has_qid != self.mode
        if deviating.any():
            at = int(np.argmax(deviating))
            what = "has no qid:" if self.mode else "has a qid:"
            other = "have one" if self.mode else "have none"
            raise InputError(
                f"row {what} but the rows before it (from line {self.mode_line}) {other}; "
                "qid: must be on every row or on none",
                self.path, int(rows.lines[at]),
            )
        if self.mode:
            qid = rows.qid
        elif self.counts_end is not None:
            global_row = self.rows_seen + np.arange(n, dtype=np.int64)
            group = np.searchsorted(self.counts_end, global_row, side="right")
            if group[-1] >= len(self.counts_end):
                at = int(np.argmax(group >= len(self.counts_end)))
                raise InputError(
                    f"row {self.rows_seen + at + 1} is beyond the {int(self.counts_end[-1])} rows that the "
                    f"counts of {self.query_file} add up to",
                    self.path, int(rows.lines[at]),
                )
            qid = group + 1
        else:
            qid = np.zeros(n, np.int64)
        self._check_contiguous(qid, rows.lines)
        self.rows_seen += n
        return qid

    def _check_contiguous(self, qid: np.ndarray, lines: np.ndarray) -> None:
        starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
        run_qids = qid[starts].tolist()
        run_lines = lines[starts].tolist()
        seen = self.first_line_of_qid
        for i, (q, line) in enumerate(zip(run_qids, run_lines)):
            if i == 0 and q == self.last_qid:
                continue  # the query goes on from the previous chunk
            if q in seen:
                raise InputError(
                    f"qid {q} appears again after other queries (its rows start at line {seen[q]}); "
                    "the rows of one query must be contiguous",
                    self.path, line,
                )
            seen[q] = line
        self.last_qid = run_qids[-1]

    def finish(self) -> None:
        if self.rows_seen == 0:
            raise InputError("file has no data rows (empty, or only blank and comment lines)", self.path)
        if self.counts_end is not None and int(self.counts_end[-1]) != self.rows_seen:
            at = int(np.argmax(self.counts_end > self.rows_seen))
            raise InputError(
                f"counts add up to {int(self.counts_end[-1])} rows but {self.path} has {self.rows_seen} rows "
                f"(the count on this line goes past row {self.rows_seen})",
                str(self.query_file), int(self.counts_lines[at]),
            )

