"""`sp`: similarity-preserving KD (Tung & Mori, ICCV 2019) as RepDistiller's Similarity, on one stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller


def batch_similarity(f: torch.Tensor) -> torch.Tensor:
    """(B, B) Gram matrix of the flattened maps with every row L2-normalised."""
    f = f.flatten(1)
    return F.normalize(f @ f.T, dim=1)


def sp_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance of the two batch-similarity matrices divided by B^2 (any C, H, W)."""
    return (batch_similarity(t) - batch_similarity(s)).pow(2).sum() / s.shape[0] ** 2


class SP(Distiller):
    """Matches how similar the samples of a batch are to each other, as seen by student and teacher."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.sp.layer")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s, t = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s.device.type, enabled=False):
            return self.weight * sp_loss(s.float(), t.detach().float())
