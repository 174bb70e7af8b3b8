"""The ``ltr-cos`` command.

``fit``, ``validate``, ``test`` and ``predict`` go to the Lightning CLI (``ltr_cos.training.cli``);
every other subcommand is a small argparse program in ``ltr_cos.commands``, imported only when used
so that ``ltr-cos data convert`` does not pay for Lightning's import.
"""

from __future__ import annotations

import importlib
import os
import sys

from ltr_cos.errors import DEBUG_ENV, user_error_message

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

# subcommand -> (module, help line). Each module exposes ``main(argv: list[str]) -> int``.
EXTRA_COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("ltr_cos.commands.data", "convert, synthesise, fetch and inspect ranking datasets"),
    "pareto": ("ltr_cos.commands.pareto", "evaluate a conditioned ranker over the weight grid"),
    "export": ("ltr_cos.commands.export", "export a ranker with a runtime weight input (TorchScript/ONNX)"),
    "rank": ("ltr_cos.commands.rank", "score and rank a LibSVM file with an exported ranker"),
    "llm": ("ltr_cos.commands.llm", "COS-DPO for causal language models"),
    "serve": ("ltr_cos.commands.serve", "HTTP ranking service with per-request weights, and the explorer page"),
}


def _usage() -> str:
    lines = [
        "usage: ltr-cos <command> [options]",
        "",
        "Multi-objective learning-to-rank with COS-DPO.",
        "",
        "training (Lightning CLI; `ltr-cos fit -h` for options):",
    ]
    for name in LIGHTNING_COMMANDS:
        lines.append(f"  {name:<10} {name} a ranker from a config (--config FILE, repeatable)")
    lines.append("")
    lines.append("tools:")
    for name, (_, help_line) in EXTRA_COMMANDS.items():
        lines.append(f"  {name:<10} {help_line}")
    lines.append("")
    lines.append("`ltr-cos <command> -h` shows the options of one command. User errors print one line;")
    lines.append("--debug (or LTR_COS_DEBUG=1) adds the traceback, for bug reports.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``ltr-cos``. User errors print one line (``ltr-cos: error: ...``) and return 2; ``--debug`` (or
    the environment variable LTR_COS_DEBUG=1) shows their traceback too, for bug reports."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("ltr-cos: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None or debug:
            raise
        print(f"ltr-cos: error: {message}", file=sys.stderr)
        return 2


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from ltr_cos import __version__

        print(f"ltr-cos {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_COMMANDS:
        from ltr_cos.training.cli import run_lightning_cli

        run_lightning_cli([command, *rest])
        return 0
    if command in EXTRA_COMMANDS:
        module = importlib.import_module(EXTRA_COMMANDS[command][0])
        return int(module.main(rest) or 0)
    print(f"ltr-cos: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
