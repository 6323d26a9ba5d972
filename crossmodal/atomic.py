"""Atomic file writes: write beside the target, rename over it at the end; nothing half-written is ever left.

Finished files get the mode a plain open() would give them (0666 less the umask), like every other output. A full
disk (quota, file-size limit) is reported as DiskFullError naming the target.
"""
from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from crossmodal.diskspace import as_disk_full


def current_umask() -> int:
    """The process umask, read from /proc where it can be (setting and restoring it races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_mode() -> int:
    """The permission bits of a new output file: what open() would give it under the current umask."""
    return 0o666 & ~current_umask()


def temp_path_beside(path: Path) -> Path:
    """Return a fresh hidden temp file next to `path`, so the final os.replace stays on one filesystem.

    It already has the output mode: mkstemp makes it 0600, which would otherwise survive the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, output_mode())
    return Path(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path`, on any exception it is deleted.

    The finished file gets the output mode. A full disk, quota or file-size limit raises DiskFullError naming `path`.
    """
    path = Path(path)
    try:
        tmp = temp_path_beside(path)
    except OSError as err:  # no room even for an empty file (or its folder)
        full = as_disk_full(err, path)
        if full is None:
            raise
        raise full from err
    try:
        yield tmp
        os.chmod(tmp, output_mode())  # the writer may have replaced the temp file with a new one
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        full = None if isinstance(err, (KeyboardInterrupt, SystemExit)) else as_disk_full(err, path)
        if full is None:
            raise
        raise full from err


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """Save with torch.save to a temporary file in the same folder, then rename: never a half-written checkpoint.

    torch is imported here, so this module stays importable without it. The bytes are made in memory and written with a
    plain write, whose OSError says ENOSPC/EFBIG (torch's own writer only says "unexpected pos").
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
