"""The import directions of ARCHITECTURE.md, checked by walking every module's imports."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ltr_cos"

# Lower layers never import higher ones; packages of one layer never import each other.
LAYERS = {
    "types": 0, "objectives": 0, "errors": 0, "files": 0, "provenance": 0, "progress": 0,
    "losses": 1, "metrics": 1, "models": 1, "data": 1, "pareto": 1,
    "training": 2, "export": 2,
    "llm": 3,
    "commands": 4, "cli": 4, "serve": 4,
}
# Third-party libraries confined to a few places (module path prefixes relative to ltr_cos/).
CONFINED = {
    "matplotlib": ("pareto/plots.py", "commands/"),
    "transformers": ("llm/",),
    "peft": ("llm/",),
    "onnx": ("export/",),
    "onnxruntime": ("export/",),
    "allrank": (),
    # progress bars go through ltr_cos.progress (terminals only); the converter and downloads check it too
    "tqdm": ("progress.py", "data/convert.py", "data/fetch.py"),
    "pytorch_lightning": ("training/", "data/datamodule.py", "llm/", "commands/"),
    "lightning": ("training/", "data/datamodule.py", "llm/", "commands/"),
    "fastapi": ("serve/", "commands/serve.py"),
    "uvicorn": ("serve/", "commands/serve.py"),
    "starlette": ("serve/", "commands/serve.py"),
}


def _modules(package: Path = PACKAGE):
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        yield rel, ast.parse(path.read_text(), filename=str(path))


def _module_name(rel: str) -> str:
    parts = ["ltr_cos", *rel.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree, rel: str = "", package: Path = PACKAGE):
    """Every module a file imports, at the top or inside functions; relative imports resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:  # from .x import y inside ltr_cos/<package>/<file>.py
                parts = _module_name(rel).split(".")
                if not rel.endswith("__init__.py"):
                    parts = parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            for alias in node.names:  # `from ltr_cos.x import y` may name the submodule ltr_cos.x.y
                yield f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}", package) else base


def _is_module(name: str, package: Path = PACKAGE) -> bool:
    if not name.startswith("ltr_cos."):
        return False
    path = package.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _top(rel: str) -> str:
    first = rel.split("/")[0]
    return first.removesuffix(".py")


def test_there_are_modules_to_check():
    assert len(list(_modules())) > 10


def test_import_directions():
    problems = []
    for rel, tree in _modules():
        own = _top(rel)
        if own == "__init__":
            continue
        for name in _imports(tree, rel):
            if not name.startswith("ltr_cos."):
                continue
            other = name.split(".")[1]
            if other == own or other not in LAYERS or own not in LAYERS:
                continue
            if LAYERS[other] > LAYERS[own] or (LAYERS[other] == LAYERS[own] and LAYERS[own] in (1, 2)):
                problems.append(f"{rel} imports {name}")
    assert not problems, "imports against ARCHITECTURE.md's direction:\n" + "\n".join(problems)


def _import_cycles(package: Path) -> list[str]:
    """Import cycles between the modules under ``package`` (imports inside functions included)."""
    graph: dict[str, set[str]] = {}
    for rel, tree in _modules(package):
        own = _module_name(rel)
        graph[own] = {name for name in _imports(tree, rel, package) if _is_module(name, package) and name != own}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for other in sorted(graph.get(node, ())):
            if state.get(other) == "open":
                cycles.append(" -> ".join([*path[path.index(other):], other]))
            elif other not in state:
                visit(other, [*path, other])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle():
    """No module of ltr_cos imports itself through others, counting imports made inside functions."""
    cycles = _import_cycles(PACKAGE)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check above can fail: two modules importing each other inside functions form a cycle."""
    pkg = tmp_path / "ltr_cos"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ltr_cos.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from . import a\n")
    assert _import_cycles(pkg) == ["ltr_cos.a -> ltr_cos.b -> ltr_cos.a"]


def test_confined_libraries():
    problems = []
    for rel, tree in _modules():
        for name in _imports(tree, rel):
            root = name.split(".")[0]
            if root in CONFINED and not rel.startswith(CONFINED[root]):
                problems.append(f"{rel} imports {name}")
    assert not problems, "libraries used outside their place:\n" + "\n".join(problems)


def test_core_import_is_light():
    """`import ltr_cos` and the data tools must not pull in Lightning, matplotlib or transformers."""
    code = (
        "import sys, ltr_cos, ltr_cos.cli, ltr_cos.objectives, ltr_cos.types;"
        "heavy = [m for m in ('pytorch_lightning', 'matplotlib', 'transformers', 'allrank') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_allrank_is_really_installed():
    """allRank is the test oracle: the real package, imported from site-packages."""
    pytest.importorskip("torch")
    import allrank
    from allrank.models.losses import neuralNDCG  # noqa: F401

    assert "site-packages" in allrank.__file__
