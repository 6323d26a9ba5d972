"""`crd_dense_logits`: dense CRD against the teacher's per-pixel logits instead of its backbone features.

The teacher's logits are where what it learned (its classes) is written; an untrained teacher's logits are a random
projection of random features. The student side is a segmentation-style head of the distiller's own (as `kd` has)
over the student's stages, so the backbone learns to tell apart what the teacher tells apart."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.base import FloatMaps
from crossmodal.distill.crd_dense import DenseContrast, at_points, symmetric_infonce
from crossmodal.distill.kd import check_logits, student_head


class DenseCRDLogits(DenseContrast):
    """Contrasts the student's own head with the teacher's logits at random locations.

    A SegHead over the student's stages embeds every location at the skip stage's resolution; the teacher's
    logits, averaged down to that grid, are embedded by a linear map. P random locations per frame are contrasted
    by cosine similarity, each against all other sampled locations of the batch, both ways (symmetric InfoNCE).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        self.embed_student = student_head(self.student_channels, cfg, cfg.feat_dim, self.key)
        self.embed_teacher = nn.Linear(cfg.num_classes, cfg.feat_dim)

    def teacher_stages(self) -> set[int]:
        return set()  # the teacher's logits only

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        check_logits("crd_dense_logits", teacher_logits, self.cfg.num_classes)
        maps = list(student)
        grid = tuple(maps[self.embed_student.skip_stage].shape[-2:])
        s_map = self.embed_student(maps, grid)
        t_map = F.adaptive_avg_pool2d(teacher_logits, grid)
        pts = self.points(s_map)
        s = at_points(s_map, pts)
        t = self.embed_teacher(at_points(t_map, pts))
        return symmetric_infonce(s, t, self.cfg.temperature)
