"""`at`: attention transfer (Zagoruyko & Komodakis, ICLR 2017) as RepDistiller's Attention, on every stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.stages import PerStage, match_size


def attention_map(f: torch.Tensor, p: float) -> torch.Tensor:
    """(B, H*W) spatial attention: mean over channels of |f|^p, flattened and L2-normalised per sample."""
    return F.normalize(f.abs().pow(p).mean(1).flatten(1), dim=1)


def at_loss(s: torch.Tensor, t: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Mean squared difference of the two attention maps, after pooling to a common size."""
    s, t = match_size(s, t)
    return (attention_map(s, p) - attention_map(t, p)).pow(2).mean()


class AT(PerStage):
    """Sum over the chosen stages of the attention-map loss; channel counts may differ, sizes are pooled."""

    def stage_loss(self, k: int, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return at_loss(s, t, self.cfg.p)
