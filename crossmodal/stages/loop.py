"""The epoch loop every training stage shares: one step function per batch, a loss curve, step checkpoints, resume."""
from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.data.loaders import set_loader_epoch
from crossmodal.stages.checkpoints import StageCheckpoints, rng_state, set_rng_state
from crossmodal.stages.common import Curve, progress


def fit(accelerator: Accelerator, loader: DataLoader, *, epochs: int, train_step: Callable[[dict], torch.Tensor],
        state: dict[str, Any], train_modules: list[nn.Module], ckpt: StageCheckpoints, desc: str,
        log: logging.Logger) -> list[tuple[int, float]]:
    """Run `train_step(batch) -> loss` over `epochs` epochs of `loader`; returns the loss curve.

    `state` names every object with state_dict/load_state_dict that the rest of the stage depends on (model,
    distiller, optimizer, scheduler). A snapshot of them is saved every `ckpt.every_steps` steps and when the
    stage ends; if one exists the stage continues from it (a finished stage returns at once).
    """
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
        if snap.get("finished"):
            log.info("%s: finished earlier (step %d), restored", desc, step)
            return curve.points
    accelerator.step = step  # gradient accumulation counts from the start of the stage, also after a resume

    def snapshot(epoch: int, batch: int, finished: bool = False) -> dict[str, Any]:
        return {"state": {name: obj.state_dict() for name, obj in state.items()}, "curve": curve.state_dict(),
                "rng": rng_state(), "epoch": epoch, "batch": batch, "step": step, "finished": finished}

    for epoch in range(first_epoch, epochs):
        for module in train_modules:
            module.train()
        set_loader_epoch(loader, epoch, skip_batches=done)
        for batch in progress(loader, accelerator, f"{desc} {epoch + 1}/{epochs}"):
            loss = train_step(batch)
            step += 1
            done += 1
            curve.add(step, loss.item())
            if ckpt.due(step) and accelerator.sync_gradients:  # never inside an accumulation window
                ckpt.save(snapshot(epoch, done))
        done = 0
        curve.flush(step)
        if curve.points:
            accelerator.log({f"{desc}/loss": curve.points[-1][1]}, step=step)
            log.info("%s epoch %d/%d: loss %.4f", desc, epoch + 1, epochs, curve.points[-1][1])
    ckpt.save(snapshot(epochs, 0, finished=True))
    return curve.points
