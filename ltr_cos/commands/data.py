"""``ltr-cos data``: convert, synthesise, fetch and inspect ranking datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ltr_cos.data.limits import MAX_FEATURE_ID
from ltr_cos.errors import InputError


def _parser(dataset_names: list[str] | None = None, synth_presets: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``dataset_names`` (for ``fetch -h``) and ``synth_presets`` (for ``synth -h``) are
    listed only when given, since the fetch module's network imports and the generator would slow every
    other subcommand's start-up."""
    from ltr_cos.objectives import add_objective_options

    parser = argparse.ArgumentParser(prog="ltr-cos data", description="Convert, synthesise, fetch and inspect "
                                     "learning-to-rank datasets.")
    sub = parser.add_subparsers(dest="command", metavar="{convert,synth,fetch,info}")
    sub.required = True

    conv = sub.add_parser("convert", help="LibSVM ranking files -> Parquet dataset folder",
                          description="Convert LibSVM ranking files (or a dataset folder: FoldN/, S1..S5, "
                          "set1.*, files named train/vali/test) to a Parquet dataset folder.")
    conv.add_argument("sources", nargs="*", metavar="SRC", help="files or one dataset folder; files whose "
                      "names name no split go to train")
    conv.add_argument("--out", required=True, help="dataset folder to create")
    add_objective_options(conv, "none: the row label only")
    conv.add_argument("--fold", type=int, default=None, help="fold of a FoldN/, S1..S5 or Yahoo set layout "
                      "(default 1); an error for data without folds")
    conv.add_argument("--train", nargs="+", default=[], metavar="F", help="train files")
    conv.add_argument("--vali", nargs="+", default=[], metavar="F", help="validation files")
    conv.add_argument("--test", nargs="+", default=[], metavar="F", help="test files")
    conv.add_argument("--query-file", action="append", default=[], metavar="F",
                      help="LightGBM .query file for a data file without qid (repeat in the order of the "
                      "data files; <file>.query is found automatically)")
    conv.add_argument("--vali-fraction", type=float, default=None, metavar="F",
                      help="hold out this share of the train queries as the validation split")
    conv.add_argument("--test-fraction", type=float, default=None, metavar="F",
                      help="hold out this share of the train queries as the test split")
    conv.add_argument("--split-seed", type=int, default=0, help="seed of the query split (default 0)")
    conv.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    conv.add_argument("--max-feature-id", type=int, default=MAX_FEATURE_ID, metavar="N",
                      help=f"refuse feature ids above N, naming file and line (default {MAX_FEATURE_ID:,})")
    conv.add_argument("--allow-negative-labels", action="store_true",
                      help="accept negative row labels (refused by default: relevance grades are >= 0)")
    conv.add_argument("--no-progress", action="store_true", help="no progress bar")

    syn = sub.add_parser("synth", help="write a synthetic LibSVM dataset",
                         description="Write a synthetic MSLR-like LibSVM ranking file (136 features with qid:, "
                         "graded labels; quality and click columns correlated with relevance) for trying the "
                         "toolkit without downloading data.")
    syn.add_argument("--preset", default="mslr-web30k", choices=synth_presets,
                     help="synthetic preset" + (f": {', '.join(synth_presets)}" if synth_presets else "")
                     + " (default mslr-web30k)")
    syn.add_argument("--queries", type=int, default=None, help="number of queries (default: the preset's)")
    syn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    syn.add_argument("--out", required=True, help="output file (.gz compresses)")
    syn.add_argument("--docs-per-query", type=int, nargs="+", default=None, metavar="N",
                     help="fixed list length N, or MIN MAX (default: the preset's distribution)")

    fet = sub.add_parser("fetch", help="download, verify, unpack and convert a public dataset",
                         description="Download a public learning-to-rank dataset, verify its sha256, unpack "
                         "it and convert one fold to a Parquet dataset folder.")
    fet.add_argument("name", help="dataset: " + ", ".join(dataset_names) if dataset_names else "dataset name")
    fet.add_argument("--out", required=True, help="dataset folder to create")
    fet.add_argument("--url", default=None, help="another address (mirror) of the same archive")
    fet.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    fet.add_argument("--fold", type=int, default=None, help="fold to convert (default 1)")
    add_objective_options(fet, "the dataset's preset")
    fet.add_argument("--cache", default=None, help="download/unpack folder (default $LTR_COS_CACHE or data/cache)")
    fet.add_argument("--accept-terms", action="store_true", help="agree to dataset terms that ask for it")
    fet.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    fet.add_argument("--no-progress", action="store_true", help="no progress bar")

    info = sub.add_parser("info", help="summary of a converted dataset folder",
                          description="Print the sources, objectives, splits and sizes of a converted dataset "
                          "folder.")
    info.add_argument("dir", help="dataset folder")
    return parser


def _synth_presets() -> list[str]:
    from ltr_cos.data.synthetic import PRESETS

    return sorted(PRESETS)


def _registry_names() -> list[str]:
    from ltr_cos.data.fetch import REGISTRY

    return sorted(REGISTRY)


def _print_summary(meta: dict, out: str, verb: str = "wrote") -> None:
    splits = meta["splits"]
    for name, s in splits.items():
        print(f"{name:>6}: {s['rows']:,} rows, {s['queries']:,} queries")
    rows = sum(s["rows"] for s in splits.values())
    queries = sum(s["queries"] for s in splits.values())
    print(f"{'total':>6}: {rows:,} rows, {queries:,} queries, {meta['n_source_features']} features "
          f"({meta['n_features']} model inputs after removing objective columns)")
    print(f"objectives: {', '.join(meta['objective_names'])}; normalisation fitted on "
          f"{meta['normalization']['fitted_on']}")
    print(f"{verb} {out}")


def _convert(args) -> int:
    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.layouts import assign_files, detect_layout
    from ltr_cos.objectives import objectives_from_options

    sources = [Path(s) for s in args.sources]
    folders = [s for s in sources if s.is_dir()]
    if folders and len(sources) > 1:
        raise InputError("give either one dataset folder or files, not both")
    splits: dict[str, list[Path]] = {}
    objectives = objectives_from_options(args.objectives, args.objective)
    if folders:
        layout = detect_layout(folders[0], args.fold)
        print(f"layout: {layout.note}")
        splits = {k: list(v) for k, v in layout.splits.items()}
    elif sources:
        for s in sources:
            if not s.exists():
                raise InputError("file not found", str(s))
        layout = assign_files(sources, args.fold)
        splits = {k: list(v) for k, v in layout.splits.items()}
    elif args.fold is not None:
        raise InputError("--fold needs a dataset folder or S1..S5 files")
    for split in ("train", "vali", "test"):
        splits.setdefault(split, []).extend(Path(f) for f in getattr(args, split))
    splits = {k: v for k, v in splits.items() if v}
    if not splits:
        raise InputError("no input files: give SRC files or a folder, or --train/--vali/--test")
    query_files = None
    if args.query_file:
        data_files = [f for fs in splits.values() for f in fs]
        if len(args.query_file) != len(data_files):
            raise InputError(f"{len(args.query_file)} --query-file given for {len(data_files)} data files; give one "
                             "per data file, in order (or name them <file>.query)")
        query_files = dict(zip(data_files, args.query_file))
    fractions = {split: f for split, f in (("vali", args.vali_fraction), ("test", args.test_fraction))
                 if f is not None}
    given = [split for split in fractions if splits.get(split)]
    if given:
        raise InputError(f"--{given[0]}-fraction and {given[0]} files ({', '.join(map(str, splits[given[0]]))}) "
                         f"both make a {given[0]} split; give one or the other")
    if "train" not in splits:
        raise InputError(f"no train split among the inputs (found {', '.join(splits)}): the normalisation and the "
                         "objective transforms are fitted on train; name a file train or pass --train FILE")
    if not fractions:
        meta = convert_dataset(splits, args.out, objectives=objectives, query_files=query_files,
                               overwrite=args.overwrite, progress=not args.no_progress, **_limits(args))
        _print_summary(meta, args.out)
        return 0
    meta = _convert_split(splits, args, objectives, query_files, fractions)
    record = meta["split"]
    print("split: " + ", ".join(f"{k} {v} queries" for k, v in record["queries"].items())
          + f" of the train files (seed {record['seed']})")
    _print_summary(meta, args.out)
    return 0


def _limits(args) -> dict:
    """The reader's limits given on the command line (feature ids, negative labels)."""
    return {"max_feature_id": args.max_feature_id, "allow_negative_labels": args.allow_negative_labels}


def _convert_split(splits: dict, args, objectives, query_files, fractions: dict) -> dict:
    """Hold out ``fractions`` of the train queries (``ltr_cos.data.split``), then convert."""
    import shutil
    import tempfile

    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.split import record_split, split_by_query
    from ltr_cos.files import sha256_file

    out = Path(args.out)
    if not out.parent.is_dir():
        raise InputError("output's parent folder does not exist", str(out.parent))
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.split-", dir=out.parent))
    try:
        parts, record = split_by_query(splits["train"], fractions, args.split_seed, work, query_files)
        meta = convert_dataset({**splits, **parts}, out, objectives=objectives, query_files=query_files,
                               overwrite=args.overwrite, progress=not args.no_progress, **_limits(args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sources = [{"path": str(p.resolve()), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in splits["train"]]
    return record_split(out, meta, record, sources)


def _synth(args) -> int:
    from ltr_cos.data import synthetic

    docs = args.docs_per_query
    if docs is not None:
        if len(docs) > 2:
            raise InputError("--docs-per-query takes N or MIN MAX")
        docs = docs[0] if len(docs) == 1 else (docs[0], docs[1])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    stats = synthetic.write_synthetic_libsvm(args.out, preset=args.preset, n_queries=args.queries,
                                             seed=args.seed, docs_per_query=docs)
    format_stats = getattr(synthetic, "format_stats", None)
    print(format_stats(stats) if format_stats else stats)
    print(f"wrote {args.out}")
    return 0


def _fetch(args) -> int:
    from ltr_cos.data.fetch import fetch_dataset
    from ltr_cos.objectives import objectives_from_options

    meta = fetch_dataset(args.name, args.out, url=args.url, sha256=args.sha256, fold=args.fold,
                         objectives=objectives_from_options(args.objectives, args.objective, default=None), cache_dir=args.cache, overwrite=args.overwrite,
                         accept_terms=args.accept_terms, progress=not args.no_progress)
    d = meta["download"]
    print(f"downloaded {d['archive']} sha256 {d['sha256']} ({d['sha256_source']})")
    print(f"layout: {d['layout']}")
    _print_summary(meta, args.out)
    return 0


def _info(args) -> int:
    from ltr_cos.data.convert import read_meta

    meta = read_meta(args.dir)
    print(f"dataset {args.dir} (format {meta['format_version']}, ltr_cos {meta['ltr_cos_version']})")
    for split, files in meta["sources"].items():
        for f in files:
            print(f"  source {split}: {f['path']} ({f['bytes']:,} bytes, sha256 {f['sha256'][:16]}...)")
    from ltr_cos.objectives import ObjectiveSpec

    specs = []
    for o in meta["objectives"]:
        text = ObjectiveSpec.from_dict({k: v for k, v in o.items() if k != "fitted"}).describe()
        extra = f", {o['fitted']['n_grades']} grades" if "n_grades" in o["fitted"] else ""
        specs.append(text[:-1] + extra + ")")
    print("objectives: " + "; ".join(specs))
    if "split" in meta:
        record = meta["split"]
        held = ", ".join(f"{k} {record['queries'][k]} queries ({f:g})" for k, f in record["fractions"].items())
        print(f"held out of the train files: {held}; seed {record['seed']}")
    if "download" in meta:
        print(f"downloaded from {meta['download']['url']}")
    _print_summary(meta, args.dir, verb="read")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``ltr-cos data``; returns the exit status (2 for bad input, with a one-line message)."""
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = _parser(_registry_names() if argv[:1] == ["fetch"] else None,
                       _synth_presets() if argv[:1] == ["synth"] else None).parse_args(argv)
    except SystemExit as exc:  # -h (0) or a usage error (2, message already printed by argparse)
        return int(exc.code or 0)
    handler = {"convert": _convert, "synth": _synth, "fetch": _fetch, "info": _info}[args.command]
    try:
        return handler(args)
    except InputError as exc:
        print(f"ltr-cos: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ltr-cos: interrupted; nothing was left that looks complete", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
