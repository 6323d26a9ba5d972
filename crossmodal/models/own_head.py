"""A teacher with its own head: a torchvision segmentation model, or your own network.

forward gives its logits at the input size, and its stages are tapped by forward hooks for the distillers.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.config.tasks import get_task
from crossmodal.errors import NetworkError
from crossmodal.models.features import PROBE_SIZE, Taps, measure


def _logits(out: object) -> torch.Tensor:
    """A tensor, or the 'out' entry of a dict (torchvision's segmentation models)."""
    if isinstance(out, dict):
        out = out.get("out")
    if not isinstance(out, torch.Tensor):
        raise NetworkError(f"the teacher's forward returned {type(out).__name__}; expected logits: a tensor, or a "
                           f"dict with the logits under 'out'")
    return out


class OwnHeadNet(nn.Module):
    """The teacher contract over any module.

    forward(x) gives the logits: (B, C, H, W) at x's size, or (B, C) for image classes. It also offers
    features_and_logits(x, need_logits), and out_channels and strides of the tapped stages.
    """

    def __init__(self, model: nn.Module, names: Sequence[str], in_channels: int, num_classes: int, task: str,
                 what: str, probe_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model = model
        self.in_channels = in_channels
        self.feature_names = list(names)
        self.taps = Taps(model, names)
        self.probe_size = tuple(probe_size or PROBE_SIZE)  # the frame size when known: the dry run's input
        self.out_channels, self.strides, _ = measure(lambda x: self.features_and_logits(x, False)[0], model,
                                                     in_channels, self.probe_size)
        self._check_logits(num_classes, task, what)

    def _check_logits(self, num_classes: int, task: str, what: str) -> None:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            logits = self(torch.randn(1, self.in_channels, *self.probe_size))
        self.model.train(was_training)
        want = get_task(task).logits_dims
        if logits.dim() != want or logits.shape[1] != num_classes:
            shape = "(B, C, H, W) per-pixel logits" if want == 4 else "(B, C) image-level logits"
            raise NetworkError(f"{what} gives logits of shape {tuple(logits.shape)} for a {self.probe_size} input; the "
                               f"task needs {shape} with C = {num_classes} classes, as the data have")

    def _resize(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if logits.dim() == 4 and tuple(logits.shape[-2:]) != tuple(size):
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x, True)[1]

    def features_and_logits(self, x: torch.Tensor, need_logits: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The tapped stages, and (when asked) the logits; without logits the forward stops at the deepest tap."""
        feats, out = self.taps.run(self.model, x, stop_early=not need_logits)
        return feats, self._resize(_logits(out), x.shape[-2:]) if need_logits else None

    def checkpoint_module(self) -> nn.Module:
        """The module whose state dict teacher.checkpoint holds: the user's network itself."""
        return self.model
