"""Numerical robustness: every loss and metric is finite (values and gradients) on hard inputs, and a
NaN in a training batch stops `ltr-cos fit` with a message naming the step.

Hard inputs, combined in one batch: scores of +-1e4 and +-1e30, one-candidate lists, all-equal labels
(for every objective), all-padding rows, and padding positions holding huge values that must not leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltr_cos.losses import (
    approx_ndcg_loss,
    cos_dpo_loss,
    lambda_loss,
    listmle_loss,
    listnet_dpo_loss,
    listnet_loss,
    pl_dpo_loss,
)
from ltr_cos.metrics import NDCGMetric, ndcg_per_query

REFERENCE_LOSSES = {
    "listnet": listnet_loss,
    "listmle": listmle_loss,
    "lambdaloss": lambda_loss,
    "approxndcg": approx_ndcg_loss,
}
SCALES = (1.0, 1e4, 1e30)


def hard_batch(scale: float, dtype: torch.dtype = torch.float32, seed: int = 0):
    """scores, ref_scores [B, L], labels [B, L, 3], mask [B, L] with every hard case as its own row.

    Rows: 0-1 ordinary lists, 2 one candidate, 3 all labels equal (every objective), 4 all padding,
    5 two candidates with tied scores, 6 a list whose padding holds +-huge values.
    """
    g = torch.Generator().manual_seed(seed)
    b, n = 7, 6
    signs = torch.randint(0, 2, (b, n), generator=g) * 2 - 1
    scores = (signs * scale).to(dtype)
    ref_scores = (-signs.roll(1, 1) * scale).to(dtype)
    labels = torch.randint(0, 5, (b, n, 3), generator=g).float()
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[2, 1:] = False
    labels[3] = 2.0
    mask[4] = False
    mask[5, 2:] = False
    scores[5, :2] = scale
    mask[6, 3:] = False
    scores[6, 3:] = torch.tensor([torch.finfo(dtype).max, -torch.finfo(dtype).max, float(scale)], dtype=dtype)
    labels[6, 3:] = 4.0
    return scores, ref_scores, labels, mask


def _assert_finite_with_grad(fn, scores: torch.Tensor) -> torch.Tensor:
    scores = scores.clone().requires_grad_()
    value = fn(scores)
    assert torch.isfinite(value).all(), value
    value.sum().backward()
    assert torch.isfinite(scores.grad).all(), scores.grad
    return scores.grad


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(REFERENCE_LOSSES))
def test_reference_losses_finite_on_hard_batches(name, scale):
    scores, _, labels, mask = hard_batch(scale)
    grad = _assert_finite_with_grad(lambda s: REFERENCE_LOSSES[name](s, labels[..., 0], mask), scores)
    assert torch.all(grad[~mask] == 0), "padding received a gradient"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("form", ["listnet", "pl"])
def test_dpo_losses_finite_on_hard_batches(form, scale):
    scores, ref_scores, labels, mask = hard_batch(scale)
    beta = torch.tensor([0.1, 10.0, 1.0, 1.0, 1.0, 5.0, 1.0])
    loss_fn = listnet_dpo_loss if form == "listnet" else pl_dpo_loss

    def per_query(s):
        values, valid = loss_fn(s, ref_scores, labels, mask, beta)
        assert not valid[3].any() and not valid[4].any(), "all-equal labels and padding rows carry no preference"
        return values

    grad = _assert_finite_with_grad(per_query, scores)
    assert torch.all(grad[~mask] == 0)
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.3, 0.7], [0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    _assert_finite_with_grad(
        lambda s: cos_dpo_loss(s, ref_scores, labels, mask, weights, beta, [1, 2], form=form,
                               cosine_lambda=0.5).loss, scores)


def test_batch_of_only_padding_and_single_candidates_gives_finite_zero_gradient_losses():
    scores = torch.zeros(3, 4)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[1, 0] = True  # one candidate: nothing to rank, no preference
    labels = torch.ones(3, 4, 3)
    for name, fn in REFERENCE_LOSSES.items():
        grad = _assert_finite_with_grad(lambda s, fn=fn: fn(s, labels[..., 0], mask), scores)
        assert torch.all(grad == 0), name
    out = cos_dpo_loss(scores.clone().requires_grad_(), scores, labels, mask, torch.full((3, 2), 0.5), 1.0, [1, 2])
    assert torch.isfinite(out.loss) and out.loss == 0 and torch.all(out.valid_fraction == 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("scale", SCALES)
def test_ndcg_finite_and_in_range_on_hard_batches(scale, dtype):
    if dtype == torch.float16 and scale > 6e4:
        scale = 6e4  # float16 cannot hold 1e30; its own max is the extreme there
    scores, _, labels, mask = hard_batch(scale, dtype)
    ndcg, valid = ndcg_per_query(scores, labels, mask, k=10)
    assert torch.isfinite(ndcg).all() and (ndcg >= 0).all() and (ndcg <= 1 + 1e-6).all()
    assert not valid[4].any(), "an all-padding row is not a query"
    metric = NDCGMetric(["relevance", "a", "b"], ks=(1, 10))
    metric.update(scores, labels, mask)
    values = metric.compute()
    assert all(torch.isfinite(v) and 0 <= v <= 1 + 1e-6 for v in values.values()), values
    assert metric.n_queries == 6  # row 4 is padding


def test_padding_values_do_not_change_ndcg():
    scores, _, labels, mask = hard_batch(1.0)
    clean = scores.masked_fill(~mask, 0.0)
    a, _ = ndcg_per_query(scores, labels, mask, k=5)
    b, _ = ndcg_per_query(clean, labels, mask, k=5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------------
# NaN in a batch stops training through the CLI, naming the step
# ----------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _ltr_cos(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", LTR_COS_RUN_VERSION="v0")
    return subprocess.run([sys.executable, "-m", "ltr_cos.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def _nan_dataset(tmp_path: Path) -> Path:
    """A tiny dataset with one NaN feature in the first train query (48 train, 16 vali queries).

    The LibSVM reader refuses NaN in text, so the Parquet file is rewritten with it, as a corrupted or
    foreign file would be; meta.json gets the new hash so that only the NaN is wrong.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ltr_cos.data.convert import convert_dataset
    from ltr_cos.data.synthetic import write_synthetic_libsvm

    for split, seed, queries in (("train", 0, 48), ("vali", 1, 16)):
        write_synthetic_libsvm(tmp_path / f"{split}.txt", n_queries=queries, seed=seed, docs_per_query=(3, 12))
    out = tmp_path / "data"
    convert_dataset({"train": [tmp_path / "train.txt"], "vali": [tmp_path / "vali.txt"]}, out, progress=False)
    path = out / "train.parquet"
    table = pq.read_table(path)
    features = table.column("features").combine_chunks()
    width = features.type.list_size
    flat = features.flatten().to_numpy().copy()
    flat[0 * width + 3] = np.nan  # row 0 (the first query), feature 3
    poisoned = table.set_column(table.schema.get_field_index("features"), "features",
                                pa.FixedSizeListArray.from_arrays(pa.array(flat), width))
    pq.write_table(poisoned, path)
    from ltr_cos.data.convert import sha256_file

    meta = json.loads((out / "meta.json").read_text())
    meta["splits"]["train"]["sha256"] = sha256_file(path)
    (out / "meta.json").write_text(json.dumps(meta))
    return out


@pytest.mark.slow
def test_nan_in_a_batch_stops_fit_with_the_step_named(tmp_path):
    data = _nan_dataset(tmp_path)
    result = _ltr_cos(
        "fit", "--model", "ltr_cos.training.ReferenceModule", "--data.data_dir", str(data),
        "--data.batch_size", "8", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path / "runs"),
        "--trainer.logger", "false", "--checkpoint.dirpath", str(tmp_path / "ckpt"), cwd=tmp_path)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "FloatingPointError" in out and "non-finite training loss" in out, out[-3000:]
    # the step is the batch holding the poisoned first query in the datamodule's epoch-0 order (seed 0)
    from ltr_cos.data.datamodule import RankingDataModule

    datamodule = RankingDataModule(str(data), batch_size=8)
    datamodule.setup("fit")
    first_qid = int(datamodule._dataset("train", train=True).qids[0])
    step = next(i for i, batch in enumerate(datamodule.train_dataloader()) if first_qid in batch.qids.tolist())
    assert f"at global step {step}, epoch 0" in out, out[-3000:]
    assert not list((tmp_path / "ckpt").glob("*.ckpt")), "no checkpoint of the corrupted weights"
