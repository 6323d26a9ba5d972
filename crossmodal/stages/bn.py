"""Re-estimating BatchNorm statistics at the end of a training stage, on the frames the stage trained on.

The pass itself is crossmodal.models.batchnorm; whether it runs is the rule the network's `bn_recalibrate` key gives.
"""
from __future__ import annotations

import logging

from accelerate import Accelerator
from torch import nn

from crossmodal.data.h5format import PairedInfo
from crossmodal.data.loaders import make_loader
from crossmodal.modalities import InputSpec
from crossmodal.models.batchnorm import recalibrate_batchnorm, should_recalibrate

MAX_FRAMES = 1024  # enough for stable statistics; keeps the pass short on large splits


def recalibrate_after_stage(mode: str, model: nn.Module, steps: int, info: PairedInfo, key: str, spec: InputSpec,
                            *, batch_size: int, num_workers: int, seed: int, accelerator: Accelerator,
                            log: logging.Logger, desc: str) -> bool:
    """Re-estimate `model`'s BatchNorm statistics over up to MAX_FRAMES frames of `info` when the rule says so.

    Every process reads the same frames in the same order, so all ranks end with the same statistics.
    """
    if not should_recalibrate(mode, model, steps):
        return False
    loader = make_loader(info, {key: spec}, train=False, batch_size=batch_size, num_workers=num_workers, seed=seed)
    device = accelerator.device

    def batches():
        seen = 0
        for batch in loader:
            if seen >= MAX_FRAMES:
                return
            x = batch[key][:MAX_FRAMES - seen].to(device)
            seen += x.shape[0]
            yield x

    model.to(device)
    frames = recalibrate_batchnorm(model, batches())
    log.info("%s: BatchNorm statistics re-estimated over %d frames of %s (bn_recalibrate=%s, %d training steps)",
             desc, frames, info.path.name, mode, steps)
    return True
