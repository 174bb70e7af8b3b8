"""The ``make benchmark`` harness: COS-DPO against DPO-LS, DPO Soup, MODPO, LightGBM and allRank (SPEC 9).

Per dataset fold and seed, one frozen reference ranker is trained first; every policy starts from it and
trains for the same number of epochs. Each method runs in a forked child process, so its peak RSS
(``ru_maxrss`` of the child, which starts at the parent's resident set: Python, torch and Lightning) and
its CPU time (``time.process_time`` around training, all threads) are its own. Evaluation (NDCG@k of every
objective on the test split at every grid weight, with ltr_cos's metric and empty-query rule) is not timed.

Cost accounting: COS-DPO trains 1 model; DPO-LS trains one per grid weight; DPO Soup trains the m
single-objective policies (the DPO-LS corner runs, trained here once per fold and seed); MODPO trains the
single-objective policies of objectives 2..m plus one policy per grid weight with w_1 > 0 (at w_1 = 0 it
uses the objective-2 policy, see ``ltr_cos.training.baselines``); LightGBM trains one booster per weight.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import resource
import subprocess
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from typing_extensions import Self

RESULTS_SCHEMA_VERSION = 1
GRID_METHODS = ("cos_dpo", "dpo_ls", "dpo_soup", "modpo", "lightgbm")
METHOD_LABELS = {
    "cos_dpo": "COS-DPO",
    "dpo_ls": "DPO-LS",
    "dpo_soup": "DPO Soup",
    "modpo": "MODPO",
    "lightgbm": "LightGBM (agg. labels)",
    "reference": "reference ranker (ours)",
    "allrank": "allRank Transformer",
}
ALL_METHODS = (*GRID_METHODS, "allrank")
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Settings:
    """Every knob of a benchmark run (printed into results.json).

    Attributes:
        seeds: training seeds; each seed retrains everything, reference ranker included.
        ref_epochs: epochs of the reference ranker (and of the allRank peer).
        policy_epochs: epochs of every DPO policy (the per-model budget shared by all methods).
        batch_size: queries per training batch.
        max_list_length: training lists are subsampled to this length.
        arch, hidden_sizes, d_model, n_heads, n_layers, dim_feedforward, dropout: ranker architecture.
        ref_lr, policy_lr: AdamW learning rates of the two stages.
        beta: DPO temperature.
        conditioning: COS-DPO conditioning path.
        grid_steps: the simplex lattice step 1/grid_steps (10: the 11-point grid for m = 2).
        k: NDCG cut-off of every reported figure.
        empty_rule: NDCG of queries with no positive gain (``drop`` = excluded).
        threads: torch and LightGBM threads per job.
        lgb_rounds, lgb_learning_rate, lgb_leaves, lgb_early_stopping: LightGBM settings.
        allrank_slate_length: allRank pads every training list to this length (None = max_list_length).
        methods: methods to run.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    ref_epochs: int = 20
    policy_epochs: int = 10
    batch_size: int = 32
    max_list_length: int = 128
    arch: str = "mlp"
    hidden_sizes: tuple[int, ...] = (128, 64)
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 128
    dropout: float = 0.1
    ref_lr: float = 1e-3
    policy_lr: float = 1e-3
    beta: float = 1.0
    conditioning: str = "film"
    grid_steps: int = 10
    k: int = 10
    empty_rule: str = "drop"
    threads: int = 1
    lgb_rounds: int = 300
    lgb_learning_rate: float = 0.05
    lgb_leaves: int = 31
    lgb_early_stopping: int = 30
    allrank_slate_length: int | None = None
    methods: tuple[str, ...] = ALL_METHODS

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {list(ALL_METHODS)}")


FULL = Settings()
QUICK = Settings(seeds=(0,), ref_epochs=8, policy_epochs=4, lgb_rounds=60, lgb_early_stopping=15)


@dataclass
class Fold:
    """One train/vali/test dataset folder (written by ``convert_dataset``)."""

    name: str
    data_dir: str


@dataclass
class DatasetRun:
    """What to benchmark: a dataset name (results folder) and its folds."""

    name: str
    folds: list[Fold] = field(default_factory=list)
    description: str = ""


# ----------------------------------------------------------------------------------------------- jobs


def _quiet() -> None:
    """Silence Lightning's per-fit banners inside jobs (the harness prints its own progress)."""
    names = ["pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
             *logging.root.manager.loggerDict]
    for name in names:
        if name.startswith(("pytorch_lightning", "lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


_START_RSS_MB: float | None = None  # a job's resident set when its process started (set in the child)


def _rss_extra() -> dict:
    return {"rss_at_start_mb": _START_RSS_MB}


class _Clock:
    """Wall and CPU time (all threads of this process) of the code inside ``with``, accumulated."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Self:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def _trainer(epochs: int, root: str):
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        default_root_dir=root,
    )


def _datamodule(data_dir: str, s: Settings, seed: int):
    from ltr_cos.data import RankingDataModule

    return RankingDataModule(data_dir, batch_size=s.batch_size, eval_batch_size=64,
                             max_list_length=s.max_list_length, seed=seed)


def _test_batches(data_dir: str, split: str = "test") -> list:
    """The evaluation split as full-length padded batches (built once per job, not timed)."""
    dm = _datamodule(data_dir, Settings(), 0)
    dm.setup("test" if split == "test" else "validate")
    loader = dm.test_dataloader() if split == "test" else dm.val_dataloader()
    return list(loader)


def _meta(data_dir: str) -> dict:
    from ltr_cos.data import load_meta

    return load_meta(data_dir)


def _ranker_kwargs(s: Settings) -> dict:
    return {"arch": s.arch, "hidden_sizes": list(s.hidden_sizes), "d_model": s.d_model, "n_heads": s.n_heads,
                "n_layers": s.n_layers, "dim_feedforward": s.dim_feedforward, "dropout": s.dropout}


def _data_kwargs(meta: dict) -> dict:
    return {"n_features": int(meta["n_features"]), "objective_names": list(meta["objective_names"]),
                "normalization": meta["normalization"], "feature_ids": list(meta.get("feature_ids") or []) or None}


def _policy_kwargs(meta: dict, s: Settings, reference_ckpt: str) -> dict:
    return dict(reference_ckpt=reference_ckpt, **_data_kwargs(meta), beta=s.beta, lr=s.policy_lr,
                ndcg_ks=[s.k], empty_rule=s.empty_rule, conditioning=s.conditioning)


def _eval_unconditioned(ranker, batches, names: Sequence[str], s: Settings) -> dict[str, float]:
    from ltr_cos.training.evaluate import evaluate_reference

    ranker.eval()
    values = evaluate_reference(ranker, batches, names, ks=(s.k,), empty=s.empty_rule)
    return {name: values[f"ndcg@{s.k}/{name}"] for name in names}


def _grid(m: int, s: Settings) -> np.ndarray:
    from ltr_cos.objectives import simplex_lattice

    return simplex_lattice(m, s.grid_steps)


_WARMED_UP: set[str] = set()  # module classes already warmed up in this process


def _warm_up(module, loader, root: str) -> None:
    """An untimed 2-step fit of a copy of ``module``, once per class and process.

    The first fit in a fresh process pays one-time costs (lazy imports and kernel set-up inside Lightning
    and torch). A one-model method would pay them on its only model and a many-model method once over
    all of them, so every job pays them here, outside the clock.
    """
    import pytorch_lightning as pl

    name = type(module).__name__
    if name in _WARMED_UP:
        return
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=root)
    trainer.fit(copy.deepcopy(module), train_dataloaders=loader)
    _WARMED_UP.add(name)


def _fit_policy(module, data_dir: str, s: Settings, seed: int, epochs: int, root: str, clock: _Clock):
    """Fit ``module`` for ``epochs`` on the train split; only ``trainer.fit`` is timed."""
    import pytorch_lightning as pl

    dm = _datamodule(data_dir, s, seed)
    dm.setup("fit")
    loader = dm.train_dataloader()
    _warm_up(module, loader, root)
    pl.seed_everything(seed, workers=True, verbose=False)
    with clock:
        trainer = _trainer(epochs, root)
        trainer.fit(module, train_dataloaders=loader)
    return trainer


def job_reference(data_dir: str, s: Settings, seed: int, work: str) -> dict:
    """Train the frozen reference ranker; save its checkpoint; NDCG of every objective on test."""
    import pytorch_lightning as pl

    from ltr_cos.training import ReferenceModule

    meta = _meta(data_dir)
    pl.seed_everything(seed, workers=True, verbose=False)  # the initial weights
    module = ReferenceModule(**_data_kwargs(meta), **_ranker_kwargs(s), lr=s.ref_lr, ndcg_ks=[s.k],
                             empty_rule=s.empty_rule)
    clock = _Clock()
    trainer = _fit_policy(module, data_dir, s, seed, s.ref_epochs, work, clock)
    ckpt = str(Path(work) / "reference.ckpt")
    trainer.save_checkpoint(ckpt)
    peak = _peak_rss_mb()
    ndcg = _eval_unconditioned(module.ranker, _test_batches(data_dir), meta["objective_names"], s)
    return {"checkpoint": ckpt, "ndcg": ndcg, "models_trained": 1, "train_wall_s": clock.wall,
            "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


def _grid_rows(grid: np.ndarray, weighted: Sequence[str], ndcgs: Sequence[dict[str, float]]) -> list[dict]:
    return [{"weights": dict(zip(weighted, map(float, w))), "ndcg": dict(nd)} for w, nd in zip(grid, ndcgs)]


def job_single(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str) -> dict:
    """The m single-objective DPO policies (one-hot DPO-LS runs), for DPO Soup and MODPO."""
    from ltr_cos.training import CosDpoModule
    from ltr_cos.training.baselines import single_objective_weights

    meta = _meta(data_dir)
    m = len(meta["objective_names"]) - 1
    out = {"checkpoints": [], "train_wall_s": [], "train_cpu_s": []}
    for k in range(m):
        module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt), fixed_weights=single_objective_weights(m, k))
        clock = _Clock()
        trainer = _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock)
        ckpt = str(Path(work) / f"single_{k}.ckpt")
        trainer.save_checkpoint(ckpt)
        out["checkpoints"].append(ckpt)
        out["train_wall_s"].append(clock.wall)
        out["train_cpu_s"].append(clock.cpu)
    out["peak_rss_mb"] = _peak_rss_mb()
    out.update(_rss_extra())
    return out


def job_cos_dpo(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str) -> dict:
    """One conditioned COS-DPO policy, evaluated over the whole grid in batched passes."""
    import pytorch_lightning as pl

    from ltr_cos.training import CosDpoModule, LoadedRanker
    from ltr_cos.training.evaluate import evaluate_grid

    meta = _meta(data_dir)
    names = meta["objective_names"]
    pl.seed_everything(seed, workers=True, verbose=False)  # the conditioning path's initial weights
    module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt))
    clock = _Clock()
    _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock)
    peak = _peak_rss_mb()  # training peak; the batched grid evaluation below needs more
    grid = _grid(module.n_weights, s)
    info = {"stage": "cos_dpo", "objective_names": names, "weighted_objectives": module.weighted_objectives,
            "conditioning": s.conditioning, "temperature_conditioning": False, "beta": s.beta}
    loaded = LoadedRanker(module.policy.eval(), module.reference.eval(), info)
    # two weights per pass bounds evaluation memory on long test lists (evaluation is not timed)
    table = evaluate_grid(loaded, _test_batches(data_dir), grid, ks=(s.k,), empty=s.empty_rule, weights_per_pass=2)
    ndcgs = [{n: float(row[f"ndcg@{s.k}/{n}"]) for n in names} for _, row in table.iterrows()]
    return {"grid": _grid_rows(grid, module.weighted_objectives, ndcgs), "models_trained": 1,
            "train_wall_s": clock.wall, "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


def job_dpo_ls(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str) -> dict:
    """DPO-LS: one unconditioned policy per grid weight."""
    from ltr_cos.training import CosDpoModule

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    grid = _grid(len(weighted), s)
    batches = _test_batches(data_dir)
    clock, policies = _Clock(), []
    for w in grid:
        module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt), fixed_weights=[float(v) for v in w])
        _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock)
        policies.append(module.policy)
    peak = _peak_rss_mb()  # training peak, before evaluation
    ndcgs = [_eval_unconditioned(policy, batches, names, s) for policy in policies]
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": len(grid), "train_wall_s": clock.wall,
            "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


def job_soup(data_dir: str, s: Settings, seed: int, work: str, single: dict) -> dict:
    """DPO Soup: interpolate the single-objective policies' parameters per grid weight (no training)."""
    from ltr_cos.training import load_ranker_from_checkpoint
    from ltr_cos.training.baselines import soup_ranker

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    policies = [load_ranker_from_checkpoint(p).ranker for p in single["checkpoints"]]
    grid = _grid(len(weighted), s)
    batches = _test_batches(data_dir)
    ndcgs = [_eval_unconditioned(soup_ranker(policies, w), batches, names, s) for w in grid]
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": len(policies),
            "train_wall_s": float(sum(single["train_wall_s"])), "train_cpu_s": float(sum(single["train_cpu_s"])),
            "peak_rss_mb": single["peak_rss_mb"], "rss_at_start_mb": single.get("rss_at_start_mb")}


def job_modpo(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str, single: dict) -> dict:
    """MODPO: rewards from the single policies of objectives 2..m, one margin-trained policy per w_1 > 0."""
    from ltr_cos.training import load_ranker_from_checkpoint
    from ltr_cos.training.baselines import MODPO_MIN_FIRST_WEIGHT, ModpoModule

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    m = len(weighted)
    grid = _grid(m, s)
    batches = _test_batches(data_dir)
    reward_ckpts = single["checkpoints"][1:]
    clock, rankers = _Clock(), []
    for w in grid:
        if w[0] <= MODPO_MIN_FIRST_WEIGHT:
            # w_1 = 0: the policy of the remaining objectives; for m = 2 the objective-2 single policy
            if m != 2:
                raise NotImplementedError("MODPO at w_1 = 0 is defined here for m = 2 only")
            rankers.append(load_ranker_from_checkpoint(single["checkpoints"][1]).ranker)
        else:
            module = ModpoModule(reward_ckpts=reward_ckpts, fixed_weights=[float(v) for v in w],
                                 **_policy_kwargs(meta, s, reference_ckpt))
            _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock)
            rankers.append(module.policy)
    peak = _peak_rss_mb()
    ndcgs = [_eval_unconditioned(ranker, batches, names, s) for ranker in rankers]
    n_trained = int((grid[:, 0] > MODPO_MIN_FIRST_WEIGHT).sum()) + len(reward_ckpts)
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": n_trained,
            "train_wall_s": clock.wall + float(sum(single["train_wall_s"][1:])),
            "train_cpu_s": clock.cpu + float(sum(single["train_cpu_s"][1:])),
            "peak_rss_mb": max(peak, single["peak_rss_mb"]), **_rss_extra()}


def _dataset_items(data_dir: str, split: str) -> list:
    from ltr_cos.data import RankingDataset

    dataset = RankingDataset(data_dir, split)
    return [dataset[i] for i in range(len(dataset))]


def job_lightgbm(data_dir: str, s: Settings, seed: int, work: str) -> dict:
    """LightGBM lambdarank on the aggregated auxiliary label, one booster per grid weight."""
    import torch

    from benchmarks.peers.lightgbm_peer import booster_scores, flatten_items, train_lambdarank
    from ltr_cos.metrics import NDCGMetric

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    grid = _grid(len(weighted), s)
    train = flatten_items(_dataset_items(data_dir, "train"))
    vali = flatten_items(_dataset_items(data_dir, "vali")) if "vali" in meta["splits"] else None
    batches = _test_batches(data_dir)
    clock, boosters = _Clock(), []
    for w in grid:
        with clock:
            boosters.append(train_lambdarank(train, list(range(1, len(names))), w, s.grid_steps, vali, s.lgb_rounds,
                                             s.lgb_learning_rate, s.lgb_leaves, early_stopping=s.lgb_early_stopping,
                                             seed=seed, threads=s.threads))
    peak = _peak_rss_mb()
    ndcgs = []
    for booster in boosters:
        metric = NDCGMetric(names, ks=(s.k,), empty=s.empty_rule)
        with torch.no_grad():
            for batch in batches:
                metric.update(booster_scores(booster, batch), batch.labels, batch.mask)
        values = metric.compute()
        ndcgs.append({n: float(values[f"ndcg@{s.k}/{n}"]) for n in names})
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": len(grid), "train_wall_s": clock.wall,
            "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


def job_allrank(data_dir: str, s: Settings, seed: int, work: str) -> dict:
    """allRank's Transformer on the main objective (stage-1 peer), same epochs and batches as our reference."""
    import pytorch_lightning as pl
    import torch

    from benchmarks.peers.allrank_peer import allrank_scores, make_allrank_transformer, train_epoch
    from ltr_cos.data.dataset import QuerySampler
    from ltr_cos.metrics import NDCGMetric
    from ltr_cos.models import FeatureNormalizer

    meta = _meta(data_dir)
    names = meta["objective_names"]
    clock = _Clock()
    pl.seed_everything(seed, workers=True, verbose=False)
    model = make_allrank_transformer(int(meta["n_features"]), s.d_model, s.n_heads, s.n_layers,
                                     s.dim_feedforward, s.dropout)
    normalizer = FeatureNormalizer.from_config(meta["normalization"], int(meta["n_features"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.ref_lr, weight_decay=0.0)
    dm = _datamodule(data_dir, s, seed)
    dm.setup("fit")
    loader = dm.train_dataloader()
    slate = s.allrank_slate_length or s.max_list_length
    for epoch in range(s.ref_epochs):
        sampler = loader.sampler
        if isinstance(sampler, QuerySampler):
            sampler.set_epoch(epoch)
        with clock:  # loading included, as inside our reference's trainer.fit
            train_epoch(model, optimizer, loader, normalizer, slate)
    peak = _peak_rss_mb()
    metric = NDCGMetric(names, ks=(s.k,), empty=s.empty_rule)
    for batch in _test_batches(data_dir):
        metric.update(allrank_scores(model, batch, normalizer), batch.labels, batch.mask)
    values = metric.compute()
    return {"ndcg": {n: float(values[f"ndcg@{s.k}/{n}"]) for n in names}, "models_trained": 1,
            "train_wall_s": clock.wall, "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra(),
            "slate_length": slate}


def _child(fn: Callable, kwargs: dict, conn, threads: int) -> None:
    global _START_RSS_MB
    # a forked child's peak starts at what it inherited (Python, torch, Lightning, the parent's data)
    _START_RSS_MB = _peak_rss_mb()
    try:
        import torch

        torch.set_num_threads(threads)
        _quiet()
        conn.send(("ok", fn(**kwargs)))
    except BaseException as exc:  # noqa: BLE001 - any failure goes to the parent, which reports the method
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_isolated(fn: Callable, threads: int = 1, **kwargs) -> dict:
    """Run ``fn(**kwargs)`` in a forked child; return its result dict (re-raise its error here)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, kwargs, child, threads))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"{fn.__name__} died without a result (exit code {proc.exitcode}; out of memory?)") from None
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed:\n{payload}")
    return payload


# ------------------------------------------------------------------------------------------- summary


def _table(grid_rows: list[dict], names: Sequence[str], k: int) -> dict[str, np.ndarray]:
    """Grid rows -> the column table of ltr_cos.pareto.summary (weight/<obj>, ndcg@k/<obj>)."""
    from ltr_cos.pareto.summary import ndcg_column, weight_column

    table: dict[str, np.ndarray] = {}
    for name in grid_rows[0]["weights"]:
        table[weight_column(name)] = np.asarray([r["weights"][name] for r in grid_rows])
    for name in names:
        table[ndcg_column(name, k)] = np.asarray([r["ndcg"][name] for r in grid_rows])
    return table


def summarize_run(runs: dict[str, dict], reference_ndcg: dict[str, float], names: Sequence[str],
                  k: int) -> dict[str, dict]:
    """SPEC 8 summaries of every grid method of one (fold, seed), with a common nadir over all of them."""
    from ltr_cos.pareto.summary import common_nadir, summarize_grid

    tables = {method: _table(r["grid"], names, k) for method, r in runs.items()}
    nadir = common_nadir(list(tables.values()), names, k)
    return {
        method: summarize_grid(table, names, list(names[1:]), main=names[0], reference_point=reference_ndcg,
                               nadir=nadir, k=k)
        for method, table in tables.items()
    }


def _stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "n": len(vals)}


AGGREGATE_KEYS = (
    "hv_common_nadir_auxiliary", "hv_common_nadir_with_main", "hv_reference_auxiliary", "hv_reference_with_main",
    "hv_origin_auxiliary", "hv_origin_with_main", "main_ndcg_mean", "main_ndcg_std",
    "train_wall_s", "train_cpu_s", "peak_rss_mb",
)


def _run_figures(run: dict) -> dict[str, float | None]:
    summary = run["summary"]
    hv = summary["hypervolume"]
    return {
        "hv_common_nadir_auxiliary": hv["common_nadir"]["auxiliary"],
        "hv_common_nadir_with_main": hv["common_nadir"]["with_main"],
        "hv_reference_auxiliary": hv["reference_model"]["auxiliary"],
        "hv_reference_with_main": hv["reference_model"]["with_main"],
        "hv_origin_auxiliary": hv["origin"]["auxiliary"],
        "hv_origin_with_main": hv["origin"]["with_main"],
        "main_ndcg_mean": summary["main_ndcg"]["mean"],
        "main_ndcg_std": summary["main_ndcg"]["std"],
        "train_wall_s": run["train_wall_s"],
        "train_cpu_s": run["train_cpu_s"],
        "peak_rss_mb": run["peak_rss_mb"],
    }


def aggregate(results: dict) -> None:
    """Fill ``aggregate`` (mean/std over folds and seeds) of every method and the headline ratios."""
    for entry in results["methods"].values():
        figures = [_run_figures(run) for run in entry["runs"]]
        entry["aggregate"] = {key: _stats([f[key] for f in figures]) for key in AGGREGATE_KEYS}
    for name in ("reference", "allrank"):
        entry = results["stage1"].get(name)
        if entry and entry["runs"]:
            main = results["objectives"][0]
            entry["aggregate"] = {
                "main_ndcg": _stats([r["ndcg"][main] for r in entry["runs"]]),
                "train_wall_s": _stats([r["train_wall_s"] for r in entry["runs"]]),
                "train_cpu_s": _stats([r["train_cpu_s"] for r in entry["runs"]]),
                "peak_rss_mb": _stats([r["peak_rss_mb"] for r in entry["runs"]]),
            }
    results["ratios"] = _ratios(results)


def _paired_ratio(results: dict, a: str, b: str, key: str, section: str = "methods") -> dict | None:
    """Ratio a/b of a per-run figure: the ratio of means, and mean/std of the per-(fold, seed) ratios."""
    ea, eb = results[section].get(a), results[section].get(b)
    if not ea or not eb or not ea["runs"] or not eb["runs"]:
        return None
    pick = (lambda run: _run_figures(run)[key]) if section == "methods" else (lambda run: run[key])
    by_key = {(r["fold"], r["seed"]): pick(r) for r in eb["runs"]}
    pairs = [(pick(r), by_key.get((r["fold"], r["seed"]))) for r in ea["runs"]]
    pairs = [(x, y) for x, y in pairs if x is not None and y not in (None, 0)]
    if not pairs:
        return None
    xs, ys = np.asarray(pairs, dtype=np.float64).T
    per_run = xs / ys
    return {"ratio_of_means": float(xs.mean() / ys.mean()), "mean": float(per_run.mean()),
            "std": float(per_run.std(ddof=1)) if len(per_run) > 1 else 0.0, "n": len(per_run)}


def _ratios(results: dict) -> dict:
    out = {
        "hv_common_nadir_auxiliary cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls",
                                                                  "hv_common_nadir_auxiliary"),
        "hv_common_nadir_with_main cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls",
                                                                  "hv_common_nadir_with_main"),
        "train_cpu_s cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "train_cpu_s"),
        "train_wall_s cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "train_wall_s"),
        "main_ndcg_mean cos_dpo/dpo_ls": _paired_ratio(results, "cos_dpo", "dpo_ls", "main_ndcg_mean"),
    }
    if "allrank" in results["stage1"]:
        out["train_cpu_s reference/allrank"] = _paired_ratio(results, "reference", "allrank", "train_cpu_s",
                                                             section="stage1")
        out["train_wall_s reference/allrank"] = _paired_ratio(results, "reference", "allrank", "train_wall_s",
                                                              section="stage1")
    return {key: value for key, value in out.items() if value is not None}


# ------------------------------------------------------------------------------------------- reports


def _pm(stat: dict | None, fmt: str = "{:.4f}") -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{fmt.format(stat['mean'])} ± {fmt.format(stat['std'])}"


def render_markdown(results: dict) -> str:
    """results.md: the method table (mean ± std over folds and seeds), stage 1, targets, caveats."""
    names = results["objectives"]
    k, agg_of = results["settings"]["k"], {m: e["aggregate"] for m, e in results["methods"].items()}
    n_runs = len(results["folds"]) * len(results["seeds"])
    lines = [
        f"# Benchmark: {results['dataset']} ({results['run']})",
        "",
        f"{results.get('description', '')}",
        "",
        (f"Objectives: main `{names[0]}`, auxiliary {', '.join(f'`{n}`' for n in names[1:])}. "
        f"Grid: {len(results['grid'])} weights (step 1/{results['settings']['grid_steps']}). "
        f"NDCG@{k} on the test split, gain 2^y-1, empty-query rule `{results['settings']['empty_rule']}`. "
        f"Mean ± std over {len(results['folds'])} fold(s) × {len(results['seeds'])} seed(s) = {n_runs} run(s). "
        f"Hardware: {results['hardware']['cpu']}, {results['hardware']['threads_per_job']} thread(s) per job "
        f"(shared machine: CPU time is the fair cost figure, wall time is noisy)."),
        "",
        ("HV = hypervolume in NDCG space. `nadir`: common nadir over all methods' grid points of the same fold "
        "and seed; `ref`: the frozen reference ranker's NDCG; `origin`: 0. `aux` = over the auxiliary "
        "objectives; `+main` = with the main objective as one more axis."),
        "",
        ("| method | models | HV nadir aux | HV nadir +main | HV ref aux | HV origin aux | "
        f"main NDCG@{k} (grid mean) | main std over grid | train CPU s | train wall s | peak RSS MB |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, entry in results["methods"].items():
        a = agg_of[method]
        lines.append(
            f"| {METHOD_LABELS[method]} | {entry['runs'][0]['models_trained'] if entry['runs'] else '-'} | "
            f"{_pm(a['hv_common_nadir_auxiliary'])} | {_pm(a['hv_common_nadir_with_main'])} | "
            f"{_pm(a['hv_reference_auxiliary'])} | {_pm(a['hv_origin_auxiliary'])} | {_pm(a['main_ndcg_mean'])} | "
            f"{_pm(a['main_ndcg_std'])} | {_pm(a['train_cpu_s'], '{:.1f}')} | {_pm(a['train_wall_s'], '{:.1f}')} | "
            f"{_pm(a['peak_rss_mb'], '{:.0f}')} |")
    lines += ["", "## Stage 1 (main objective only)", "",
              f"| ranker | NDCG@{k} {names[0]} | train CPU s | train wall s | peak RSS MB |", "|---|---|---|---|---|"]
    for name, entry in results["stage1"].items():
        a = entry.get("aggregate")
        if a:
            lines.append(f"| {METHOD_LABELS[name]} | {_pm(a['main_ndcg'])} | {_pm(a['train_cpu_s'], '{:.1f}')} | "
                         f"{_pm(a['train_wall_s'], '{:.1f}')} | {_pm(a['peak_rss_mb'], '{:.0f}')} |")
    lines += ["", "## Targets (issue 5)", ""]
    lines += _target_lines(results)
    lines += ["", "## Per-run rows", "", ("Per-objective NDCG at every grid weight is in `results.json` "
              "(`methods.<method>.runs[].grid`).")]
    return "\n".join(lines) + "\n"


def _target_lines(results: dict) -> list[str]:
    r = results["ratios"]
    lines = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    for key, label in (("hv_common_nadir_auxiliary cos_dpo/dpo_ls", "HV(COS-DPO)/HV(DPO-LS), common nadir, aux"),
                       ("hv_common_nadir_with_main cos_dpo/dpo_ls", "HV(COS-DPO)/HV(DPO-LS), common nadir, +main")):
        if key in r:
            lines.append(f"- {label}: ratio of means {r[key]['ratio_of_means']:.3f} (per-run {r[key]['mean']:.3f} ± "
                         f"{r[key]['std']:.3f}); target >= 1.0: {verdict(r[key]['ratio_of_means'] >= 1.0)}")
    key = "train_cpu_s cos_dpo/dpo_ls"
    if key in r:
        lines.append(f"- CPU time COS-DPO/DPO-LS: {r[key]['ratio_of_means']:.3f}; target <= 0.1: "
                     f"{verdict(r[key]['ratio_of_means'] <= 0.1)}")
    methods = results["methods"]
    if "cos_dpo" in methods and "dpo_ls" in methods:
        a = methods["cos_dpo"]["aggregate"]["main_ndcg_mean"]["mean"]
        b = methods["dpo_ls"]["aggregate"]["main_ndcg_mean"]["mean"]
        if a is not None and b is not None:
            lines.append(f"- main NDCG@{results['settings']['k']} grid mean, COS-DPO {a:.4f} vs DPO-LS {b:.4f} "
                         f"(diff {a - b:+.4f}); target not below: {verdict(a >= b)}")
    st = results["stage1"]
    if "allrank" in st and st["allrank"].get("aggregate") and st.get("reference", {}).get("aggregate"):
        a, b = st["reference"]["aggregate"]["main_ndcg"]["mean"], st["allrank"]["aggregate"]["main_ndcg"]["mean"]
        lines.append(f"- stage 1: reference NDCG {a:.4f} vs allRank {b:.4f} (diff {a - b:+.4f})")
        key = "train_cpu_s reference/allrank"
        if key in r:
            lines.append(f"- stage 1 CPU time reference/allRank: {r[key]['ratio_of_means']:.3f} "
                         f"(reference arch `{results['settings']['arch']}`, allRank Transformer)")
    best = _best_method(results, "hv_common_nadir_auxiliary")
    if best and best != "cos_dpo":
        lines.append(f"- COS-DPO does not have the highest HV (common nadir, aux): {METHOD_LABELS[best]} does.")
    return lines


def _best_method(results: dict, key: str) -> str | None:
    scored = [(e["aggregate"][key]["mean"], m) for m, e in results["methods"].items()
              if e["aggregate"][key]["mean"] is not None]
    return max(scored)[1] if scored else None


def plot_results(results: dict, out_path: Path) -> Path | None:
    """front.png: every grid method's mean front (grid-point NDCG averaged over folds and seeds)."""
    from ltr_cos.pareto.plots import plot_front
    from ltr_cos.pareto.summary import ndcg_column

    names, k = results["objectives"], results["settings"]["k"]
    if len(names) < 3 or not results["methods"]:
        return None
    tables = {}
    for method, entry in results["methods"].items():
        tabs = [_table(run["grid"], names, k) for run in entry["runs"]]
        tables[METHOD_LABELS[method]] = {col: np.mean([t[col] for t in tabs], axis=0) for col in tabs[0]}
    ref_runs = results["stage1"]["reference"]["runs"]
    ref_point = {ndcg_column(n, k): float(np.mean([r["ndcg"][n] for r in ref_runs])) for n in names}
    x, y = ndcg_column(names[1], k), ndcg_column(names[2], k)
    return plot_front(tables, x, y, out_path, title=f"{results['dataset']}: mean front over folds and seeds",
                      reference_point={x: ref_point[x], y: ref_point[y]},
                      caption=f"test NDCG@{k}, empty rule {results['settings']['empty_rule']}; X = reference ranker")


def write_json_atomic(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def write_text_atomic(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def hardware() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ---------------------------------------------------------------------------------------------- main


def run_dataset(dataset: DatasetRun, s: Settings, out_dir: Path, run_name: str, progress: bool = True,
                command: str = "") -> dict:
    """Benchmark every method on every fold and seed of ``dataset``; write results.json/.md and front.png.

    Returns:
        The results dict (as written to ``out_dir/results.json``).
    """
    from tqdm.auto import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    # Import the training stack once here: every forked job inherits it instead of importing it again.
    import pytorch_lightning  # noqa: F401

    import ltr_cos.training  # noqa: F401
    from ltr_cos.training import baselines, evaluate  # noqa: F401

    meta = _meta(dataset.folds[0].data_dir)
    names = list(meta["objective_names"])
    if len(names) < 2:
        raise ValueError(f"{dataset.name}: the benchmark needs auxiliary objectives, got {names}")
    grid_methods = [m for m in GRID_METHODS if m in s.methods]
    hw = hardware()
    hw["threads_per_job"] = s.threads
    results: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "dataset": dataset.name,
        "description": dataset.description,
        "run": run_name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "git_commit": git_commit(),
        "hardware": hw,
        "settings": {**asdict(s), "seeds": list(s.seeds), "hidden_sizes": list(s.hidden_sizes),
                     "methods": list(s.methods)},
        "objectives": names,
        "main": names[0],
        "weighted_objectives": names[1:],
        "grid": _grid(len(names) - 1, s).tolist(),
        "folds": [f.name for f in dataset.folds],
        "seeds": list(s.seeds),
        "stage1": {"reference": {"runs": []}, **({"allrank": {"runs": []}} if "allrank" in s.methods else {})},
        "methods": {m: {"runs": []} for m in grid_methods},
    }
    needs_single = any(m in grid_methods for m in ("dpo_soup", "modpo"))
    steps = len(dataset.folds) * len(s.seeds) * (1 + needs_single + len(grid_methods) + ("allrank" in s.methods))
    bar = tqdm(total=steps, desc=dataset.name, unit="job", disable=not progress, dynamic_ncols=True)
    with tempfile.TemporaryDirectory(prefix="ltr_cos_bench_") as scratch:
        for fold in dataset.folds:
            for seed in s.seeds:
                work = Path(scratch) / f"{fold.name}_seed{seed}"
                work.mkdir()
                common = {"data_dir": fold.data_dir, "s": s, "seed": seed, "work": str(work)}

                def step(label: str, fn: Callable, where=f"{fold.name} seed {seed}", common=common, **kwargs) -> dict:
                    bar.set_postfix_str(f"{where}: {label}")
                    out = run_isolated(fn, threads=s.threads, **common, **kwargs)
                    bar.update(1)
                    return out

                ref = step("reference", job_reference)
                results["stage1"]["reference"]["runs"].append(
                    {"fold": fold.name, "seed": seed, **{k: v for k, v in ref.items() if k != "checkpoint"}})
                ckpt = ref["checkpoint"]
                single = step("single-objective policies", job_single, reference_ckpt=ckpt) if needs_single else None
                runs: dict[str, dict] = {}
                for method in grid_methods:
                    if method == "cos_dpo":
                        runs[method] = step("COS-DPO", job_cos_dpo, reference_ckpt=ckpt)
                    elif method == "dpo_ls":
                        runs[method] = step("DPO-LS", job_dpo_ls, reference_ckpt=ckpt)
                    elif method == "dpo_soup":
                        runs[method] = step("DPO Soup", job_soup, single=single)
                    elif method == "modpo":
                        runs[method] = step("MODPO", job_modpo, reference_ckpt=ckpt, single=single)
                    elif method == "lightgbm":
                        runs[method] = step("LightGBM", job_lightgbm)
                if "allrank" in s.methods:
                    peer = step("allRank", job_allrank)
                    results["stage1"]["allrank"]["runs"].append({"fold": fold.name, "seed": seed, **peer})
                summaries = summarize_run(runs, ref["ndcg"], names, s.k) if runs else {}
                for method, run in runs.items():
                    results["methods"][method]["runs"].append(
                        {"fold": fold.name, "seed": seed, **run, "summary": summaries[method]})
    bar.close()
    aggregate(results)
    write_json_atomic(results, out_dir / "results.json")
    write_text_atomic(render_markdown(results), out_dir / "results.md")
    plot_results(results, out_dir / "front.png")
    return results
