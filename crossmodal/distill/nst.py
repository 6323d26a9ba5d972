"""`nst`: neuron selectivity transfer (Huang & Wang, 2017) as RepDistiller's NSTLoss, on every stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.stages import PerStage, match_size


def poly_kernel_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over samples and channel pairs of (a_i . b_j)^2 (polynomial kernel, degree 2, c = 0)."""
    return torch.bmm(a, b.transpose(1, 2)).pow(2).mean()


def nst_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Squared MMD between the channels' L2-normalised spatial maps.

    The teacher map is resampled to the student grid first; channel counts may differ.
    """
    s, t = match_size(s, t)
    s = F.normalize(s.flatten(2), dim=2)
    t = F.normalize(t.flatten(2), dim=2).detach()
    return poly_kernel_mean(t, t) + poly_kernel_mean(s, s) - 2 * poly_kernel_mean(s, t)


class NST(PerStage):
    """Sum over the chosen stages of the MMD between the distributions of student and teacher channel maps."""

    def stage_loss(self, k: int, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return nst_loss(s, t)
