"""A CRD variant plus pixel-wise KD as one distiller (`crd+kd`, `crd_dense+kd`).

Each combination names its CRD part once; the weighted sum is written here.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from crossmodal.distill.base import Distiller, FloatMaps
from crossmodal.distill.kd import KD


class PlusKD(Distiller):
    """weight * (the CRD part's weighted loss + kd.weight * KD through the distiller's own head).

    A subclass names the CRD part's class and its config section, which is also the attribute, so checkpoints and
    loss terms keep the name. Each part is built with its own config key (transfer.crd_kd.crd, transfer.crd_kd.kd).
    """

    part: ClassVar[type[Distiller]]
    part_key: ClassVar[str]  # e.g. "crd": transfer.<this method>.crd and self.crd

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        shape = (self.student_channels, self.teacher_channels, self.num_samples)
        self.add_module(self.part_key, self.part(*shape, getattr(self.cfg, self.part_key), self.seed,
                                                 key=f"{self.key}.{self.part_key}"))
        self.kd = KD(*shape, self.cfg.kd, self.seed, key=f"{self.key}.kd")

    def teacher_stages(self) -> set[int]:
        return getattr(self, self.part_key).teacher_stages() | self.kd.teacher_stages()

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        return getattr(self, self.part_key)(student, teacher, index) + self.kd(student, teacher, index, teacher_logits)
