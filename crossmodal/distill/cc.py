"""`cc`: correlation congruence (Peng et al., ICCV 2019) on linear embeddings of the pooled last stage."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller


def cc_repdistiller(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """RepDistiller's Correlation: d_i = |s_i - t_i|, mean over consecutive samples of d_i . d_{i+1}."""
    if s.shape[0] < 2:
        raise ValueError(f"cc needs at least 2 samples per batch (transfer.batch_size), got {s.shape[0]}")
    delta = (s - t).abs()
    return (delta[:-1] * delta[1:]).sum(1).mean()


def taylor_correlation(f: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    """(B, B) Gaussian RBF kernel of the L2-normalised rows, by its `order`-term Taylor expansion in the cosine."""
    sim = F.normalize(f, dim=1) @ F.normalize(f, dim=1).T
    return sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * sim.pow(p) for p in range(order + 1))


def cc_taylor(s: torch.Tensor, t: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    """The paper's form: mean squared difference of the two correlation matrices."""
    return F.mse_loss(taylor_correlation(s, gamma, order), taylor_correlation(t, gamma, order))


class CC(Distiller):
    """Embeds both pooled features linearly (both heads trained, as in RepDistiller) and matches correlations."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.cc.layer")
        self.embed_student = nn.Linear(student_channels[self.layer], cfg.feat_dim)
        self.embed_teacher = nn.Linear(teacher_channels[self.layer], cfg.feat_dim)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s, t = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s.device.type, enabled=False):
            s = self.embed_student(s.float().mean(dim=(2, 3)))
            t = self.embed_teacher(t.detach().float().mean(dim=(2, 3)))
            if self.cfg.kernel == "taylor":
                return self.weight * cc_taylor(s, t, self.cfg.gamma, self.cfg.order)
            return self.weight * cc_repdistiller(s, t)
