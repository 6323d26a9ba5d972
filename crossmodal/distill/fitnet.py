"""`fitnet`: FitNets hints (Romero et al., ICLR 2015) as RepDistiller's HintLoss through its ConvReg regressor."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.at import match_size, stage_index
from crossmodal.distill.base import Distiller


def conv_regressor(in_channels: int, out_channels: int) -> nn.Sequential:
    """RepDistiller's ConvReg for equal sizes: 1x1 conv to the teacher's width, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels), nn.ReLU())


class FitNet(Distiller):
    """MSE between the regressed student map and the teacher map of one stage (teacher resampled to the student grid)."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.fitnet.layer")
        self.regressor = conv_regressor(student_channels[self.layer], teacher_channels[self.layer])

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s, t = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s.device.type, enabled=False):
            s, t = match_size(self.regressor(s.float()), t.detach().float())
            return self.weight * F.mse_loss(s, t)
