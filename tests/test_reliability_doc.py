"""docs/reliability.md stays true: every test it names exists, and the case count it states is the count of rows."""
import re

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
