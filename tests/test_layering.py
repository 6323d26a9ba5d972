"""Layering: the library (crossmodal/) never imports the top-level `eval` package (the command-line tools and
reports built on top of it)."""
import ast

from conftest import REPO

LIBRARY = REPO / "crossmodal"
FORBIDDEN = "eval"


def eval_imports(source: str, filename: str = "<string>") -> list[str]:
    """'line: statement' for every import of the top-level `eval` package (or a module under it) in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == FORBIDDEN or n.startswith(FORBIDDEN + ".") for n in names):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_sees_every_form_of_import():
    src = "import eval\nimport eval.report as r\nfrom eval import report\nfrom eval.metrics import ConfusionMatrix\n"
    assert len(eval_imports(src)) == 4
    ok = ("import evaluate\nfrom crossmodal.stages.supervised import evaluate_segmenter\nfrom . import eval\n"
          "from evaluation import x\nfrom crossmodal.downstream.evaluate import evaluate_model\n")
    assert eval_imports(ok) == []


def test_library_does_not_import_the_eval_package():
    files = sorted(LIBRARY.rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(REPO)): hits for f in files
                 if (hits := eval_imports(f.read_text(encoding="utf-8"), str(f)))}
    assert not offenders, f"crossmodal/ must not import the top-level eval package: {offenders}"
