"""Progress bars only on terminals: a log or CI transcript gets none, from any command or benchmark."""

from __future__ import annotations

import io
import re
from pathlib import Path

from ltr_cos.progress import on_terminal, progress_bar

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not on_terminal()
    bar = progress_bar(range(3), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert on_terminal() and not progress_bar(total=3).disable
    assert progress_bar(total=3, enabled=False).disable


def test_every_bar_goes_through_ltr_cos_progress():
    """No tqdm bar that ignores where its output goes: each use in ltr_cos and benchmarks asks
    ``ltr_cos.progress``, and Lightning bars are turned on only for a terminal."""
    offenders = []
    for folder in ("ltr_cos", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            text = path.read_text()
            if rel == "ltr_cos/progress.py":
                continue
            if re.search(r"\btqdm\(", text) and "isatty()" not in text and "on_terminal(" not in text:
                offenders.append(f"{rel}: a tqdm bar that does not check for a terminal")
            for m in re.finditer(r"enable_progress_bar=(\w+)", text):
                if m.group(1) not in ("False", "progress"):
                    offenders.append(f"{rel}: enable_progress_bar={m.group(1)}")
            if "progress=True" in text:
                offenders.append(f"{rel}: progress=True")
    assert not offenders, offenders
