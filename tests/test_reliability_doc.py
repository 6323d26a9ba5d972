"""docs/reliability.md and the README stay true.

Every test the doc names exists, its case count is the count of rows, and the README states both that count and the
suite's test counts.
"""
import re

import pytest

from conftest import REPO


def test_every_named_test_exists_and_the_count_is_right():
    text = (REPO / "docs" / "reliability.md").read_text()
    missing = []
    for path, name in sorted(set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", text))):
        file = REPO / path
        if not file.is_file() or not re.search(rf"def {name}\b", file.read_text()):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
    rows = sum(1 for line in text.split("## Config", 1)[1].splitlines() if re.match(r"\| .* \| tests/", line))
    stated = int(re.search(r"\*\*(\d+) cases\*\*", text).group(1))
    assert stated == rows
    readme = (REPO / "README.md").read_text()
    assert f"{rows} cases" in readme, "the README states the case count of docs/reliability.md"


@pytest.mark.slow
def test_the_readme_states_the_suites_test_counts():
    """README's 'That is N of the M tests' (the quick loop of the whole suite) is what pytest collects."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow", "-p",
                          "no:cacheprovider", str(REPO / "tests")], cwd=REPO, capture_output=True, text=True,
                         timeout=300).stdout
    quick, total = (int(v) for v in re.search(r"(\d+)/(\d+) tests collected", out).groups())
    stated = re.search(r"That is (\d+) of the (\d+) tests", (REPO / "README.md").read_text())
    assert stated and (int(stated.group(1)), int(stated.group(2))) == (quick, total), \
        f"README states {stated and stated.groups()}; pytest collects {quick} quick of {total}"
