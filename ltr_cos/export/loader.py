"""Load an exported ranker (TorchScript or ONNX Runtime) and score with validated inputs."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ltr_cos.errors import InputError
from ltr_cos.export.features import reorder_columns
from ltr_cos.export.sidecar import read_sidecar
from ltr_cos.objectives import check_simplex


class ExportedRanker:
    """An exported ranker plus its sidecar.

    Attributes:
        path: the artifact folder.
        info: the sidecar dict (n_features, feature_ids, objective_names, weighted_objectives, n_weights,
            conditioning, temperature_conditioning, beta, beta_range, format, ltr_cos_version, sha256, ...).
        format: ``torchscript`` or ``onnx``.
        input_names: the model's inputs in order (features, mask[, weights][, log_beta]).
    """

    def __init__(self, path: Path, info: dict[str, Any], threads: int | None = None) -> None:
        self.path = path
        self.info = info
        self.format = info["format"]
        self.input_names = [spec["name"] for spec in info["inputs"]]
        model_file = path / info["model_file"]
        if self.format == "torchscript":
            import torch

            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", FutureWarning
                )  # torch.jit is deprecated upstream, still supported
                module = torch.jit.load(str(model_file), map_location="cpu").eval()
                # parameters become constants: about 5% off the p50 of one small query
                self._module = torch.jit.freeze(module)
            self._session = None
        elif self.format == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = int(threads)
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            self._module = None
        else:
            raise InputError(f"unknown artifact format {self.format!r}", str(path / "ranker.json"))

    @property
    def n_features(self) -> int:
        return int(self.info["n_features"])

    @property
    def n_weights(self) -> int:
        return int(self.info.get("n_weights") or 0)

    @property
    def needs_weights(self) -> bool:
        return "weights" in self.input_names

    @property
    def needs_beta(self) -> bool:
        """True when the artifact has a log_beta input (temperature model or temperature rescaling, docs/method.md §5)."""
        return "log_beta" in self.input_names

    @property
    def beta_control(self) -> str | None:
        """``input`` (Temperature-COS-DPO), ``rescale`` (docs/method.md §5, with the embedded reference) or None."""
        if "beta_control" in self.info:
            return self.info["beta_control"]
        return "input" if self.needs_beta else None  # sidecars written before beta_control existed

    @property
    def trained_beta(self) -> float | None:
        """The beta the model was trained with (the default temperature of a rescaling artifact)."""
        value = self.info.get("trained_beta", self.info.get("beta"))
        return None if value is None else float(value)

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Run the model on already-validated arrays in ``input_names`` order; float32 [B, L] scores."""
        if self._session is not None:
            return self._session.run(["scores"], dict(zip(self.input_names, inputs)))[0]
        import torch

        with torch.inference_mode():
            return self._module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs)).numpy()

    def score(
        self,
        features: Any,
        mask: Any = None,
        weights: Any = None,
        beta: Any = None,
        log_beta: Any = None,
        feature_ids: Any = None,
    ) -> np.ndarray:
        """Validate the inputs, then score.

        Args:
            features: float [B, L, F], or [L, F] for one query.
            mask: bool [B, L] (or [L]); None = every candidate is real.
            weights: [m] (the same for every query) or [B, m]: non-negative, finite, summing to 1.
                Required by weight-conditioned models, refused by the others.
            beta: DPO temperature > 0, a scalar or [B]; or ``log_beta`` instead. Required by
                Temperature-COS-DPO models. A Weight-COS-DPO artifact exported with its reference
                ranker (``beta_control == "rescale"``) moves to it with the temperature rescaling of docs/method.md §5 and defaults
                to its trained beta. Refused by artifacts without a temperature input.
            feature_ids: the 1-based source feature ids of the last axis of ``features``, when they are not
                already the artifact's ``feature_ids`` in order: the columns are checked (missing and extra
                ids are refused, naming them) and put in the model's order.

        Returns:
            float32 scores [B, L] ([L] for one query); padding positions are 0.

        Raises:
            InputError: for a wrong shape or feature count, non-finite features, bad weights or beta.
        """
        x = np.asarray(features, dtype=np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3:
            raise InputError(f"features must be [B, L, F] (or [L, F] for one query), got shape {x.shape}")
        if feature_ids is not None:
            x = reorder_columns(x, feature_ids, self.info)
        if x.shape[2] != self.n_features:
            raise InputError(f"this model takes {self.n_features} features per candidate, got {x.shape[2]}")
        b, n = x.shape[:2]
        if mask is None:
            m = np.ones((b, n), dtype=bool)
        else:
            m = np.asarray(mask)
            if single and m.ndim == 1:
                m = m[None]
            if m.shape != (b, n):
                raise InputError(f"mask must be [B, L] = [{b}, {n}], got shape {m.shape}")
            if m.dtype != bool:
                if not np.isin(m, (0, 1)).all():
                    raise InputError("mask must be boolean (or 0/1)")
                m = m.astype(bool)
        if not np.isfinite(x[m]).all():
            raise InputError("features of real candidates must be finite (found NaN or inf)")
        inputs: list[np.ndarray] = [np.ascontiguousarray(x), np.ascontiguousarray(m)]
        if self.needs_weights:
            inputs.append(self._check_weights(weights, b))
        elif weights is not None:
            raise InputError("this model is not conditioned on weights; do not pass weights")
        if self.needs_beta:
            if beta is None and log_beta is None and self.beta_control == "rescale":
                beta = self.trained_beta
            inputs.append(self._check_log_beta(beta, log_beta, b))
        elif beta is not None or log_beta is not None:
            raise InputError(
                "this model is not conditioned on beta and has no reference ranker to rescale with "
                "(docs/method.md §5); export a Weight-COS-DPO checkpoint without --fixed-beta for run-time beta"
            )
        scores = self.run(*inputs)
        return scores[0] if single else scores

    def _check_weights(self, weights: Any, batch: int) -> np.ndarray:
        m = self.n_weights
        names = self.info.get("weighted_objectives") or []
        if weights is None:
            raise InputError(f"this model needs weights over {m} objectives {list(names)}")
        w = check_simplex(weights, m, names)
        if w.ndim == 1:
            w = np.broadcast_to(w, (batch, w.shape[0]))
        if w.shape[0] != batch:
            raise InputError(f"weights must be [m] or [B, m] with B = {batch}, got shape {np.shape(weights)}")
        return np.ascontiguousarray(w, dtype=np.float32)

    def _check_log_beta(self, beta: Any, log_beta: Any, batch: int) -> np.ndarray:
        if beta is not None and log_beta is not None:
            raise InputError("pass beta or log_beta, not both")
        if beta is None and log_beta is None:
            raise InputError(
                f"this model is conditioned on the temperature; pass beta (trained range "
                f"{self.info.get('beta_range')})"
            )
        if beta is not None:
            b = np.asarray(beta, dtype=np.float64)
            if not np.isfinite(b).all() or (b <= 0).any():
                raise InputError(f"beta must be finite and > 0, got {b.tolist()}")
            lb = np.log(b)
        else:
            lb = np.asarray(log_beta, dtype=np.float64)
            if not np.isfinite(lb).all():
                raise InputError(f"log_beta must be finite, got {lb.tolist()}")
        if lb.ndim == 0:
            lb = np.full(batch, float(lb))
        if lb.shape != (batch,):
            raise InputError(f"beta must be a scalar or [B] with B = {batch}, got shape {lb.shape}")
        beta_range = self.info.get("beta_range")
        # a rescaling artifact was trained at one beta; beta_range describes no training there
        if beta_range is not None and self.beta_control == "input":
            lo, hi = math.log(beta_range[0]), math.log(beta_range[1])
            if (lb < lo - 1e-6).any() or (lb > hi + 1e-6).any():
                warnings.warn(
                    f"beta outside the trained range {beta_range}: the model extrapolates", stacklevel=3
                )
        return lb.astype(np.float32)


def load_artifact(
    path: str | os.PathLike, threads: int | None = None, check_hash: bool = True
) -> ExportedRanker:
    """Open an artifact folder written by ``export_ranker`` (or its model file, or its sidecar).

    Args:
        path: the artifact folder, its ``model.*`` file or its ``ranker.json``.
        threads: ONNX Runtime intra-op threads (None = its default); TorchScript uses torch's setting.
        check_hash: compare the model file with the sidecar's sha256 first.

    Raises:
        InputError: missing or unreadable sidecar or model file, unknown format version, an edited sidecar,
            a model file outside the artifact folder, hash mismatch.
    """
    folder, info = read_sidecar(path, check_hash=check_hash)
    return ExportedRanker(folder, info, threads=threads)
