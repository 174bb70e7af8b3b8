"""Full-size data on one machine: an MSLR-WEB30K-size synthetic dataset, converted and trained for one epoch.

Stages, each in its own fresh Python process so that its peak RSS is its own (``os.wait4`` gives the
child's ``ru_maxrss``; a sampler thread inside the child also records the peak of anonymous memory,
RSS minus the file-backed pages of the memory-mapped Arrow cache, which the kernel can drop at will):

1. ``synth``: ``write_synthetic_libsvm`` (preset ``mslr-web30k``) writes ``train.txt`` and a small
   ``vali.txt``: the text the converter reads (about 4.4 GB at full size).
2. ``convert``: ``convert_dataset`` streams the text to Parquet (objectives ``mslr2``); prints MB/s of text
   and its ratio to the conversion goals (at least 100 MB/s of text, peak RSS under 2 GB).
3. ``epoch``: builds the memory-mapped Arrow cache, then one training epoch of the reference MLP
   (``ReferenceModule``, ListNet, max_list_length 128) through ``pl.Trainer``; prints queries/s.

Usage (full size takes about 15 minutes on 2 CPU cores and 5 GB of disk in the work folder):

    .venv/bin/python -m benchmarks.bench_scale                       # 31,531 queries, ~3.77M rows
    .venv/bin/python -m benchmarks.bench_scale --queries 2000        # a quick run
    .venv/bin/python -m benchmarks.bench_scale --workdir /tmp/scale --keep --json scale.json
    .venv/bin/python -m benchmarks.bench_scale --stages synth,convert  # no training epoch
    .venv/bin/python -m benchmarks.bench_scale --stages convert --workdir /tmp/scale --keep  # reuse the text

The work folder (default: a new folder under the temp dir) is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from typing_extensions import Self

REPO_ROOT = Path(__file__).resolve().parents[1]
FULL_QUERIES = 31_531  # MSLR-WEB30K
RSS_LIMIT_MB = 4096  # the memory budget of conversion and of the epoch
CONVERT_GOAL_MB_S = 100.0  # conversion goal: text MB/s, on 2 CPU cores
CONVERT_GOAL_RSS_MB = 2048  # conversion goal: peak RSS
STAGES = ("synth", "convert", "epoch")


class MemorySampler:
    """Samples this process's RSS and anonymous memory (RSS minus file-backed and shared pages)."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self.peak_rss = 0
        self.peak_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        info = self._process.memory_info()
        self.peak_rss = max(self.peak_rss, info.rss)
        self.peak_anon = max(self.peak_anon, info.rss - getattr(info, "shared", 0))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def result(self) -> dict:
        return {"sampled_peak_rss_mb": self.peak_rss / 2**20, "peak_anon_mb": self.peak_anon / 2**20}


# ----------------------------------------------------------------------------------------------------
# The stages (run inside the child process)
# ----------------------------------------------------------------------------------------------------


def stage_synth(workdir: Path, queries: int, seed: int) -> dict:
    """Write ``train.txt`` (``queries`` queries) and ``vali.txt`` (a thirtieth of that, at least 50)."""
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    start = time.perf_counter()
    train = write_synthetic_libsvm(workdir / "train.txt", "mslr-web30k", n_queries=queries, seed=seed)
    vali = write_synthetic_libsvm(workdir / "vali.txt", "mslr-web30k", n_queries=max(50, queries // 30),
                                  seed=seed + 1)
    seconds = time.perf_counter() - start
    text_bytes = sum((workdir / f).stat().st_size for f in ("train.txt", "vali.txt"))
    return {"train_queries": train["queries"], "train_rows": train["rows"], "vali_queries": vali["queries"],
            "text_mb": text_bytes / 1e6, "seconds": seconds, "docs_per_query": train["docs_per_query"]}


def stage_convert(workdir: Path) -> dict:
    """Convert the text to ``workdir/dataset`` (objectives mslr2) and time it."""
    from ltr_cos.data.convert import convert_dataset

    files = [workdir / "train.txt", workdir / "vali.txt"]
    text_bytes = sum(f.stat().st_size for f in files)
    out = workdir / "dataset"
    with MemorySampler() as memory:
        start = time.perf_counter()
        meta = convert_dataset({"train": [files[0]], "vali": [files[1]]}, out, objectives="mslr2",
                               overwrite=True, progress=False)
        seconds = time.perf_counter() - start
    parquet_mb = sum((out / s["file"]).stat().st_size for s in meta["splits"].values()) / 1e6
    return {"seconds": seconds, "text_mb": text_bytes / 1e6, "mb_per_s": text_bytes / 1e6 / seconds,
            "rows": sum(s["rows"] for s in meta["splits"].values()), "parquet_mb": parquet_mb,
            **memory.result()}


def train_one_epoch(data_dir: Path, accelerator: str, precision: str, batch_size: int, max_list_length: int,
                    num_workers: int, epochs: int = 1) -> dict:
    """Build the Arrow cache, then train the reference MLP for ``epochs`` epochs; time each one.

    Returns:
        cache_seconds, train_queries, epoch_seconds [epochs], queries_per_s (of the last epoch), steps.
    """
    import pytorch_lightning as pl

    from ltr_cos.data.datamodule import RankingDataModule
    from ltr_cos.data.dataset import build_cache
    from ltr_cos.training import BackboneSettings, OptimizerSettings, ReferenceModule, data_info_from_meta

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._start = 0.0

        def _sync(self, pl_module: pl.LightningModule) -> None:
            if pl_module.device.type == "cuda":
                import torch

                torch.cuda.synchronize()

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._sync(pl_module)
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self._sync(pl_module)
            self.seconds.append(time.perf_counter() - self._start)

    start = time.perf_counter()
    build_cache(data_dir, "train")
    cache_seconds = time.perf_counter() - start
    data = RankingDataModule(str(data_dir), batch_size=batch_size, max_list_length=max_list_length,
                             num_workers=num_workers, seed=0)
    model = ReferenceModule(data_info_from_meta(data.meta), BackboneSettings(arch="mlp", hidden_sizes=[128, 64]),
                            loss="listnet", optim=OptimizerSettings(lr=1e-3))
    timer = EpochTimer()
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=precision, max_epochs=epochs,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(model, datamodule=data)
    queries = data.meta["splits"]["train"]["queries"]
    return {"cache_seconds": cache_seconds, "train_queries": queries, "epoch_seconds": timer.seconds,
            "queries_per_s": queries / timer.seconds[-1], "steps": int(trainer.global_step)}


def stage_epoch(workdir: Path, batch_size: int, max_list_length: int, num_workers: int) -> dict:
    with MemorySampler() as memory:
        result = train_one_epoch(workdir / "dataset", "cpu", "32-true", batch_size, max_list_length, num_workers)
    return {**result, **memory.result()}


# ----------------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------------


def _run_stage(args: list[str]) -> dict:
    """Run ``python -m benchmarks.bench_scale --stage ...`` and return its JSON plus its peak RSS (MB)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.NamedTemporaryFile("w+", suffix=".json") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_scale", *args, "--result", out.name],
                                cwd=REPO_ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss in KiB on Linux)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"stage {args[1]} failed with exit code {proc.returncode}")
        result = json.loads(Path(out.name).read_text())
    result["process_seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # all its threads
    result["load_average"] = os.getloadavg()[0]  # other work on the machine slows the stage down
    return result


def _report(results: dict) -> str:
    s = results["synth"]
    lines = [
        (f"data: {s['train_queries']:,} train queries, {s['train_rows']:,} rows, 136 features "
        f"(+ {s['vali_queries']:,} vali queries); text {s['text_mb']:,.0f} MB written in {s['seconds']:.0f} s"),
    ]
    c = results.get("convert")
    if c is not None:
        lines.append(
            f"conversion: {c['mb_per_s']:.1f} MB/s ({c['text_mb']:,.0f} MB text in {c['seconds']:.1f} s -> "
            f"{c['parquet_mb']:,.0f} MB Parquet); peak RSS {c['peak_rss_mb']:,.0f} MB "
            f"(anonymous {c['peak_anon_mb']:,.0f} MB); {os.cpu_count()} CPUs, CPU time "
            f"{c['cpu_seconds']:.1f} s (user + sys), load average {c['load_average']:.1f} at its end")
        speed = c["mb_per_s"] / CONVERT_GOAL_MB_S
        rss = c["peak_rss_mb"] / CONVERT_GOAL_RSS_MB
        lines.append(f"conversion goal >= {CONVERT_GOAL_MB_S:g} MB/s: {speed:.2f}x the goal, "
                     f"{'met' if speed >= 1 else 'missed'}; peak RSS < {CONVERT_GOAL_RSS_MB} MB: "
                     f"{rss:.2f}x the limit, {'met' if rss < 1 else 'missed'}")
    e = results.get("epoch")
    if e is not None:
        lines.append(
            f"epoch: {e['queries_per_s']:,.0f} queries/s ({e['train_queries']:,} queries, {e['steps']} steps in "
            f"{e['epoch_seconds'][-1]:.0f} s; Arrow cache built in {e['cache_seconds']:.0f} s); peak RSS "
            f"{e['peak_rss_mb']:,.0f} MB (anonymous {e['peak_anon_mb']:,.0f} MB, the rest is the mapped cache)")
    for name in ("convert", "epoch"):
        if name in results:
            verdict = "within" if results[name]["peak_rss_mb"] < RSS_LIMIT_MB else "OVER"
            lines.append(f"{name}: peak RSS {verdict} the {RSS_LIMIT_MB} MB budget")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=FULL_QUERIES, help="train queries (default: MSLR-WEB30K's)")
    parser.add_argument("--workdir", default=None, help="work folder (default: a new temp folder, deleted after)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-list-length", type=int, default=128)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help="comma-separated stages to run, in order (default: synth,convert,epoch)")
    parser.add_argument("--stage", choices=("synth", "convert", "epoch"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage:  # inside a child process
        workdir = Path(args.workdir)
        if args.stage == "synth":
            result = stage_synth(workdir, args.queries, args.seed)
        elif args.stage == "convert":
            result = stage_convert(workdir)
        else:
            result = stage_epoch(workdir, args.batch_size, args.max_list_length, args.num_workers)
        Path(args.result).write_text(json.dumps(result))
        return 0

    stages = [x for x in args.stages.split(",") if x]
    if not stages or any(x not in STAGES for x in stages) or stages != [x for x in STAGES if x in stages]:
        parser.error(f"--stages: a subset of {','.join(STAGES)}, in that order")
    if stages[0] != "synth" and (args.workdir is None or not args.keep):
        parser.error("--stages without synth reuses the text of an earlier run: give its --workdir and --keep")
    created = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ltr_cos-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    common = ["--workdir", str(workdir), "--queries", str(args.queries), "--seed", str(args.seed),
              "--batch-size", str(args.batch_size), "--max-list-length", str(args.max_list_length),
              "--num-workers", str(args.num_workers)]
    results: dict = {"queries": args.queries, "batch_size": args.batch_size,
                     "max_list_length": args.max_list_length, "num_workers": args.num_workers}
    try:
        if "synth" not in stages:  # the text (and its figures) of an earlier --keep run
            results["synth"] = json.loads((workdir / "synth.json").read_text())
        for stage in stages:
            print(f"[bench_scale] {stage} ...", flush=True)
            results[stage] = _run_stage(["--stage", stage, *common])
            if stage == "synth":
                (workdir / "synth.json").write_text(json.dumps(results["synth"]))
            if stage == "convert" and not args.keep:  # the text is no longer needed: free the disk before training
                for name in ("train.txt", "vali.txt"):
                    (workdir / name).unlink(missing_ok=True)
    finally:
        if not args.keep:
            if created:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                for name in ("train.txt", "vali.txt", "dataset"):
                    path = workdir / name
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    print(_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
