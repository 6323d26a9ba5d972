"""`crd_dense`: the CRD objective on dense features; the positive is the same place seen by the other sensor."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.base import Distiller, register
from crossmodal.distill.options import DenseCRDConfig


def sample_points(batch: int, num: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(B, P, 1, 2) random points in grid_sample's normalised [-1, 1] coordinates."""
    pts = torch.rand(batch, num, 1, 2, generator=generator) * 2 - 1
    return pts.to(device)


def symmetric_infonce(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE in both directions over N paired unit vectors: pair i is the positive, the other N-1 negatives."""
    logits = s @ t.T / temperature
    target = torch.arange(s.shape[0], device=s.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)


@register
class DenseCRD(Distiller):
    """Embeds P random locations per image from one stage of each network (1x1 heads, L2-normalised) and
    contrasts every student location with the teacher's embedding at the same location against all
    other sampled locations of the batch, and vice versa (symmetric InfoNCE at temperature tau)."""

    name = "crd_dense"
    Config = DenseCRDConfig

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = cfg.layer
        self.embed_student = nn.Conv2d(student_channels[cfg.layer], cfg.feat_dim, 1)
        self.embed_teacher = nn.Conv2d(teacher_channels[cfg.layer], cfg.feat_dim, 1)
        self.generator = torch.Generator().manual_seed(seed)
        self.finish_init()

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def _embed(self, head: nn.Module, feat: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
        picked = F.grid_sample(feat.float(), pts, mode="bilinear", align_corners=False)  # (B, C, P, 1)
        emb = head(picked).squeeze(-1)  # (B, D, P)
        return F.normalize(emb.transpose(1, 2).reshape(-1, emb.shape[1]), dim=1)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s_map, t_map = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s_map.device.type, enabled=False):
            pts = sample_points(s_map.shape[0], self.cfg.num_locations, self.generator, s_map.device)
            s = self._embed(self.embed_student, s_map, pts)
            t = self._embed(self.embed_teacher, t_map.detach(), pts)
            return self.weight * symmetric_infonce(s, t, self.cfg.temperature)
