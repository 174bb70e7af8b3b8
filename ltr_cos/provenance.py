"""Where a result came from: the git commit of the code that produced it (run folders, benchmark reports)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(where: str | Path | None = None) -> str | None:
    """The commit checked out at ``where`` (default: this package's folder), ``-dirty`` when tracked files
    changed; None outside a git checkout or without git."""
    here = Path(where) if where is not None else Path(__file__).parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, check=False, text=True,
                             timeout=10)
        commit = out.stdout.strip() if out.returncode == 0 else None
        if commit:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                   capture_output=True, text=True, timeout=10, check=False)
            if dirty.stdout.strip():
                commit += "-dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None
