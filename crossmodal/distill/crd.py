"""`crd`: CRD as the paper applies it, on globally pooled features with a memory bank of every sample."""
from __future__ import annotations

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller
from crossmodal.distill.crd_loss import CRDLoss


class PooledCRD(Distiller):
    """Pools one stage of each network to a vector and applies CRDLoss (both directions, NCE by default)."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        cfg.check_data("transfer.crd", num_samples)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.crd.layer")
        self.crd = CRDLoss(student_channels[self.layer], teacher_channels[self.layer], num_samples,
                           feat_dim=cfg.feat_dim, num_negatives=cfg.num_negatives, temperature=cfg.temperature,
                           momentum=cfg.momentum, objective=cfg.objective, negatives=cfg.negatives, seed=seed)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s = student_feats[self.layer].float().mean(dim=(2, 3))
        t = teacher_feats[self.layer].detach().float().mean(dim=(2, 3))
        return self.weight * self.crd(s, t, index)
