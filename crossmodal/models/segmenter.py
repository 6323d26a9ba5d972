"""A light FCN segmentation head over the last stage with a skip from a stride-4 stage, and backbone + head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.models.features import FeatureNet


class SegHead(nn.Module):
    """Fuses the deepest features with an earlier stage (the skip), then classifies every pixel."""

    def __init__(self, in_channels: list[int], num_classes: int, hidden: int = 64, skip_stage: int = 0) -> None:
        super().__init__()
        self.skip_stage = skip_stage
        self.deep = nn.Sequential(nn.Conv2d(in_channels[-1], hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.skip = nn.Sequential(nn.Conv2d(in_channels[skip_stage], hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(hidden, num_classes, 1)

    def forward(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = self.deep(feats[-1])
        skip = self.skip(feats[self.skip_stage])
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
        x = self.classifier(self.fuse(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class HeadedNet(nn.Module):
    """A feature backbone with one of the project's heads; the teacher contract: forward(x) -> logits,
    features_and_logits(x, need_logits), the backbone's out_channels / strides, and checkpoint_module()."""

    backbone: FeatureNet

    def logits(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError

    @property
    def out_channels(self) -> list[int]:
        return self.backbone.out_channels

    @property
    def strides(self) -> list[int]:
        return self.backbone.strides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.backbone(x), x.shape[-2:])

    def features_and_logits(self, x: torch.Tensor, need_logits: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        feats = self.backbone(x)
        return feats, self.logits(feats, x.shape[-2:]) if need_logits else None

    def checkpoint_module(self) -> nn.Module:
        """The module whose state dict teacher.checkpoint holds (this one: backbone.* and the head's keys)."""
        return self


def seg_skip_stage(strides: list[int]) -> int:
    """The stage a Segmenter's head skips from: the first at stride >= 4 (finer stages cost much more than they add
    on small frames)."""
    return next((i for i, s in enumerate(strides) if s >= 4), 0)


class Segmenter(HeadedNet):
    """Backbone + SegHead: (B, C, H, W) -> (B, num_classes, H, W) logits."""

    def __init__(self, backbone: FeatureNet, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = SegHead(backbone.out_channels, num_classes, hidden, seg_skip_stage(backbone.strides))

    def logits(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.head(feats, size)
