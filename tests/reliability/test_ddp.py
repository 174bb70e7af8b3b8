"""`trainer.strategy=ddp` on CPU (gloo, configs/trainer/ddp_cpu.yaml) through `ltr-cos fit|validate`.

* Validation of one checkpoint gives the same NDCG on 1 and 2 processes (float tolerance): the metric
  states are summed across processes, and every query is evaluated exactly once although the 17
  validation queries do not split evenly (Lightning's DistributedSampler would repeat one).
* Training on 2 processes with the same global batch (2 x 8 = 16 queries per step) reaches the
  1-process validation NDCG within 0.05. Not exactly: Lightning's DistributedSampler reshuffles the
  query order across ranks (seeded, so runs repeat), so the two runs see the same queries per epoch in
  other batches. With dropout 0, both runs take the same number of optimizer steps per epoch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import REPO, ltr_cos, make_dataset, read_metrics, series

DDP_CPU = str(REPO / "configs" / "trainer" / "ddp_cpu.yaml")
KEY = "val/ndcg@10/relevance"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ddp"), train_queries=64, vali_queries=17)


def _fit(data: Path, cwd: Path, version: str, *extra: str):
    result = ltr_cos(
        "fit", "--model", "ltr_cos.training.ReferenceModule", "--model.init_args.backbone.dropout", "0",
        "--model.init_args.optim.lr", "0.003", "--data.data_dir", str(data), "--trainer.max_epochs", "2",
        "--trainer.deterministic", "true", "--trainer.enable_progress_bar", "false",
        "--checkpoint.dirpath", str(cwd / version / "checkpoints"), *extra, cwd=cwd, version=version)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return read_metrics(cwd / "runs" / "ltr_cos" / version / "metrics.csv")


def _validate(data: Path, ckpt: Path, cwd: Path, version: str, *extra: str) -> dict[str, float]:
    result = ltr_cos(
        "validate", "--model", "ltr_cos.training.ReferenceModule", "--data.data_dir", str(data),
        "--data.eval_batch_size", "4", "--trainer.enable_progress_bar", "false", "--ckpt_path", str(ckpt),
        *extra, cwd=cwd, version=version)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    rows = read_metrics(cwd / "runs" / "ltr_cos" / f"{version}-validate" / "metrics.csv")  # its own folder
    return {k: v for row in rows for k, v in row.items() if k.startswith("val/")}


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(data, tmp_path):
    one = _fit(data, tmp_path, "one", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
               "--data.batch_size", "16")
    two = _fit(data, tmp_path, "two", "--config", DDP_CPU, "--data.batch_size", "8")
    # the same number of optimizer steps per epoch: 64 queries / 16 per global step
    assert series(one, "step")[-1] == series(two, "step")[-1]
    assert [r["step"] for r in one if KEY in r] == [r["step"] for r in two if KEY in r] == [3.0, 7.0]
    ndcg_one, ndcg_two = series(one, KEY), series(two, KEY)
    assert len(ndcg_one) == len(ndcg_two) == 2
    for a, b in zip(ndcg_one, ndcg_two):
        assert abs(a - b) < 0.05, (ndcg_one, ndcg_two)

    # Validation of one checkpoint: identical up to float summation order on 1 and 2 processes.
    ckpt = tmp_path / "one" / "checkpoints" / "last.ckpt"
    single = _validate(data, ckpt, tmp_path, "val1", "--trainer.accelerator", "cpu", "--trainer.devices", "1")
    double = _validate(data, ckpt, tmp_path, "val2", "--config", DDP_CPU)
    assert single.keys() == double.keys() and KEY in single
    for key in single:
        assert single[key] == pytest.approx(double[key], abs=1e-6), key
    # last.ckpt holds the state of the last validation that improved val/score (Lightning 2.6 writes
    # it only with a top-k save), and validate reproduces that validation's NDCG
    assert min(abs(single[KEY] - value) for value in ndcg_one) < 1e-6
