"""Builds every network a config names, whatever its family: the one module that knows families exist.

`arch` is a built-in name (crossmodal.archs.ARCHS), `timm:<model>`, `torchvision:<model>` or
`python:<module>:<callable>` (docs/networks.md). Students are feature backbones (crossmodal.models.features) that
get the project's heads; teachers give features and logits: the project's head on a backbone, or the network's own
head (torchvision segmentation models, your own code).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Sequence

from torch import nn

from crossmodal.archs import parse_arch
from crossmodal.models.classifier import Classifier
from crossmodal.models.features import FeatureNet
from crossmodal.models.own_head import OwnHeadNet
from crossmodal.models.segmenter import Segmenter
from crossmodal.tasks import get_task

ADAPTERS = {"builtin": "builtin", "timm": "timm_nets", "torchvision": "torchvision_nets", "python": "python_nets"}


def _adapter(family: str) -> ModuleType:
    return importlib.import_module(f"crossmodal.models.families.{ADAPTERS[family]}")


def build_backbone(arch: str, in_channels: int, *, features: Sequence[str] = (), pretrained: str = "",
                   num_classes: int = 0, key: str = "student") -> FeatureNet:
    """A feature backbone for `arch` with `in_channels` inputs (weights random, or from the local `pretrained`)."""
    spec = parse_arch(arch, f"{key}.arch")
    return _adapter(spec.family).backbone(spec.name, in_channels, list(features), pretrained, num_classes, key)


def build_teacher(arch: str, in_channels: int, num_classes: int, *, task: str = "segmentation",
                  features: Sequence[str] = (), pretrained: str = "", head_channels: int = 64,
                  key: str = "teacher.net", state_keys: frozenset[str] | set[str] = frozenset()) -> nn.Module:
    """A teacher network: features_and_logits(x, need_logits), forward(x) -> logits, out_channels, strides, and
    checkpoint_module() (whose state dict teacher.checkpoint holds). `state_keys` are the checkpoint's keys, for
    families whose layout depends on how the network was trained (an auxiliary head)."""
    spec = parse_arch(arch, f"{key}.arch")
    adapter = _adapter(spec.family)
    own = adapter.segmentation_model(spec.name, in_channels, num_classes, list(features), pretrained, key,
                                     set(state_keys))
    if own is not None:
        model, taps = own
        return OwnHeadNet(model, taps, in_channels, num_classes, task, f"{key}.arch={spec}")
    backbone = adapter.backbone(spec.name, in_channels, list(features), pretrained, num_classes, key)
    if not get_task(task).per_pixel:
        return Classifier(backbone, num_classes)
    return Segmenter(backbone, num_classes, head_channels)


def code_fingerprint(arch: str) -> str:
    """What the network's code depends on besides its config (a library version, your module's source), so a
    cached teacher trained from it is not reused after the code changed."""
    spec = parse_arch(arch)
    return _adapter(spec.family).fingerprint(spec.name)
