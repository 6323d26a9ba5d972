"""What `student.arch` and `teacher.net.arch` may name, free of torch.

Configs are checked before anything heavy is imported. A name is one of the built-in ResNet layouts, which
crossmodal.models.backbone builds, or a name in the families timm, torchvision and python, which
crossmodal.models.networks builds (docs/networks.md).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from crossmodal.errors import ConfigError


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

# Network families a config can name as `<family>:<name>`; a bare name is one of ARCHS above.
FAMILIES = {
    "timm": "any timm model that supports features_only, e.g. timm:mobilenetv3_large_100",
    "torchvision": "a torchvision classification backbone (resnet*, mobilenet_v3_*, efficientnet_*, convnext_*, "
                   "regnet_*) or, as a teacher, a segmentation model (deeplabv3_*, fcn_*, lraspp_*)",
    "python": "your own code as python:<module>:<callable>, called as callable(num_classes=C, in_channels=K)",
}


@dataclass(frozen=True)
class ArchSpec:
    """A parsed `arch` value: the family ('builtin', 'timm', 'torchvision', 'python') and the name within it."""

    family: str
    name: str

    def __str__(self) -> str:
        return self.name if self.family == "builtin" else f"{self.family}:{self.name}"


def parse_arch(value: str, key: str = "arch") -> ArchSpec:
    """Split `value` into family and name, checking what can be checked without importing torch."""

    if ":" not in value:
        if value not in ARCHS:
            near = difflib.get_close_matches(value, list(ARCHS), n=3, cutoff=0.5)
            raise ConfigError(
                f"config key '{key}' has unknown network '{value}'"
                + (f"; did you mean {', '.join(near)}?" if near else "")
                + f" (built in: {', '.join(ARCHS)}; or timm:<model>, torchvision:<model>, python:<module>:<callable>)")
        return ArchSpec("builtin", value)
    family, name = value.split(":", 1)
    if family not in FAMILIES:
        near = difflib.get_close_matches(family, list(FAMILIES), n=1, cutoff=0.4)
        raise ConfigError(f"config key '{key}' has unknown network family '{family}' in '{value}'"
                          + (f"; did you mean {near[0]}:{name}?" if near else "")
                          + f" (families: {', '.join(FAMILIES)}, or a built-in name: {', '.join(ARCHS)})")
    if family == "python":
        module, _, attr = name.partition(":")
        if not module or not attr or ":" in attr:
            raise ConfigError(f"config key '{key}' is '{value}'; a network of your own is named "
                              f"python:<module>:<callable>, e.g. python:my_robot.nets:build_depth_net")
    elif not name:
        raise ConfigError(f"config key '{key}' is '{value}': name the model after '{family}:' ({FAMILIES[family]})")
    return ArchSpec(family, name)
