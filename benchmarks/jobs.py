"""The benchmark's jobs: train and evaluate one method on one (fold, seed), each in a forked child process.

Each method runs in its own process, so its peak RSS (``ru_maxrss`` of the child, which starts at the
parent's resident set: Python, torch and Lightning) and its CPU time (``time.process_time`` around training,
all threads) are its own. Evaluation (NDCG@k of every objective on the test split at every grid weight) is
not timed.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing as mp
import resource
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from typing_extensions import Self

from benchmarks.settings import Settings, cos_dpo_budget


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


def _trainer(epochs: int, root: str, validate: bool = False, callbacks: list | None = None):
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=1.0 if validate else 0, default_root_dir=root, callbacks=callbacks,
    )


class _KeepBest:
    """A Lightning callback (built lazily) that keeps the policy state of the best ``val/score`` and puts it
    back when the fit ends: checkpoint selection without writing checkpoints."""

    @staticmethod
    def make():
        import pytorch_lightning as pl

        class KeepBest(pl.Callback):
            def __init__(self) -> None:
                self.best: float | None = None
                self.state: dict | None = None
                self.best_epoch: int | None = None

            def on_validation_end(self, trainer, module) -> None:
                score = trainer.callback_metrics.get("val/score")
                if score is None:
                    return
                score = float(score)
                if self.best is None or score > self.best:
                    self.best, self.best_epoch = score, trainer.current_epoch
                    self.state = {k: v.detach().clone() for k, v in module.policy.state_dict().items()}

            def on_fit_end(self, trainer, module) -> None:
                if self.state is not None:
                    module.policy.load_state_dict(self.state)

        return KeepBest()


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


def _backbone(s: Settings):
    from ltr_cos.training import BackboneSettings

    return BackboneSettings(arch=s.arch, hidden_sizes=list(s.hidden_sizes), d_model=s.d_model, n_heads=s.n_heads,
                            n_layers=s.n_layers, dim_feedforward=s.dim_feedforward, dropout=s.dropout)


def _evaluation(s: Settings):
    from ltr_cos.training import EvaluationSettings

    return EvaluationSettings(ndcg_ks=[s.k], empty_rule=s.empty_rule, val_grid_steps=s.val_grid_steps)


def _policy_kwargs(meta: dict, s: Settings, reference_ckpt: str, budget: float = 1.0) -> dict:
    """The ``CosDpoModule`` parts every DPO method shares (the sampler is the method's own)."""
    from ltr_cos.training import ConditioningSettings, OptimizerSettings, data_info_from_meta

    optim = OptimizerSettings(lr=s.policy_lr, schedule=s.schedule, warmup=s.warmup,
                              min_steps=int(round(s.policy_min_steps * budget)))
    return dict(reference_ckpt=reference_ckpt, data_info=data_info_from_meta(meta), beta=s.beta,
                conditioning=ConditioningSettings(s.conditioning, cond_hidden=s.cond_hidden), optim=optim,
                evaluation=_evaluation(s))


def _eval_unconditioned(ranker, batches, names: Sequence[str], s: Settings) -> dict[str, float]:
    from ltr_cos.training.evaluate import evaluate_reference

    ranker.eval()
    values = evaluate_reference(ranker, batches, names, ks=(s.k,), empty=s.empty_rule)
    return {name: values[f"ndcg@{s.k}/{name}"] for name in names}


def _grid(m: int, s: Settings) -> np.ndarray:
    """The benchmark's weight grid over ``m`` weighted objectives (step 1/``s.steps_for(m)``)."""
    from ltr_cos.objectives import simplex_lattice

    return simplex_lattice(m, s.steps_for(m))


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
    trainer = pl.Trainer(max_epochs=1, max_steps=2, limit_train_batches=2, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=root)
    trainer.fit(copy.deepcopy(module), train_dataloaders=loader)
    _WARMED_UP.add(name)


def _fit_policy(module, data_dir: str, s: Settings, seed: int, epochs: int, root: str, clock: _Clock,
                select_best: bool = False):
    """Fit ``module`` for ``epochs`` (or its ``optim.min_steps``) on the train split; only ``trainer.fit`` is
    timed. ``select_best``: validate after each epoch (inside the clock: selection is part of training) and
    keep the best state."""
    import pytorch_lightning as pl

    dm = _datamodule(data_dir, s, seed)
    dm.setup("fit")
    loader = dm.train_dataloader()
    _warm_up(module, loader, root)
    pl.seed_everything(seed, workers=True, verbose=False)
    validate = select_best and "vali" in _meta(data_dir)["splits"]
    keep = _KeepBest.make() if validate else None
    with clock:
        trainer = _trainer(epochs, root, validate, [keep] if keep else None)
        trainer.fit(module, train_dataloaders=loader, val_dataloaders=dm.val_dataloader() if validate else None)
    trainer.ltr_cos_best_epoch = keep.best_epoch if keep else None
    return trainer


def job_reference(data_dir: str, s: Settings, seed: int, work: str) -> dict:
    """Train the frozen reference ranker; save its checkpoint; NDCG of every objective on test."""
    import pytorch_lightning as pl

    from ltr_cos.training import OptimizerSettings, ReferenceModule, data_info_from_meta

    meta = _meta(data_dir)
    pl.seed_everything(seed, workers=True, verbose=False)  # the initial weights
    module = ReferenceModule(data_info_from_meta(meta), _backbone(s), optim=OptimizerSettings(lr=s.ref_lr),
                             evaluation=_evaluation(s))
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
    from ltr_cos.objectives import FixedWeights
    from ltr_cos.training import CosDpoModule, single_objective_weights

    meta = _meta(data_dir)
    m = len(meta["objective_names"]) - 1
    out = {"checkpoints": [], "train_wall_s": [], "train_cpu_s": []}
    for k in range(m):
        module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt),
                              sampler=FixedWeights(single_objective_weights(m, k)))
        clock = _Clock()
        trainer = _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock, s.select_best)
        ckpt = str(Path(work) / f"single_{k}.ckpt")
        trainer.save_checkpoint(ckpt)
        out["checkpoints"].append(ckpt)
        out["train_wall_s"].append(clock.wall)
        out["train_cpu_s"].append(clock.cpu)
    out["peak_rss_mb"] = _peak_rss_mb()
    out.update(_rss_extra())
    return out


def budget_epochs(s: Settings, budget: float) -> int:
    """Policy epochs of a COS-DPO run whose budget is ``budget`` times one per-weight policy's."""
    return max(1, round(s.policy_epochs * budget))


def job_cos_dpo(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str,
                budget_scale: float = 1.0, beta_range: tuple[float, float] | None = None) -> dict:
    """One conditioned COS-DPO policy, evaluated over the whole grid in batched passes (at ``s.beta``).

    ``beta_range`` (beta_min, beta_max): Temperature-COS-DPO, log beta drawn per query and a model input.

    Its budget is ``cos_dpo_budget(s, m) * budget_scale`` times one per-weight policy's (epochs and minimum steps);
    ``budget_scale`` is the budget sweep's factor.
    """
    import pytorch_lightning as pl

    from ltr_cos.training import CosDpoModule
    from ltr_cos.training.evaluate import evaluate_grid

    meta = _meta(data_dir)
    names = meta["objective_names"]
    from ltr_cos.losses import CosDpoLoss
    from ltr_cos.objectives import DirichletSampler

    pl.seed_everything(seed, workers=True, verbose=False)  # the conditioning path's initial weights
    budget = cos_dpo_budget(s, len(names) - 1) * budget_scale
    module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt, budget),
                          sampler=DirichletSampler(alpha=s.alpha, vertex_prob=s.vertex_prob,
                                                   beta_min=beta_range[0] if beta_range else None,
                                                   beta_max=beta_range[1] if beta_range else None),
                          loss=CosDpoLoss(cosine_lambda=s.cosine_lambda))
    clock = _Clock()
    trainer = _fit_policy(module, data_dir, s, seed, budget_epochs(s, budget), work, clock, s.select_best)
    peak = _peak_rss_mb()  # training peak; the batched grid evaluation below needs more
    name = "temperature_cos_dpo" if beta_range else "cos_dpo"
    ckpt = str(Path(work) / (f"{name}.ckpt" if budget_scale == 1.0 else f"{name}_budget{budget_scale:g}.ckpt"))
    trainer.save_checkpoint(ckpt)
    grid = _grid(module.n_weights, s)
    loaded = module.loaded()
    # two weights per pass bounds evaluation memory on long test lists (evaluation is not timed)
    table = evaluate_grid(loaded, _test_batches(data_dir), grid, beta=s.beta if beta_range else None, ks=(s.k,),
                          empty=s.empty_rule, weights_per_pass=2)
    ndcgs = [{n: float(row[f"ndcg@{s.k}/{n}"]) for n in names} for _, row in table.iterrows()]
    return {"grid": _grid_rows(grid, module.weighted_objectives, ndcgs), "models_trained": 1, "checkpoint": ckpt,
            "train_wall_s": clock.wall, "train_cpu_s": clock.cpu, "peak_rss_mb": peak,
            "epochs": trainer.max_epochs, "steps": trainer.global_step, "best_epoch": trainer.ltr_cos_best_epoch,
            **_rss_extra()}


def job_dpo_ls(data_dir: str, s: Settings, seed: int, work: str, reference_ckpt: str) -> dict:
    """DPO-LS: one unconditioned policy per grid weight."""
    from ltr_cos.objectives import FixedWeights
    from ltr_cos.training import CosDpoModule

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    grid = _grid(len(weighted), s)
    batches = _test_batches(data_dir)
    clock, policies = _Clock(), []
    for w in grid:
        module = CosDpoModule(**_policy_kwargs(meta, s, reference_ckpt), sampler=FixedWeights([float(v) for v in w]))
        _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock, s.select_best)
        policies.append(module.policy)
    peak = _peak_rss_mb()  # training peak, before evaluation
    ndcgs = [_eval_unconditioned(policy, batches, names, s) for policy in policies]
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": len(grid), "train_wall_s": clock.wall,
            "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


def job_soup(data_dir: str, s: Settings, seed: int, work: str, single: dict) -> dict:
    """DPO Soup: interpolate the single-objective policies' parameters per grid weight (no training)."""
    from ltr_cos.training import load_ranker_from_checkpoint, soup_ranker

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
    """MODPO: per grid weight w, a policy trained with DPO on its base objective (the largest weight) with the
    single policies of the other objectives as rewards; at a one-hot e_k the single policy k itself.

    Cost: every single-objective policy it uses (as a reward or as a corner), once, plus its own trained ones.
    """
    from ltr_cos.losses import modpo_base
    from ltr_cos.training import ModpoModule, load_ranker_from_checkpoint

    meta = _meta(data_dir)
    names = meta["objective_names"]
    weighted = names[1:]
    m = len(weighted)
    grid = _grid(m, s)
    batches = _test_batches(data_dir)
    clock, rankers, used, n_own = _Clock(), [], set(), 0
    for w in grid:
        base = modpo_base(w)
        if w[base] >= 1.0 - 1e-9:  # one-hot: plain DPO on the base objective, the single policy itself
            rankers.append(load_ranker_from_checkpoint(single["checkpoints"][base]).ranker)
            used.add(base)
            continue
        others = [k for k in range(m) if k != base]
        module = ModpoModule(reward_ckpts=[single["checkpoints"][k] for k in others], weights=[float(v) for v in w],
                             base=base, **_policy_kwargs(meta, s, reference_ckpt))
        _fit_policy(module, data_dir, s, seed, s.policy_epochs, work, clock, s.select_best)
        rankers.append(module.policy)
        used.update(others)
        n_own += 1
    peak = _peak_rss_mb()
    ndcgs = [_eval_unconditioned(ranker, batches, names, s) for ranker in rankers]
    return {"grid": _grid_rows(grid, weighted, ndcgs), "models_trained": n_own + len(used),
            "train_wall_s": clock.wall + float(sum(single["train_wall_s"][k] for k in used)),
            "train_cpu_s": clock.cpu + float(sum(single["train_cpu_s"][k] for k in used)),
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
    clock, boosters, steps = _Clock(), [], s.steps_for(len(weighted))
    for w in grid:
        with clock:
            boosters.append(train_lambdarank(train, list(range(1, len(names))), w, steps, vali, s.lgb_rounds,
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


def job_lightgbm_relevance(data_dir: str, s: Settings, seed: int, work: str) -> dict:
    """Stage-1 peer: LightGBM lambdarank on the main objective alone (gains 2^y - 1), early stopping on vali."""
    from benchmarks.peers.lightgbm_peer import booster_scores, flatten_items, train_lambdarank
    from ltr_cos.metrics import NDCGMetric

    meta = _meta(data_dir)
    names = meta["objective_names"]
    train = flatten_items(_dataset_items(data_dir, "train"))
    vali = flatten_items(_dataset_items(data_dir, "vali")) if "vali" in meta["splits"] else None
    clock = _Clock()
    with clock:
        # the main label with weight 1 and steps = 1: plain lambdarank
        booster = train_lambdarank(train, [0], [1.0], 1, vali, s.lgb_rounds, s.lgb_learning_rate, s.lgb_leaves,
                                   early_stopping=s.lgb_early_stopping, seed=seed, threads=s.threads)
    peak = _peak_rss_mb()
    metric = NDCGMetric(names, ks=(s.k,), empty=s.empty_rule)
    for batch in _test_batches(data_dir):
        metric.update(booster_scores(booster, batch), batch.labels, batch.mask)
    values = metric.compute()
    return {"ndcg": {n: float(values[f"ndcg@{s.k}/{n}"]) for n in names}, "models_trained": 1,
            "train_wall_s": clock.wall, "train_cpu_s": clock.cpu, "peak_rss_mb": peak, **_rss_extra()}


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


# Forks one at a time: a child forked while another thread's pipe is half set up would inherit that
# pipe's write end and hide its EOF (a dead job) until the child exits.
_FORK_LOCK = threading.Lock()


def run_isolated(fn: Callable, threads: int = 1, **kwargs) -> dict:
    """Run ``fn(**kwargs)`` in a forked child; return its result dict (re-raise its error here).

    Several threads of the parent may call it at once (``benchmarks.run --jobs``): the forks are serialised,
    and the parent's threads do nothing but wait here, so a child inherits no lock held mid-operation
    (import the training stack in the parent before starting the threads)."""
    ctx = mp.get_context("fork")
    with _FORK_LOCK:
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
