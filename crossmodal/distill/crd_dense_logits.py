"""`crd_dense_logits`: dense CRD against the teacher's per-pixel logits instead of its backbone features.

The teacher's logits are where what it learned (its classes) is written; an untrained teacher's logits are a random
projection of random features. The student side is a segmentation-style head of the distiller's own (as `kd` has)
over the student's stages, so the backbone learns to tell apart what the teacher tells apart."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.base import Distiller
from crossmodal.distill.crd_dense import sample_points, symmetric_infonce
from crossmodal.distill.kd import student_head


def _at_points(feat: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """(B*P, C) bilinear samples of a (B, C, H, W) map at (B, P, 1, 2) normalised points, frame-major."""
    picked = F.grid_sample(feat, pts, mode="bilinear", align_corners=False)  # (B, C, P, 1)
    return picked.squeeze(-1).transpose(1, 2).reshape(-1, picked.shape[1])


class DenseCRDLogits(Distiller):
    """A SegHead over the student's stages embeds every location at the skip stage's resolution; the teacher's
    logits, averaged down to that grid, are embedded by a linear map. P random locations per frame are contrasted
    by cosine similarity, each against all other sampled locations of the batch, both ways (symmetric InfoNCE)."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0, key: str = "transfer.crd_dense_logits") -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.embed_student = student_head(student_channels, cfg, cfg.feat_dim, key)
        self.embed_teacher = nn.Linear(cfg.num_classes, cfg.feat_dim)
        self.generator = torch.Generator().manual_seed(seed)

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        if teacher_logits is None or teacher_logits.dim() != 4 or teacher_logits.shape[1] != self.cfg.num_classes:
            got = None if teacher_logits is None else tuple(teacher_logits.shape)
            raise ValueError(f"crd_dense_logits: expected teacher_logits of shape (B, {self.cfg.num_classes}, H, W), "
                             f"got {got}")
        with torch.autocast(device_type=teacher_logits.device.type, enabled=False):
            grid = tuple(student_feats[self.embed_student.skip_stage].shape[-2:])
            s_map = self.embed_student([f.float() for f in student_feats], grid)
            t_map = F.adaptive_avg_pool2d(teacher_logits.detach().float(), grid)
            pts = sample_points(s_map.shape[0], self.cfg.num_locations, self.generator, s_map.device)
            s = _at_points(s_map, pts)
            t = self.embed_teacher(_at_points(t_map, pts))
            return self.weight * symmetric_infonce(s, t, self.cfg.temperature)
