"""`at`: attention transfer (Zagoruyko & Komodakis, ICLR 2017) as RepDistiller's Attention, on every stage.

Also holds the stage-pairing and size-matching helpers the other per-stage distillers share.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.base import Distiller
from crossmodal.errors import check


def stage_index(layer: int, num_student: int, num_teacher: int, key: str) -> int:
    """A validated stage index; negative values count from the deepest stage of each network."""
    n = min(num_student, num_teacher)
    check(-n <= layer < n, key, f"a stage index valid for {num_student} student and {num_teacher} teacher stages",
          layer)
    return layer


def stage_pairs(layers: list[int], num_student: int, num_teacher: int, key: str) -> list[int]:
    """Validated stage indices, used on both networks; empty `layers` = every stage, or, when the stage counts
    differ, the deepest min(counts) of each paired from the deepest down (negative indices)."""
    if not layers:
        if num_student != num_teacher:
            return list(range(-min(num_student, num_teacher), 0))
        return list(range(num_student))
    return [stage_index(i, num_student, num_teacher, key) for i in layers]


def match_size(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the teacher map to the student's grid: average-pooled when it is finer (RepDistiller's rule for
    AT/VID/NST), bilinear when it is coarser (a teacher of larger stride, or with a dilated, coarser trunk)."""
    size = tuple(s.shape[-2:])
    if tuple(t.shape[-2:]) == size:
        return s, t
    if t.shape[-2] >= size[0] and t.shape[-1] >= size[1]:
        return s, F.adaptive_avg_pool2d(t, size)
    return s, F.interpolate(t, size=size, mode="bilinear", align_corners=False)


def attention_map(f: torch.Tensor, p: float) -> torch.Tensor:
    """(B, H*W) spatial attention: mean over channels of |f|^p, flattened and L2-normalised per sample."""
    return F.normalize(f.abs().pow(p).mean(1).flatten(1), dim=1)


def at_loss(s: torch.Tensor, t: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Mean squared difference of the two attention maps, after pooling to a common size."""
    s, t = match_size(s, t)
    return (attention_map(s, p) - attention_map(t, p)).pow(2).mean()


class AT(Distiller):
    """Sum over the chosen stages of the attention-map loss; channel counts may differ, sizes are pooled."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layers = stage_pairs(cfg.layers, len(student_channels), len(teacher_channels), "transfer.at.layers")

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        with torch.autocast(device_type=student_feats[0].device.type, enabled=False):
            loss = sum(at_loss(student_feats[i].float(), teacher_feats[i].detach().float(), self.cfg.p)
                       for i in self.layers)
            return self.weight * loss
