"""A light FCN segmentation head, and the Segmenter: a backbone with that head.

The head fuses the last stage with a skip from a stride-4 stage.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.models.features import FeatureNet
from crossmodal.models.headed import HeadedNet


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """A bias-free convolution keeping the size, BatchNorm and ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SegHead(nn.Module):
    """Fuses the deepest features with an earlier stage (the skip), then classifies every pixel."""

    def __init__(self, in_channels: list[int], num_classes: int, hidden: int = 64, skip_stage: int = 0) -> None:
        super().__init__()
        self.skip_stage = skip_stage
        self.deep = _conv_bn_relu(in_channels[-1], hidden, 1)
        self.skip = _conv_bn_relu(in_channels[skip_stage], hidden, 1)
        self.fuse = _conv_bn_relu(hidden, hidden, 3)
        self.classifier = nn.Conv2d(hidden, num_classes, 1)

    def forward(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = self.deep(feats[-1])
        skip = self.skip(feats[self.skip_stage])
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
        x = self.classifier(self.fuse(x))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def seg_skip_stage(strides: list[int]) -> int:
    """The stage a Segmenter's head skips from: the first at stride >= 4.

    Finer stages cost much more than they add on small frames.
    """
    return next((i for i, s in enumerate(strides) if s >= 4), 0)


class Segmenter(HeadedNet):
    """Backbone + SegHead: (B, C, H, W) -> (B, num_classes, H, W) logits."""

    def __init__(self, backbone: FeatureNet, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = SegHead(backbone.out_channels, num_classes, hidden, seg_skip_stage(backbone.strides))

    def logits(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.head(feats, size)
