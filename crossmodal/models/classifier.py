"""Backbone + global average pooling + a linear layer: the teacher of image-level tasks (e.g. L -> ab)."""
from __future__ import annotations

import torch
from torch import nn

from crossmodal.models.backbone import ResNetBackbone


class Classifier(nn.Module):
    """(B, C, H, W) -> (B, num_classes) logits from the pooled last stage."""

    def __init__(self, backbone: ResNetBackbone, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.out_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1].mean(dim=(2, 3)))
