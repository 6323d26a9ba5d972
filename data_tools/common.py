"""Shared command-line helpers for the data tools: argument types, output checks and one-line error reporting."""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import textwrap
import uuid
from collections import deque
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.diskspace import as_disk_full, check_output_dir

T = TypeVar("T")
R = TypeVar("R")

# Errors a data tool reports as one "error: ..." line with exit code 2 (bad input, not a bug); a full disk too
# (crossmodal.diskspace.DiskFullError, or an OSError / h5py RuntimeError that says ENOSPC, EDQUOT or EFBIG).
USER_ERRORS: tuple[type[BaseException], ...] = (FormatError, ValueError, FileNotFoundError, FileExistsError,
                                                 PermissionError, NotADirectoryError, IsADirectoryError, OSError)


def parse_size(text: str, minimum: int = 8, example: str = "240x320") -> tuple[int, int]:
    """Parse HEIGHTxWIDTH (e.g. 240x320) for argparse; both sides must be >= `minimum`."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH, e.g. {example}; got {text!r}")
    h, w = int(parts[0]), int(parts[1])
    if h < minimum or w < minimum:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small; both sides must be >= {minimum}")
    return h, w


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting integers >= minimum."""
    def parse(text: str) -> int:
        """Parse one integer argument."""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def positive_number(what: str, example: str) -> Callable[[str], float]:
    """An argparse type accepting finite numbers > 0 (`what`, e.g. 'distance in metres', names them in errors)."""
    def parse(text: str) -> float:
        """Parse one positive number."""
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected a positive {what}, e.g. {example}; got {text!r}")
        return value
    return parse


def val_fraction(text: str) -> float:
    """An argparse type for --val-fraction: a number in [0, 1), 0 = no validation split."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1) (0 = no val split), e.g. 0.15; got {text!r}")
    return value


def check_val_fraction(fraction: float) -> None:
    """The --val-fraction rule for callers of a converter's Python function: in [0, 1), 0 = no val split."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1) (0 = no val split), got {fraction}")


def add_val_arguments(parser: argparse.ArgumentParser, fraction_help: str, seed_unit: str) -> None:
    """Add --val-fraction F and --val-seed S, offered by every tool that writes a labeled train split.

    The split itself is carve_by_group's; `fraction_help` says which groups are kept whole and where val.h5 goes."""
    parser.add_argument("--val-fraction", type=val_fraction, default=0.0, metavar="F",
                        help=f"{fraction_help}; default 0 = no val.h5, e.g. --val-fraction 0.15")
    parser.add_argument("--val-seed", type=int, default=0, metavar="S",
                        help=f"seed of the {seed_unit} order for --val-fraction (default 0); same seed, same val.h5")


def add_output_flags(parser: argparse.ArgumentParser, replaces: str = "an existing output file") -> None:
    """Add --overwrite and --quiet, the last options of every converter with a progress bar."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {replaces}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def carve_by_group(groups: Sequence[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split item indices into (train, val), keeping each group whole, so val shares no group with train.

    The sorted distinct groups are shuffled with `seed`; whole groups go to val in that order until val holds
    at least round(fraction * len(groups)) items, and at least one group. Both lists are ascending. ValueError when
    the fraction selects nothing or would leave train without a group (the message says how many there are)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--val-fraction must be in (0, 1) to carve a val split, got {fraction:g}")
    n = len(groups)
    target = round(fraction * n)
    if target < 1:
        raise ValueError(f"--val-fraction {fraction:g} of {n} training frames selects nothing "
                         f"(round({fraction:g} x {n}) = 0); use a larger fraction or 0 for no val split")
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError(f"--val-fraction {fraction:g}: the {n} training frames form {len(names)} group(s); "
                         f"val needs a whole group and train must keep at least one")
    order = [names[k] for k in np.random.default_rng(seed).permutation(len(names))]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    chosen: set[str] = set()
    count = 0
    for g in order:
        if count >= target:
            break
        chosen.add(g)
        count += len(members[g])
    if len(chosen) == len(names):
        raise ValueError(f"--val-fraction {fraction:g} would move all {len(names)} groups ({n} training frames) to "
                         f"val and leave train empty; use a smaller fraction")
    val = [i for i, g in enumerate(groups) if g in chosen]
    train = [i for i, g in enumerate(groups) if g not in chosen]
    return train, val


def val_path_beside(out: Path) -> Path:
    """Where a tool writing one file `out` puts its carved validation split: val.h5 in the same folder."""
    val = out.parent / "val.h5"
    if val.resolve() == out.resolve():
        raise ValueError(f"--out {out}: the val split is written to val.h5 beside --out, so --out may not be "
                         f"val.h5 itself when --val-fraction is given")
    return val


def tool_parser(prog: str, description: str, epilog: str, *, wrap: bool = True) -> argparse.ArgumentParser:
    """A data tool's argument parser with its description and examples.

    With wrap the description is filled to 96 columns and both texts are printed as written; without it argparse
    wraps them itself."""
    if not wrap:
        return argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    return argparse.ArgumentParser(prog=prog, description=textwrap.fill(description, width=96),
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """Parse argv; on --help or a usage error return the exit code (0 or 2) instead of exiting the caller."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def check_input_file(path: Path, what: str) -> Path:
    """An input file must exist and be a regular file (FileNotFoundError / IsADirectoryError naming it)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; expected {what}")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; expected {what}")
    return path


def check_writable_folder(folder: Path) -> Path:
    """Create `folder` if needed and prove a file can be written there (PermissionError naming it otherwise)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise PermissionError(f"{folder}: cannot write output files there ({err.strerror or err})") from None
    return folder


def check_outputs(paths: Iterable[Path], overwrite: bool) -> list[Path]:
    """Refuse existing outputs unless overwrite (FileExistsError naming them); check their folders are writable."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if p.is_dir():
            raise IsADirectoryError(f"{p}: output path is a directory; expected a file name such as {p / 'out.h5'}")
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"output already exists: {', '.join(existing)} (pass --overwrite to replace)")
    for folder in sorted({p.parent for p in paths}):
        check_writable_folder(folder)
        check_output_dir(folder, "output folder")  # and room on its disk
    return paths


def staging_path(final: Path) -> Path:
    """A fresh hidden name next to `final` for a file that is completed and then moved onto `final`."""
    return final.parent / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.staging"


def commit(staged: Path, final: Path, overwrite: bool) -> Path:
    """Move a finished staged file onto `final` (atomic rename), refusing an existing `final` unless overwrite."""
    if final.exists() and not overwrite:
        staged.unlink(missing_ok=True)
        raise FileExistsError(f"{final}: output already exists (pass --overwrite to replace)")
    os.replace(staged, final)
    return final


_TASK: Callable | None = None


def _init_ordered_worker(func: Callable) -> None:
    """Pool initializer for ordered_map: keep the task function; one OpenCV thread; Ctrl-C is the parent's job."""
    global _TASK
    _TASK = func
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - every data tool has OpenCV
        pass


def _run_ordered_batch(batch: list) -> list:
    """Pool task for ordered_map: the task function over one batch."""
    assert _TASK is not None
    return [_TASK(item) for item in batch]


def ordered_map(func: Callable[[T], R], items: Iterable[T], workers: int, *, batch: int = 2,
                batches_per_worker: int = 2) -> Iterator[R]:
    """Apply func to the items and yield the results in item order.

    With workers <= 1 this runs here; otherwise in a spawn pool of `workers` processes fed batches of `batch`
    items, with at most workers * batches_per_worker batches in flight so that memory stays bounded. func must be
    picklable: a module-level function or a functools.partial of one. An exception raised in a worker is raised
    here unchanged; the pool is terminated on errors, on Ctrl-C and when the caller stops iterating."""
    if workers <= 1:
        for item in items:
            yield func(item)
        return
    limit = max(1, workers * batches_per_worker)
    with get_context("spawn").Pool(workers, initializer=_init_ordered_worker, initargs=(func,)) as pool:
        pending: deque = deque()
        chunk: list = []
        for item in items:
            chunk.append(item)
            if len(chunk) == batch:
                pending.append(pool.apply_async(_run_ordered_batch, (chunk,)))
                chunk = []
                if len(pending) >= limit:
                    yield from pending.popleft().get()
        if chunk:
            pending.append(pool.apply_async(_run_ordered_batch, (chunk,)))
        while pending:
            yield from pending.popleft().get()


def progress(iterable: Iterable[T], total: int, desc: str) -> Iterable[T]:
    """tqdm progress on stderr (frames)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", file=sys.stderr, dynamic_ncols=True)


def warn(prog: str, message: str) -> None:
    """One 'PROG: warning: ...' line on stderr."""
    print(f"{prog}: warning: {message}", file=sys.stderr)


def run_tool(body: Callable[[], int], prog: str) -> int:
    """Run a tool's body, reporting bad input or a full disk in one line with exit code 2.

    Bad input is a FormatError, a ValueError or a missing, existing or unwritable file. Ctrl-C gives exit code 130."""
    try:
        return body()
    except USER_ERRORS as err:
        if isinstance(err, OSError):  # a full disk met by a plain write: named by its output file
            err = as_disk_full(err, getattr(err, "filename", None) or "an output file", removed=False) or err
        text = str(err) if str(err) else type(err).__name__
        print(f"{prog}: error: {text}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # h5py's wording of a full disk; any other RuntimeError is a bug and keeps its trace
        full = as_disk_full(err, "an output file", removed=False)
        if full is None:
            raise
        print(f"{prog}: error: {full}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was written", file=sys.stderr)
        return 130


def tool_main(prog: str, parser: Callable[[], argparse.ArgumentParser],
              run: Callable[[argparse.Namespace, list[str]], int]) -> Callable[[list[str] | None], int]:
    """A data tool's main(argv=None), which returns the exit code.

    It parses argv, by default sys.argv[1:]; --help returns 0 and a usage error 2 instead of exiting the caller.
    Then it calls run(args, argv) under run_tool, so bad input is one line and exit code 2."""
    def main(argv: list[str] | None = None) -> int:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = parse_args(parser(), argv)
        if isinstance(args, int):
            return args
        return run_tool(lambda: run(args, argv), prog)

    main.__doc__ = f"{prog} [options]: the exit code (0 done, 2 bad input with nothing written, 130 interrupted)."
    return main


def command_line(tool: str, argv: Sequence[str]) -> str:
    """How data_tools.<tool> was called (shell-quoted), as the output file's provenance records it."""
    return f"data_tools.{tool} " + " ".join(shlex.quote(a) for a in argv)
