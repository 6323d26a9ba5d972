"""`crd`: CRD as the paper applies it, on globally pooled features with a memory bank of every sample."""
from __future__ import annotations

import torch

from crossmodal.distill.base import Distiller, register
from crossmodal.distill.crd_loss import CRDLoss


@register
class PooledCRD(Distiller):
    """Pools one stage of each network to a vector and applies CRDLoss (both directions, NCE by default)."""

    name = "crd"

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        if cfg.num_negatives >= num_samples and cfg.negatives != "queue":
            raise ValueError(f"transfer.crd.num_negatives={cfg.num_negatives} must be smaller than the number of "
                             f"unlabeled pairs ({num_samples}) for the memory-bank modes")
        self.layer = cfg.layer
        self.crd = CRDLoss(student_channels[cfg.layer], teacher_channels[cfg.layer], num_samples,
                           feat_dim=cfg.feat_dim, num_negatives=cfg.num_negatives, temperature=cfg.temperature,
                           momentum=cfg.momentum, objective=cfg.objective, negatives=cfg.negatives, seed=seed)
        self.finish_init()

    def forward(self, student_feats, teacher_feats, index):
        s = student_feats[self.layer].float().mean(dim=(2, 3))
        t = teacher_feats[self.layer].float().mean(dim=(2, 3))
        return self.weight * self.crd(s, t, index)
