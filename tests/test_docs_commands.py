"""Every command shown in README.md and docs/*.md parses as written.

The README quick start runs for real (tests/test_readme.py), and so does the tutorial of docs/your-data.md
where it exists; here every other ``ltr-cos ...`` and ``python -m benchmarks....`` command of the docs is
parsed by the very parser that would run it: ``--print_config`` for the Lightning commands (it resolves
every ``--config`` file and key), the argparse parser of the command for the others. Synopses (``[--x]``,
``SRC...``) are not commands and are skipped; ``--config ...`` (your configs) stands for a data and a
model fragment.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "data" / "README.md"]
LIGHTNING = ("fit", "validate", "test", "predict")
YOUR_CONFIGS = "--config configs/data/synthetic.yaml --config configs/model/reference_mlp.yaml"


def _commands() -> list[tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        in_code = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                in_code = not in_code
                i += 1
                continue
            start = i
            if in_code:
                text = line.strip()
                while text.endswith("\\") and i + 1 < len(lines):  # continued lines
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                text = re.sub(r"\s+#.*$", "", text)  # a trailing comment
                text = re.sub(r"^(PYTHONPATH=\S+ )?(\.venv/bin/)?python3? ", "python ", text)
                text = re.sub(r"^python benchmarks/(\w+)\.py", r"python -m benchmarks.\1", text)
                if (text.startswith("ltr-cos ") or text.startswith("python -m benchmarks.")) and \
                        "[" not in text and not re.search(r"\w\.\.\.", text):
                    found.append((doc.name, start + 1, text.replace("--config ...", YOUR_CONFIGS)))
            i += 1
    return found


COMMANDS = _commands()


class _Parsed(Exception):
    """Raised by the patched parser once the arguments parsed: the command is never run."""


@pytest.fixture()
def parse_only(monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        result = original(self, args, namespace)
        if type(self) is argparse.ArgumentParser:  # jsonargparse's parsers (Lightning) are left alone
            raise _Parsed(result)
        return result

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)


def test_the_docs_show_commands():
    names = {doc for doc, _, _ in COMMANDS}
    assert {"README.md", "scaling.md", "serving.md", "llm.md"} <= names, names
    assert len(COMMANDS) > 25


@pytest.mark.parametrize("doc,line,command", COMMANDS, ids=[f"{d}:{n}" for d, n, _ in COMMANDS])
def test_documented_command_parses(doc, line, command, parse_only, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    argv = shlex.split(command)
    if argv[0] == "python":  # python -m benchmarks.NAME ...
        module = importlib.import_module(argv[2])
        run, args = module.main, argv[3:]
    else:
        from ltr_cos.cli import main as run

        args = argv[1:]
        if args[0] in LIGHTNING and "-h" not in args or args[:2] == ["llm", "fit"]:
            args = [*args, "--print_config"]  # parses and resolves every config, then exits 0
    try:
        code = run(args)
    except _Parsed:
        return
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, None), f"{doc}:{line}: `{command}` does not parse:\n{out.err[-2000:]}"
