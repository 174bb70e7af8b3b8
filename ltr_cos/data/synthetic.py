"""Synthetic ranking data in MSLR-WEB10K/30K's 136-feature LibSVM layout.

A per-document latent relevance drives the label and most text-matching features (1-125). Two more
latents drive the auxiliary columns: ``quality`` (132 QualityScore, 133 QualityScore2, dwell time) and
``popularity`` (134 query-url clicks, 135 url clicks). Quality is anti-correlated with relevance for a
share of the documents ("relevant but poor pages") and clicks are only partly tied to relevance, so
the auxiliary objectives really trade off against the main one. Because conversion removes the
objective columns from the model inputs, the same latents also drive other columns (126 slashes,
127 URL length, 128 inlinks, 129 outlinks, 130 PageRank, 131 SiteRank, 14 URL stream length, 12 anchor
length) so a model can learn the auxiliary objectives from what it sees.

Generation is block-wise (a block of queries at a time, each block with its own seeded stream), so the
output depends only on the seed and the preset, never on chunking, and the writer streams with bounded
memory. Formatting is vectorised with pyarrow (no per-value Python loop).
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_save

N_FEATURES = 136
AUX_COLUMNS = {132: "quality_score", 133: "quality_score2", 134: "query_url_clicks", 135: "url_clicks",
               136: "dwell_time"}
_BLOCK_QUERIES = 128  # queries per generation block: fixes the random streams, so never change it


@dataclass(frozen=True)
class SyntheticPreset:
    """Size statistics of a synthetic preset (defaults follow the real dataset it stands in for).

    Attributes:
        name: preset name.
        n_queries: default number of queries.
        docs_mean: mean documents per query.
        docs_sigma: log-normal sigma of the documents-per-query distribution (the long tail).
        docs_max: longest list.
        label_fractions: fraction of rows at label 0..4.
    """

    name: str
    n_queries: int
    docs_mean: float
    docs_sigma: float
    docs_max: int
    label_fractions: tuple[float, ...]


# MSLR-WEB30K: 31,531 queries, 3,771,125 rows (about 120 per query, longest about 1,250 documents).
# MSLR-WEB10K: 10,000 queries, 1,200,192 rows (about 120 per query, longest 908).
# Label shares are approximate (about 51% 0, 32% 1, 13% 2, 2% 3, 1% 4).
_LABEL_FRACTIONS = (0.515, 0.325, 0.133, 0.019, 0.008)
PRESETS: dict[str, SyntheticPreset] = {
    "mslr-web30k": SyntheticPreset("mslr-web30k", 31_531, 119.6, 0.75, 1251, _LABEL_FRACTIONS),
    "mslr-web10k": SyntheticPreset("mslr-web10k", 10_000, 120.0, 0.75, 908, _LABEL_FRACTIONS),
}

# Columns written as integers (1-based ids): term counts, stream lengths, TF sums/min/max, boolean model,
# link counts, ranks, quality scores, clicks. The rest get 6 decimals as in the MSLR files.
_INT_IDS = [*range(1, 6), *range(11, 16), *range(21, 36), *range(96, 101), *range(126, 136)]
_INT_COLUMNS = np.zeros(N_FEATURES, dtype=bool)
_INT_COLUMNS[np.asarray(_INT_IDS) - 1] = True

_NORMAL = NormalDist()
_LABEL_NOISE = 0.5  # std of the noise between latent relevance and the graded label
_QUERY_OFFSET = 0.6  # std of the per-query relevance offset (some queries have few relevant documents)


def _preset(name: str) -> SyntheticPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown synthetic preset {name!r}; choose one of {sorted(PRESETS)}") from None


def _docs_per_query(
    preset: SyntheticPreset, n_queries: int, seed: int, docs_per_query: int | tuple[int, int] | None
) -> np.ndarray:
    """List lengths, int64 [n_queries]: preset distribution, a fixed count, or uniform in (lo, hi)."""
    rng = np.random.default_rng([seed, 0x5EED, 0])
    if docs_per_query is None:
        # log-normal with the preset's mean; clipped to [1, docs_max] (the tail reaches docs_max rarely)
        mu = math.log(preset.docs_mean) - preset.docs_sigma**2 / 2
        counts = np.rint(rng.lognormal(mu, preset.docs_sigma, n_queries))
        return np.clip(counts, 1, preset.docs_max).astype(np.int64)
    if isinstance(docs_per_query, (tuple, list)):
        lo, hi = (int(v) for v in docs_per_query)
        if not 1 <= lo <= hi:
            raise InputError(f"docs_per_query range must satisfy 1 <= lo <= hi, got {docs_per_query}")
        return rng.integers(lo, hi + 1, n_queries).astype(np.int64)
    if int(docs_per_query) < 1:
        raise InputError(f"docs_per_query must be >= 1, got {docs_per_query}")
    return np.full(n_queries, int(docs_per_query), dtype=np.int64)


def _label_thresholds(fractions: tuple[float, ...]) -> np.ndarray:
    """Cut points on the noisy latent relevance giving the preset's label shares."""
    scale = math.sqrt(_QUERY_OFFSET**2 + 1.0 + _LABEL_NOISE**2)
    cumulative = np.cumsum(fractions)[:-1]
    return np.asarray([_NORMAL.inv_cdf(float(c)) * scale for c in cumulative])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _generate_block(
    rng: np.random.Generator, counts: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One block of queries.

    Args:
        rng: the block's own random stream.
        counts: int64 [Q] documents per query.
        thresholds: label cut points.

    Returns:
        labels int64 [n], features float64 [n, 136] (already rounded as written).
    """
    q = len(counts)
    n = int(counts.sum())
    g = np.repeat(np.arange(q), counts)  # query index of each row, [n]
    x = np.zeros((n, N_FEATURES), dtype=np.float64)

    def col(fid: int) -> int:  # 1-based MSLR id -> column
        return fid - 1

    # --- query-level values ---
    qlen = (1 + np.minimum(rng.poisson(1.6, q), 7))[g].astype(np.float64)  # query terms, [n]
    offset = rng.normal(0.0, _QUERY_OFFSET, q)[g]
    idf_body = qlen * rng.uniform(1.5, 5.0, q)[g]
    idf = np.stack([idf_body, idf_body * rng.uniform(2.0, 4.0, q)[g], idf_body * rng.uniform(2.0, 3.5, q)[g],
                    idf_body * rng.uniform(2.5, 4.0, q)[g], idf_body * rng.uniform(0.95, 1.0, q)[g]], 1)

    # --- document latents (within-query standard normals) ---
    rel = rng.standard_normal(n)
    relevance = offset + rel
    labels = np.searchsorted(thresholds, relevance + _LABEL_NOISE * rng.standard_normal(n)).astype(np.int64)
    doclen = rng.standard_normal(n)
    # quality: for about 60% of documents it falls as relevance rises (content-farm pages that match the
    # query well), for the rest it rises mildly with relevance: a partial conflict, not a mirror image
    conflicting = rng.random(n) < 0.6
    rho = np.where(conflicting, -0.8, 0.3)
    quality = rho * rel + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    # popularity of the site: independent of relevance, partly of quality
    popularity = 0.4 * quality + math.sqrt(1 - 0.16) * rng.standard_normal(n)

    # --- URL / link columns 126-131, driven by quality and popularity (what makes them learnable) ---
    url_len = np.clip(np.rint(45.0 - 9.0 * quality + 10.0 * rng.standard_normal(n)), 12, 250)
    x[:, col(127)] = url_len
    x[:, col(126)] = np.clip(np.rint(3.0 - 0.8 * quality + 0.8 * rng.standard_normal(n)), 1, 15)
    x[:, col(128)] = np.rint(np.exp(2.0 + 1.6 * popularity + 0.8 * rng.standard_normal(n))) * \
        (rng.random(n) > 0.1)  # a few documents have no known inlinks
    x[:, col(129)] = np.rint(np.exp(1.5 + 0.5 * quality + 0.8 * rng.standard_normal(n)))
    x[:, col(130)] = np.rint(np.exp(4.8 + 0.6 * popularity + 0.4 * quality + 0.3 * rng.standard_normal(n)))
    x[:, col(131)] = np.clip(np.rint(np.exp(10.0 - 0.9 * popularity + 0.5 * rng.standard_normal(n))), 1, 70_000)

    # --- auxiliary objective columns 132-136 ---
    x[:, col(132)] = np.clip(np.rint(np.exp(1.6 + 0.9 * quality + 0.3 * rng.standard_normal(n))), 0, 255)
    quality2 = 0.7 * quality + math.sqrt(1 - 0.49) * rng.standard_normal(n)
    x[:, col(133)] = np.clip(np.rint(np.exp(2.0 + 1.0 * quality2)), 0, 255)
    # query-url clicks: only when the page was shown and clicked for this query: relevance and popularity
    qu_click = rng.random(n) < _sigmoid(-3.3 + 0.9 * rel + 0.9 * popularity)
    x[:, col(134)] = qu_click * np.ceil(np.exp(0.5 + 0.5 * rel + 0.6 * popularity
                                                + 0.5 * rng.standard_normal(n)))
    # url clicks: site traffic regardless of the query (popularity), a weak pull towards relevance
    url_click = qu_click | (rng.random(n) < _sigmoid(-2.2 + 1.3 * popularity + 0.2 * rel))
    x[:, col(135)] = url_click * np.ceil(np.exp(1.0 + 1.2 * popularity + 0.2 * rel
                                                 + 0.6 * rng.standard_normal(n)))
    # dwell time (seconds) of those clicks: good pages keep readers
    x[:, col(136)] = url_click * np.exp(3.0 + 0.6 * quality + 0.2 * rel + 0.4 * rng.standard_normal(n))

    # --- streams: body, anchor, title, url, whole document ---
    body_len = np.clip(np.rint(np.exp(6.2 + 0.9 * doclen + 0.2 * quality)), 20, 200_000)
    anchor_len = np.rint(np.exp(1.5 + 0.9 * rng.standard_normal(n) + 0.5 * popularity)) * (rng.random(n) > 0.3)
    title_len = np.clip(np.rint(7.0 + 3.0 * rng.standard_normal(n)), 1, 40)
    url_tokens = np.maximum(1.0, np.rint(url_len / 8.0 + 0.5 * rng.standard_normal(n)))
    lengths = np.stack([body_len, anchor_len, title_len, url_tokens], 1)  # [n, 4]
    lengths = np.concatenate([lengths, lengths.sum(1, keepdims=True)], 1)  # [n, 5]

    # per-stream match strength: noisy views of relevance (anchors also reflect popularity)
    strength = 0.9 * rel[:, None] + 0.9 * rng.standard_normal((n, 4))
    strength[:, 1] += 0.4 * popularity
    p_cover = _sigmoid(np.array([1.0, -1.0, 0.0, -1.5]) + strength)
    covered = rng.binomial(qlen.astype(np.int64)[:, None], p_cover).astype(np.float64)  # [n, 4]
    covered = covered * (lengths[:, :4] > 0)
    whole_cov = covered.max(1)
    whole_cov = whole_cov + rng.binomial((qlen - whole_cov).astype(np.int64), 0.3)
    covered = np.concatenate([covered, whole_cov[:, None]], 1)  # [n, 5]
    ratio = covered / qlen[:, None]
    x[:, 0:5] = covered
    x[:, 5:10] = ratio
    x[:, 10:15] = lengths
    x[:, 15:20] = idf

    # term frequencies per covered term, growing with the stream length and the match strength
    strength5 = np.concatenate([strength, strength.mean(1, keepdims=True)], 1)
    tf_mean = np.exp(np.log1p(0.01 * lengths) + 0.3 * strength5 + 0.3 * rng.standard_normal((n, 5)))
    tf_sum = np.rint(covered * np.maximum(tf_mean, 1.0))
    tf_sum[:, 4] = np.maximum(tf_sum[:, 4], tf_sum[:, :4].sum(1))
    per_cov = np.divide(tf_sum, covered, out=np.zeros_like(tf_sum), where=covered > 0)
    tf_max = np.minimum(tf_sum, np.ceil(per_cov * rng.uniform(1.0, 1.8, (n, 5))))
    full = covered >= qlen[:, None]
    tf_min = np.where(full, np.maximum(np.minimum(1.0, tf_sum), np.floor(per_cov * rng.uniform(0.3, 1.0, (n, 5)))), 0)
    tf_min = np.minimum(tf_min, tf_max)
    tf_avg = tf_sum / qlen[:, None]
    tf_var = ((tf_max - tf_min) ** 2) / 4.0 * rng.uniform(0.3, 1.0, (n, 5))
    stats = [tf_sum, tf_min, tf_max, tf_avg, tf_var]
    for k, values in enumerate(stats):  # 21-45: TF sum, min, max, mean, variance
        x[:, 20 + 5 * k: 25 + 5 * k] = values
    safe_len = np.maximum(lengths, 1.0)
    for k, values in enumerate(stats):  # 46-70: stream-length normalised TF
        norm = values / safe_len if k < 4 else values / safe_len**2
        x[:, 45 + 5 * k: 50 + 5 * k] = norm
    idf_term = idf / qlen[:, None] * rng.uniform(0.7, 1.3, (n, 5))
    for k, values in enumerate(stats):  # 71-95: TF-IDF
        x[:, 70 + 5 * k: 75 + 5 * k] = values * (idf_term if k < 4 else idf_term**2)
    x[:, 95:100] = full * (covered > 0)  # 96-100: boolean model
    x[:, 100:105] = ratio * _sigmoid(0.5 + 0.8 * strength5 + 0.3 * rng.standard_normal((n, 5)))  # 101-105 VSM
    avg_len = np.array([900.0, 8.0, 7.0, 6.0, 920.0])
    tfn = per_cov
    bm25 = ratio * idf * tfn * 2.2 / (tfn + 1.2 * (0.25 + 0.75 * lengths / avg_len))
    x[:, 105:110] = bm25  # 106-110: BM25
    lm_base = -28.0 + 14.0 * ratio + 2.0 * strength5 - 0.5 * np.log1p(lengths)
    for k, shift in enumerate((0.0, -3.0, 1.5)):  # 111-125: LMIR.ABS, LMIR.DIR, LMIR.JM
        lm = lm_base + shift + 1.5 * rng.standard_normal((n, 5))
        x[:, 110 + 5 * k: 115 + 5 * k] = np.minimum(lm, -0.5)

    # rounding as written: integers for count-like columns, 6 decimals elsewhere; +0.0 turns -0 into 0
    x[:, _INT_COLUMNS] = np.rint(x[:, _INT_COLUMNS])
    x[:, ~_INT_COLUMNS] = np.round(x[:, ~_INT_COLUMNS], 6)
    x += 0.0
    return labels, x


def _blocks(
    preset: str, n_queries: int | None, seed: int, docs_per_query: int | tuple[int, int] | None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (qid int64 [n], labels int64 [n], features float64 [n, 136]) block by block."""
    spec = _preset(preset)
    n_queries = spec.n_queries if n_queries is None else int(n_queries)
    if n_queries < 1:
        raise InputError(f"n_queries must be >= 1, got {n_queries}")
    counts = _docs_per_query(spec, n_queries, seed, docs_per_query)
    thresholds = _label_thresholds(spec.label_fractions)
    for b, start in enumerate(range(0, n_queries, _BLOCK_QUERIES)):
        block_counts = counts[start:start + _BLOCK_QUERIES]
        rng = np.random.default_rng([seed, 0x5EED, 1, b])
        labels, features = _generate_block(rng, block_counts, thresholds)
        qid = np.repeat(np.arange(start + 1, start + 1 + len(block_counts), dtype=np.int64), block_counts)
        yield qid, labels, features


def generate_synthetic(
    preset: str = "mslr-web30k",
    n_queries: int | None = None,
    seed: int = 0,
    docs_per_query: int | tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate a synthetic dataset in memory (for tests and small demos; large ones: write_synthetic_libsvm).

    Args:
        preset: ``mslr-web30k`` or ``mslr-web10k`` (list-length statistics of the real dataset).
        n_queries: number of queries; ``None`` = the preset's size.
        seed: random seed; the output depends only on (preset, n_queries, seed, docs_per_query).
        docs_per_query: ``None`` = the preset's long-tailed distribution, an int = that many documents
            per query, a pair (lo, hi) = uniform in [lo, hi].

    Returns:
        qid int64 [N] (1, 2, ... contiguous), labels float32 [N] (grades 0..4), features float32 [N, 136]
        (the values written by write_synthetic_libsvm, cast to float32).
    """
    parts = list(_blocks(preset, n_queries, seed, docs_per_query))
    qid = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.float32)
    features = np.concatenate([p[2].astype(np.float32) for p in parts])
    return qid, labels, features


def _format_block(qid: np.ndarray, labels: np.ndarray, features: np.ndarray) -> bytes:
    """LibSVM text for one block: ``label qid:Q 1:v ... 136:v\\n`` per row, formatted by pyarrow."""
    parts: list[pa.Array | pa.Scalar] = [pc.cast(pa.array(labels), pa.string()), pa.scalar(" qid:"),
                                         pc.cast(pa.array(qid), pa.string())]
    for j in range(N_FEATURES):
        column = features[:, j]
        # integers print without a decimal point; 6-decimal floats print in shortest form (no exponent
        # for magnitudes in [1e-6, 1e20), which the rounding guarantees)
        values = column.astype(np.int64) if _INT_COLUMNS[j] else column
        parts.append(pa.scalar(f" {j + 1}:"))
        parts.append(pc.cast(pa.array(values), pa.string()))
    parts.append(pa.scalar("\n"))
    lines = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


class _Stats:
    """Streaming statistics of a synthetic dataset (block by block, whole queries per block)."""

    def __init__(self) -> None:
        self.rows = 0
        self.queries = 0
        self.docs_min = math.inf
        self.docs_max = 0
        self.label_counts = np.zeros(5, dtype=np.int64)
        self.zero_counts = {fid: 0 for fid in (134, 135, 136)}
        self.rho_sum = {fid: 0.0 for fid in AUX_COLUMNS}
        self.rho_n = {fid: 0 for fid in AUX_COLUMNS}

    def update(self, qid: np.ndarray, labels: np.ndarray, features: np.ndarray) -> None:
        starts = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]])
        counts = np.diff(np.r_[starts, len(qid)])
        self.rows += len(qid)
        self.queries += len(starts)
        self.docs_min = min(self.docs_min, int(counts.min()))
        self.docs_max = max(self.docs_max, int(counts.max()))
        self.label_counts += np.bincount(labels.astype(np.int64), minlength=5)[:5]
        for fid in self.zero_counts:
            self.zero_counts[fid] += int((features[:, fid - 1] == 0).sum())
        for fid in AUX_COLUMNS:
            rho = per_query_spearman(labels, features[:, fid - 1], starts)
            ok = np.isfinite(rho)
            self.rho_sum[fid] += float(rho[ok].sum())
            self.rho_n[fid] += int(ok.sum())

    def result(self, preset: str, seed: int) -> dict:
        return {
            "preset": preset,
            "seed": seed,
            "queries": self.queries,
            "rows": self.rows,
            "docs_per_query": {"min": int(self.docs_min), "mean": self.rows / max(self.queries, 1),
                               "max": int(self.docs_max)},
            "label_histogram": {str(k): int(c) for k, c in enumerate(self.label_counts)},
            "zero_fraction": {f"{fid}:{AUX_COLUMNS[fid]}": c / max(self.rows, 1)
                              for fid, c in self.zero_counts.items()},
            "spearman_relevance": {
                f"{fid}:{AUX_COLUMNS[fid]}": (self.rho_sum[fid] / self.rho_n[fid] if self.rho_n[fid] else math.nan)
                for fid in AUX_COLUMNS
            },
        }


def _group_ranks(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of ``values`` within each group; float64 [n]."""
    order = np.lexsort((values, group))
    v, gr = values[order], group[order]
    new_run = np.r_[True, (v[1:] != v[:-1]) | (gr[1:] != gr[:-1])]
    run_id = np.cumsum(new_run) - 1
    pos = np.arange(len(v), dtype=np.float64)
    run_start = pos[new_run]
    run_len = np.bincount(run_id)
    avg_pos = run_start + (run_len - 1) / 2.0  # mean position of a tie run
    group_start = np.r_[True, gr[1:] != gr[:-1]]
    first_pos = np.maximum.accumulate(np.where(group_start, pos, 0))
    ranks = np.empty(len(v))
    ranks[order] = avg_pos[run_id] - first_pos + 1.0
    return ranks


def per_query_spearman(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Spearman correlation of ``a`` and ``b`` within each query.

    Args:
        a, b: [n] values, rows of a query contiguous.
        starts: int [Q] first row of each query.

    Returns:
        float64 [Q]; NaN where either side is constant within the query (no ranking information).
    """
    n = len(a)
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    ra, rb = _group_ranks(np.asarray(a, np.float64), group), _group_ranks(np.asarray(b, np.float64), group)
    counts = np.diff(np.r_[starts, n]).astype(np.float64)
    ma = np.add.reduceat(ra, starts) / counts
    mb = np.add.reduceat(rb, starts) / counts
    da, db = ra - ma[group], rb - mb[group]
    cov = np.add.reduceat(da * db, starts)
    va, vb = np.add.reduceat(da * da, starts), np.add.reduceat(db * db, starts)
    denom = np.sqrt(va * vb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 1e-12, cov / np.where(denom > 0, denom, 1.0), np.nan)


def _open_output(path: str, compress: bool) -> IO[bytes]:
    # level 1: the text compresses well already and the writer should stay I/O bound
    return gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb")


def write_synthetic_libsvm(
    path: str | os.PathLike,
    preset: str = "mslr-web30k",
    n_queries: int | None = None,
    seed: int = 0,
    docs_per_query: int | tuple[int, int] | None = None,
) -> dict:
    """Write a synthetic dataset as LibSVM text (``.gz`` compresses), streaming block by block.

    The file appears under its name only when complete (written to a temporary sibling, then renamed).

    Args:
        path: output file.
        preset, n_queries, seed, docs_per_query: as in :func:`generate_synthetic` (same rows).

    Returns:
        statistics: queries, rows, docs_per_query {min, mean, max}, label_histogram, zero_fraction of the
        click/dwell columns, and the mean per-query Spearman correlation between the label and each
        auxiliary column (``spearman_relevance``, negative = conflict). :func:`format_stats` prints it.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError("output folder does not exist", path=str(path.parent))
    stats = _Stats()

    def write(tmp: Path) -> None:
        with _open_output(tmp, compress=path.suffix == ".gz") as out:
            for qid, labels, features in _blocks(preset, n_queries, seed, docs_per_query):
                stats.update(qid, labels, features)
                out.write(_format_block(qid, labels, features))

    atomic_save(path, write)
    return stats.result(preset, seed)


def format_stats(stats: dict) -> str:
    """Human-readable lines for the statistics returned by :func:`write_synthetic_libsvm`."""
    d = stats["docs_per_query"]
    hist = stats["label_histogram"]
    total = max(sum(hist.values()), 1)
    lines = [
        f"preset {stats['preset']} seed {stats['seed']}: {stats['queries']:,} queries, {stats['rows']:,} rows",
        f"documents per query: min {d['min']}, mean {d['mean']:.1f}, max {d['max']}",
        "labels: " + ", ".join(f"{k}: {v:,} ({v / total:.1%})" for k, v in hist.items()),
        "rows with zero value: " + ", ".join(f"{k} {v:.1%}" for k, v in stats["zero_fraction"].items()),
        "mean per-query Spearman(label, column): "
        + ", ".join(f"{k} {v:+.3f}" for k, v in stats["spearman_relevance"].items()),
    ]
    return "\n".join(lines)
