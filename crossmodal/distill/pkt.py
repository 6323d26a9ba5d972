"""`pkt`: probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018) as RepDistiller's PKT, pooled features."""
from __future__ import annotations

import torch

from crossmodal.distill.stages import OneStage


def conditional_probabilities(f: torch.Tensor, eps: float) -> torch.Tensor:
    """(B, B): cosine similarities mapped to [0, 1], each row divided by its sum."""
    f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)
    sim = (f @ f.T + 1.0) / 2.0
    return sim / sim.sum(1, keepdim=True)


def pkt_loss(s: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean over the B x B entries of p_t * log((p_t + eps) / (p_s + eps)), the KL of RepDistiller's PKT."""
    p_s = conditional_probabilities(s.flatten(1), eps)
    p_t = conditional_probabilities(t.flatten(1).detach(), eps)
    return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


class PKT(OneStage):
    """Matches the distributions of cosine-similarity neighbours within the batch (globally pooled features)."""

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return pkt_loss(s.mean(dim=(2, 3)), t.mean(dim=(2, 3)), self.cfg.eps)
