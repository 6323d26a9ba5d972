"""Step checkpoints of a training stage, for resuming a killed run exactly where it stopped.

A snapshot holds everything the rest of the stage depends on: model, trainable distiller parts and their state
(CRD memory, Z, samplers' generators), optimiser, schedule, gradient scaler, the loss curve, the position in the
data (epoch and batches consumed; the order itself is fixed by seed and epoch), the RNG states and the count of
skipped non-finite steps. Files are written atomically by the main process (a signal during the write cannot leave
half a file: it is only recorded, see preemption.py); the newest `keep` are kept.
"""
from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from crossmodal.atomic import save_checkpoint
from crossmodal.config import without_new_defaults
from crossmodal.errors import UserError


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class StageCheckpoints:
    """The step checkpoints of one stage in `folder` (runs/<name>/state/<stage>/step-<n>.pt)."""

    def __init__(self, folder: Path, every_steps: int, keep: int, accelerator: Accelerator, config: dict,
                 log: logging.Logger) -> None:
        self.folder = folder
        self.every_steps = every_steps
        self.keep = keep
        self.accelerator = accelerator
        self.config = config
        self.log = log
        self.skipped_nonfinite = 0  # non-finite steps the stage skipped (set by fit; the report shows them)

    @property
    def run_dir(self) -> Path:
        """The run folder (runs/<name>) these snapshots belong to."""
        return self.folder.parent.parent

    @staticmethod
    def name(step: int) -> str:
        """The file name of the snapshot after `step` steps."""
        return f"step-{step:08d}.pt"

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))

    def due(self, step: int) -> bool:
        return self.every_steps > 0 and step % self.every_steps == 0

    def latest(self) -> dict[str, Any] | None:
        """The newest readable snapshot, or None. An unreadable file (a damaged disk) is reported and skipped."""
        for path in reversed(self._files()):
            try:
                snap = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as err:  # noqa: BLE001 - fall back to the previous snapshot
                self.log.warning("checkpoint %s cannot be read (%s); trying an older one", path, err)
                continue
            if without_new_defaults(snap.get("config")) != without_new_defaults(self.config):
                raise UserError(f"checkpoint {path} was written with another config than this run's "
                                 f"({self.folder.parent.parent / 'config.yaml'}); it cannot be resumed from")
            self.log.info("resuming from %s (step %d)", path, snap["step"])
            return snap
        return None

    def save(self, snapshot: dict[str, Any]) -> None:
        """Write step-<n>.pt atomically (main process) and drop all but the newest `keep`."""
        if not self.accelerator.is_main_process:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint({**snapshot, "config": self.config}, self.folder / self.name(snapshot["step"]))
        for old in self._files()[:-self.keep]:
            old.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove the stage's snapshots once its result is saved elsewhere (main process)."""
        if self.accelerator.is_main_process:
            shutil.rmtree(self.folder, ignore_errors=True)


def stage_checkpoints(cfg: Any, run_dir: Path, stage: str, accelerator: Accelerator,
                      log: logging.Logger) -> StageCheckpoints:
    """The checkpoints of `stage` (e.g. 'transfer-crd-seed0') of the run in run_dir, as cfg.checkpoint says."""
    from crossmodal.config import to_dict

    return StageCheckpoints(run_dir / "state" / stage, cfg.checkpoint.every_steps, cfg.checkpoint.keep, accelerator,
                            to_dict(cfg), log)
