"""Output folders checked before any work: a folder that is a file, cannot be written, or sits on a nearly full disk
is refused at start with one line, not found out by a traceback after the training it was meant to keep."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from crossmodal.errors import UserError

MIN_FREE_BYTES = 100 * 2 ** 20  # below this a run cannot be trusted to write its checkpoints, figures and report


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists (the one the missing folders would be made in)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder", min_free: int = MIN_FREE_BYTES) -> None:
    """Raise UserError naming `what` and `path` unless `path` is (or can be made as) a writable folder with at least
    `min_free` bytes free on its disk."""
    path = Path(path)
    here = _existing(path)
    if not here.is_dir():
        blocker = "it" if here == Path(os.path.abspath(path)) else here
        raise UserError(f"{what} {path}: {blocker} is a file, not a folder; name a folder (or move the file away)")
    if not os.access(here, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: {here} is not writable by this user; choose a folder you can write to "
                        f"(or change its permissions)")
    free = shutil.disk_usage(here).free
    if free < min_free:
        raise UserError(f"{what} {path}: only {free / 2 ** 20:.0f} MiB free on its disk, at least "
                        f"{min_free / 2 ** 20:.0f} MiB needed; free some space or choose another disk")
