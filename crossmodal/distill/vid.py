"""`vid`: variational information distillation (Ahn et al., CVPR 2019) as RepDistiller's VIDLoss, per stage."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.stages import PerStage, match_size


class VIDHead(nn.Module):
    """Gaussian q(t | s): mean from a 3-layer 1x1 regressor, per-channel variance softplus(log_scale) + eps."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, init_pred_var: float,
                 eps: float) -> None:
        super().__init__()
        self.regressor = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False))
        self.log_scale = nn.Parameter(torch.full((out_channels,), math.log(math.expm1(init_pred_var - eps))))
        self.eps = eps

    def variance(self) -> torch.Tensor:
        """(C,) predicted variance; starts at init_pred_var."""
        return F.softplus(self.log_scale) + self.eps

    def forward(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of t under q, without the constant.

        The teacher map is resampled to the student grid first.
        """
        s, t = match_size(s, t)
        var = self.variance().view(1, -1, 1, 1)
        return (0.5 * ((self.regressor(s) - t).pow(2) / var + var.log())).mean()


class VID(PerStage):
    """Sum over the chosen stages ([] = every stage) of the Gaussian NLL of the teacher map given the student's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg, teacher = self.cfg, self.teacher_channels
        self.heads = nn.ModuleList(
            VIDHead(self.student_channels[i], cfg.mid_channels or teacher[i], teacher[i], cfg.init_pred_var, cfg.eps)
            for i in self.layers)

    def stage_loss(self, k: int, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.heads[k](s, t)
