"""`crd`: CRD as the paper applies it, on globally pooled features with a memory bank of every sample."""
from __future__ import annotations


from dataclasses import dataclass

from crossmodal.distill.base import Distiller, DistillerConfig, register
from crossmodal.distill.crd_loss import NEGATIVE_MODES, OBJECTIVES, CRDLoss
from crossmodal.errors import check


@dataclass
class CRDConfig(DistillerConfig):
    """transfer.crd: CRDLoss options (docs/crd.md) and the stage it reads (-1 = last)."""

    feat_dim: int = 128
    num_negatives: int = 1024
    temperature: float = 0.07
    momentum: float = 0.5
    objective: str = "nce"
    negatives: str = "per_sample"
    layer: int = -1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.objective in OBJECTIVES, f"{key}.objective", " or ".join(OBJECTIVES), self.objective)
        check(self.negatives in NEGATIVE_MODES, f"{key}.negatives", ", ".join(NEGATIVE_MODES), self.negatives)
        check(self.num_negatives >= 1, f"{key}.num_negatives", ">= 1", self.num_negatives)
        check(0 <= self.momentum < 1, f"{key}.momentum", "in [0, 1)", self.momentum)
        check(self.temperature > 0, f"{key}.temperature", "> 0", self.temperature)
        check(self.feat_dim >= 1, f"{key}.feat_dim", ">= 1", self.feat_dim)

    def check_data(self, key: str, num_pairs: int) -> None:
        check(self.negatives == "queue" or self.num_negatives < num_pairs, f"{key}.num_negatives",
              f"smaller than the number of unlabeled pairs ({num_pairs}) for the memory-bank modes",
              self.num_negatives)


@register
class PooledCRD(Distiller):
    """Pools one stage of each network to a vector and applies CRDLoss (both directions, NCE by default)."""

    name = "crd"
    Config = CRDConfig

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        cfg.check_data("transfer.crd", num_samples)
        self.layer = cfg.layer
        self.crd = CRDLoss(student_channels[cfg.layer], teacher_channels[cfg.layer], num_samples,
                           feat_dim=cfg.feat_dim, num_negatives=cfg.num_negatives, temperature=cfg.temperature,
                           momentum=cfg.momentum, objective=cfg.objective, negatives=cfg.negatives, seed=seed)
        self.finish_init()

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s = student_feats[self.layer].float().mean(dim=(2, 3))
        t = teacher_feats[self.layer].detach().float().mean(dim=(2, 3))
        return self.weight * self.crd(s, t, index)
