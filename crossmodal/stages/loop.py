"""The epoch loop every training stage shares: one step function per batch, a loss curve, step checkpoints, resume,
a clean stop on SIGTERM/SIGUSR1 (crossmodal/stages/preemption.py) and a stop on a non-finite loss."""
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
    """Checks a step's loss before its optimiser step (`ok`), so the weights stay finite: a non-finite loss stops
    the stage with NonFiniteLossError (naming stage, epoch, step and the loss terms; nothing is saved, so the last
    good step checkpoint stays the newest), unless up to `skip` such steps may be skipped (counted in `skipped`).
    The verdict is the same on every process. `fit` tells it where the stage is."""

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
    """Forget the gradients of a skipped step, also inside an accumulation window (where Accelerate's zero_grad
    waits for the window's end)."""
    getattr(optimizer, "optimizer", optimizer).zero_grad(set_to_none=True)


def fit(accelerator: Accelerator, loader: DataLoader, *, epochs: int, train_step: Callable[[dict], torch.Tensor],
        state: dict[str, Any], train_modules: list[nn.Module], ckpt: StageCheckpoints, desc: str,
        log: logging.Logger, guard: LossGuard | None = None) -> list[tuple[int, float]]:
    """Run `train_step(batch) -> loss` over `epochs` epochs of `loader`; returns the loss curve.

    `state` names every object with state_dict/load_state_dict that the rest of the stage depends on (model,
    distiller, optimizer, scheduler). A snapshot of them is saved every `ckpt.every_steps` steps and when the
    stage ends; if one exists the stage continues from it (a finished stage returns at once).
    `train_step` calls `guard.ok(loss)` before its optimiser step (one that does not is checked after it); the
    number of skipped non-finite steps is kept in the snapshots and left in `ckpt.skipped_nonfinite`.
    On SIGTERM/SIGUSR1 the stage ends the optimiser step in progress (the accumulation window), saves a snapshot
    and raises Preempted, on every process after the same step.
    """
    guard = guard or LossGuard(accelerator)
    guard.log = log
    if accelerator.scaler is not None:
        state = {**state, "scaler": accelerator.scaler}
    curve, first_epoch, done, step = Curve(), 0, 0, 0
    snap = ckpt.latest()
    if snap is not None:
        for name, obj in state.items():
            obj.load_state_dict(snap["state"][name])
        curve.load_state_dict(snap["curve"])
        set_rng_state(snap["rng"])
        first_epoch, done, step = snap["epoch"], snap["batch"], snap["step"]
        guard.skipped = ckpt.skipped_nonfinite = snap.get("skipped_nonfinite", 0)
        guard.kept = f"its last good checkpoint is kept ({ckpt.folder / ckpt.name(step)})"
        if snap.get("finished"):
            log.info("%s: finished earlier (step %d), restored", desc, step)
            return curve.points
    accelerator.step = step  # gradient accumulation counts from the start of the stage, also after a resume

    def snapshot(epoch: int, batch: int, finished: bool = False) -> dict[str, Any]:
        return {"state": {name: obj.state_dict() for name, obj in state.items()}, "curve": curve.state_dict(),
                "rng": rng_state(), "epoch": epoch, "batch": batch, "step": step, "finished": finished,
                "skipped_nonfinite": guard.skipped}

    def save(epoch: int, batch: int, finished: bool = False) -> None:
        ckpt.save(snapshot(epoch, batch, finished))
        guard.kept = f"its last good checkpoint is kept ({ckpt.folder / ckpt.name(step)})"

    def stop(signum: int, finished: bool) -> Preempted:
        where = f"{desc} step {step}" + (" (its end)" if finished else "")
        resume = f"resume with `accelerate launch run_transfer.py --resume {ckpt.run_dir}`"
        log.warning("stopped by %s at %s, checkpoint %s; %s", signal_name(signum), where,
                    ckpt.folder / ckpt.name(step), resume)
        accelerator.wait_for_everyone()  # the snapshot is on disk before any process exits
        return Preempted(f"stopped by {signal_name(signum)} at {where}; {resume}", signum)

    with StopRequests() as requests:
        for epoch in range(first_epoch, epochs):
            for module in train_modules:
                module.train()
            set_loader_epoch(loader, epoch, skip_batches=done)
            for batch in progress(loader, accelerator, f"{desc} {epoch + 1}/{epochs}"):
                guard.where = f"{desc} ({ckpt.folder}) epoch {epoch + 1}/{epochs}, step {step + 1}"
                guard.checked = guard.last_skipped = False
                loss = train_step(batch)
                if not guard.checked:
                    guard.ok(loss)
                step += 1
                done += 1
                if not guard.last_skipped:
                    curve.add(step, loss.item())
                if not accelerator.sync_gradients:  # never inside an accumulation window
                    continue
                saved = ckpt.due(step)
                if saved:
                    save(epoch, done)
                signum = agreed_signal(requests, accelerator)
                if signum:
                    if not saved:
                        save(epoch, done)
                    raise stop(signum, finished=False)
            done = 0
            curve.flush(step)
            if curve.points:
                accelerator.log({f"{desc}/loss": curve.points[-1][1]}, step=step)
                log.info("%s epoch %d/%d: loss %.4f", desc, epoch + 1, epochs, curve.points[-1][1])
        ckpt.skipped_nonfinite = guard.skipped
        if guard.skipped:
            log.warning("%s: %d non-finite step(s) skipped (%s: %d)", desc, guard.skipped, guard.skip_key,
                        guard.skip)
            accelerator.log({f"{desc}/skipped_nonfinite": guard.skipped}, step=step)
        save(epochs, 0, finished=True)
        signum = agreed_signal(requests, accelerator)
        if signum:  # asked to stop during the stage's last step: the stage is done, the run stops here
            raise stop(signum, finished=True)
    return curve.points
