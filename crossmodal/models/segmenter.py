"""A light FCN segmentation head over the last stage with a skip from the first, and backbone + head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.models.backbone import ResNetBackbone


class SegHead(nn.Module):
    """Fuses the deepest features with the first stage (upsampled), then classifies every pixel."""

    def __init__(self, in_channels: list[int], num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.deep = nn.Sequential(nn.Conv2d(in_channels[-1], hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.skip = nn.Sequential(nn.Conv2d(in_channels[0], hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(hidden, num_classes, 1)

    def forward(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = self.deep(feats[-1])
        skip = self.skip(feats[0])
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
        x = self.classifier(self.fuse(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    """Backbone + SegHead: (B, C, H, W) -> (B, num_classes, H, W) logits."""

    def __init__(self, backbone: ResNetBackbone, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = SegHead(backbone.out_channels, num_classes, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x), x.shape[-2:])
