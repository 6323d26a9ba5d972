"""Teacher wrappers that keep the teacher contract.

The contract: features_and_logits, out_channels, strides, checkpoint_module. The wrappers: a head-less feature backbone,
a teacher that sees frames resized to its own input size, and the teacher's features as a FeatureNet, for the frozen
probe of the teacher reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.models.features import FeatureNet
from crossmodal.models.headed import OverBackbone


class HeadlessTeacher(OverBackbone):
    """A frozen feature backbone used as a teacher (teacher.head: none): features only, no logits, no classes."""

    has_logits = False

    def __init__(self, backbone: FeatureNet) -> None:
        super().__init__()
        self.backbone = backbone

    def features_and_logits(self, x: torch.Tensor, need_logits: bool) -> tuple[list[torch.Tensor], None]:
        if need_logits:  # the config check refuses every logit distiller first: reaching this is a bug
            raise RuntimeError("a head-less teacher (teacher.head: none) has no logits")
        return self.backbone(x), None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's maps (a head-less teacher has no logits)."""
        return self.backbone(x)

    def checkpoint_module(self) -> nn.Module:
        """What teacher.pt holds for a head-less teacher: the backbone's weights."""
        return self.backbone


class ResizedTeacher(nn.Module):
    """The teacher fed frames resized, bilinear, to `size` (teacher.input_size).

    Its maps stay on its own grid and the distillers resample them to the student's; its logits come back at the frame
    size. Strides are stated against the frame, so every consumer sees maps of the same frame.
    """

    def __init__(self, teacher: nn.Module, size: tuple[int, int], frame: tuple[int, int]) -> None:
        super().__init__()
        self.teacher = teacher
        self.size = (int(size[0]), int(size[1]))
        self.has_logits = getattr(teacher, "has_logits", True)
        scale = frame[0] / self.size[0]
        self.strides = [max(1, round(s * scale)) for s in teacher.strides]

    @property
    def out_channels(self) -> list[int]:
        return self.teacher.out_channels

    @property
    def backbone(self) -> nn.Module:
        return getattr(self.teacher, "backbone", self.teacher)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == self.size:
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)

    def features_and_logits(self, x: torch.Tensor, need_logits: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        feats, logits = self.teacher.features_and_logits(self._resize(x), need_logits)
        if logits is not None and logits.dim() == 4:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return feats, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """The teacher's logits at the frame size (a head-less teacher's maps)."""
        if not self.has_logits:
            return self.teacher(self._resize(x))
        return self.features_and_logits(x, True)[1]

    def checkpoint_module(self) -> nn.Module:
        return self.teacher.checkpoint_module()


class TeacherFeatures(FeatureNet):
    """The teacher's tapped maps as a feature backbone (forward(x) -> [map, ...]), for probing them frozen."""

    def __init__(self, teacher: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.teacher = teacher
        self.in_channels = in_channels
        self.out_channels = list(teacher.out_channels)
        self.strides = list(teacher.strides)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.teacher.features_and_logits(x, False)[0]


def has_logits(teacher: nn.Module) -> bool:
    """Whether `teacher` predicts classes (False for a head-less feature backbone)."""
    return bool(getattr(teacher, "has_logits", True))
