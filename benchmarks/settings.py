"""What a benchmark run is: the methods, every knob (``Settings``), the datasets and folds it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
# Stage-1 rankers (the main objective only), keys of results["stage1"].
STAGE1_LABELS = {
    "reference": METHOD_LABELS["reference"],
    "allrank": METHOD_LABELS["allrank"],
    "lightgbm": "LightGBM lambdarank (main objective only)",
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
        policy_min_steps: every DPO policy trains at least this many optimiser steps (more epochs on small
            data; ``OptimizerSettings.min_steps``).
        schedule, warmup: the policies' learning-rate schedule (``OptimizerSettings``).
        cos_dpo_budget: COS-DPO's budget (epochs and minimum steps) as a multiple of one per-weight policy's:
            one model learns the whole simplex, at a fraction of the cost of one model per grid weight.
        select_best: validate every policy after each epoch and keep its best state (COS-DPO: validation
            hypervolume over the validation grid; a per-weight policy: its weighted validation NDCG).
        alpha: COS-DPO's Dirichlet concentration of the training weights.
        vertex_prob: the share of COS-DPO's training weights that are simplex vertices (one-hot).
        cosine_lambda: weight of COS-DPO's COSMOS cosine term (0 = off).
        val_grid_steps: COS-DPO's validation lattice step 1/val_grid_steps.
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
    policy_min_steps: int = 0
    schedule: str = "constant"
    warmup: float = 0.0
    cos_dpo_budget: float = 1.0
    select_best: bool = False
    alpha: float = 1.0
    vertex_prob: float = 0.0
    cosine_lambda: float = 0.0
    val_grid_steps: int = 2
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
