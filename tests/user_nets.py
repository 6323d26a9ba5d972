"""Source of a user's own networks, written into a temporary folder by tests (python:<module>:<callable>)."""

SOURCE = '''
import torch
from torch import nn


class TinySeg(nn.Module):
    """A small segmentation network of the kind a user brings: named stages and its own head."""

    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage1 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(16, 24, 3, 2, 1), nn.BatchNorm2d(24), nn.ReLU())
        self.head = nn.Conv2d(24, num_classes, 1)

    def forward(self, x):
        return {"out": self.head(self.stage2(self.stage1(self.stem(x))))}  # stride-8 logits: upsampled for us


def tiny_seg(num_classes, in_channels):
    return TinySeg(num_classes, in_channels)


def not_a_module(num_classes, in_channels):
    return "oops"


def wrong_signature(classes):
    return TinySeg(classes, 3)


class Buggy(TinySeg):
    def forward(self, x):
        raise ValueError("a shape bug in the user's own code")


def buggy(num_classes, in_channels):
    return Buggy(num_classes, in_channels)
'''


def install(folder, monkeypatch, name="my_nets"):
    """Write the module into `folder` and put it on the Python path (as PYTHONPATH would)."""
    (folder / f"{name}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    return name
