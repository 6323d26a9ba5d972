"""`pkt`: probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018) as RepDistiller's PKT, pooled features."""
from __future__ import annotations

import torch

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller


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


class PKT(Distiller):
    """Matches the distributions of cosine-similarity neighbours within the batch (globally pooled features)."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer = stage_index(cfg.layer, len(student_channels), len(teacher_channels), "transfer.pkt.layer")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s, t = student_feats[self.layer], teacher_feats[self.layer]
        with torch.autocast(device_type=s.device.type, enabled=False):
            loss = pkt_loss(s.float().mean(dim=(2, 3)), t.detach().float().mean(dim=(2, 3)), self.cfg.eps)
            return self.weight * loss
