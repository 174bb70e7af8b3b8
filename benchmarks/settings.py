"""What a benchmark run is: the methods, every knob (``Settings``), the datasets and folds it runs on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_SCHEMA_VERSION = 1
GRID_METHODS = ("cos_dpo", "tcos_dpo", "dpo_ls", "dpo_soup", "modpo", "lightgbm")
METHOD_LABELS = {
    "cos_dpo": "COS-DPO",
    "tcos_dpo": "Temperature-COS-DPO",
    "dpo_ls": "DPO-LS",
    "dpo_soup": "DPO Soup",
    "modpo": "MODPO",
    "lightgbm": "LightGBM (agg. labels)",
    "reference": "reference ranker (ours)",
    "allrank": "allRank Transformer",
}
# Stage-1 rankers (the main objective only), keys of results["stage1"].
STAGE1_LABELS = {
    "reference": METHOD_LABELS["reference"],
    "allrank": METHOD_LABELS["allrank"],
    "lightgbm": "LightGBM lambdarank (main objective only)",
}
ALL_METHODS = (*GRID_METHODS, "allrank")
# Temperature-COS-DPO's training range of beta (log-uniform), as in configs/model/cos_dpo_temperature.yaml.
TEMPERATURE_BETA_RANGE = (0.1, 10.0)
REPO_ROOT = Path(__file__).resolve().parents[1]

# The default weight grid: the finest simplex lattice of step 1/s, s <= MAX_GRID_STEPS, with at most
# MAX_GRID_POINTS points (m = 2: s = 10, 11 points; m = 3: s = 10, 66; m = 4: s = 6, 84; m = 5: s = 4, 70).
MAX_GRID_STEPS = 10
MAX_GRID_POINTS = 100


def default_grid_steps(m: int) -> int:
    """The benchmark's lattice steps for ``m`` weighted objectives: the largest s <= 10 whose simplex
    lattice (C(s + m - 1, m - 1) points) has at most 100 points."""
    if m < 1:
        raise ValueError(f"the weight grid needs at least one weighted objective, got m={m}")
    for steps in range(MAX_GRID_STEPS, 0, -1):
        if math.comb(steps + m - 1, m - 1) <= MAX_GRID_POINTS:
            return steps
    raise ValueError(f"no simplex lattice over {m} objectives has at most {MAX_GRID_POINTS} points")


# The goals results.md checks COS-DPO against (ratios over DPO-LS of the same fold and seed).
GOAL_HV_RATIO = 1.10  # HV(COS-DPO)/HV(DPO-LS), common nadir, auxiliary and +main
GOAL_HV_RATIO_FLOOR = 1.0  # no seed's mean HV ratio below this
GOAL_CPU_RATIO = {2: 0.2, 3: 0.1, 4: 0.1}  # train CPU COS-DPO/DPO-LS by m; m >= 5: GOAL_CPU_RATIO_MANY
GOAL_CPU_RATIO_MANY = 0.05


# COS-DPO's default budget as a multiple of one per-weight policy's: 1 + 0.3 m (m = 2: 1.6, m = 5: 2.5), so
# it grows with the simplex it must cover while its CPU time stays under 0.2 of DPO-LS's 11 policies at
# m = 2 and 0.05 of the 70 at m = 5 (docs/benchmarks.md, "Ablations").
COS_DPO_BUDGET_BASE, COS_DPO_BUDGET_PER_OBJECTIVE = 1.0, 0.3


def cos_dpo_budget(s: Settings, m: int) -> float:
    """COS-DPO's budget for ``m`` weighted objectives: ``s.cos_dpo_budget``, or the default rule when None."""
    if s.cos_dpo_budget is not None:
        return float(s.cos_dpo_budget)
    return COS_DPO_BUDGET_BASE + COS_DPO_BUDGET_PER_OBJECTIVE * m


def goal_cpu_ratio(m: int) -> float:
    """The train-CPU goal COS-DPO/DPO-LS for ``m`` weighted objectives (the grid, hence DPO-LS, grows with m)."""
    return GOAL_CPU_RATIO.get(m, GOAL_CPU_RATIO_MANY if m >= 5 else GOAL_CPU_RATIO[2])


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
        policy_min_steps: every DPO policy trains at least this many optimiser steps (more epochs on small
            data; ``OptimizerSettings.min_steps``).
        schedule, warmup: the policies' learning-rate schedule (``OptimizerSettings``).
        cos_dpo_budget: COS-DPO's budget (epochs and minimum steps) as a multiple of one per-weight policy's:
            one model learns the whole simplex, at a fraction of the cost of one model per grid weight.
            None = ``cos_dpo_budget(s, m)``'s rule 1 + 0.3 m.
        select_best: validate every policy after each epoch and keep its best state (COS-DPO: validation
            hypervolume over the validation grid; a per-weight policy: its weighted validation NDCG).
        alpha: COS-DPO's Dirichlet concentration of the training weights.
        vertex_prob: the share of COS-DPO's training weights that are simplex vertices (one-hot).
        cosine_lambda: weight of COS-DPO's COSMOS cosine term (0 = off).
        val_grid_steps: COS-DPO's validation lattice step 1/val_grid_steps.
        beta: DPO temperature.
        conditioning: COS-DPO conditioning path.
        cond_hidden: hidden width of the FiLM (and prompt) network of the conditioning path.
        grid_steps: the simplex lattice step 1/grid_steps; None = ``default_grid_steps(m)`` (m = 2: 10, the
            11-point grid; m = 5: 4, 70 points).
        k: NDCG cut-off of every reported figure.
        empty_rule: NDCG of queries with no positive gain (``drop`` = excluded).
        threads: torch and LightGBM threads per job.
        lgb_rounds, lgb_learning_rate, lgb_leaves, lgb_early_stopping: LightGBM settings.
        allrank_slate_length: allRank pads every training list to this length (None = max_list_length).
        methods: methods to run.
        cos_dpo_budgets: the COS-DPO budget sweep: per (fold, seed), one more COS-DPO run per factor, its
            policy trained for ``max(1, round(policy_epochs * factor))`` epochs (empty: no sweep).
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
    policy_min_steps: int = 150
    schedule: str = "constant"
    warmup: float = 0.0
    cos_dpo_budget: float | None = None
    select_best: bool = False
    alpha: float = 0.5
    vertex_prob: float = 0.0
    cosine_lambda: float = 0.0
    val_grid_steps: int = 2
    beta: float = 1.0
    conditioning: str = "film"
    cond_hidden: int = 256  # ltr_cos.models.config.DEFAULT_COND_HIDDEN (not imported: this module stays torch-free)
    grid_steps: int | None = None
    k: int = 10
    empty_rule: str = "drop"
    threads: int = 1
    lgb_rounds: int = 300
    lgb_learning_rate: float = 0.05
    lgb_leaves: int = 31
    lgb_early_stopping: int = 30
    allrank_slate_length: int | None = None
    methods: tuple[str, ...] = ALL_METHODS
    cos_dpo_budgets: tuple[float, ...] = (0.25, 0.5)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {list(ALL_METHODS)}")
        if self.grid_steps is not None and self.grid_steps < 1:
            raise ValueError(f"grid_steps must be >= 1 (or None for the default rule), got {self.grid_steps}")
        bad = [f for f in self.cos_dpo_budgets if not f > 0]
        if bad:
            raise ValueError(f"cos_dpo_budgets must be positive factors, got {list(self.cos_dpo_budgets)}")

    def steps_for(self, m: int) -> int:
        """The lattice steps used for ``m`` weighted objectives: ``grid_steps`` if set, else the default rule."""
        return self.grid_steps if self.grid_steps is not None else default_grid_steps(m)


FULL = Settings()
QUICK = Settings(seeds=(0,), ref_epochs=8, policy_epochs=4, policy_min_steps=0, cos_dpo_budgets=(), lgb_rounds=60, lgb_early_stopping=15)


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
