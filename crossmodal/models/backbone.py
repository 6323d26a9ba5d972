"""ResNet backbones (torchvision blocks and parameter names) with any input channel count, returning every stage."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from crossmodal.config.archs import ARCHS, Arch
from crossmodal.errors import NetworkError
from crossmodal.models.features import FeatureNet
from crossmodal.models.weights import adapt_input_conv, describe, mismatch, read_state_dict

BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNetBackbone(FeatureNet):
    """A ResNet trunk whose forward returns the output of every stage (strides grow by 2 per stage)."""

    def __init__(self, arch: str | Arch, in_channels: int = 3) -> None:
        super().__init__()
        spec = ARCHS[arch] if isinstance(arch, str) else arch
        self.arch = arch if isinstance(arch, str) else "custom"
        self.in_channels = in_channels
        block = BLOCKS[spec.block]
        if spec.stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, spec.stem_width, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
            stem_stride = 4
        else:
            self.conv1 = nn.Conv2d(in_channels, spec.stem_width, 3, 2, 1, bias=False)
            self.maxpool = nn.Identity()
            stem_stride = 2
        self.bn1 = nn.BatchNorm2d(spec.stem_width)
        self.relu = nn.ReLU(inplace=True)
        inplanes = spec.stem_width
        self.out_channels: list[int] = []
        self.strides: list[int] = []
        stride_now = stem_stride
        for i, (n, w) in enumerate(zip(spec.layers, spec.widths)):
            stride = 1 if i == 0 else 2
            stride_now *= stride
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or inplanes != w * block.expansion:
                    down = nn.Sequential(nn.Conv2d(inplanes, w * block.expansion, 1, s, bias=False),
                                         nn.BatchNorm2d(w * block.expansion))
                blocks.append(block(inplanes, w, s, down))
                inplanes = w * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.out_channels.append(inplanes)
            self.strides.append(stride_now)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.to(memory_format=torch.channels_last)  # about 20% faster convolutions on CPU and under AMP on GPU

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
            feats.append(x)
        return feats


def load_pretrained(backbone: ResNetBackbone, path: str | Path, key: str = "pretrained") -> list[str]:
    """Load a local torchvision ResNet state dict into `backbone`; returns the ignored keys.

    The file may also be a checkpoint holding one. The first convolution is adapted when the channel count differs.
    Ignored keys are those the backbone does not use, such as fc.
    """
    state = read_state_dict(path, key, hint=(
        "Expected a torchvision ResNet state dict saved with torch.save(model.state_dict(), ...), e.g. "
        "resnet18-f37072fd.pth from the torchvision model zoo; download it on a machine with internet access and "
        "name its local path in the config"))
    state = {k.removeprefix("backbone."): v for k, v in state.items()}
    if "conv1.weight" in state:
        state["conv1.weight"] = adapt_input_conv(backbone.in_channels, state["conv1.weight"])
    missing, ignored, shapes = mismatch(backbone, state)
    if missing or shapes:
        raise NetworkError(f"config key '{key}': {path} does not fit backbone '{backbone.arch}': "
                           + describe(missing, [], shapes))
    backbone.load_state_dict({k: v for k, v in state.items() if k not in ignored})
    return ignored


def build_resnet(arch: str, in_channels: int, pretrained: str = "", key: str = "pretrained") -> ResNetBackbone:
    """A built-in backbone by registry name, optionally initialised from a local weights file."""
    net = ResNetBackbone(arch, in_channels)
    if pretrained:
        load_pretrained(net, pretrained, key)
    return net
