"""Runs never lose records: Ctrl-C then `fit --ckpt_path last` (as a user types it) continues the interrupted
run in its own folder with its metrics.csv appended; `test` with the fit's config leaves the fit run's files
byte-identical and writes a folder of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import ltr_cos, make_dataset, read_metrics

STEPS_PER_EPOCH = 4  # 64 train queries / batch 16


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("records"), train_queries=64, vali_queries=16)


def _fit(data: Path, cwd: Path, version: str, *extra: str):
    return ltr_cos("fit", "--model", "ltr_cos.training.ReferenceModule", "--data.data_dir", str(data),
                   "--data.batch_size", "16", "--trainer.enable_progress_bar", "false", *extra,
                   cwd=cwd, version=version)


@pytest.mark.slow
def test_ctrl_c_then_ckpt_path_last_continues_the_same_run(data, tmp_path):
    interrupted = _fit(data, tmp_path, "20260101-000000", "--trainer.max_epochs", "4",
                       "--trainer.callbacks+=tests.reliability.helpers.InterruptAtStep",
                       f"--trainer.callbacks.step={2 * STEPS_PER_EPOCH + 1}")
    assert "Detected KeyboardInterrupt" in interrupted.stderr, interrupted.stderr[-3000:]
    run = tmp_path / "runs" / "ltr_cos" / "20260101-000000"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    before = read_metrics(run / "metrics.csv")

    # a later command: by default it would get a new timestamped folder; `last` finds the interrupted one
    resumed = _fit(data, tmp_path, "20260101-000100", "--trainer.max_epochs", "4", "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (tmp_path / "runs" / "ltr_cos" / "20260101-000100").exists()
    after = read_metrics(run / "metrics.csv")
    assert len(after) > len(before) and after[:len(before)] == before  # appended, nothing lost
    epochs = sorted({int(row["epoch"]) for row in read_metrics(run / "metrics.csv") if "val/score" in row})
    assert epochs == [0, 1, 2, 3]
    assert (run / "run_info.json").is_file() and (run / "run_info.2.json").is_file()


def test_ckpt_path_last_without_an_interrupted_run_says_so(data, tmp_path):
    result = _fit(data, tmp_path, "v1", "--trainer.max_epochs", "1", "--ckpt_path", "last")
    assert result.returncode == 2
    assert "--ckpt_path last: no run with a checkpoints/last.ckpt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_test_command_leaves_the_fit_run_byte_identical(data, tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text(
        "trainer:\n  max_epochs: 2\n  enable_progress_bar: false\n  logger:\n"
        "    - class_path: pytorch_lightning.loggers.CSVLogger\n"
        "      init_args: {save_dir: runs, name: mine, version: fitrun}\n"
        f"checkpoint:\n  dirpath: {tmp_path / 'ckpt'}\n"
        f"data:\n  data_dir: {data}\n  batch_size: 16\n  test_split: vali\n"
        "model:\n  class_path: ltr_cos.training.ReferenceModule\n")
    fitted = ltr_cos("fit", "--config", str(config), cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr[-3000:]
    run = tmp_path / "runs" / "mine" / "fitrun"
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert {"metrics.csv", "run_info.json", "config.yaml"} <= set(files)

    tested = ltr_cos("test", "--config", str(config), "--ckpt_path", str(tmp_path / "ckpt" / "best.ckpt"),
                     cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    own = tmp_path / "runs" / "mine" / "fitrun-test"
    assert any("test/score" in row for row in read_metrics(own / "metrics.csv"))
    assert (own / "run_info.json").is_file()
