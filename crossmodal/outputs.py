"""Output folders checked before any work: a folder that is a file, cannot be written, or sits on a disk without room
for what the run will write is refused at start with one line, not found out by a traceback after the training it
was meant to keep."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from crossmodal.diskspace import MARGIN_BYTES, check_free_space, nearest_existing, size_text
from crossmodal.errors import UserError

# The floor checked before anything is known of the networks (logs, config, report, figures); once the student is
# built, check_run_space asks for room for the run's checkpoints on top of it.
MIN_FREE_BYTES = MARGIN_BYTES
OPTIMISER_COPIES = 3  # a step checkpoint: the weights and up to two optimiser moments per parameter (Adam)


def check_output_dir(path: str | os.PathLike, what: str = "output folder", min_free: int = MIN_FREE_BYTES) -> None:
    """Raise UserError naming `what` and `path` unless `path` is (or can be made as) a writable folder with at least
    `min_free` bytes free on its disk."""
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
    """How many (method, seed) cells a run writes checkpoints for: the methods and the random-teacher controls for
    every seed, and every tuning trial for every tune seed."""
    seeds = len(cfg.run_seeds)
    trials = sum(len(settings) for settings in cfg.tune.trials.values()) * len(cfg.tune.seeds)
    return (len(cfg.methods) + len(cfg.controls.random_teacher)) * seeds + trials


def run_checkpoint_bytes(cfg: Any, param_bytes: int) -> tuple[int, str]:
    """(bytes, how they were counted) of a run's checkpoints for a student of `param_bytes`: per cell its transferred
    and its fine-tuned student, plus the step checkpoints of the stage in progress (checkpoint.keep and the one
    being written, each the weights with their optimiser state)."""
    cells = run_cells(cfg)
    steps = cfg.checkpoint.keep + 1 if cfg.checkpoint.every_steps > 0 else 1
    total = cells * 2 * param_bytes + steps * OPTIMISER_COPIES * param_bytes
    why = (f"{cells} cells x 2 checkpoints of {size_text(param_bytes)} (the student's parameters) and {steps} step "
           f"checkpoints of {size_text(OPTIMISER_COPIES * param_bytes)} (weights and optimiser state)")
    return total, why


def check_run_space(cfg: Any, student: Any) -> None:
    """UserError naming the run folder unless its disk has room for the run's checkpoints (run_checkpoint_bytes of
    the built `student`, a torch module) plus the fixed margin; checked before any training."""
    params = sum(p.numel() * p.element_size() for p in student.parameters())
    params += sum(b.numel() * b.element_size() for b in student.buffers())
    needed, why = run_checkpoint_bytes(cfg, params)
    check_free_space(Path(cfg.output_dir) / cfg.name, needed, "run folder (output_dir/name)", why)
