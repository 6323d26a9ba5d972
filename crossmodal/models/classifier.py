"""Backbone + global average pooling + a linear layer: the teacher of image-level tasks (e.g. L -> ab)."""
from __future__ import annotations

import torch
from torch import nn

from crossmodal.models.features import FeatureNet
from crossmodal.models.headed import HeadedNet


class Classifier(HeadedNet):
    """(B, C, H, W) -> (B, num_classes) logits from the pooled last stage."""

    def __init__(self, backbone: FeatureNet, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.out_channels[-1], num_classes)

    def logits(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.fc(feats[-1].mean(dim=(2, 3)))
