"""The code stays in the shape CONTRIBUTING.md describes.

Short functions in the library, small files everywhere, no private names imported across modules, and the layers
kept apart (config is torch-free, data knows no training; tests/test_layering.py keeps eval out of the library).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PACKAGES = ("crossmodal", "data_tools", "eval", "benchmarks")
MAX_FUNCTION_LINES = 60  # in crossmodal/, the library others build on
MAX_FILE_LINES = 500


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO / pkg).rglob("*.py")) + [REPO / "run_transfer.py"]


def _imports(path: Path) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)]


def test_library_functions_are_short() -> None:
    long = []
    for path in _sources("crossmodal")[:-1]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_source_files_are_small() -> None:
    big = [f"{p.relative_to(REPO)} ({n} lines)" for p in _sources(*PACKAGES)
           if (n := p.read_text().count("\n")) > MAX_FILE_LINES]
    assert not big, f"files over {MAX_FILE_LINES} lines: {big}"


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [f"{p.relative_to(REPO)}: from {node.module} import {alias.name}"
               for p in _sources(*PACKAGES) for node in _imports(p) for alias in node.names
               if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, private


@pytest.mark.parametrize("package, forbidden", [
    ("crossmodal/data", ("crossmodal.stages", "crossmodal.distill", "crossmodal.downstream",
                         "crossmodal.config.distillers")),  # data knows neither training loops nor distillers
    ("crossmodal/config", ("crossmodal.stages", "crossmodal.models", "crossmodal.distill", "crossmodal.data",
                           "crossmodal.downstream", "torch")),
])
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = []
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0]
        wrong += [f"{path.relative_to(REPO)} imports {m}" for m in names
                  if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not wrong, wrong


def test_loading_a_config_imports_no_torch() -> None:
    """The declarations in crossmodal/config/ are checked before anything heavy loads."""
    code = ("import sys; from crossmodal.config import load_config; "
            f"load_config({str(REPO / 'configs' / 'study_quick.yaml')!r}, ['methods=[none,crd,kd,crd_dense+kd]']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False", out.stderr
