"""Exported rankers: TorchScript / ONNX artifacts with a run-time weight input, and their loader.

Imported lazily, so that ``ltr_cos.export.sidecar`` (torch-free) is usable without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FORMATS": "ltr_cos.export.sidecar",
    "SIDECAR_NAME": "ltr_cos.export.sidecar",
    "export_ranker": "ltr_cos.export.artifact",
    "ExportedRanker": "ltr_cos.export.loader",
    "load_artifact": "ltr_cos.export.loader",
}

__all__ = ["FORMATS", "SIDECAR_NAME", "ExportedRanker", "export_ranker", "load_artifact"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ltr_cos.export' has no attribute {name!r}")
