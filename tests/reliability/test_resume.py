"""Faults: a training run killed with SIGKILL mid-epoch resumes from its last checkpoint and ends where an
uninterrupted run ends; a conversion killed mid-way leaves nothing that looks like a dataset.

Training (COS-DPO stage, deterministic, seed 0, dropout 0): run A trains 3 epochs; run B is killed by
SIGKILL at step 9 (mid epoch 1) and restarted with ``--ckpt_path last``. A ModelCheckpoint that saves
at every epoch end (``save_last``) gives B the state after epoch 0; Lightning replays epoch 1 from its
start, whose query order depends only on (seed, epoch) and whose weight draws depend only on
(seed, step, rank). So the final weights and validation metrics are bit-identical. Not covered here,
and not bit-identical: checkpoints taken mid-epoch (``every_n_train_steps``), from which Lightning also
restarts the epoch at its first batch, and dropout > 0, whose global RNG state checkpoints do not hold.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.reliability.helpers import ltr_cos, make_dataset, read_metrics

STEPS_PER_EPOCH = 6  # 96 train queries / batch 16


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("resume")
    data = make_dataset(root, train_queries=96, vali_queries=16)
    result = ltr_cos(
        "fit", "--model", "ltr_cos.training.ReferenceModule", "--model.init_args.backbone.dropout", "0",
        "--data.data_dir", str(data), "--data.batch_size", "16", "--trainer.max_epochs", "1",
        "--trainer.enable_progress_bar", "false", "--checkpoint.dirpath", str(root / "ref"), cwd=root, version="ref")
    assert result.returncode == 0, result.stderr[-3000:]
    return data, root / "ref" / "best.ckpt"


def _config(path: Path, run: Path, kill_at: int | None) -> Path:
    callbacks = [
        "  - class_path: pytorch_lightning.callbacks.ModelCheckpoint",
        f"    init_args: {{dirpath: {run / 'epochs'}, save_last: true, save_top_k: 1, every_n_epochs: 1}}",
    ]
    if kill_at is not None:
        callbacks += ["  - class_path: tests.reliability.helpers.KillAtStep", f"    init_args: {{step: {kill_at}}}"]
    path.write_text("trainer:\n callbacks:\n" + "\n".join(" " + line for line in callbacks) + "\n")
    return path


def _cos_dpo(data: Path, ref: Path, cwd: Path, run: str, kill_at: int | None = None, *extra: str):
    config = _config(cwd / f"{run}-{kill_at}.yaml", cwd / run, kill_at)
    return ltr_cos(
        "fit", "--config", str(config), "--model", "ltr_cos.training.CosDpoModule",
        "--model.init_args.reference_ckpt", str(ref), "--model.init_args.evaluation.val_grid_steps", "2",
        "--data.data_dir", str(data), "--data.batch_size", "16", "--trainer.max_epochs", "3",
        "--trainer.deterministic", "true", "--trainer.enable_progress_bar", "false",
        "--checkpoint.dirpath", str(cwd / run / "checkpoints"), *extra, cwd=cwd, version=run + ("-resumed" if extra else ""))


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_ends_like_an_uninterrupted_run(setup, tmp_path):
    data, ref = setup
    full = _cos_dpo(data, ref, tmp_path, "a")
    assert full.returncode == 0, full.stderr[-3000:]

    killed = _cos_dpo(data, ref, tmp_path, "b", kill_at=STEPS_PER_EPOCH + 3)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-3000:])
    saved = torch.load(tmp_path / "b" / "epochs" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == STEPS_PER_EPOCH  # the end of epoch 0; epoch 1 was cut short

    resumed = _cos_dpo(data, ref, tmp_path, "b", None, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = torch.load(tmp_path / "a" / "epochs" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "b" / "epochs" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 3 * STEPS_PER_EPOCH and a["epoch"] == b["epoch"] == 2
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    last_a = [r for r in read_metrics(tmp_path / "runs" / "ltr_cos" / "a" / "metrics.csv") if "val/hypervolume" in r]
    last_b = [r for r in read_metrics(tmp_path / "runs" / "ltr_cos" / "b-resumed" / "metrics.csv")
              if "val/hypervolume" in r]
    assert len(last_a) == 3 and len(last_b) == 2  # the resumed run validated epochs 1 and 2
    assert {k: v for k, v in last_a[-1].items() if k.startswith("val/")} == \
        {k: v for k, v in last_b[-1].items() if k.startswith("val/")}


# ----------------------------------------------------------------------------------------------------
# A conversion killed mid-way
# ----------------------------------------------------------------------------------------------------


def test_killed_conversion_leaves_no_dataset_and_is_redone_cleanly(tmp_path):
    from ltr_cos.data.convert import is_complete
    from ltr_cos.data.dataset import load_meta
    from ltr_cos.data.synthetic import write_synthetic_libsvm
    from ltr_cos.errors import InputError

    write_synthetic_libsvm(tmp_path / "train.txt", n_queries=300, seed=0)  # ~45 MB: a few seconds to convert
    out = tmp_path / "data"
    command = [sys.executable, "-m", "ltr_cos.cli", "data", "convert", "--train", str(tmp_path / "train.txt"),
               "--objectives", "mslr2", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    temporaries: list[Path] = []
    # kill it once it writes its output (the hidden temporary sibling exists and holds a Parquet file)
    while time.monotonic() < deadline and proc.poll() is None:
        temporaries = [p for p in tmp_path.glob(".data.tmp-*") if any(p.glob("*.parquet"))]
        if temporaries:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the conversion ended before it could be killed"
    assert temporaries and temporaries[0].exists(), "the killed run left its partial work aside"
    assert not (temporaries[0] / "_SUCCESS").exists()
    assert not out.exists() and not is_complete(out)
    with pytest.raises(InputError, match="dataset folder not found"):
        load_meta(out)

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    meta = load_meta(out, verify_hash=True)
    assert meta["splits"]["train"]["queries"] == 300
    assert not list(tmp_path.glob(".data.tmp-*")), "the next run removed the killed run's leftovers"
