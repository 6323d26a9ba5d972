"""benchmarks/markdown_section.py: a benchmark's section is replaced in place.

Its heading may carry a parenthesised suffix. It is appended when absent, the file is created when missing, and the
other sections are left as they were.
"""
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def replace_section():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from markdown_section import replace_section
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return replace_section


def test_replaces_only_its_section_and_keeps_the_file_mode(tmp_path, replace_section):
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\n## A\n\nold a\n\n## B (machine X)\n\nold b\n\n## C\n\nc\n")
    doc.chmod(0o640)
    replace_section(doc, "## B (machine Y)\n\nnew b\n", "## B")
    assert doc.read_text() == "# Benchmarks\n\n## A\n\nold a\n\n## B (machine Y)\n\nnew b\n\n## C\n\nc\n"
    assert doc.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["b.md"]  # no temporary file left behind


def test_appends_when_absent_and_creates_a_missing_file(tmp_path, replace_section):
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\n## Bx\n\nkept\n")  # a heading that merely starts with the name is another one
    replace_section(doc, "## B\n\nnew\n", "## B")
    assert doc.read_text() == "# Benchmarks\n\n## Bx\n\nkept\n\n## B\n\nnew\n"
    fresh = tmp_path / "sub" / "new.md"
    replace_section(fresh, "## B\n\nnew\n", "## B")
    assert fresh.read_text() == "# Benchmarks\n\n## B\n\nnew\n"
