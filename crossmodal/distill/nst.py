"""`nst`: neuron selectivity transfer (Huang & Wang, 2017) as RepDistiller's NSTLoss, on every stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.at import match_size, stage_pairs
from crossmodal.distill.base import Distiller


def poly_kernel_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over samples and channel pairs of (a_i . b_j)^2 (polynomial kernel, degree 2, c = 0)."""
    return torch.bmm(a, b.transpose(1, 2)).pow(2).mean()


def nst_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Squared MMD between the channels' L2-normalised spatial maps (teacher resampled to the student grid; any C)."""
    s, t = match_size(s, t)
    s = F.normalize(s.flatten(2), dim=2)
    t = F.normalize(t.flatten(2), dim=2).detach()
    return poly_kernel_mean(t, t) + poly_kernel_mean(s, s) - 2 * poly_kernel_mean(s, t)


class NST(Distiller):
    """Sum over the chosen stages of the MMD between the distributions of student and teacher channel maps."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layers = stage_pairs(cfg.layers, len(student_channels), len(teacher_channels), "transfer.nst.layers")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        with torch.autocast(device_type=student_feats[0].device.type, enabled=False):
            loss = sum(nst_loss(student_feats[i].float(), teacher_feats[i].detach().float()) for i in self.layers)
            return self.weight * loss
