"""`vid`: variational information distillation (Ahn et al., CVPR 2019) as RepDistiller's VIDLoss, per stage."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.at import match_size, stage_pairs
from crossmodal.distill.base import Distiller


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
        """Mean negative log-likelihood (without the constant) of t under q, the teacher map resampled to the student grid."""
        s, t = match_size(s, t)
        var = self.variance().view(1, -1, 1, 1)
        return (0.5 * ((self.regressor(s) - t).pow(2) / var + var.log())).mean()


class VID(Distiller):
    """Sum over the chosen stages ([] = every stage) of the Gaussian NLL of the teacher map given the student's."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layers = stage_pairs(cfg.layers, len(student_channels), len(teacher_channels), "transfer.vid.layers")
        self.heads = nn.ModuleList(
            VIDHead(student_channels[i], cfg.mid_channels or teacher_channels[i], teacher_channels[i],
                    cfg.init_pred_var, cfg.eps) for i in self.layers)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        with torch.autocast(device_type=student_feats[0].device.type, enabled=False):
            loss = sum(head(student_feats[i].float(), teacher_feats[i].detach().float())
                       for i, head in zip(self.layers, self.heads))
            return self.weight * loss
