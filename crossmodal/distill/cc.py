"""`cc`: correlation congruence (Peng et al., ICCV 2019) on linear embeddings of the pooled last stage."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.stages import OneStage


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


class CC(OneStage):
    """Embeds both pooled features linearly (both heads trained, as in RepDistiller) and matches correlations."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.embed_student = nn.Linear(self.student_channels[self.layer], self.cfg.feat_dim)
        self.embed_teacher = nn.Linear(self.teacher_channels[self.layer], self.cfg.feat_dim)

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        s = self.embed_student(s.mean(dim=(2, 3)))
        t = self.embed_teacher(t.mean(dim=(2, 3)))
        if self.cfg.kernel == "taylor":
            return cc_taylor(s, t, self.cfg.gamma, self.cfg.order)
        return cc_repdistiller(s, t)
