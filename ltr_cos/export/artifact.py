"""Write a ranker as a self-contained TorchScript or ONNX artifact with a JSON sidecar.

An artifact is a folder::

    DIR/model.pt | DIR/model.onnx   forward(features [B,L,F] f32, mask [B,L] bool[, weights [B,m] f32]
                                    [, log_beta [B] f32]) -> scores [B,L] f32; normalisation inside
    DIR/ranker.json                 the sidecar, with the sha256 of the model file

The temperature reaches the scores in one of two ways (sidecar ``beta_control``):
``input``: a Temperature-COS-DPO ranker takes log_beta itself; ``rescale``: a Weight-COS-DPO policy is
exported together with its frozen reference ranker and moved to beta' = exp(log_beta) with the
temperature rescaling of docs/method.md §5, scores' = f_ref + (trained_beta / beta') * (f_theta - f_ref).

The folder is built as a temporary sibling and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import ltr_cos
from ltr_cos.errors import InputError
from ltr_cos.export.loader import load_artifact
from ltr_cos.export.sidecar import ARTIFACT_FORMAT_VERSION, FORMATS, MODEL_FILES, SIDECAR_NAME, write_sidecar
from ltr_cos.files import atomic_folder, sha256_file
from ltr_cos.losses import apply_temperature_ratio
from ltr_cos.models import Ranker

ONNX_OPSET = 18
# Largest |artifact - eager| accepted by the check that export runs on the file it has just written.
PARITY_TOLERANCE = 1e-4


class _Score(nn.Module):
    """forward(features, mask) for unconditioned rankers."""

    def __init__(self, ranker: Ranker) -> None:
        super().__init__()
        self.ranker = ranker

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return self.ranker(features, mask, None, None)


class _ScoreWeights(_Score):
    """forward(features, mask, weights) for Weight-COS-DPO rankers."""

    def forward(self, features: Tensor, mask: Tensor, weights: Tensor) -> Tensor:
        return self.ranker(features, mask, weights, None)


class _ScoreWeightsBeta(_Score):
    """forward(features, mask, weights, log_beta) for Temperature-COS-DPO rankers."""

    def forward(self, features: Tensor, mask: Tensor, weights: Tensor, log_beta: Tensor) -> Tensor:
        return self.ranker(features, mask, weights, log_beta)


class _ScoreBeta(_Score):
    """forward(features, mask, log_beta) for rankers conditioned on the temperature only."""

    def forward(self, features: Tensor, mask: Tensor, log_beta: Tensor) -> Tensor:
        return self.ranker(features, mask, None, log_beta)


class _Rescaled(nn.Module):
    """forward(features, mask, log_beta): an unconditioned DPO policy moved to beta' = exp(log_beta)."""

    def __init__(self, ranker: Ranker, reference: Ranker, trained_beta: float) -> None:
        super().__init__()
        self.ranker = ranker
        self.reference = reference
        self.trained_beta = float(trained_beta)

    def _rescale(self, scores: Tensor, ref_scores: Tensor, log_beta: Tensor) -> Tensor:
        # ratio = trained / target beta (docs/method.md §5)
        return apply_temperature_ratio(scores, ref_scores, self.trained_beta / torch.exp(log_beta.to(torch.float32)))

    def forward(self, features: Tensor, mask: Tensor, log_beta: Tensor) -> Tensor:
        return self._rescale(
            self.ranker(features, mask, None, None), self.reference(features, mask), log_beta
        )


class _RescaledWeights(_Rescaled):
    """forward(features, mask, weights, log_beta): a Weight-COS-DPO policy moved to exp(log_beta)."""

    def forward(self, features: Tensor, mask: Tensor, weights: Tensor, log_beta: Tensor) -> Tensor:
        scores = self.ranker(features, mask, weights, None)
        return self._rescale(scores, self.reference(features, mask), log_beta)


class _OnnxNormalizer(nn.Module):
    """``FeatureNormalizer`` with a log1p that keeps float32 precision in ONNX.

    The ONNX exporter writes log1p(a) as Log(1 + a), which loses most digits for small a (ONNX Runtime:
    5e-5 relative error at a = 1e-3, 19% at 1e-7), and small raw features are common. Goldberg's form
    log1p(a) = log(u) * a / (u - 1), u = 1 + a (a where u == 1), is accurate to a few ulp with plain ops.
    """

    enabled: bool

    def __init__(self, normalizer: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", normalizer.mean.detach().clone())
        self.register_buffer("std", normalizer.std.detach().clone())
        self.enabled = bool(normalizer.enabled)

    def forward(self, features: Tensor) -> Tensor:
        if not self.enabled:
            return features
        a = torch.abs(features)
        u = a + 1.0
        log1p = torch.where(u == 1.0, a, torch.log(u) * (a / (u - 1.0)))
        return (torch.sign(features) * log1p - self.mean) / self.std


def _for_onnx(ranker: Ranker | None) -> Ranker | None:
    """A copy of the ranker whose normaliser exports to accurate ONNX (see ``_OnnxNormalizer``)."""
    if ranker is None:
        return None
    out = copy.deepcopy(ranker)
    out.normalizer = _OnnxNormalizer(ranker.normalizer)
    return out


def input_names(ranker: Ranker, rescaled: bool = False) -> list[str]:
    """The artifact's inputs for this ranker, in order (``rescaled``: exported with its reference)."""
    names = ["features", "mask"]
    if ranker.needs_weights:
        names.append("weights")
    if ranker.needs_log_beta or rescaled:
        names.append("log_beta")
    return names


def _wrap(ranker: Ranker, reference: Ranker | None = None, trained_beta: float | None = None) -> nn.Module:
    if reference is not None:
        wrapper = _RescaledWeights if ranker.needs_weights else _Rescaled
        return wrapper(ranker, reference, float(trained_beta)).eval()
    wrappers = {
        (False, False): _Score,
        (True, False): _ScoreWeights,
        (True, True): _ScoreWeightsBeta,
        (False, True): _ScoreBeta,
    }
    return wrappers[(ranker.needs_weights, ranker.needs_log_beta)](ranker).eval()


def example_inputs(
    ranker: Ranker, batch: int = 3, n_candidates: int = 7, seed: int = 0, rescaled: bool = False
) -> tuple[Tensor, ...]:
    """Random inputs in the artifact's order: padded lists, one of them empty, weights on the simplex."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, n_candidates, ranker.n_features, generator=g) * 2.0
    lengths = torch.randint(1, n_candidates + 1, (batch,), generator=g)
    lengths[0] = n_candidates
    if batch > 2:
        lengths[-1] = 0
    mask = torch.arange(n_candidates).unsqueeze(0) < lengths.unsqueeze(1)  # [B, L]
    out: list[Tensor] = [features, mask]
    if ranker.needs_weights:
        gamma = -torch.log(torch.rand(batch, ranker.n_weights, generator=g).clamp_min(1e-6))
        out.append(gamma / gamma.sum(-1, keepdim=True))  # Dirichlet(1) draws
    if ranker.needs_log_beta or rescaled:
        out.append(torch.rand(batch, generator=g) * 4.0 - 2.0)
    return tuple(out)


def _check_info(ranker: Ranker, info: dict[str, Any]) -> None:
    n = info.get("n_features")
    if n is not None and int(n) != ranker.n_features:
        raise InputError(f"info says n_features={n} but the ranker takes {ranker.n_features} features")
    ids = info.get("feature_ids")
    if ids is not None and len(ids) != ranker.n_features:
        raise InputError(
            f"info lists {len(ids)} feature_ids but the ranker takes {ranker.n_features} features"
        )
    weighted = info.get("weighted_objectives")
    if ranker.needs_weights and weighted and len(weighted) != ranker.n_weights:
        raise InputError(
            f"info lists {len(weighted)} weighted objectives but the ranker takes {ranker.n_weights} weights"
        )
    beta_range = info.get("beta_range")
    if beta_range is not None and (
        len(beta_range) != 2 or not 0 < float(beta_range[0]) <= float(beta_range[1])
    ):
        raise InputError(
            f"info beta_range must be [beta_min, beta_max] with 0 < min <= max, got {beta_range}"
        )


def _check_reference(ranker: Ranker, reference: Ranker, info: dict[str, Any]) -> float:
    """Validate a reference ranker for temperature rescaling (docs/method.md §5); returns the trained beta."""
    if not isinstance(reference, Ranker):
        raise InputError(f"the reference must be a ltr_cos Ranker, got {type(reference).__name__}")
    if ranker.needs_log_beta:
        raise InputError(
            "a Temperature-COS-DPO ranker takes log_beta itself; export it without a reference ranker"
        )
    if reference.conditioner is not None:
        raise InputError("the reference ranker must be unconditioned (the frozen stage-1 ranker)")
    if reference.n_features != ranker.n_features:
        raise InputError(
            f"the reference ranker takes {reference.n_features} features but the policy takes "
            f"{ranker.n_features}"
        )
    beta = info.get("beta")
    if beta is None or not 0 < float(beta) < float("inf"):
        raise InputError(f"rescaling needs the trained beta (info['beta'] > 0), got {beta!r}")
    return float(beta)


def _sidecar(
    ranker: Ranker, fmt: str, model_file: Path, info: dict[str, Any], rescaled: bool = False
) -> dict[str, Any]:
    n_weights = ranker.n_weights if ranker.needs_weights else 0
    shapes = {
        "features": ["B", "L", ranker.n_features],
        "mask": ["B", "L"],
        "weights": ["B", n_weights],
        "log_beta": ["B"],
    }
    dtypes = {"features": "float32", "mask": "bool", "weights": "float32", "log_beta": "float32"}
    config = ranker.config
    normalization = config.normalization
    weighted = info.get("weighted_objectives")
    return {
        "format_version": ARTIFACT_FORMAT_VERSION,
        "ltr_cos_version": ltr_cos.__version__,
        "torch_version": torch.__version__,
        "format": fmt,
        "model_file": model_file.name,
        "sha256": sha256_file(model_file),
        "onnx_opset": ONNX_OPSET if fmt == "onnx" else None,
        "inputs": [
            {"name": k, "dtype": dtypes[k], "shape": shapes[k]} for k in input_names(ranker, rescaled)
        ],
        "outputs": [{"name": "scores", "dtype": "float32", "shape": ["B", "L"]}],
        "n_features": ranker.n_features,
        "feature_ids": list(info["feature_ids"]) if info.get("feature_ids") is not None else None,
        "n_source_features": config.n_source_features,
        "objective_names": list(info.get("objective_names") or []),
        "weighted_objectives": list(weighted) if weighted is not None else [],
        "n_weights": n_weights,
        "conditioning": ranker.conditioning,
        "temperature_conditioning": ranker.needs_log_beta,
        "beta": info.get("beta"),
        "beta_range": list(info["beta_range"]) if info.get("beta_range") is not None else None,
        # how log_beta acts: "input" (Temperature-COS-DPO), "rescale" (docs/method.md §5, with the embedded
        # reference ranker, exact at trained_beta), or None (no temperature input)
        "beta_control": "rescale" if rescaled else ("input" if ranker.needs_log_beta else None),
        "trained_beta": float(info["beta"]) if rescaled else info.get("beta"),
        "stage": info.get("stage"),
        "normalization": normalization["kind"] if normalization else None,
        "ranker_config": config.to_dict(),
    }


def _write_torchscript(module: nn.Module, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", FutureWarning
        )  # torch.jit.script is deprecated upstream, still supported
        scripted = torch.jit.script(module)
    scripted.save(str(path))


def _write_onnx(module: nn.Module, example: tuple[Tensor, ...], names: list[str], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    n_candidates = torch.export.Dim("candidates", min=1)
    axes = {
        "features": {0: batch, 1: n_candidates},
        "mask": {0: batch, 1: n_candidates},
        "weights": {0: batch},
        "log_beta": {0: batch},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=names,
            output_names=["scores"],
            opset_version=ONNX_OPSET,
            dynamo=True,
            external_data=False,  # one self-contained file
            dynamic_shapes={name: axes[name] for name in names},
            verbose=False,
        )


def export_ranker(
    ranker: Ranker,
    out_dir: str | os.PathLike,
    format: str = "torchscript",  # the user-facing name of the option
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
    verify: bool = True,
    reference: Ranker | None = None,
) -> Path:
    """Export a ranker (eval mode, CPU, float32) with its normalisation and a JSON sidecar.

    Args:
        ranker: the model; it is copied, never changed.
        out_dir: the artifact folder to create.
        format: ``torchscript`` or ``onnx`` (opset 18, dynamic B and L axes).
        info: checkpoint facts for the sidecar (``LoadedRanker.info``): objective_names,
            weighted_objectives, feature_ids, beta, beta_range, stage, n_features.
        overwrite: replace an existing non-empty ``out_dir``.
        verify: run the written file on random padded inputs and require agreement with the eager model.
        reference: the frozen reference ranker of a Weight-COS-DPO (or DPO-LS) policy. When given, it
            goes inside the artifact, which then takes log_beta [B] and applies the rescaling of docs/method.md §5
            f_ref + (trained_beta / beta') (f_theta - f_ref), trained_beta = ``info["beta"]``.

    Returns:
        The artifact folder.
    """
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {list(FORMATS)}")
    if not isinstance(ranker, Ranker):
        raise InputError(f"export_ranker takes a ltr_cos Ranker, got {type(ranker).__name__}")
    info = dict(info or {})
    _check_info(ranker, info)
    trained_beta = None if reference is None else _check_reference(ranker, reference, info)
    rescaled = reference is not None
    out_dir = Path(out_dir)
    model = copy.deepcopy(ranker).cpu().float().eval()
    ref_model = None if reference is None else copy.deepcopy(reference).cpu().float().eval()
    module = _wrap(model, ref_model, trained_beta)
    names = input_names(model, rescaled)
    with atomic_folder(out_dir, overwrite=overwrite, marker=SIDECAR_NAME) as tmp:
        model_file = tmp / MODEL_FILES[format]
        if format == "torchscript":
            _write_torchscript(module, model_file)
        else:
            onnx_module = _wrap(_for_onnx(model), _for_onnx(ref_model), trained_beta)
            _write_onnx(onnx_module, example_inputs(model, rescaled=rescaled), names, model_file)
        sidecar = _sidecar(model, format, model_file, info, rescaled)
        if ref_model is not None:
            sidecar["reference_config"] = ref_model.config.to_dict()
        write_sidecar(tmp, sidecar)
        if verify:
            _verify(tmp, module)
    return out_dir


def _verify(folder: Path, module: nn.Module) -> None:
    """Score random padded inputs (two list lengths) with the written artifact and the eager model."""
    artifact = load_artifact(folder)
    for batch, n_candidates in ((3, 7), (2, 3)):
        inputs = example_inputs(
            module.ranker, batch, n_candidates, seed=n_candidates, rescaled=hasattr(module, "reference")
        )
        with torch.inference_mode():
            expected = module(*inputs).numpy()
        got = artifact.run(*(t.numpy() for t in inputs))
        err = float(abs(got - expected).max())
        if not err <= PARITY_TOLERANCE:
            raise RuntimeError(
                f"exported {artifact.format} artifact disagrees with the model: max |diff| {err:.3g}"
            )
