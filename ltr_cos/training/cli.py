"""The Lightning CLI behind ``ltr-cos fit|validate|test|predict``.

YAML fragments in ``configs/`` stack with repeated ``--config``. The feature count, objective names,
normalisation statistics and feature ids are linked from the datamodule to the model, never typed twice.
Each run folder gets the resolved config (``config.yaml``), ``run_info.json`` (git commit, versions,
command line), ``metrics.csv`` and TensorBoard events.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

import ltr_cos
from ltr_cos.data.datamodule import RankingDataModule
from ltr_cos.errors import InputError
from ltr_cos.files import atomic_write_text
from ltr_cos.provenance import git_commit
from ltr_cos.training.checkpoint import read_checkpoint
from ltr_cos.training.settings import data_info_from_meta

_RUN_VERSION_ENV = "LTR_COS_RUN_VERSION"


class RankingCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` follows every validation, so ``--ckpt_path last`` resumes from
    the latest epoch (Lightning 2.6 refreshes ``last.ckpt`` only when a new best is saved)."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs after the epoch's validation and after the parent's own saves at this step
        super().on_train_epoch_end(trainer, pl_module)
        if (self.save_last and not self._should_skip_saving_checkpoint(trainer)
                and self._last_global_step_saved != trainer.global_step):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class RunInfoCallback(pl.Callback):
    """Writes ``run_info.json`` (git commit, versions, command line) into the run folder."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # a broadcast: every rank must call it, or DDP setup hangs
        if trainer.global_rank != 0 or log_dir is None:
            return
        run_dir = Path(log_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        info = {
            "stage": stage,
            "git_commit": git_commit(),
            "ltr_cos_version": ltr_cos.__version__,
            "torch_version": torch.__version__,
            "lightning_version": pl.__version__,
            "python": platform.python_version(),
            "command": sys.argv,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        # a resumed run keeps the first run's record and adds its own beside it
        target, n = run_dir / "run_info.json", 1
        while target.exists():
            n += 1
            target = run_dir / f"run_info.{n}.json"
        atomic_write_text(target, json.dumps(info, indent=2))


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, never deleted."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                header = next(csv.reader(handle), [])
            self.metrics_keys = sorted(header)


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` is appended to (a resumed run continues its own record)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def _loggers(config) -> list:
    loggers = config.get("trainer", {}).get("logger")
    return [item for item in (loggers if isinstance(loggers, list) else [loggers])
            if item is not None and not isinstance(item, bool) and "init_args" in item]


def _latest_interrupted_version(save_dir: str, name: str) -> str | None:
    """The newest run folder under ``save_dir/name`` with a ``checkpoints/last.ckpt``."""
    runs = sorted(Path(save_dir, name).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent.parent.name if runs else None


class LtrCosCLI(LightningCLI):
    """LightningCLI with the ltr_cos links, checkpointing and run-folder bookkeeping.

    Run folders are never rewritten by another command: ``fit --ckpt_path last`` continues the newest
    interrupted run in its own folder (``metrics.csv`` appended); ``validate``/``test``/``predict`` write a
    folder of their own beside the fit's (``<version>-<command>``).
    """

    def _parse_ckpt_path(self) -> None:
        """Check a given checkpoint file at once: a missing, foreign or corrupt one is a one-line error.

        Lightning's default also reads the checkpoint's hyperparameters back into the configuration; here the
        command line and config files say what to build (the checkpoint's ``ltr_cos`` record describes the
        rankers, and loading its weights checks that they match).
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path not in (None, "last", "best", "hpc", "registry"):
            read_checkpoint(ckpt_path)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        for logger in _loggers(config):  # Lightning's CSVLogger deletes an existing metrics.csv
            if logger["class_path"] in ("pytorch_lightning.loggers.CSVLogger", "lightning.pytorch.loggers.CSVLogger"):
                logger["class_path"] = f"{__name__}.RunCSVLogger"
        seed = config.get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool) and config["data"].get("seed") == 0:
            config["data"]["seed"] = seed  # the data order follows the run's seed unless --data.seed is set
        if self.subcommand == "fit" and config.get("ckpt_path") == "last" and not config["checkpoint"].get("dirpath"):
            self._resume_latest_run(config)
        elif self.subcommand in ("validate", "test", "predict"):
            for logger in _loggers(config):
                args = logger["init_args"]
                base = f"{args.get('version') or 'run'}-{self.subcommand}"
                version, n = base, 1
                while Path(args.get("save_dir") or "runs", args.get("name") or "", version).exists():
                    n += 1
                    version = f"{base}-{n}"
                args["version"] = version

    def after_fit(self) -> None:
        """Say where the run went."""
        trainer = self.trainer
        log_dir = trainer.log_dir  # a broadcast: every rank must call it, or DDP hangs
        if trainer.global_rank != 0:
            return
        lines = [f"run folder: {log_dir}"]
        callback = trainer.checkpoint_callback
        if callback is not None and getattr(callback, "best_model_path", ""):
            score = callback.best_model_score
            lines.append(f"best checkpoint: {callback.best_model_path}"
                         + (f" ({callback.monitor} {float(score):.4f})" if score is not None else ""))
        if callback is not None and getattr(callback, "last_model_path", ""):
            lines.append(f"last checkpoint: {callback.last_model_path}")
        print("\n".join(lines))

    @staticmethod
    def _resume_latest_run(config) -> None:
        loggers = _loggers(config)
        if not loggers:
            return
        args = loggers[0]["init_args"]
        version = _latest_interrupted_version(args.get("save_dir") or "runs", args.get("name") or "")
        if version is None:
            raise InputError(f"--ckpt_path last: no run with a checkpoints/last.ckpt under "
                             f"{Path(args.get('save_dir') or 'runs', args.get('name') or '')}; pass the checkpoint's "
                             "path instead (--ckpt_path PATH/last.ckpt)")
        for logger in loggers:  # continue in that run's folder
            logger["init_args"]["version"] = version
        os.environ[_RUN_VERSION_ENV] = version  # DDP processes started later agree on it

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(RankingCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/score",
            "checkpoint.mode": "max",
            "checkpoint.save_last": True,
            "checkpoint.filename": "best",
            "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_lightning_class_args(RunInfoCallback, "run_info")
        parser.link_arguments("data.meta", "model.init_args.data_info", compute_fn=data_info_from_meta,
                              apply_on="instantiate")


def _trainer_defaults() -> dict:
    # One version string for both loggers (and for every DDP process, through the environment), so
    # CSV metrics, TensorBoard events, config and checkpoints share one run folder.
    version = os.environ.setdefault(_RUN_VERSION_ENV, time.strftime("%Y%m%d-%H%M%S"))
    logger_args = {"save_dir": "runs", "name": "ltr_cos", "version": version}
    defaults = {
        "default_root_dir": "runs",
        "logger": [
            {"class_path": f"{__name__}.RunCSVLogger", "init_args": dict(logger_args)},
            {"class_path": "pytorch_lightning.loggers.TensorBoardLogger", "init_args": dict(logger_args)},
        ],
        "log_every_n_steps": 10,
    }
    if sys.stdout.isatty():  # Rich's live bar at a terminal
        defaults["callbacks"] = [RichProgressBar()]
    else:  # no bar in log files and CI output (--trainer.enable_progress_bar true brings it back)
        defaults["enable_progress_bar"] = False
    return defaults


class _DropTips(logging.Filter):
    """Drops Lightning's advertising tips (litlogger, litmodels) from the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip")


# Known-harmless warnings of the libraries, silenced at the command line only (never in the library):
# what they say does not concern a user of ltr-cos.
_HARMLESS_WARNINGS = (
    # our own entry point passes argv on purpose
    r"LightningCLI's args parameter is intended to run from within Python",
    # Lightning 2.6's own use of torch's pytree API
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # stage 2 keeps the frozen reference ranker in eval mode on purpose (no dropout in f_ref)
    r"Found \d+ module\(s\) in eval mode at the start of training",
)


def quiet_library_noise() -> None:
    """Filter the known-harmless warnings and tips above (called by the ``ltr-cos`` entry point)."""
    for pattern in _HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())


def run_lightning_cli(args: list[str] | None = None, run: bool = True) -> LtrCosCLI:
    """Run ``fit|validate|test|predict`` with the ltr_cos CLI (``args`` as on the command line)."""
    quiet_library_noise()
    return LtrCosCLI(
        model_class=pl.LightningModule,
        datamodule_class=RankingDataModule,
        subclass_mode_model=True,
        trainer_defaults=_trainer_defaults(),
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "ltr-cos", "default_env": False},
        args=args,
        run=run,
    )
