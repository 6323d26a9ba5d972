"""Real write failures for the full-disk tests: a file-size limit in a child process (RLIMIT_FSIZE with SIGXFSZ
ignored, so a write past it fails with EFBIG, as `ulimit -f` does in a shell) and a tiny tmpfs (a genuine ENOSPC),
mounted where this machine lets the test (root, mount allowed) and skipped with the reason where it does not."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """A preexec_fn: writes past `max_bytes` fail with EFBIG in the child instead of killing it with SIGXFSZ."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def run_python(args: list[str], limit: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python *args` in the repository, optionally under a file-size limit; stdout and stderr captured as text."""
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=file_size_limit(limit) if limit else None)


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that report an error (progress bars and warnings left out)."""
    return [line for line in stderr.splitlines() if "error" in line.lower()]


def assert_clean_failure(proc: subprocess.CompletedProcess) -> str:
    """Exit 2 with one error line, no traceback, no h5py message printed at object deallocation, no crash; returns
    the line."""
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-3000:]
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def hidden_files(folder: Path) -> list[str]:
    """Staging and temp files (hidden names) left anywhere under `folder`."""
    return sorted(str(p) for p in folder.rglob(".*") if p.is_file())


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. '1m') mounted at `where` for the block; pytest.skip with the reason where mounting is
    not allowed (not root, no mount, a container without the capability)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs for a genuine ENOSPC needs root and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk of `folder` with one file until a write fails with ENOSPC, then give back `leave` bytes."""
    filler = folder / "filler.bin"
    block = b"\0" * 2 ** 16
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
