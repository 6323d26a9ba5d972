"""`fitnet`: FitNets hints (Romero et al., ICLR 2015) as RepDistiller's HintLoss through its ConvReg regressor."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.stages import OneStage, match_size


def conv_regressor(in_channels: int, out_channels: int) -> nn.Sequential:
    """RepDistiller's ConvReg for equal sizes: 1x1 conv to the teacher's width, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels), nn.ReLU())


class FitNet(OneStage):
    """MSE between the regressed student map and the teacher map of one stage.

    The teacher map is resampled to the student grid.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.regressor = conv_regressor(self.student_channels[self.layer], self.teacher_channels[self.layer])

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(*match_size(self.regressor(s), t))
