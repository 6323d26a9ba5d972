"""The backbone layouts selectable in configs (student.arch, teacher.net.arch), free of torch so configs are
checked before anything heavy is imported; crossmodal.models.backbone builds them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """A ResNet layout: block type ('basic' or 'bottleneck'), blocks and width per stage, and the stem."""

    block: str
    layers: tuple[int, ...]
    widths: tuple[int, ...]
    stem: str  # "imagenet": 7x7/2 conv + max-pool (stride 4); "light": one 3x3/2 conv (stride 2)
    stem_width: int


ARCHS: dict[str, Arch] = {
    # torchvision layouts: state dicts of torchvision.models.resnetXX load directly (fc is ignored).
    "resnet18": Arch("basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet", 64),
    "resnet34": Arch("basic", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet", 64),
    "resnet50": Arch("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet", 64),
    # Narrow CIFAR-style variants for CPU-sized runs on small frames.
    "resnet_narrow": Arch("basic", (1, 1, 1), (16, 32, 64), "light", 16),
    "resnet_narrow_wide": Arch("basic", (2, 2, 2), (32, 64, 128), "light", 32),
    "resnet_tiny": Arch("basic", (1, 1), (8, 16), "light", 8),
}
