"""replace_section: how every benchmark script writes its figures into docs/benchmarks.md (one '## ' section each)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_section(doc: str | Path, text: str, header: str) -> None:
    """Replace the '## ' section whose heading is `header` (or starts with `header (`) by `text`, up to the next
    '## ' heading, or append it; the other sections stay as they were. A missing file starts as '# Benchmarks'.
    Written to a temporary file and renamed, so the doc is never left half-written."""
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
