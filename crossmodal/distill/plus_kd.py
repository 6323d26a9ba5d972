"""A CRD variant plus pixel-wise KD as one distiller (`crd+kd`, `crd_dense+kd`): each combination names its CRD
part once, and the weighted sum is written here."""
from __future__ import annotations

from typing import ClassVar

from crossmodal.config.distillers import config_key
from crossmodal.distill.base import Distiller
from crossmodal.distill.kd import KD


class PlusKD(Distiller):
    """weight * (the CRD part's weighted loss + kd.weight * KD through the distiller's own head). A subclass names
    the CRD part's class and its config section (also the attribute, so checkpoints and loss terms keep the name)."""

    part: ClassVar[type[Distiller]]
    part_key: ClassVar[str]  # e.g. "crd": transfer.<this method>.crd and self.crd

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        key = f"transfer.{config_key(self.name)}"
        cfg.check_data(key, num_samples)
        self.add_module(self.part_key, self.part(student_channels, teacher_channels, num_samples,
                                                 getattr(cfg, self.part_key), seed))
        self.kd = KD(student_channels, teacher_channels, num_samples, cfg.kd, seed, key=f"{key}.kd")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        crd = getattr(self, self.part_key)(student_feats, [t.detach() for t in teacher_feats], index)
        return self.weight * (crd + self.kd(student_feats, teacher_feats, index, teacher_logits))
