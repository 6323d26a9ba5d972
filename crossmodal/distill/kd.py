"""`kd`: pixel-wise Hinton KD on the teacher's logits, through a segmentation head the distiller owns and trains."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from crossmodal.distill.base import Distiller, DistillerConfig, register
from crossmodal.errors import ConfigError, check
from crossmodal.models.segmenter import SegHead


def pixel_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) summed over classes, averaged over samples and pixels, times T^2."""
    log_s = F.log_softmax(student_logits / temperature, dim=1)
    log_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    pixels = student_logits.numel() // student_logits.shape[1]
    return F.kl_div(log_s, log_t, reduction="sum", log_target=True) / pixels * temperature ** 2


@dataclass
class KDConfig(DistillerConfig):
    """transfer.kd: weight, temperature, and the student's segmentation head (classes, width, skip stage)."""

    weight: float = 1.0
    temperature: float = 4.0
    num_classes: int = 0  # 0 = not known yet: the pipeline fills it from the data before building the distiller
    hidden: int = 64
    skip_stage: int = 1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.temperature > 0, f"{key}.temperature", "> 0", self.temperature)
        check(self.num_classes >= 0, f"{key}.num_classes", ">= 0 (0 = from the data)", self.num_classes)
        check(self.hidden >= 1, f"{key}.hidden", ">= 1", self.hidden)


def fill_num_classes(section: Any, num_classes: int, key: str = "transfer") -> None:
    """Set num_classes of every KDConfig inside a config section (e.g. cfg.transfer) that left it at 0."""
    if isinstance(section, KDConfig):
        check(section.num_classes in (0, num_classes), f"{key}.num_classes",
              f"0 or the data's class count ({num_classes})", section.num_classes)
        section.num_classes = num_classes
    elif dataclasses.is_dataclass(section):
        for f in dataclasses.fields(section):
            fill_num_classes(getattr(section, f.name), num_classes, f"{key}.{f.name}")


@register
class KD(Distiller):
    """A SegHead over the student's stages predicts per-pixel classes at the teacher logits' resolution; the
    loss is Hinton's KD at temperature T against the teacher's logits (the head is trained with the student)."""

    name = "kd"
    Config = KDConfig
    needs_teacher_logits = True

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0, key: str = "transfer.kd") -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        if cfg.num_classes < 1:
            raise ConfigError(f"config key '{key}.num_classes' must be the teacher's class count (>= 1) when the "
                              f"distiller is built, got {cfg.num_classes} (fill it from the data)")
        n = len(student_channels)
        check(-n <= cfg.skip_stage < n, f"{key}.skip_stage", f"a stage index valid for {n} student stages",
              cfg.skip_stage)
        self.head = SegHead(student_channels, cfg.num_classes, cfg.hidden, cfg.skip_stage % n)
        self.finish_init()

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        if teacher_logits is None or teacher_logits.dim() != 4 or teacher_logits.shape[1] != self.cfg.num_classes:
            got = None if teacher_logits is None else tuple(teacher_logits.shape)
            raise ValueError(f"kd: expected teacher_logits of shape (B, {self.cfg.num_classes}, H, W), got {got}")
        with torch.autocast(device_type=teacher_logits.device.type, enabled=False):
            logits = self.head([f.float() for f in student_feats], teacher_logits.shape[-2:])
            return self.weight * pixel_kd(logits, teacher_logits.float(), self.cfg.temperature)
