"""`crd`: CRD as the paper applies it, on globally pooled features with a memory bank of every sample."""
from __future__ import annotations

import torch

from crossmodal.distill.crd_loss import CRDLoss
from crossmodal.distill.stages import OneStage


class PooledCRD(OneStage):
    """Pools one stage of each network to a vector and applies CRDLoss (both directions, NCE by default)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        self.crd = CRDLoss(self.student_channels[self.layer], self.teacher_channels[self.layer], self.num_samples,
                           feat_dim=cfg.feat_dim, num_negatives=cfg.num_negatives, temperature=cfg.temperature,
                           momentum=cfg.momentum, objective=cfg.objective, negatives=cfg.negatives, seed=self.seed)

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.crd(s.mean(dim=(2, 3)), t.mean(dim=(2, 3)), index)
