"""LightningModules for the two COS-DPO stages.

Stage 1, :class:`ReferenceModule`: an unconditioned ranker trained on the main objective with a
standard listwise loss (SPEC 2). Stage 2, :class:`CosDpoModule`: the same architecture plus a
conditioning path on the weight vector (and optionally log beta), initialised from the frozen
reference and trained with the Weight- or Temperature-COS-DPO objective (SPEC 4-5).

Both modules log ``train/loss/<objective>`` and ``val/ndcg@<k>/<objective>`` and a single
``val/score`` that the checkpoint callback maximises (main NDCG@10 for stage 1, the grid
hypervolume for stage 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from ltr_cos.errors import InputError
from ltr_cos.losses import approx_ndcg_loss, cos_dpo_loss, lambda_loss, listmle_loss, listnet_loss
from ltr_cos.metrics import NDCGMetric
from ltr_cos.models import Ranker
from ltr_cos.objectives import sample_log_beta, sample_weights, simplex_lattice
from ltr_cos.pareto import hypervolume
from ltr_cos.types import MAIN_OBJECTIVE, RankingBatch

ReferenceLoss = Literal["listnet", "listmle", "lambdaloss", "approxndcg"]

# An explicit table, not getattr on a string: the choices are visible and typed above.
_REFERENCE_LOSSES = {
    "listnet": listnet_loss,
    "listmle": listmle_loss,
    "lambdaloss": lambda_loss,
    "approxndcg": approx_ndcg_loss,
}


def _check_data_info(n_features: int, objective_names: Sequence[str] | None) -> list[str]:
    if n_features <= 0:
        raise InputError(
            "n_features is not set: train through `ltr-cos fit` with a data section (it links the feature "
            "count from the dataset) or pass model.init_args.n_features"
        )
    if not objective_names:
        raise InputError("objective_names is not set: it is linked from the dataset's meta.json")
    return list(objective_names)


class _RankingModule(pl.LightningModule):
    """Shared evaluation and optimisation code of both stages."""

    def _build_metric(self) -> NDCGMetric:
        return NDCGMetric(self.objective_names, ks=tuple(self.hparams.ndcg_ks), gain=self.hparams.ndcg_gain,
                          empty=self.hparams.empty_rule)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    # Each stage defines _eval_step(batch, metrics) and _eval_end(stage, metrics) over its own
    # ``val_metrics`` / ``test_metrics`` (one metric, or one per validation grid weight).
    def validation_step(self, batch: RankingBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val", self.val_metrics)

    def test_step(self, batch: RankingBatch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test", self.test_metrics)

    def _check_finite(self, loss: Tensor) -> None:
        # Stop at once rather than let one NaN batch corrupt every weight through the optimiser.
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss ({loss.item()}) at global step {self.global_step}, epoch "
                f"{self.current_epoch}: check the data for extreme values or lower the learning rate"
            )


class ReferenceModule(_RankingModule):
    """Stage 1: the reference ranker f_ref trained on the main objective.

    Args:
        n_features: number of model inputs (linked from the dataset).
        objective_names: all objective names, main first (linked from the dataset).
        normalization: feature normalisation statistics from meta.json (linked from the dataset).
        feature_ids: 1-based source feature ids of the model inputs (linked from the dataset).
        arch: ``mlp`` or ``transformer`` (SPEC 7).
        hidden_sizes: MLP hidden layer sizes.
        d_model, n_heads, n_layers, dim_feedforward: transformer sizes.
        dropout: dropout rate.
        loss: reference-stage listwise loss.
        lr, weight_decay: AdamW settings.
        ndcg_ks: cut-offs of the logged NDCG.
        ndcg_gain: ``exp2`` (2^y - 1) or ``linear``.
        empty_rule: what a query with no positive gain scores (``drop``, ``one``, ``zero``).
    """

    def __init__(
        self,
        n_features: int = 0,
        objective_names: list[str] | None = None,
        normalization: dict | None = None,
        feature_ids: list[int] | None = None,
        arch: Literal["mlp", "transformer"] = "mlp",
        hidden_sizes: list[int] = [128, 64],  # noqa: B006 - jsonargparse needs a literal default
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        loss: ReferenceLoss = "listnet",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        ndcg_ks: list[int] = [1, 5, 10],  # noqa: B006
        ndcg_gain: Literal["exp2", "linear"] = "exp2",
        empty_rule: Literal["drop", "one", "zero"] = "drop",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.objective_names = _check_data_info(n_features, objective_names)
        self.ranker = Ranker(
            n_features=n_features, arch=arch, hidden_sizes=tuple(hidden_sizes), d_model=d_model, n_heads=n_heads,
            n_layers=n_layers, dim_feedforward=dim_feedforward, dropout=dropout, normalization=normalization,
        )
        self.loss_fn = _REFERENCE_LOSSES[loss]
        self.val_metrics = self._build_metric()
        self.test_metrics = self._build_metric()

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return self.ranker(features, mask)

    def training_step(self, batch: RankingBatch, batch_idx: int) -> Tensor:
        scores = self(batch.features, batch.mask)
        loss = self.loss_fn(scores, batch.labels[..., MAIN_OBJECTIVE], batch.mask)
        self._check_finite(loss)
        self.log(f"train/loss/{self.objective_names[MAIN_OBJECTIVE]}", loss, prog_bar=True,
                 batch_size=batch.batch_size)
        return loss

    def _eval_step(self, batch: RankingBatch, metric: NDCGMetric) -> None:
        metric.update(self(batch.features, batch.mask), batch.labels, batch.mask)

    def _eval_end(self, stage: str, metric: NDCGMetric) -> None:
        values = metric.compute()
        metric.reset()
        for key, value in values.items():
            self.log(f"{stage}/{key}", value, prog_bar=key == f"ndcg@10/{self.objective_names[0]}")
        main_key = f"ndcg@{max(self.hparams.ndcg_ks)}/{self.objective_names[MAIN_OBJECTIVE]}"
        self.log(f"{stage}/score", values[main_key])

    def predict_step(self, batch: RankingBatch, batch_idx: int) -> dict[str, Tensor]:
        return {"qids": batch.qids, "scores": self(batch.features, batch.mask), "mask": batch.mask}


def rescale_temperature(scores: Tensor, ref_scores: Tensor, trained_beta: float | Tensor,
                        target_beta: float | Tensor) -> Tensor:
    """Move a Weight-COS-DPO policy trained at ``trained_beta`` to ``target_beta`` (SPEC 5).

    The unconditioned ListNet-DPO optimum at temperature c*beta is f_ref + (f*_beta - f_ref)/c, so
    scores' = ref_scores + (trained_beta / target_beta) * (scores - ref_scores).

    Args:
        scores, ref_scores: float32 [B, L].
        trained_beta: the beta the policy was trained with (scalar).
        target_beta: scalar or float32 [B].
    """
    ratio = torch.as_tensor(trained_beta, dtype=scores.dtype, device=scores.device) / torch.as_tensor(
        target_beta, dtype=scores.dtype, device=scores.device)
    if ratio.dim() == 1:
        ratio = ratio[:, None]
    return ref_scores + ratio * (scores - ref_scores)


class CosDpoModule(_RankingModule):
    """Stage 2: a ranker conditioned on weights (and optionally log beta), trained with COS-DPO.

    Args:
        reference_ckpt: checkpoint of a :class:`ReferenceModule` run; its ranker is frozen as f_ref and
            copied into the policy's backbone.
        n_features, objective_names, normalization, feature_ids: linked from the dataset.
        weighted_objectives: names of the objectives on the simplex (default: every auxiliary objective).
        include_main: also put the main objective on the simplex (SPEC 4).
        conditioning: ``concat``, ``film`` or ``prompt`` (``prompt`` needs a transformer reference).
        temperature_conditioning: Temperature-COS-DPO: sample log beta per query and feed it to the model.
        beta: DPO temperature of Weight-COS-DPO (and the beta used in validation of temperature models).
        beta_min, beta_max: range of the log-uniform beta of Temperature-COS-DPO.
        form: ``listnet`` (ListNet-DPO) or ``pl`` (Plackett-Luce / ListMLE form).
        alpha: Dirichlet concentration of the weight sampler (1 = uniform on the simplex).
        per_query_weights: one weight vector per query (default) or one per batch.
        cosine_lambda: weight of the COSMOS cosine term.
        label_gain: ``identity`` or ``exp2`` for the ListNet-DPO targets; label_tau: their temperature.
        n_prompts, cond_hidden: sizes of the conditioning networks.
        val_grid_steps: validation evaluates the simplex lattice of step 1/val_grid_steps.
        predict_weights: weights used by ``ltr-cos predict`` (default: the simplex centre).
        fixed_weights: train an UNCONDITIONED policy on sum_k w_k L_k for this one weight vector
            (the DPO-LS baseline of SPEC 9: one such run per grid weight).
    """

    def __init__(
        self,
        reference_ckpt: str = "",
        n_features: int = 0,
        objective_names: list[str] | None = None,
        normalization: dict | None = None,
        feature_ids: list[int] | None = None,
        weighted_objectives: list[str] | None = None,
        include_main: bool = False,
        conditioning: Literal["concat", "film", "prompt"] = "film",
        temperature_conditioning: bool = False,
        beta: float = 1.0,
        beta_min: float = 0.1,
        beta_max: float = 10.0,
        form: Literal["listnet", "pl"] = "listnet",
        alpha: float = 1.0,
        per_query_weights: bool = True,
        cosine_lambda: float = 0.0,
        label_gain: Literal["identity", "exp2"] = "identity",
        label_tau: float = 1.0,
        n_prompts: int = 4,
        cond_hidden: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        val_grid_steps: int = 2,
        predict_weights: list[float] | None = None,
        fixed_weights: list[float] | None = None,
        ndcg_ks: list[int] = [1, 5, 10],  # noqa: B006
        ndcg_gain: Literal["exp2", "linear"] = "exp2",
        empty_rule: Literal["drop", "one", "zero"] = "drop",
        reference_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.objective_names = _check_data_info(n_features, objective_names)
        if reference_config is None:
            reference_config, reference_state = _read_reference_checkpoint(reference_ckpt)
        else:
            reference_state = None  # restored from this module's own checkpoint
        if reference_config["n_features"] != n_features:
            raise InputError(
                f"the reference ranker takes {reference_config['n_features']} features but the dataset has "
                f"{n_features}: train both stages on the same dataset", reference_ckpt or None)
        self.save_hyperparameters()
        self.hparams["reference_config"] = reference_config

        if weighted_objectives is None:
            weighted_objectives = self.objective_names if include_main else self.objective_names[1:]
        unknown = [name for name in weighted_objectives if name not in self.objective_names]
        if unknown or not weighted_objectives:
            raise InputError(f"weighted_objectives {weighted_objectives} must be a non-empty subset of the "
                             f"dataset's objectives {self.objective_names}")
        self.weighted_objectives = list(weighted_objectives)
        self.objective_columns = [self.objective_names.index(n) for n in self.weighted_objectives]
        self.n_weights = len(self.weighted_objectives)
        if temperature_conditioning and not 0 < beta_min <= beta_max:
            raise InputError(f"need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
        if beta <= 0:
            raise InputError(f"beta must be > 0, got {beta}")

        if fixed_weights is not None:
            if len(fixed_weights) != self.n_weights or min(fixed_weights) < 0 or abs(sum(fixed_weights) - 1) > 1e-4:
                raise InputError(f"fixed_weights must be {self.n_weights} non-negative values summing to 1 "
                                 f"({self.weighted_objectives}), got {fixed_weights}")
            if temperature_conditioning:
                raise InputError("fixed_weights (DPO-LS) trains an unconditioned policy: no temperature_conditioning")
        self.conditioned = fixed_weights is None

        self.reference = Ranker(**reference_config)
        if reference_state is not None:
            self.reference.load_state_dict(reference_state)
        self.reference.requires_grad_(False)
        self.reference.eval()
        policy_config = dict(reference_config)
        if self.conditioned:
            policy_config.update(conditioning=conditioning, n_weights=self.n_weights,
                                 temperature_conditioning=temperature_conditioning, n_prompts=n_prompts,
                                 cond_hidden=cond_hidden)
        self.policy = Ranker(**policy_config)
        self.policy.load_reference(self.reference)

        grid = simplex_lattice(self.n_weights, val_grid_steps) if self.conditioned else np.asarray([fixed_weights])
        self.register_buffer("val_grid", torch.as_tensor(grid, dtype=torch.float32), persistent=False)
        self.val_metrics = torch.nn.ModuleList([self._build_metric() for _ in range(len(grid))])
        self.test_metrics = torch.nn.ModuleList([self._build_metric() for _ in range(len(grid))])
        if predict_weights is not None and len(predict_weights) != self.n_weights:
            raise InputError(f"predict_weights needs {self.n_weights} values ({self.weighted_objectives})")

    def train(self, mode: bool = True):
        super().train(mode)
        self.reference.eval()  # frozen: no dropout in f_ref, ever
        return self

    def forward(self, features: Tensor, mask: Tensor, weights: Tensor, log_beta: Tensor | None = None) -> Tensor:
        if not self.conditioned:
            return self.policy(features, mask)
        if not self.hparams.temperature_conditioning:
            log_beta = None
        return self.policy(features, mask, weights, log_beta)

    def _sample_conditions(self, batch_size: int) -> tuple[Tensor, Tensor, Tensor | None]:
        if not self.conditioned:
            weights = torch.tensor(self.hparams.fixed_weights, dtype=torch.float32, device=self.device)
            beta = torch.full((batch_size,), float(self.hparams.beta), device=self.device)
            return weights.expand(batch_size, -1), beta, None
        # Drawn from (seed, step, rank) alone, not the global RNG, which Lightning's checkpoints do not
        # hold: a run resumed from a checkpoint draws the same conditions as an uninterrupted one.
        seed = (torch.initial_seed() + 1_000_003 * self.global_step + 7_919 * self.global_rank) % 2**63
        generator = torch.Generator().manual_seed(seed)
        weights = sample_weights(batch_size, self.n_weights, alpha=self.hparams.alpha,
                                 per_query=self.hparams.per_query_weights, generator=generator, device=self.device)
        if self.hparams.temperature_conditioning:
            log_beta = sample_log_beta(batch_size, self.hparams.beta_min, self.hparams.beta_max, generator=generator,
                                       device=self.device)
            return weights, log_beta.exp(), log_beta
        beta = torch.full((batch_size,), float(self.hparams.beta), device=self.device)
        return weights, beta, None

    def training_step(self, batch: RankingBatch, batch_idx: int) -> Tensor:
        weights, beta, log_beta = self._sample_conditions(batch.batch_size)
        with torch.no_grad():
            ref_scores = self.reference(batch.features, batch.mask)
        scores = self(batch.features, batch.mask, weights, log_beta)
        out = cos_dpo_loss(
            scores, ref_scores, batch.labels, batch.mask, weights, beta, self.objective_columns,
            form=self.hparams.form, cosine_lambda=self.hparams.cosine_lambda, gain=self.hparams.label_gain,
            tau=self.hparams.label_tau,
        )
        self._check_finite(out.loss)
        self.log("train/loss", out.loss, prog_bar=True, batch_size=batch.batch_size)
        for name, value in zip(self.weighted_objectives, out.per_objective):
            self.log(f"train/loss/{name}", value, batch_size=batch.batch_size)
        return out.loss

    def _grid_scores(self, batch: RankingBatch) -> Tensor:
        """Scores for every validation grid weight in one pass: [G, B, L]."""
        g, b = len(self.val_grid), batch.batch_size
        # [B, L, F] -> [G*B, L, F]: the whole grid in one forward pass
        features = batch.features.unsqueeze(0).expand(g, *batch.features.shape).reshape(g * b, *batch.features.shape[1:])
        mask = batch.mask.unsqueeze(0).expand(g, *batch.mask.shape).reshape(g * b, -1)
        weights = self.val_grid.repeat_interleave(b, dim=0)
        log_beta = torch.full((g * b,), math.log(self.hparams.beta), device=self.device)
        return self(features, mask, weights, log_beta).reshape(g, b, -1)

    def _eval_step(self, batch: RankingBatch, metrics: torch.nn.ModuleList) -> None:
        for metric, scores in zip(metrics, self._grid_scores(batch)):
            metric.update(scores, batch.labels, batch.mask)

    def _eval_end(self, stage: str, metrics: torch.nn.ModuleList) -> None:
        k = max(self.hparams.ndcg_ks)
        table = []
        for g, metric in enumerate(metrics):
            values = metric.compute()
            metric.reset()
            row = [float(values[f"ndcg@{k}/{name}"]) for name in self.objective_names]
            table.append(row)
            for j, name in enumerate(self.objective_names):
                self.log(f"{stage}/grid{g}/ndcg@{k}/{name}", row[j])
        table_np = np.asarray(table)  # [G, K]
        for j, name in enumerate(self.objective_names):
            self.log(f"{stage}/ndcg@{k}/{name}", float(table_np[:, j].mean()))
        front = table_np[:, self.objective_columns]  # [G, m]
        volume = hypervolume(front, np.zeros(front.shape[1]), maximize=True)
        self.log(f"{stage}/hypervolume", volume)
        self.log(f"{stage}/score", volume)

    def predict_step(self, batch: RankingBatch, batch_idx: int) -> dict[str, Tensor]:
        w = self.hparams.predict_weights or [1.0 / self.n_weights] * self.n_weights
        weights = torch.tensor(w, dtype=torch.float32, device=self.device).expand(batch.batch_size, -1)
        log_beta = torch.full((batch.batch_size,), math.log(self.hparams.beta), device=self.device)
        return {"qids": batch.qids, "scores": self(batch.features, batch.mask, weights, log_beta), "mask": batch.mask}


def _read_reference_checkpoint(path: str) -> tuple[dict, dict[str, Tensor]]:
    """Return (ranker config, ranker state dict) from a ReferenceModule checkpoint."""
    if not path:
        raise InputError("reference_ckpt is required: the checkpoint of a stage-1 (ReferenceModule) run")
    if not Path(path).is_file():
        raise InputError("reference checkpoint not found", path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickled objects refused by weights_only, truncated or foreign files
        raise InputError(f"cannot read checkpoint safely ({type(exc).__name__}: {exc})", path) from exc
    return _ranker_from_module_state(checkpoint, "ranker.", path)


def _ranker_from_module_state(checkpoint: dict[str, Any], prefix: str, path: str) -> tuple[dict, dict[str, Tensor]]:
    state = {k[len(prefix):]: v for k, v in checkpoint.get("state_dict", {}).items() if k.startswith(prefix)}
    hparams = checkpoint.get("hyper_parameters", {})
    if not state or "n_features" not in hparams:
        raise InputError(f"not a ltr_cos ranker checkpoint (no '{prefix}*' weights)", path)
    config = Ranker(
        n_features=hparams["n_features"], arch=hparams["arch"], hidden_sizes=tuple(hparams["hidden_sizes"]),
        d_model=hparams["d_model"], n_heads=hparams["n_heads"], n_layers=hparams["n_layers"],
        dim_feedforward=hparams["dim_feedforward"], dropout=hparams["dropout"],
        normalization=hparams.get("normalization"),
    ).config
    return config, state
