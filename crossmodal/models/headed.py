"""Networks around a feature backbone: the shape they take from it, and a backbone with one of the project's heads."""
from __future__ import annotations

import torch
from torch import nn

from crossmodal.models.features import FeatureNet


class OverBackbone(nn.Module):
    """A module around a feature backbone: its tapped stages' out_channels and strides are the backbone's."""

    backbone: FeatureNet

    @property
    def out_channels(self) -> list[int]:
        return self.backbone.out_channels

    @property
    def strides(self) -> list[int]:
        return self.backbone.strides


class HeadedNet(OverBackbone):
    """A feature backbone with one of the project's heads, keeping the teacher contract.

    The contract: forward(x) gives the logits, features_and_logits(x, need_logits) the maps and the logits when
    asked, out_channels and strides are the backbone's, and checkpoint_module() names what a checkpoint holds.
    """

    def logits(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.backbone(x), x.shape[-2:])

    def features_and_logits(self, x: torch.Tensor, need_logits: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        feats = self.backbone(x)
        return feats, self.logits(feats, x.shape[-2:]) if need_logits else None

    def checkpoint_module(self) -> nn.Module:
        """The module whose state dict teacher.checkpoint holds: this one, backbone.* and the head's keys."""
        return self
