"""The artifact sidecar (``ranker.json``): written by the exporter, read and checked by the loader.

Torch-free, so that reading an artifact's description (a server's ``/metadata``, ``ltr-cos rank``'s
checks) needs neither torch nor the exporter. The sidecar records the model file's sha256 and a sha256
of its own content: a model file swapped or a sidecar field edited by hand (feature ids, objective names,
beta) is refused, never silently used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_write_text, sha256_bytes, sha256_file

ARTIFACT_FORMAT_VERSION = 2
FORMATS = ("torchscript", "onnx")
MODEL_FILES = {"torchscript": "model.pt", "onnx": "model.onnx"}
SIDECAR_NAME = "ranker.json"
CONTENT_HASH_KEY = "content_sha256"
REQUIRED_KEYS = ("format", "model_file", "inputs", "n_features", "sha256", "ranker_config")


def content_hash(info: dict[str, Any]) -> str:
    """sha256 of the sidecar's content (every key but the content hash itself), in canonical JSON."""
    body = {k: v for k, v in info.items() if k != CONTENT_HASH_KEY}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def write_sidecar(folder: Path, info: dict[str, Any]) -> Path:
    """Write ``ranker.json`` into ``folder`` with its content hash."""
    info = {**info, CONTENT_HASH_KEY: content_hash(info)}
    return atomic_write_text(folder / SIDECAR_NAME, json.dumps(info, indent=2) + "\n")


def find_sidecar(path: Path) -> Path:
    """The sidecar of an artifact folder, of its model file, or the sidecar itself."""
    if path.is_dir():
        return path / SIDECAR_NAME
    if path.suffix == ".json":
        return path
    return path.parent / SIDECAR_NAME  # the model file itself


def read_sidecar(path: str | Path, check_hash: bool = True) -> tuple[Path, dict[str, Any]]:
    """Read and check an artifact's sidecar; returns (artifact folder, sidecar dict).

    Checks: JSON, the required keys, the format version, the format, the content hash (no field edited),
    the model file's location (inside the artifact folder) and, with ``check_hash``, its sha256.

    Raises:
        InputError: naming the file and what is wrong.
    """
    sidecar = find_sidecar(Path(path))
    if not sidecar.is_file():
        raise InputError(f"not an exported ltr_cos ranker (no {SIDECAR_NAME} beside it)", str(path))
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the sidecar: {exc}", str(sidecar)) from None
    if not isinstance(info, dict):
        raise InputError("the sidecar is not a JSON object", str(sidecar))
    if info.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise InputError(f"unsupported artifact format_version {info.get('format_version')!r} (this ltr_cos reads "
                         f"{ARTIFACT_FORMAT_VERSION}); re-export the checkpoint with this version", str(sidecar))
    missing = [key for key in REQUIRED_KEYS if key not in info]
    if missing:
        raise InputError(f"sidecar lacks {', '.join(map(repr, missing))}", str(sidecar))
    if info.get(CONTENT_HASH_KEY) != content_hash(info):
        raise InputError("the sidecar's content does not match its content_sha256: it was edited after export "
                         "(feature ids, objectives or beta would no longer describe the model); re-export it",
                         str(sidecar))
    if info["format"] not in FORMATS:
        raise InputError(f"unknown artifact format {info['format']!r}; expected one of {list(FORMATS)}", str(sidecar))
    folder = sidecar.parent
    name = str(info["model_file"])
    model_file = folder / name
    if Path(name).name != name or model_file.resolve().parent != folder.resolve():
        raise InputError(f"the sidecar's model_file {name!r} must be a file inside the artifact folder", str(sidecar))
    if not model_file.is_file():
        raise InputError("model file listed by the sidecar is missing", str(model_file))
    if check_hash and sha256_file(model_file) != info["sha256"]:
        raise InputError("model file does not match the sha256 in ranker.json (changed or corrupt)", str(model_file))
    return folder, info
