"""`crd_dense+kd`: dense CRD on the features plus pixel-wise KD on the teacher's logits, as one distiller.

Dense CRD alone learns much of what it teaches from pairing the two sensors at all (the random-teacher control,
docs/protocols.md); KD reads only what the teacher learned. The sum carries both."""
from __future__ import annotations

from crossmodal.distill.base import Distiller, register
from crossmodal.distill.crd_dense import DenseCRD
from crossmodal.distill.kd import KD
from crossmodal.distill.options import DenseCRDKDConfig


@register
class DenseCRDKD(Distiller):
    """weight * (crd_dense.weight * dense CRD + kd.weight * KD through the distiller's own head)."""

    name = "crd_dense+kd"
    Config = DenseCRDKDConfig
    needs_teacher_logits = True

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.crd_dense = DenseCRD(student_channels, teacher_channels, num_samples, cfg.crd_dense, seed)
        self.kd = KD(student_channels, teacher_channels, num_samples, cfg.kd, seed, key="transfer.crd_dense_kd.kd")
        self.finish_init()

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        crd = self.crd_dense(student_feats, [t.detach() for t in teacher_feats], index)
        return self.weight * (crd + self.kd(student_feats, teacher_feats, index, teacher_logits))
