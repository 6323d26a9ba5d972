"""`crd+kd`: the paper's combination, pooled CRD (beta 0.8) plus pixel-wise KD (alpha 1), as one distiller."""
from __future__ import annotations

from crossmodal.distill.base import Distiller, register
from crossmodal.distill.options import CRDKDConfig
from crossmodal.distill.crd_pooled import PooledCRD
from crossmodal.distill.kd import KD


@register
class CRDKD(Distiller):
    """weight * (crd.weight * CRD on pooled features + kd.weight * KD through the distiller's own head)."""

    name = "crd+kd"
    Config = CRDKDConfig
    needs_teacher_logits = True

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        cfg.check_data("transfer.crd_kd", num_samples)
        self.crd = PooledCRD(student_channels, teacher_channels, num_samples, cfg.crd, seed)
        self.kd = KD(student_channels, teacher_channels, num_samples, cfg.kd, seed, key="transfer.crd_kd.kd")
        self.finish_init()

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        crd = self.crd(student_feats, [t.detach() for t in teacher_feats], index)
        return self.weight * (crd + self.kd(student_feats, teacher_feats, index, teacher_logits))
