"""`rkd`: relational KD (Park et al., CVPR 2019) as RepDistiller's RKDLoss, on pooled features of one stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller


def pairwise_distances(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, B) Euclidean distances (squared ones clamped at eps before the root), zero diagonal."""
    sq = e.pow(2).sum(1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * e @ e.T).clamp(min=eps).sqrt()
    return d * (1 - torch.eye(e.shape[0], device=e.device, dtype=e.dtype))


def normalised_distances(e: torch.Tensor) -> torch.Tensor:
    """Pairwise distances divided by their mean over the B(B-1) distinct pairs."""
    d = pairwise_distances(e)
    b = e.shape[0]
    return d / (d.sum() / (b * (b - 1)))


def angles(e: torch.Tensor) -> torch.Tensor:
    """(B^3,) cosines of the angle at every j between (e_i - e_j) and (e_k - e_j)."""
    diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), dim=2)
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()


def rkd_loss(s: torch.Tensor, t: torch.Tensor, distance_weight: float, angle_weight: float) -> torch.Tensor:
    """distance_weight * smooth-L1 of mean-normalised distances + angle_weight * smooth-L1 of angles."""
    if s.shape[0] < 2:
        raise ValueError(f"rkd needs at least 2 samples per batch (transfer.batch_size), got {s.shape[0]}")
    s, t = s.flatten(1), t.flatten(1).detach()
    loss_d = F.smooth_l1_loss(normalised_distances(s), normalised_distances(t))
    loss_a = F.smooth_l1_loss(angles(s), angles(t))
    return distance_weight * loss_d + angle_weight * loss_a


class RKD(Distiller):
    """Matches distance and angle relations between the globally pooled features of the batch's samples."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.rkd.layer")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s, t = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s.device.type, enabled=False):
            loss = rkd_loss(s.float().mean(dim=(2, 3)), t.detach().float().mean(dim=(2, 3)),
                            self.cfg.distance_weight, self.cfg.angle_weight)
            return self.weight * loss
