"""LibSVM parsing and conversion throughput: ltr-cos against scikit-learn's load_svmlight_file.

Each measurement runs in a fresh Python process (imports done before the clock starts) so that peak RSS
(``resource.getrusage`` max RSS) belongs to that parser alone; the time is the best of ``--repeat`` runs
inside the process. Measured:

* ``sklearn``: ``load_svmlight_file(f, query_id=True)`` per file (its CSR float64 result),
* ``ltr-cos read``: ``read_libsvm(f)`` per file (dense float32 [N, F], all checks on),
* ``ltr-cos convert``: ``convert_dataset`` of all the files to a Parquet folder (checks, objective fits,
  Parquet, normalisation statistics, sha256s, meta.json), the whole ``ltr-cos data convert`` work;
* ``ltr-cos command``: the command itself, ``python -m ltr_cos.cli data convert FILES --out DIR``, timed
  from process start to exit (interpreter start-up and imports included) by this parent process; its
  peak RSS is the child's own (``os.wait4``).

The last column of each table is the speed ratio against sklearn; the goals are printed under it (the
command at least 10x sklearn on files of 100 MB and more, at least 5x on MQ2008-size files). Under them:

* the start-up floor, ``python -c "import numpy, pyarrow, pyarrow.parquet"`` timed as a whole process: what
  any Python command that writes Parquet pays before it reads a byte, hence the highest ratio to sklearn's
  in-process load that such a command can reach on these files;
* on files under 100 MB, like for like: sklearn's load timed as a whole command too (``python -c`` with its
  import), against the ltr-cos command.

Files: MQ2008 S1-S5 from the shared real data, and a synthetic MSLR-layout file (136 features, 200k rows
by default) written by ``ltr_cos.data.synthetic``.

Usage:
    .venv/bin/python -m benchmarks.bench_parse [--rows 200000] [--repeat 3] [--repeat-large 1]
        [--mq2008 DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("LTR_COS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
PARSERS = ("sklearn", "ltr-cos read", "ltr-cos convert")
COMMAND = "ltr-cos command"
LARGE_BYTES = 100e6  # from this size on the command's goal is GOAL_LARGE x sklearn, below it GOAL_SMALL x
GOAL_LARGE, GOAL_SMALL = 10.0, 5.0


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _worker(parser: str, files: list[str], repeat: int) -> dict:
    """Time one parser on ``files`` in this (fresh) process; returns the measurements."""
    if parser == "sklearn":
        from sklearn.datasets import load_svmlight_file

        def run() -> int:
            return sum(len(load_svmlight_file(f, query_id=True)[1]) for f in files)
    elif parser == "ltr-cos read":
        from ltr_cos.data.libsvm import read_libsvm

        def run() -> int:
            return sum(len(read_libsvm(f)) for f in files)
    elif parser == "ltr-cos convert":
        from ltr_cos.data.convert import convert_dataset

        work = Path(tempfile.mkdtemp(prefix="bench_convert_"))
        counter = iter(range(1_000_000))

        def run() -> int:
            meta = convert_dataset({"train": files}, work / f"out{next(counter)}", progress=False)
            return meta["splits"]["train"]["rows"]
    else:
        raise SystemExit(f"unknown parser {parser!r}")
    base = _max_rss_mb()
    best, rows = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = run()
        best = min(best, time.perf_counter() - start)
    return {"parser": parser, "seconds": best, "rows": rows, "bytes": sum(os.path.getsize(f) for f in files),
            "peak_rss_mb": _max_rss_mb(), "import_rss_mb": base}


def _measure(parser: str, files: list[Path], repeat: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_parse", "--worker", parser, "--repeat", str(repeat),
           *map(str, files)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{parser} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _time_process(cmd: list[str], repeat: int) -> tuple[float, float, float]:
    """Run ``cmd`` ``repeat`` times from process start to exit; (best seconds, its CPU seconds, peak RSS MB)."""
    best, peak, cpu = float("inf"), 0.0, 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr}")
        if seconds < best:
            best, cpu = seconds, usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss / 1024)
    return best, cpu, peak


def _measure_command(files: list[Path], repeat: int) -> dict:
    """Time ``python -m ltr_cos.cli data convert FILES`` as a whole process, best of ``repeat`` runs."""
    best, peak, cpu = float("inf"), 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="bench_command_") as work:
        for i in range(repeat):  # a fresh output folder per run
            cmd = [sys.executable, "-m", "ltr_cos.cli", "data", "convert", *map(str, files), "--out",
                   str(Path(work) / f"out{i}"), "--no-progress"]
            seconds, used, rss = _time_process(cmd, 1)
            if seconds < best:
                best, cpu = seconds, used
            peak = max(peak, rss)
        meta = json.loads((Path(work) / "out0" / "meta.json").read_text())
    rows = sum(s["rows"] for s in meta["splits"].values())
    return {"parser": COMMAND, "seconds": best, "rows": rows, "bytes": sum(os.path.getsize(f) for f in files),
            "peak_rss_mb": peak, "import_rss_mb": float("nan"), "cpu_seconds": cpu}


# What any Python command that writes Parquet pays before it reads a byte: the interpreter and the imports
# of numpy and pyarrow's Parquet writer.
FLOOR_CODE = "import numpy, pyarrow, pyarrow.parquet"
SKLEARN_COMMAND_CODE = ("import sys; from sklearn.datasets import load_svmlight_file; "
                        "[load_svmlight_file(f, query_id=True) for f in sys.argv[1:]]")


def _measure_startup(files: list[Path], repeat: int, sklearn_command: bool) -> dict:
    """The start-up floor, and (``sklearn_command``) sklearn's load timed as a whole command too."""
    floor, _, _ = _time_process([sys.executable, "-c", FLOOR_CODE], max(repeat, 3))
    out = {"floor_seconds": floor}
    if sklearn_command:
        out["sklearn_command_seconds"] = _time_process([sys.executable, "-c", SKLEARN_COMMAND_CODE,
                                                        *map(str, files)], repeat)[0]
    return out


def _synthetic(path: Path, rows: int) -> str:
    """A synthetic MSLR-layout file with ``rows`` rows; returns how it was made."""
    docs = 100
    try:
        from ltr_cos.data.synthetic import write_synthetic_libsvm
    except ImportError:
        import numpy as np

        # stand-in while the synthetic generator is missing: dense random 136-feature rows
        rng = np.random.default_rng(0)
        with open(path, "w") as out:
            for start in range(0, rows, 10_000):
                n = min(10_000, rows - start)
                values = rng.random((n, 136)).round(6)
                labels = rng.integers(0, 5, n)
                out.writelines(f"{labels[i]} qid:{(start + i) // docs + 1} "
                              + " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(values[i])) + "\n" for i in range(n))
        return "dense random 136-feature rows (ltr_cos.data.synthetic not available)"
    write_synthetic_libsvm(path, preset="mslr-web30k", n_queries=rows // docs, seed=0, docs_per_query=docs)
    return f"ltr_cos.data.synthetic preset mslr-web30k, {rows // docs} queries x {docs} documents"


def _report(name: str, results: list[dict], startup: dict | None = None) -> list[str]:
    ref = next(r for r in results if r["parser"] == "sklearn")
    header = (f"  {'parser':<16} {'seconds':>8} {'MB/s':>8} {'rows/s':>11} {'peak RSS MB':>12} "
              f"{'(imports)':>9} {'speed vs sklearn':>17}")
    lines = [f"{name}: {ref['bytes'] / 1e6:.1f} MB, {ref['rows']:,} rows", header]
    for r in results:
        mbs = r["bytes"] / 1e6 / r["seconds"]
        lines.append(f"  {r['parser']:<16} {r['seconds']:>8.3f} {mbs:>8.1f} {r['rows'] / r['seconds']:>11,.0f} "
                     f"{r['peak_rss_mb']:>12.0f} {r['import_rss_mb']:>9.0f} {ref['seconds'] / r['seconds']:>16.2f}x")
    command = next((r for r in results if r["parser"] == COMMAND), None)
    if command is not None:
        goal = GOAL_LARGE if ref["bytes"] >= LARGE_BYTES else GOAL_SMALL
        ratio = ref["seconds"] / command["seconds"]
        verdict = "met" if ratio >= goal else f"missed ({ratio / goal:.0%} of the goal)"
        lines.append(f"  goal: the whole command (start-up included) >= {goal:g}x sklearn's load: "
                     f"{ratio:.2f}x, {verdict}; the command used {command['cpu_seconds']:.2f} s of CPU "
                     f"(user + sys, all threads) in {command['seconds']:.2f} s")
        if startup:
            floor = startup["floor_seconds"]
            lines.append(f"  start-up floor: `python -c '{FLOOR_CODE}'` takes {floor:.3f} s, so no Python command "
                         f"that writes Parquet can beat sklearn's in-process load by more than "
                         f"{ref['seconds'] / floor:.2f}x on these files")
            if "sklearn_command_seconds" in startup:
                both = startup["sklearn_command_seconds"]
                lines.append(f"  like for like, both as whole commands (start-up included): sklearn {both:.3f} s, "
                             f"ltr-cos {command['seconds']:.3f} s: {both / command['seconds']:.2f}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the synthetic MSLR file")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per process (MQ2008)")
    parser.add_argument("--repeat-large", type=int, default=1, help="the same for the synthetic file")
    parser.add_argument("--mq2008", type=Path, default=SHARED_REAL / "mq2008", help="folder with S1..S5.txt")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", choices=PARSERS, help=argparse.SUPPRESS)
    parser.add_argument("--make-synthetic", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.files, args.repeat)))
        return 0
    if args.make_synthetic:
        print(_synthetic(args.make_synthetic, args.rows))
        return 0

    sets: list[tuple[str, list[Path]]] = []
    mq = [args.mq2008 / f"S{i}.txt" for i in range(1, 6)]
    if all(p.is_file() for p in mq):
        sets.append(("MQ2008 S1-S5", mq))
    else:
        print(f"MQ2008 S1-S5 not found in {args.mq2008}; skipped")
    with tempfile.TemporaryDirectory(prefix="bench_parse_") as tmp:
        if args.rows > 0:
            synth = Path(tmp) / "synthetic_mslr.txt"
            # written by a child process: this parent stays small, since a child's max RSS starts from
            # its parent's when it is forked
            made = subprocess.run([sys.executable, "-m", "benchmarks.bench_parse", "--make-synthetic", str(synth),
                                   "--rows", str(args.rows)], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
            if made.returncode != 0:
                raise SystemExit(f"writing the synthetic file failed:\n{made.stderr}")
            print(f"synthetic file: {made.stdout.strip().splitlines()[-1]}")
            sets.append((f"synthetic MSLR {args.rows:,} rows", [synth]))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; best of {args.repeat} (MQ2008) / "
              f"{args.repeat_large} (synthetic) runs per process\n")
        figures = {}
        for name, files in sets:
            repeat = args.repeat_large if name.startswith("synthetic") else args.repeat
            results = [_measure(p, files, repeat) for p in PARSERS] + [_measure_command(files, repeat)]
            startup = _measure_startup(files, repeat, sklearn_command=results[0]["bytes"] < LARGE_BYTES)
            figures[name] = {"results": results, "startup": startup}
            print("\n".join(_report(name, results, startup)) + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
