"""The project's own ResNet layouts (crossmodal.config.archs.ARCHS): the embedded default's networks."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.backbone import build_resnet
from crossmodal.models.features import FeatureNet
from crossmodal.models.weight_sources import local_weights


def backbone(name: str, in_channels: int, features: Sequence[str], pretrained: str, num_classes: int,
             key: str, allow_download: bool = False) -> FeatureNet:
    if features:
        raise NetworkError(f"config key '{key}.features' is {list(features)}, but the built-in '{name}' gives every "
                           f"stage already (layer1...); leave it empty")
    pretrained = local_weights("builtin", name, pretrained, allow_download, key)  # resnet18/34/50: torchvision's
    return build_resnet(name, in_channels, pretrained, f"{key}.pretrained")


def segmentation_model(name: str, in_channels: int, num_classes: int, features: Sequence[str], pretrained: str,
                       key: str, state_keys: set[str],
                       allow_download: bool = False) -> tuple[nn.Module, list[str]] | None:
    return None  # built-in backbones get the project's head


def fingerprint(name: str) -> str:
    return ""  # part of this project: covered by the config alone
