"""The epoch loop every training stage shares.

It calls one step function per batch and keeps a loss curve and step checkpoints. It resumes from them, stops
cleanly on SIGTERM/SIGUSR1 (crossmodal/stages/preemption.py) and stops on a non-finite loss.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.data.loaders import set_loader_epoch
from crossmodal.distributed import max_over_ranks
from crossmodal.errors import NonFiniteLossError, Preempted
from crossmodal.stages.checkpoints import StageCheckpoints, rng_state, set_rng_state
from crossmodal.stages.common import Curve, progress
from crossmodal.stages.preemption import StopRequests, agreed_signal, signal_name


class LossGuard:
    """Checks a step's loss before its optimiser step (`ok`), so the weights stay finite.

    A non-finite loss stops the stage with NonFiniteLossError, naming stage, epoch, step and the loss terms.
    Nothing is saved then, so the last good step checkpoint stays the newest. With `skip`, up to that many such
    steps are skipped instead, counted in `skipped`. The verdict is the same on every process. `fit` tells the
    guard where the stage is.
    """

    def __init__(self, accelerator: Accelerator, loss_name: str = "loss", skip: int = 0, skip_key: str = "") -> None:
        self.accelerator = accelerator
        self.loss_name = loss_name
        self.skip = skip
        self.skip_key = skip_key  # the config key that allows skipping, named in the message
        self.skipped = 0
        self.checked = False  # whether the step in progress was checked
        self.last_skipped = False
        self.where = ""
        self.kept = "no step checkpoint of this stage was written yet"
        self.log = logging.getLogger(__name__)

    def ok(self, loss: torch.Tensor, terms: dict[str, torch.Tensor] | None = None) -> bool:
        """True: take the optimiser step. False: skip it (drop the gradients). Raises once the skips are used up."""
        bad = int(not bool(torch.isfinite(loss.detach()).all()))
        if self.accelerator.num_processes > 1:
            bad = max_over_ranks(bad, self.accelerator.device)
        self.checked, self.last_skipped = True, bool(bad)
        if not bad:
            return True
        self.skipped += 1
        value = f"{self.loss_name} {_value(loss)}"
        if terms:
            value += " (" + ", ".join(f"{name} {_value(t)}" for name, t in terms.items()) + ")"
        if self.accelerator.num_processes > 1:
            value += " on this process or another"
        if self.skipped > self.skip:
            what = (f"more than {self.skip} non-finite steps ({self.skip_key}: {self.skip}); this one: {value}"
                    if self.skip else f"the loss is not finite: {value}")
            allow = f"; {self.skip_key}: N lets up to N such steps be skipped" if self.skip_key and not self.skip \
                else ""
            raise NonFiniteLossError(f"{self.where}: {what}; the stage stopped and {self.kept}. Lower the learning "
                                     f"rate or check the data{allow}")
        self.log.warning("%s: non-finite %s; step skipped (%d of at most %d, %s)", self.where, value, self.skipped,
                         self.skip, self.skip_key)
        return False


def _value(t: torch.Tensor) -> str:
    return f"{float(t.detach().float().mean()):.4g}"


def drop_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Forget the gradients of a skipped step, also inside an accumulation window.

    Inside the window Accelerate's own zero_grad waits for the window's end, so the wrapped optimiser is asked.
    """
    getattr(optimizer, "optimizer", optimizer).zero_grad(set_to_none=True)


def fit(accelerator: Accelerator, loader: DataLoader, *, epochs: int, train_step: Callable[[dict], torch.Tensor],
        state: dict[str, Any], train_modules: list[nn.Module], ckpt: StageCheckpoints, desc: str,
        log: logging.Logger, guard: LossGuard | None = None) -> list[tuple[int, float]]:
    """Run `train_step(batch) -> loss` over `epochs` epochs of `loader`; returns the loss curve.

    `state` names every object with state_dict/load_state_dict that the rest of the stage depends on (model,
    distiller, optimizer, scheduler). A snapshot of them is saved every `ckpt.every_steps` steps and when the
    stage ends; if one exists the stage continues from it, and a finished stage returns at once.
    `train_step` calls `guard.ok(loss)` before its optimiser step; one that does not is checked after it. The
    number of skipped non-finite steps is kept in the snapshots and left in `ckpt.skipped_nonfinite`.
    On SIGTERM/SIGUSR1 the stage ends the optimiser step in progress (the accumulation window), saves a snapshot
    and raises Preempted, on every process after the same step.
    """
    guard = guard or LossGuard(accelerator)
    guard.log = log
    if accelerator.scaler is not None:
        state = {**state, "scaler": accelerator.scaler}
    run = _StageRun(accelerator, state, ckpt, desc, log, guard)
    if run.resume():
        log.info("%s: finished earlier (step %d), restored", desc, run.step)
        return run.curve.points
    accelerator.step = run.step  # gradient accumulation counts from the start of the stage, also after a resume
    with StopRequests() as requests:
        for epoch in range(run.first_epoch, epochs):
            for module in train_modules:
                module.train()
            set_loader_epoch(loader, epoch, skip_batches=run.done)
            for batch in progress(loader, accelerator, f"{desc} {epoch + 1}/{epochs}"):
                run.train_batch(train_step, batch, f"epoch {epoch + 1}/{epochs}")
                if not accelerator.sync_gradients:  # never inside an accumulation window
                    continue
                saved = ckpt.due(run.step)
                if saved:
                    run.save(epoch, run.done)
                signum = agreed_signal(requests, accelerator)
                if signum:
                    if not saved:
                        run.save(epoch, run.done)
                    raise run.stop(signum, finished=False)
            run.end_epoch(epoch, epochs)
        run.finish(epochs)
        signum = agreed_signal(requests, accelerator)
        if signum:  # asked to stop during the stage's last step: the stage is done, the run stops here
            raise run.stop(signum, finished=True)
    return run.curve.points


class _StageRun:
    """Where a stage under `fit` is: its step, epoch and batch, its loss curve, and its snapshots."""

    def __init__(self, accelerator: Accelerator, state: dict[str, Any], ckpt: StageCheckpoints, desc: str,
                 log: logging.Logger, guard: LossGuard) -> None:
        self.accelerator, self.state, self.ckpt, self.desc, self.log, self.guard = \
            accelerator, state, ckpt, desc, log, guard
        self.curve, self.first_epoch, self.done, self.step = Curve(), 0, 0, 0

    def resume(self) -> bool:
        """Restore the newest snapshot, if there is one; True when it marks the stage finished."""
        snap = self.ckpt.latest()
        if snap is None:
            return False
        for name, obj in self.state.items():
            obj.load_state_dict(snap["state"][name])
        self.curve.load_state_dict(snap["curve"])
        set_rng_state(snap["rng"])
        self.first_epoch, self.done, self.step = snap["epoch"], snap["batch"], snap["step"]
        self.guard.skipped = self.ckpt.skipped_nonfinite = snap.get("skipped_nonfinite", 0)
        self.guard.kept = self._kept()
        return bool(snap.get("finished"))

    def _kept(self) -> str:
        return f"its last good checkpoint is kept ({self.ckpt.folder / self.ckpt.name(self.step)})"

    def train_batch(self, train_step: Callable[[dict], torch.Tensor], batch: dict, where: str) -> None:
        """One step on `batch`; its loss joins the curve unless the step was skipped."""
        guard = self.guard
        guard.where = f"{self.desc} ({self.ckpt.folder}) {where}, step {self.step + 1}"
        guard.checked = guard.last_skipped = False
        loss = train_step(batch)
        if not guard.checked:
            guard.ok(loss)
        self.step += 1
        self.done += 1
        if not guard.last_skipped:
            self.curve.add(self.step, loss.item())

    def save(self, epoch: int, batch: int, finished: bool = False) -> None:
        """Write a snapshot after `batch` batches of `epoch`."""
        self.ckpt.save({"state": {name: obj.state_dict() for name, obj in self.state.items()},
                        "curve": self.curve.state_dict(), "rng": rng_state(), "epoch": epoch, "batch": batch,
                        "step": self.step, "finished": finished, "skipped_nonfinite": self.guard.skipped})
        self.guard.kept = self._kept()

    def stop(self, signum: int, finished: bool) -> Preempted:
        """The Preempted error for a stop signal, once every process has its snapshot on disk."""
        where = f"{self.desc} step {self.step}" + (" (its end)" if finished else "")
        resume = f"resume with `accelerate launch run_transfer.py --resume {self.ckpt.run_dir}`"
        self.log.warning("stopped by %s at %s, checkpoint %s; %s", signal_name(signum), where,
                         self.ckpt.folder / self.ckpt.name(self.step), resume)
        self.accelerator.wait_for_everyone()  # the snapshot is on disk before any process exits
        return Preempted(f"stopped by {signal_name(signum)} at {where}; {resume}", signum)

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Close the epoch's curve point and log its loss."""
        self.done = 0
        self.curve.flush(self.step)
        if self.curve.points:
            self.accelerator.log({f"{self.desc}/loss": self.curve.points[-1][1]}, step=self.step)
            self.log.info("%s epoch %d/%d: loss %.4f", self.desc, epoch + 1, epochs, self.curve.points[-1][1])

    def finish(self, epochs: int) -> None:
        """Record the skipped non-finite steps and save the final snapshot."""
        guard = self.guard
        self.ckpt.skipped_nonfinite = guard.skipped
        if guard.skipped:
            self.log.warning("%s: %d non-finite step(s) skipped (%s: %d)", self.desc, guard.skipped,
                             guard.skip_key, guard.skip)
            self.accelerator.log({f"{self.desc}/skipped_nonfinite": guard.skipped}, step=self.step)
        self.save(epochs, 0, finished=True)
