"""Exported artifacts: parity with the eager ranker (TorchScript and ONNX Runtime), sidecar, atomic writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import ltr_cos
from ltr_cos.errors import InputError
from ltr_cos.export import export_ranker, load_artifact
from ltr_cos.models import Ranker, RankerConfig

F = 7
# one encoder layer keeps the ONNX exports quick; FiLM still acts before and after it
SMALL = {"hidden_sizes": (16, 8), "d_model": 16, "n_heads": 2, "n_layers": 1, "dim_feedforward": 32}
NORM = {
    "kind": "signed_log1p_standardize",
    "mean": np.linspace(-0.5, 0.5, F).tolist(),
    "std": np.linspace(0.5, 2.0, F).tolist(),
}
INFO = {
    "objective_names": ["relevance", "quality", "clicks"],
    "weighted_objectives": ["quality", "clicks"],
    "feature_ids": [1, 2, 3, 5, 6, 8, 9],
    "beta": 1.0,
    "beta_range": [0.1, 10.0],
    "stage": "cos_dpo",
    "n_features": F,
}

# (arch, conditioning, temperature_conditioning): each conditioning on each arch that accepts it
VARIANTS = [
    ("mlp", None, False),
    ("mlp", "concat", True),
    ("mlp", "film", False),
    ("transformer", None, False),
    ("transformer", "concat", False),
    ("transformer", "film", True),
    ("transformer", "prompt", True),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def make(arch: str, conditioning: str | None, beta: bool) -> Ranker:
    torch.manual_seed(0)
    ranker = Ranker(
        F,
        arch=arch,
        conditioning=conditioning,
        n_weights=2 if conditioning else 0,
        temperature_conditioning=beta,
        normalization=NORM,
        **SMALL,
    )
    if conditioning in ("concat", "film"):  # leave the no-op start so the weight input really matters
        for p in ranker.conditioner.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return ranker.eval()


def random_lists(b: int, n: int, seed: int):
    """Padded lists with an empty row and a length-1 row; padding slots hold garbage."""
    g = np.random.default_rng(seed)
    features = (g.standard_normal((b, n, F)) * 3).astype(np.float32)
    lengths = g.integers(1, n + 1, b)
    lengths[0], lengths[1] = 0, 1
    mask = np.arange(n)[None, :] < lengths[:, None]
    features[~mask] = 1e4
    weights = g.dirichlet(np.ones(2), b).astype(np.float32)
    beta = np.exp(g.uniform(np.log(0.1), np.log(10.0), b))
    return features, mask, weights, beta


class _Artifacts(dict):
    """(arch, conditioning, beta, format) -> (ranker, artifact folder), exported on first use."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, key):
        ranker = make(*key[:3])
        self[key] = (ranker, export_ranker(ranker, self.root / "-".join(map(str, key)), key[3], info=INFO))
        return self[key]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return _Artifacts(tmp_path_factory.mktemp("artifacts"))


# ONNX exports take seconds each: the unconditioned transformer is left to TorchScript (its backbone is
# exported by the three conditioned transformer cases).
PARITY = [(*v, "torchscript") for v in VARIANTS] + [
    (*v, "onnx") for v in VARIANTS if v[:2] != ("transformer", None)
]


@pytest.mark.parametrize("arch,conditioning,beta,fmt", PARITY)
def test_artifact_matches_eager_ranker(artifacts, arch, conditioning, beta, fmt):
    ranker, path = artifacts[(arch, conditioning, beta, fmt)]
    artifact = load_artifact(path)
    for b, n, seed in ((6, 13, 0), (2, 1, 1), (3, 40, 2)):  # B and L differ from the export example
        features, mask, weights, betas = random_lists(b, n, seed)
        if n == 1:
            mask[1, 0] = True
        kwargs = {}
        if conditioning:
            kwargs["weights"] = weights
        if beta:
            kwargs["beta"] = betas
        got = artifact.score(features, mask, **kwargs)
        with torch.no_grad():
            expected = ranker(
                torch.from_numpy(features),
                torch.from_numpy(mask),
                torch.from_numpy(weights) if conditioning else None,
                torch.log(torch.from_numpy(betas)).float() if beta else None,
            ).numpy()
        assert got.shape == (b, n) and got.dtype == np.float32
        assert np.isfinite(got).all() and (got[~mask] == 0).all()
        assert np.abs(got - expected).max() <= 1e-5
        if conditioning:  # guards the parity above: the weight input is live in the artifact
            flipped = dict(kwargs, weights=weights[:, ::-1].copy())
            assert np.abs(artifact.score(features, mask, **flipped) - got).max() > 1e-4


def test_single_query_one_weight_vector_and_exact_log_beta(artifacts):
    ranker, path = artifacts[("transformer", "prompt", True, "onnx")]
    artifact = load_artifact(path)
    features, mask, _, _ = random_lists(3, 9, 5)
    one = artifact.score(features[2], mask[2], [0.25, 0.75], log_beta=0.5)
    batch = artifact.score(features, mask, np.array([[0.25, 0.75]] * 3), beta=np.full(3, np.exp(0.5)))
    assert one.shape == (9,)
    np.testing.assert_allclose(one, batch[2], rtol=0, atol=1e-5)
    with torch.no_grad():
        expected = ranker(
            torch.from_numpy(features[2:]),
            torch.from_numpy(mask[2:]),
            torch.tensor([[0.25, 0.75]]),
            torch.tensor([0.5]),
        )[0].numpy()
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_sidecar_contents(artifacts, fmt):
    _, path = artifacts[("transformer", "film", True, fmt)]
    info = json.loads((path / "ranker.json").read_text())
    model_file = path / ("model.pt" if fmt == "torchscript" else "model.onnx")
    assert sorted(p.name for p in path.iterdir()) == sorted(["ranker.json", model_file.name])
    assert info["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert info["format"] == fmt and info["model_file"] == model_file.name
    assert info["ltr_cos_version"] == ltr_cos.__version__ and info["format_version"] == 2
    assert info["n_features"] == F and info["feature_ids"] == [1, 2, 3, 5, 6, 8, 9]
    assert info["objective_names"] == ["relevance", "quality", "clicks"]
    assert info["weighted_objectives"] == ["quality", "clicks"] and info["n_weights"] == 2
    assert info["conditioning"] == "film" and info["temperature_conditioning"] is True
    assert info["beta_range"] == [0.1, 10.0] and info["beta"] == 1.0
    assert [spec["name"] for spec in info["inputs"]] == ["features", "mask", "weights", "log_beta"]
    assert info["inputs"][0]["shape"] == ["B", "L", F] and info["inputs"][1]["dtype"] == "bool"
    assert info["normalization"] == "signed_log1p_standardize"
    config = RankerConfig.from_dict(info["ranker_config"])
    assert config.arch == "transformer" and config.normalization["kind"] == "signed_log1p_standardize"


def test_unconditioned_artifact_takes_only_features_and_mask(artifacts):
    _, path = artifacts[("mlp", None, False, "onnx")]
    info = json.loads((path / "ranker.json").read_text())
    assert [spec["name"] for spec in info["inputs"]] == ["features", "mask"] and info["n_weights"] == 0
    import onnx

    graph = onnx.load(str(path / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["features", "mask"]
    # dynamic batch and list axes, fixed feature axis
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_param and dims[2].dim_value == F


def test_normalisation_is_inside_the_artifact(artifacts):
    ranker, path = artifacts[("mlp", None, False, "torchscript")]
    plain = Ranker(ranker.config.replace(normalization=None)).eval()
    plain.load_state_dict(ranker.state_dict())
    plain.normalizer.enabled = False
    features, mask, _, _ = random_lists(4, 6, 3)
    got = load_artifact(path).score(features, mask)
    with torch.no_grad():
        without = plain(torch.from_numpy(features), torch.from_numpy(mask)).numpy()
    assert np.abs(got - without)[mask].max() > 1e-3


def test_export_writes_atomically_and_refuses_to_clobber(tmp_path):
    ranker = make("mlp", "film", False)
    out = export_ranker(ranker, tmp_path / "art", info=INFO)
    first = (out / "ranker.json").read_text()
    with pytest.raises(InputError, match="not empty"):
        export_ranker(ranker, out, info=INFO)
    assert (out / "ranker.json").read_text() == first
    with torch.no_grad():
        ranker.backbone.out.bias.add_(1.0)
    export_ranker(ranker, out, info=INFO, overwrite=True)
    assert json.loads((out / "ranker.json").read_text())["sha256"] != json.loads(first)["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no temporary folders left behind


def test_export_refuses_inconsistent_info_and_formats(tmp_path):
    ranker = make("mlp", "concat", False)
    with pytest.raises(InputError, match="n_features=9"):
        export_ranker(ranker, tmp_path / "a", info={**INFO, "n_features": 9})
    with pytest.raises(InputError, match="3 weighted objectives"):
        export_ranker(ranker, tmp_path / "a", info={**INFO, "weighted_objectives": ["a", "b", "c"]})
    with pytest.raises(InputError, match="2 feature_ids"):
        export_ranker(ranker, tmp_path / "a", info={**INFO, "feature_ids": [1, 2]})
    with pytest.raises(InputError, match="unknown export format"):
        export_ranker(ranker, tmp_path / "a", format="tflite", info=INFO)
    assert list(tmp_path.iterdir()) == []


def test_export_does_not_change_the_ranker(tmp_path):
    ranker = make("transformer", "prompt", True).train()
    before = {k: v.clone() for k, v in ranker.state_dict().items()}
    export_ranker(ranker, tmp_path / "a", info=INFO)
    assert ranker.training
    assert all(torch.equal(before[k], v) for k, v in ranker.state_dict().items())


# ------------------------------------------------------------- docs/method.md §5 rescaling inside the artifact

TRAINED_BETA = 0.5


def make_reference(arch: str) -> Ranker:
    """An unconditioned ranker with the policy's backbone shape but other parameters (f_ref != f_theta)."""
    torch.manual_seed(1)
    return Ranker(F, arch=arch, normalization=NORM, **SMALL).eval()


class _Rescaled(dict):
    """(arch, conditioning, format) -> (policy, reference, artifact folder), exported on first use."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, key):
        arch, conditioning, fmt = key
        policy, reference = make(arch, conditioning, False), make_reference(arch)
        info = (
            {**INFO, "beta": TRAINED_BETA}
            if conditioning
            else {**INFO, "beta": TRAINED_BETA, "weighted_objectives": []}
        )
        path = export_ranker(policy, self.root / "-".join(map(str, key)), fmt, info=info, reference=reference)
        self[key] = (policy, reference, path)
        return self[key]


@pytest.fixture(scope="module")
def rescaled(tmp_path_factory):
    return _Rescaled(tmp_path_factory.mktemp("rescaled"))


def eager_rescaled(policy, reference, features, mask, weights, betas):
    """The eager oracle: policy and reference in PyTorch, then ltr_cos.training.rescale_temperature."""
    from ltr_cos.losses import rescale_temperature

    x, m = torch.from_numpy(features), torch.from_numpy(mask)
    with torch.no_grad():
        scores = policy(x, m, None if weights is None else torch.from_numpy(weights))
        ref = reference(x, m)
        if betas is None:
            return scores.numpy()
        return rescale_temperature(
            scores, ref, TRAINED_BETA, torch.as_tensor(betas, dtype=torch.float32)
        ).numpy()


RESCALED = [
    ("mlp", "film", "torchscript"),
    ("mlp", "film", "onnx"),
    ("transformer", "prompt", "torchscript"),
    ("transformer", "prompt", "onnx"),
    ("mlp", None, "torchscript"),  # a DPO-LS policy: no weights, the temperature only
]


@pytest.mark.parametrize("arch,conditioning,fmt", RESCALED)
def test_rescaled_artifact_matches_policy_plus_rescale_temperature(rescaled, arch, conditioning, fmt):
    policy, reference, path = rescaled[(arch, conditioning, fmt)]
    artifact = load_artifact(path)
    names = ["features", "mask"] + (["weights"] if conditioning else []) + ["log_beta"]
    assert artifact.input_names == names and artifact.beta_control == "rescale"
    for b, n, seed in ((6, 13, 10), (3, 40, 11)):
        features, mask, weights, betas = random_lists(b, n, seed)
        betas = betas * np.exp(np.random.default_rng(seed).uniform(-1, 1, b))  # also outside 0.1..10
        w = weights if conditioning else None
        got = artifact.score(features, mask, w, beta=betas)
        expected = eager_rescaled(policy, reference, features, mask, w, betas)
        assert got.shape == (b, n) and np.isfinite(got).all() and (got[~mask] == 0).all()
        assert np.abs(got - expected).max() <= 1e-5
        # guards: beta is live, and without one the artifact is the policy itself (trained beta)
        assert np.abs(artifact.score(features, mask, w, beta=betas * 3) - got).max() > 1e-3
        plain = eager_rescaled(policy, reference, features, mask, w, None)
        assert np.abs(artifact.score(features, mask, w) - plain).max() <= 1e-5
        assert np.abs(artifact.score(features, mask, w, beta=TRAINED_BETA) - plain).max() <= 1e-5


def test_rescaled_sidecar_records_trained_beta_and_reference(rescaled):
    _, reference, path = rescaled[("transformer", "prompt", "torchscript")]
    info = json.loads((path / "ranker.json").read_text())
    assert info["beta_control"] == "rescale" and info["trained_beta"] == TRAINED_BETA
    assert info["temperature_conditioning"] is False and info["conditioning"] == "prompt"
    assert [spec["name"] for spec in info["inputs"]] == ["features", "mask", "weights", "log_beta"]
    assert info["reference_config"] == reference.config.to_dict()
    # the log-uniform training range of temperature models means nothing here: no warning at beta=50
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_artifact(path).score(np.ones((1, 3, F), np.float32), weights=[0.5, 0.5], beta=50.0)


def test_temperature_artifact_sidecar_says_beta_is_an_input(artifacts):
    _, path = artifacts[("transformer", "film", True, "torchscript")]
    info = json.loads((path / "ranker.json").read_text())
    assert info["beta_control"] == "input" and load_artifact(path).beta_control == "input"
    _, path = artifacts[("mlp", "film", False, "torchscript")]
    assert json.loads((path / "ranker.json").read_text())["beta_control"] is None


def test_rescaling_export_refuses_bad_references(tmp_path):
    policy = make("mlp", "film", False)
    info = {**INFO, "beta": TRAINED_BETA}
    with pytest.raises(InputError, match="takes log_beta itself"):
        export_ranker(make("mlp", "film", True), tmp_path / "a", info=info, reference=make_reference("mlp"))
    with pytest.raises(InputError, match="must be unconditioned"):
        export_ranker(policy, tmp_path / "a", info=info, reference=make("mlp", "film", False))
    with pytest.raises(InputError, match="takes 3 features"):
        export_ranker(policy, tmp_path / "a", info=info, reference=Ranker(3, hidden_sizes=(4,)))
    with pytest.raises(InputError, match="trained beta"):
        export_ranker(policy, tmp_path / "a", info={**INFO, "beta": None}, reference=make_reference("mlp"))
    assert list(tmp_path.iterdir()) == []


def test_onnx_keeps_log1p_precision_on_small_features(tmp_path):
    """Small raw features with a small train std: ONNX's Log(1 + x) would miss 1e-5 here (about 1e-5 off)."""
    g = np.random.default_rng(0)
    raw = (g.standard_normal((5, 9, F)) * 10.0 ** g.uniform(-5, -2, (5, 9, F))).astype(np.float32)
    logged = np.sign(raw) * np.log1p(np.abs(raw))
    norm = {"mean": logged.mean((0, 1)).tolist(), "std": logged.std((0, 1)).tolist()}  # fitted on them
    torch.manual_seed(0)
    ranker = Ranker(F, hidden_sizes=(16,), normalization=norm).eval()
    got = load_artifact(export_ranker(ranker, tmp_path / "a", "onnx")).score(raw)
    with torch.no_grad():
        expected = ranker(torch.from_numpy(raw), torch.ones(5, 9, dtype=torch.bool)).numpy()
    assert np.abs(got - expected).max() <= 1e-6
