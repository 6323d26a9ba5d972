"""Which process runs a cell, when several processes work through one run folder (`--join`).

A process claims a cell by holding an OS file lock on `cells/<stem>.lock` while it runs it. The lock goes with the
process: a killed one leaves no stale claim, and the cell's step checkpoints let the next claimant continue it.
Locks are those of one machine's file system (flock); processes on other machines sharing a network folder are
not told apart reliably, so a run is joined from the machine it runs on.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from filelock import FileLock, Timeout


class CellClaim:
    """The claim on one cell's lock file: taken without waiting, or waited for; released when the cell is saved."""

    def __init__(self, cell_file: Path) -> None:
        cell_file.parent.mkdir(parents=True, exist_ok=True)
        self.cell_file = cell_file
        self.lock = FileLock(cell_file.with_suffix(".lock"))
        self.unlocked = False

    def take(self, wait: bool) -> bool:
        """Take the claim: at once or not at all (`wait` False), or once the process holding it lets go.

        On a file system without locks (some network mounts) the claim is taken without one and `unlocked` says so:
        the run goes on as a single process would, but processes joined to it may run a cell twice.
        """
        try:
            self.lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            return False
        except OSError:  # e.g. ENOLCK: no lock service for this mount
            self.unlocked = True
        return True

    def release(self) -> None:
        """Let the cell go; once it is finished (its file written) the lock file is removed too.

        A process still waiting on the removed file then finds the cell finished, as does one that makes a new one.
        """
        if self.unlocked:
            return
        if self.cell_file.is_file():
            with contextlib.suppress(OSError):  # where an open file cannot be removed (Windows) it stays, harmless
                Path(self.lock.lock_file).unlink()
        self.lock.release()
