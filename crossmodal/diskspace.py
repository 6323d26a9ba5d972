"""Full disks: recognise them, say so clearly, and check free space before writing.

"No space" is recognised however a library wraps it; the message names the file that could not be written and says
what to do. HDF5 files whose writes failed are closed without a crash, and free space is checked against what will
be written.

Output folders are checked before any work: a folder that is a file, cannot be written, or sits on a disk without
room for what the run will write is refused at start with one line, not found out after the training it was to keep.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from crossmodal.errors import UserError

if TYPE_CHECKING:  # h5py is imported where it is used: the run's config checks stay free of it
    import h5py

# What each errno means for the user, and what to do about it.
DISK_FULL: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on its disk (ENOSPC)", "free some space or write to another disk"),
    errno.EDQUOT: ("this user's disk quota is used up (EDQUOT)", "free space in the quota or write to another disk"),
    errno.EFBIG: ("the file-size limit of this process is reached (EFBIG, `ulimit -f`)",
                  "raise the limit (`ulimit -f unlimited`) or write smaller files"),
}
# HDF5's error stack quotes the OS error as "errno = 28, error message = 'No space left on device'", often inside
# an OSError whose own errno is None or a RuntimeError ("Can't decrement id ref count (...)").
_HDF5_ERRNO = re.compile(r"errno = (\d+)")
_STRERROR = {os.strerror(code): code for code in DISK_FULL}
# h5py.File options of a file being written: no chunk cache, so each chunk is written by the call that stores it
# and a full disk raises there. A cached chunk is written when h5py drops its dataset object, where HDF5's error is
# only printed ("Exception ignored in ObjectID.__dealloc__") and the file is left half-closed (a SIGSEGV later).
WRITE_OPTIONS = {"rdcc_nbytes": 0}
MARGIN_BYTES = 16 * 2 ** 20  # room kept free beyond an estimate: logs, reports, HDF5 metadata, file-system slack


# The hidden names outputs are written under before the rename: data_tools.common.staging_path
# (.NAME.<pid>.<hex>.staging) and crossmodal.atomic.temp_path_beside (.NAME.<random>.tmp).
_STAGED = re.compile(r"\.(?P<name>.+)\.(?:\d+\.[0-9a-f]{8}\.staging|[A-Za-z0-9_]{8}\.tmp)")


def output_name(path: str | os.PathLike) -> Path:
    """The output a staging or temp file becomes once renamed (the name users know); other paths unchanged."""
    path = Path(path)
    match = _STAGED.fullmatch(path.name)
    return path.with_name(match["name"]) if match else path


class DiskFullError(UserError):
    """A file could not be written because its disk, the user's quota or the file-size limit is full.

    What was being written is removed, and the message names the file and what to do.
    """

    def __init__(self, path: str | os.PathLike, code: int, removed: bool = True) -> None:
        reason, fix = DISK_FULL[code]
        self.path = output_name(path)
        self.errno = code
        super().__init__(f"{self.path}: cannot be written: {reason}; {fix}"
                         + (" (the partly written file was removed)" if removed else ""))


def disk_full_errno(err: BaseException) -> int | None:
    """Return ENOSPC, EDQUOT or EFBIG when `err` is a write refused for want of space; None otherwise.

    An exception `err` was raised from or during counts too. The errno is read from the error, or from the text of
    h5py's error stack.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DiskFullError):
            return e.errno
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return e.errno
        if isinstance(e, (OSError, RuntimeError)):  # h5py: OSError(errno None) or RuntimeError with HDF5's text
            text = str(e)
            for code in _HDF5_ERRNO.findall(text):
                if int(code) in DISK_FULL:
                    return int(code)
            for message, code in _STRERROR.items():
                if message in text:
                    return code
        todo += [e.__cause__, e.__context__]
    return None


def as_disk_full(err: BaseException, path: str | os.PathLike, removed: bool = True) -> DiskFullError | None:
    """Return a DiskFullError naming `path` when `err` is a full disk, quota or file-size limit; else None.

    A DiskFullError gives None too, since it already says so: re-raise that one as it is. With `removed`, the
    caller deletes what was partly written, and the message says so.
    """
    if isinstance(err, DiskFullError):
        return None
    code = disk_full_errno(err)
    return None if code is None else DiskFullError(path, code, removed)


def abandon_h5(f: h5py.File) -> None:
    """Close an HDF5 file that is to be deleted, whose writes may have failed.

    Its descriptor is first pointed at /dev/null, so the flush HDF5 does on close succeeds into nowhere. Closing it
    on the full disk would fail again and leave HDF5 holding a half-closed file that crashes the process (SIGSEGV)
    when touched later or at exit.
    """
    if not f.id.valid:
        return
    fd = f.id.get_vfd_handle()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
    try:
        f.close()
    except (OSError, RuntimeError):
        # the one step /dev/null refuses: truncating the file to the space HDF5 allocated for a write that failed
        # ("unable to extend file properly, errno = 22"); everything else is closed, and a second close ends it
        f.close()


@contextmanager
def writing_h5(path: str | os.PathLike, mode: str = "w", *,
               shown: str | os.PathLike | None = None) -> Iterator[h5py.File]:
    """Open h5py.File(path, mode) for writing, flushed before it is closed.

    The flush finds a full disk while the file can still be abandoned cleanly (abandon_h5); it is then raised as a
    DiskFullError naming `shown`, the output a staging `path` becomes (default `path`). Other errors pass
    unchanged, the file closed.
    """
    import h5py

    shown = path if shown is None else shown
    f = h5py.File(path, mode, **WRITE_OPTIONS)
    try:
        yield f
        f.flush()
    except BaseException as err:
        full = as_disk_full(err, shown)
        if full is not None:
            abandon_h5(f)
            raise full from err
        f.close()
        raise
    try:
        f.close()
    except (OSError, RuntimeError) as err:
        full = as_disk_full(err, shown)
        if full is None:
            raise
        raise full from err


def size_text(n: float) -> str:
    """Bytes for people: '512 B', '12.0 KiB', '3.4 MiB', '1.2 GiB'."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def nearest_existing(path: str | os.PathLike) -> Path:
    """`path`, or the nearest folder above it that exists (the one the missing folders would be made in)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(path: str | os.PathLike, needed: int, what: str, why: str) -> None:
    """Raise UserError unless the disk of `path`, a file or folder to be written, has `needed` bytes free.

    MARGIN_BYTES is added to `needed`; `why` says what the estimate counts, e.g. '600 frames x 1.2 MiB,
    uncompressed'.
    """
    here = nearest_existing(path)
    free = shutil.disk_usage(here if here.is_dir() else here.parent).free
    total = int(needed) + MARGIN_BYTES
    if free < total:
        raise UserError(f"{what} {output_name(path)}: only {size_text(free)} free on its disk, {size_text(total)} "
                        f"needed ({why}, plus {size_text(MARGIN_BYTES)} margin); free some space or choose another "
                        f"disk")


def frame_bytes(specs: dict) -> int:
    """Return the bytes of one uncompressed sample of a paired file, given {name: (per-sample shape, dtype)}."""
    import numpy as np

    total = 0
    for shape, dtype in specs.values():
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return total


def check_conversion_space(path: str | os.PathLike, frames: int, per_frame: int, what: str = "output file") -> None:
    """Check that a converter's output fits on its disk; UserError saying how much is needed and why otherwise.

    `path` holds `frames` samples of `per_frame` bytes; `what` says whether it is a file or the folder of several.
    No compression is assumed, plus 5% and MARGIN_BYTES for HDF5's chunk index and attributes.
    """
    needed = int(frames * per_frame * 1.05)
    check_free_space(path, needed, what, f"{frames} frames x {size_text(per_frame)} per frame, uncompressed, plus 5%")


# The floor checked before anything is known of the networks (logs, config, report, figures); once the student is
# built, check_run_space asks for room for the run's checkpoints on top of it.
MIN_FREE_BYTES = MARGIN_BYTES
OPTIMISER_COPIES = 3  # a step checkpoint: the weights and up to two optimiser moments per parameter (Adam)


def check_output_dir(path: str | os.PathLike, what: str = "output folder", min_free: int = MIN_FREE_BYTES) -> None:
    """Raise UserError naming `what` and `path` unless `path` is a writable folder with room on its disk.

    The folder may also be one that can be made; its disk must have at least `min_free` bytes free.
    """
    path = Path(path)
    here = nearest_existing(path)
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


def run_cells(cfg: Any) -> int:
    """Return how many (method, seed) cells a run writes checkpoints for.

    These are the methods and the random-teacher controls for every seed, and every tuning trial for every tune
    seed.
    """
    seeds = len(cfg.run_seeds)
    trials = sum(len(settings) for settings in cfg.tune.trials.values()) * len(cfg.tune.seeds)
    return (len(cfg.methods) + len(cfg.controls.random_teacher)) * seeds + trials


def run_checkpoint_bytes(cfg: Any, param_bytes: int) -> tuple[int, str]:
    """Return the bytes of a run's checkpoints for a student of `param_bytes`, and how they were counted.

    Per cell: its transferred and its fine-tuned student. Plus the step checkpoints of the stage in progress:
    checkpoint.keep of them and the one being written, each the weights with their optimiser state.
    """
    cells = run_cells(cfg)
    steps = cfg.checkpoint.keep + 1 if cfg.checkpoint.every_steps > 0 else 1
    total = cells * 2 * param_bytes + steps * OPTIMISER_COPIES * param_bytes
    why = (f"{cells} cells x 2 checkpoints of {size_text(param_bytes)} (the student's parameters) and {steps} step "
           f"checkpoints of {size_text(OPTIMISER_COPIES * param_bytes)} (weights and optimiser state)")
    return total, why


def check_run_space(cfg: Any, student: Any) -> None:
    """Raise UserError naming the run folder unless its disk has room for the run's checkpoints.

    The checkpoints are counted by run_checkpoint_bytes for the built `student`, a torch module, plus the fixed
    margin; checked before any training.
    """
    params = sum(p.numel() * p.element_size() for p in student.parameters())
    params += sum(b.numel() * b.element_size() for b in student.buffers())
    needed, why = run_checkpoint_bytes(cfg, params)
    check_free_space(Path(cfg.output_dir) / cfg.name, needed, "run folder (output_dir/name)", why)
