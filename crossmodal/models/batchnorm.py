"""BatchNorm running statistics after short training stages.

A BatchNorm layer's running mean and variance forget their initial values (0 and 1) at rate `momentum` per step:
after n steps the initial values still weigh (1 - momentum)^n. torchvision's MobileNetV3 and EfficientNet build
their layers with momentum 0.01, so after a few hundred steps the statistics an eval-mode network uses are still
mostly the initial ones and it predicts nearly one class. Re-estimating them over the stage's own frames (with
the weights fixed) removes that dependence on the schedule's length.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

STALE_WEIGHT = 0.01  # re-estimate when the initial statistics still weigh more than this


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def stale_batchnorm(model: nn.Module, steps: int) -> bool:
    """Whether some BatchNorm layer's running statistics still carry their initial values.

    True when, after `steps` training steps, some layer's statistics still carry more than STALE_WEIGHT of their initial
    values. Layers with momentum=None keep a plain average and are never stale.
    """
    return any(m.momentum is not None and (1.0 - m.momentum) ** steps > STALE_WEIGHT for m in batchnorm_layers(model))


def should_recalibrate(mode: str, model: nn.Module, steps: int) -> bool:
    """The `bn_recalibrate` rule: always, never, or auto (when the stage was too short for its layers)."""
    if mode == "always":
        return bool(batchnorm_layers(model))
    return mode == "auto" and stale_batchnorm(model, steps)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor],
                          forward: Callable[[torch.Tensor], object] | None = None) -> int:
    """Measure every BatchNorm layer's running statistics afresh; returns the frames seen.

    The statistics become their plain average over the input `batches`. The weights stay untouched and every other
    layer, dropout included, runs in eval mode.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    seen = 0
    try:
        for x in batches:
            (forward or model)(x)
            seen += int(x.shape[0])
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return seen
