"""The explorer's data: the profiled front (``ltr-cos pareto`` output) and one data split to rank live.

NDCG is computed with ``ltr_cos.metrics.ndcg`` (``ndcg_per_query`` for one query, ``ndcg_table`` for the
split) at the k, gain and empty-query rule of the profile's ``summary.json`` (k=10, 2^y-1, drop when
there is no profile), so the split figures match ``pareto.csv`` at the grid weights.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ltr_cos.errors import InputError
from ltr_cos.pareto.select import Constraint, select_operating_point, table_objectives
from ltr_cos.serve.service import RankService

_CACHE_SIZE = 64  # split evaluations kept, keyed by (weights, beta)
_CHUNK = 8  # queries per forward pass over the split (small: lists of similar length pad little)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class Front:
    """A profile folder: ``pareto.csv`` (+ ``summary.json`` for k, gain, reference point)."""

    def __init__(self, folder: str | Path) -> None:
        import pandas as pd

        folder = Path(folder)
        path = folder / "pareto.csv"
        if not path.is_file():
            raise InputError("no pareto.csv here (pass the output folder of `ltr-cos pareto`)", str(folder))
        self.table = pd.read_csv(path)
        summary_path = folder / "summary.json"
        self.summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        self.k = int(self.summary.get("k", 10))
        self.gain = self.summary.get("gain", "exp2")
        self.empty = self.summary.get("empty_rule", "drop")
        self.objectives, self.weighted = table_objectives(self.table, self.k)
        if not self.objectives or not self.weighted:
            raise InputError(f"pareto.csv has no weight/... or ndcg@{self.k}/... columns", str(path))
        front_path = folder / "front.csv"
        self.front_rows: set[tuple] = set()
        if front_path.is_file():
            front = pd.read_csv(front_path)
            keys = [f"weight/{name}" for name in self.weighted] + (["beta"] if "beta" in front else [])
            self.front_rows = {tuple(np.round(row, 9)) for row in front[keys].to_numpy(dtype=np.float64)}

    def reference_point(self) -> dict[str, float] | None:
        ref = self.summary.get("reference_ranker_ndcg")
        if not ref:
            return None
        return {name: float(ref[f"ndcg@{self.k}/{name}"]) for name in self.objectives if f"ndcg@{self.k}/{name}" in ref}

    def rows(self) -> list[dict[str, Any]]:
        keys = [f"weight/{name}" for name in self.weighted] + (["beta"] if "beta" in self.table else [])
        out = []
        for i in range(len(self.table)):
            row = self.table.iloc[i]
            key = tuple(np.round(row[keys].to_numpy(dtype=np.float64), 9))
            out.append({
                "row": i,
                "weights": [float(row[f"weight/{name}"]) for name in self.weighted],
                "beta": float(row["beta"]) if "beta" in self.table else None,
                "ndcg": {name: _finite_or_none(float(row[f"ndcg@{self.k}/{name}"])) for name in self.objectives},
                "on_front": key in self.front_rows,
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "objectives": self.objectives, "weighted": self.weighted, "rows": self.rows(),
                "reference_point": self.reference_point(), "split": self.summary.get("split")}

    def select(self, maximize: str, constraints: list[Constraint]) -> dict[str, Any]:
        chosen = select_operating_point(self.table, maximize, constraints, self.k)
        if chosen is None:
            return {"found": False, "message": "no profiled grid point meets every bound"}
        return {"found": True, **chosen.to_dict()}


class Split:
    """One split of a converted dataset, held padded in memory for live ranking."""

    def __init__(self, data_dir: str | Path, split: str, n_features: int, objective_names: list[str],
                 max_queries: int = 2000) -> None:
        from ltr_cos.data.dataset import RankingDataset, load_meta

        meta = load_meta(data_dir)
        if int(meta["n_features"]) != n_features:
            raise InputError(f"the dataset has {meta['n_features']} features, the artifact takes {n_features}",
                             str(data_dir))
        if objective_names and list(meta["objective_names"]) != list(objective_names):
            raise InputError(f"the dataset's objectives {meta['objective_names']} differ from the artifact's "
                             f"{objective_names}", str(data_dir))
        dataset = RankingDataset(data_dir, split, meta=meta)
        count = min(len(dataset), max_queries)
        if count == 0:
            raise InputError(f"split {split!r} has no query", str(data_dir))
        self.name = split
        self.objective_names = list(meta["objective_names"])
        self.qids = dataset.qids[:count].tolist()
        self.lengths = dataset.lengths[:count].astype(int).tolist()
        n = max(self.lengths)
        # features unpadded (one long list can be most of a split), labels and mask padded (small)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.features = np.zeros((sum(self.lengths), n_features), dtype=np.float32)
        self.labels = np.zeros((count, n, len(self.objective_names)), dtype=np.float32)
        self.mask = np.zeros((count, n), dtype=bool)
        for i in range(count):
            x, y, _ = dataset[i]
            self.features[self.starts[i]:self.starts[i] + len(x)] = x.numpy()
            self.labels[i, : len(x)] = y.numpy()
            self.mask[i, : len(x)] = True
        self.truncated = len(dataset) > count

    def padded(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features [len(rows), L, F] padded to the longest of these queries, and their mask [len(rows), L]."""
        n = max(self.lengths[i] for i in rows)
        x = np.zeros((len(rows), n, self.features.shape[1]), dtype=np.float32)
        for j, i in enumerate(rows):
            x[j, : self.lengths[i]] = self.features[self.starts[i]:self.starts[i] + self.lengths[i]]
        return x, self.mask[rows, :n]

    def queries(self) -> list[dict[str, int]]:
        return [{"index": i, "qid": q, "candidates": n} for i, (q, n) in enumerate(zip(self.qids, self.lengths))]


class Explorer:
    """What the explorer page asks for: config, front, queries, live evaluation, operating points."""

    def __init__(self, service: RankService, front: Front | None = None, split: Split | None = None) -> None:
        self.service = service
        self.front = front
        self.split = split
        self.k = front.k if front else 10
        self.gain = front.gain if front else "exp2"
        self.empty = front.empty if front else "drop"
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def warm_up(self) -> None:
        """Score the split once at the page's starting weights: the first calls of a TorchScript model
        are slow (it specialises to the shapes it sees), and the page's first view needs exactly this."""
        if self.split is None:
            return
        m = self.service.model.n_weights
        weights = [1.0 / m] * m if self.service.model.needs_weights else None
        beta = self.service.default_beta()
        if self.service.model.needs_beta and beta is None and self.service.beta_range:
            low, high = self.service.beta_range
            beta = min(max(1.0, low), high)
        self.evaluate(weights, beta, 0)

    def config(self) -> dict[str, Any]:
        model = self.service.model
        info = model.info
        return {
            "objective_names": list(info.get("objective_names") or []),
            "weighted_objectives": list(info.get("weighted_objectives") or []),
            "needs_weights": model.needs_weights, "needs_beta": model.needs_beta,
            "beta_control": model.beta_control, "default_beta": self.service.default_beta(),
            "beta_range": list(self.service.beta_range) if self.service.beta_range else None,
            "k": self.k, "gain": self.gain, "empty_rule": self.empty,
            "artifact": {"sha256": info.get("sha256"), "format": info.get("format"),
                         "ltr_cos_version": info.get("ltr_cos_version")},
            "has_front": self.front is not None,
            "split": None if self.split is None else {"name": self.split.name, "queries": len(self.split.qids),
                                                      "truncated": self.split.truncated},
        }

    def _scores(self, weights: Any, beta: float | None) -> np.ndarray:
        import warnings

        key = (None if weights is None else tuple(np.round(weights, 12)), beta)
        split = self.split
        with self.service.lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the service checked beta against its range already
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            # queries by length, in chunks padded to their own longest list: little padding to score
            scores = np.zeros(split.mask.shape, dtype=np.float32)
            by_length = np.argsort(-np.asarray(split.lengths), kind="stable")
            for start in range(0, len(by_length), _CHUNK):
                rows = by_length[start:start + _CHUNK]
                x, mask = split.padded(rows)
                scores[rows, : mask.shape[1]] = self.service.model.score(x, mask, weights, beta)
            self._cache[key] = scores
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return scores

    def evaluate(self, weights: list[float] | None, beta: float | None, query: int) -> dict[str, Any]:
        """Rank one query and score the split; NDCG@k per objective for both."""
        import torch

        from ltr_cos.metrics.ndcg import ndcg_per_query, ndcg_table
        from ltr_cos.serve.schemas import RequestProblem

        if self.split is None:
            raise RequestProblem(["body"], "the service runs without --data: no split to explore", status=409)
        w, b = self.service.check_knobs(weights, beta)
        if query >= len(self.split.qids):
            raise RequestProblem(["body", "query"], f"the split has {len(self.split.qids)} queries, got {query}")
        scores = self._scores(w, b)
        names = self.split.objective_names
        s = torch.from_numpy(scores)
        y = torch.from_numpy(self.split.labels)
        m = torch.from_numpy(self.split.mask)
        table = ndcg_table(s, y, m, names, ks=(self.k,), gain=self.gain, empty=self.empty)
        q_ndcg, q_valid = ndcg_per_query(s[query:query + 1], y[query:query + 1], m[query:query + 1], self.k, self.gain)
        n = self.split.lengths[query]
        q_scores = scores[query, :n].astype(np.float64)
        order = np.lexsort((np.arange(n), -q_scores))
        labels = self.split.labels[query, :n]
        return {
            "weights": None if w is None else w.tolist(), "beta": b, "k": self.k,
            "query": {"index": query, "qid": self.split.qids[query], "candidates": n},
            "ranked": [{"doc": int(d), "score": float(q_scores[d]),
                        "labels": {name: float(labels[d, j]) for j, name in enumerate(names)}} for d in order],
            "query_ndcg": {name: (float(q_ndcg[0, j]) if bool(q_valid[0, j]) else None)
                           for j, name in enumerate(names)},
            "split_ndcg": {name: _finite_or_none(table[f"ndcg@{self.k}/{name}"]) for name in names},
        }
