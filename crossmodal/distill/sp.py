"""`sp`: similarity-preserving KD (Tung & Mori, ICCV 2019) as RepDistiller's Similarity, on one stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.stages import OneStage


def batch_similarity(f: torch.Tensor) -> torch.Tensor:
    """(B, B) Gram matrix of the flattened maps with every row L2-normalised."""
    f = f.flatten(1)
    return F.normalize(f @ f.T, dim=1)


def sp_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance of the two batch-similarity matrices divided by B^2 (any C, H, W)."""
    return (batch_similarity(t) - batch_similarity(s)).pow(2).sum() / s.shape[0] ** 2


class SP(OneStage):
    """Matches how similar the samples of a batch are to each other, as seen by student and teacher."""

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return sp_loss(s, t)
