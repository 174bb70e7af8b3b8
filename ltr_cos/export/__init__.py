"""Exported rankers: TorchScript / ONNX artifacts with a run-time weight input, and their loader."""

from ltr_cos.export.artifact import FORMATS, SIDECAR_NAME, export_ranker
from ltr_cos.export.loader import ExportedRanker, load_artifact

__all__ = ["FORMATS", "SIDECAR_NAME", "ExportedRanker", "export_ranker", "load_artifact"]
