"""`rkd`: relational KD (Park et al., CVPR 2019) as RepDistiller's RKDLoss, on pooled features of one stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.stages import OneStage


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


class RKD(OneStage):
    """Matches distance and angle relations between the globally pooled features of the batch's samples."""

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return rkd_loss(s.mean(dim=(2, 3)), t.mean(dim=(2, 3)), self.cfg.distance_weight, self.cfg.angle_weight)
