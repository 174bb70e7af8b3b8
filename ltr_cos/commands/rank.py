"""``ltr-cos rank``: score and rank every query of a LibSVM file with an exported ranker.

Keeps the source feature columns the artifact was trained on (its sidecar's ``feature_ids``, so the
objective columns of the file are dropped), scores each query at the given weights (and beta), and
writes a TSV ``qid, doc_index, score, rank, docid``: queries in order of first appearance, each query's
rows by rank (1 = best; ties keep file order), ``doc_index`` = 0-based position of the row within its
query in the file, ``docid`` = the row's ``#docid = ...`` comment (or its whole comment; empty without).
The file's feature ids must match the model's: ids the model needs that the file lacks, or ids beyond
those of the model's training data, are refused with the ids named.
"""

from __future__ import annotations

import argparse
import gzip
import re
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--allow-missing-features", action="store_true",
                   help="score feature ids the file lacks as 0 (sparse files may omit trailing zero features); "
                   "the output says how many")
    p.add_argument("--batch-size", type=int, default=256, help="queries per forward pass (default 256)")
    return p


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--weights -0.5,1.5`` -> ``--weights=-0.5,1.5``: argparse would read the value as an option and say
    "expected one argument" instead of the real problem (a negative weight)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("--weights", "--beta") and i + 1 < len(argv) and re.match(r"^-[\d.]", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def rank_table(qid: np.ndarray, features: np.ndarray, score_fn, batch_size: int = 256):
    """Score every query; returns (qid, doc_index, score, rank, file_row) arrays in output order.

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
    out_q, out_doc, out_score, out_rank, out_row = [], [], [], [], []
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
            out_row.append(rows[starts[q] + by_rank])
    if not out_q:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) + (np.zeros(0, np.int64),) * 2
    return tuple(np.concatenate(parts) for parts in (out_q, out_doc, out_score, out_rank, out_row))


_DOCID = re.compile(r"docid\s*[=:]\s*(\S+)")


def read_docids(path: str, lines: np.ndarray) -> list[str]:
    """The ``#docid = X`` of each row (by its 1-based line), its whole comment without one, or ""."""
    wanted = {int(n): i for i, n in enumerate(lines.tolist())}
    out = [""] * len(lines)
    with open(path, "rb") as probe:
        opener = gzip.open if probe.read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as handle:  # binary lines split on b"\n", as the reader counts them
        for number, raw in enumerate(handle, start=1):
            i = wanted.get(number)
            if i is None:
                continue
            _, sep, comment = raw.decode("utf-8", errors="replace").partition("#")
            if sep:
                comment = comment.strip()
                found = _DOCID.search(comment)
                out[i] = found.group(1) if found else comment.replace("\t", " ")
    return out


def write_tsv(path: Path, qid, doc_index, score, rank, docid, overwrite: bool = False) -> None:
    with atomic_file(path, overwrite=overwrite) as fh:
        fh.write("qid\tdoc_index\tscore\trank\tdocid\n")
        rows = zip(qid.tolist(), doc_index.tolist(), score.tolist(), rank.tolist(), docid)
        fh.writelines(f"{q}\t{d}\t{v:.9g}\t{r}\t{c}\n" for q, d, v, r, c in rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_join_negative_values(argv))
    try:
        from ltr_cos.data.libsvm import read_libsvm
        from ltr_cos.export import load_artifact
        from ltr_cos.export.features import compact_ids, select_file_columns

        if args.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise InputError("output file exists; pass --overwrite to replace it", str(out))
        if out.is_dir():
            raise InputError("--out is a folder; give a file name", str(out))
        model = load_artifact(args.model)
        weights = None if args.weights is None else parse_weights(
            args.weights, model.n_weights, model.info.get("weighted_objectives"))
        # validate the knobs once, before reading a possibly large file
        model.score(np.zeros((1, 1, model.n_features), np.float32), None, weights, args.beta)
        table = read_libsvm(args.input)
        features, missing = select_file_columns(table.features, model.info, args.input, args.allow_missing_features)

        def score_fn(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return model.score(x, mask, weights, args.beta)

        qid, doc_index, score, rank, file_row = rank_table(table.qid, features, score_fn, args.batch_size)
        docid = read_docids(args.input, table.lines[file_row]) if len(table.lines) == len(table.qid) else \
            [""] * len(qid)
        write_tsv(out, qid, doc_index, score, rank, docid, overwrite=args.overwrite)
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    if missing:
        print(f"note: {len(missing)} feature ids the file lacks were scored as 0 (--allow-missing-features): "
              f"{compact_ids(missing)}")
    print(f"ranked {len(np.unique(table.qid))} queries ({len(table.qid)} rows) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
