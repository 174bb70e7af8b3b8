"""``ltr-cos rank``: score and rank every query of a LibSVM file with an exported ranker.

Keeps the source feature columns the artifact was trained on (its sidecar's ``feature_ids``, so the
objective columns of the file are dropped), scores each query at the given weights (and beta), and
writes a TSV ``qid, doc_index, score, rank``: queries in order of first appearance, each query's rows
by rank (1 = best; ties keep file order), ``doc_index`` = 0-based position of the row within its query
in the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_file
from ltr_cos.objectives import parse_weights


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltr-cos rank", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="artifact folder written by `ltr-cos export`")
    p.add_argument("--input", required=True, help="LibSVM ranking file (qid:Q rows; gzip allowed)")
    p.add_argument(
        "--weights", default=None, help="comma-separated weights over the weighted objectives, e.g. 0.3,0.7"
    )
    p.add_argument(
        "--beta",
        type=float,
        default=None,
        help="DPO temperature: an input of Temperature-COS-DPO models (required there); for a "
        "Weight-COS-DPO artifact, rescaled around its reference ranker (docs/method.md §5; default: the "
        "trained beta)",
    )
    p.add_argument("--out", required=True, help="output TSV file")
    p.add_argument("--batch-size", type=int, default=256, help="queries per forward pass (default 256)")
    return p


def select_features(
    features: np.ndarray, feature_ids: list[int] | None, n_model: int, path: str
) -> np.ndarray:
    """Columns of the model's 1-based source feature ids from a dense [N, F_file] matrix -> [N, n_model].

    Ids beyond the file's widest row are absent sparse entries, i.e. 0.
    """
    if feature_ids is None:
        if features.shape[1] > n_model:
            raise InputError(
                f"file has {features.shape[1]} features but the model takes {n_model} and its "
                "sidecar lists no feature_ids to select them",
                path,
            )
        feature_ids = list(range(1, n_model + 1))
    width = max(max(feature_ids), features.shape[1])
    if width > features.shape[1]:
        features = np.pad(features, ((0, 0), (0, width - features.shape[1])))
    return features[:, np.asarray(feature_ids, dtype=np.int64) - 1]


def rank_table(qid: np.ndarray, features: np.ndarray, score_fn, batch_size: int = 256):
    """Score every query; returns (qid, doc_index, score, rank) arrays in output order.

    Args:
        qid: int64 [N]; rows of a query need not be contiguous.
        features: float32 [N, F].
        score_fn: (features [B, L, F], mask [B, L]) -> scores [B, L].
    """
    _, first, inverse = np.unique(qid, return_index=True, return_inverse=True)
    order_of_query = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse]  # [N] 0..Q-1
    rows = np.lexsort((np.arange(len(qid)), order_of_query))  # by query, then file order
    counts = np.bincount(order_of_query, minlength=len(first))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out_q, out_doc, out_score, out_rank = [], [], [], []
    for b0 in range(0, len(counts), batch_size):
        block = range(b0, min(b0 + batch_size, len(counts)))
        n = int(counts[list(block)].max())
        x = np.zeros((len(block), n, features.shape[1]), dtype=np.float32)
        mask = np.zeros((len(block), n), dtype=bool)
        for i, q in enumerate(block):
            idx = rows[starts[q] : starts[q] + counts[q]]
            x[i, : counts[q]] = features[idx]
            mask[i, : counts[q]] = True
        scores = score_fn(x, mask)
        for i, q in enumerate(block):
            c = int(counts[q])
            s = scores[i, :c].astype(np.float64)
            by_rank = np.lexsort((np.arange(c), -s))  # best first, ties keep file order
            out_q.append(np.full(c, qid[rows[starts[q]]], dtype=np.int64))
            out_doc.append(by_rank)
            out_score.append(s[by_rank])
            out_rank.append(np.arange(1, c + 1))
    if not out_q:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) + (np.zeros(0, np.int64),)
    return tuple(np.concatenate(parts) for parts in (out_q, out_doc, out_score, out_rank))


def write_tsv(path: Path, qid, doc_index, score, rank) -> None:
    with atomic_file(path) as fh:
        fh.write("qid\tdoc_index\tscore\trank\n")
        rows = zip(qid.tolist(), doc_index.tolist(), score.tolist(), rank.tolist())
        fh.writelines(f"{q}\t{d}\t{v:.9g}\t{r}\n" for q, d, v, r in rows)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ltr_cos.data.libsvm import read_libsvm
        from ltr_cos.export import load_artifact

        if args.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
        model = load_artifact(args.model)
        weights = None if args.weights is None else parse_weights(
            args.weights, model.n_weights, model.info.get("weighted_objectives"))
        # validate the knobs once, before reading a possibly large file
        model.score(np.zeros((1, 1, model.n_features), np.float32), None, weights, args.beta)
        table = read_libsvm(args.input)
        features = select_features(
            table.features, model.info.get("feature_ids"), model.n_features, args.input
        )

        def score_fn(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return model.score(x, mask, weights, args.beta)

        result = rank_table(table.qid, features, score_fn, args.batch_size)
        write_tsv(Path(args.out), *result)
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    print(f"ranked {len(np.unique(table.qid))} queries ({len(table.qid)} rows) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
