"""How every benchmark script writes its figures: one '## ' section each in docs/benchmarks.md, raw numbers as JSON."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def replace_section(doc: str | Path, text: str, header: str) -> None:
    """Replace the '## ' section whose heading is `header`, or starts with `header (`, by `text`; or append it.

    The section runs to the next '## ' heading; the other sections stay as they were. A missing file starts as
    '# Benchmarks'. The doc is written to a temporary file and renamed, so it is never left half-written.
    """
    doc = Path(doc)
    lines = doc.read_text().splitlines() if doc.exists() else ["# Benchmarks", ""]
    start = next((i for i, ln in enumerate(lines) if ln.strip() == header or ln.startswith(header + " (")), None)
    if start is None:
        body = lines + ([""] if lines and lines[-1].strip() else []) + text.rstrip("\n").splitlines()
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = lines[end:]
        body = lines[:start] + text.rstrip("\n").splitlines() + ([""] + tail if tail else [])
    doc.parent.mkdir(parents=True, exist_ok=True)
    mode = doc.stat().st_mode & 0o777 if doc.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{doc.name}.", dir=doc.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(body) + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, doc)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(res: dict, text: str, out: str, write: str, header: str, indent: int = 2) -> None:
    """The raw numbers to the JSON file `out` and the section `text` into the markdown file `write`, each if named."""
    if out:
        Path(out).write_text(json.dumps(res, indent=indent) + "\n")
    if write:
        replace_section(Path(write), text, header)


def shown_command(script: str, argv: list[str], dropped: tuple[str, ...]) -> str:
    """The command line a section shows: `script` and its arguments without the `dropped` flags and their values.

    Output paths and prose are not part of what was measured.
    """
    shown = list(argv)
    for flag in dropped:
        while flag in shown:
            i = shown.index(flag)
            del shown[i:i + 2]
    return " ".join([script, *shown])
