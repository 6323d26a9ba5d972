"""Which backbone stages a distiller reads, and how a teacher map meets the student's grid.

Stages are indexed as the backbones return them, shallow to deep; negative indices count from the deepest stage
of each network. `OneStage` and `PerStage` are the bases of the distillers that read one stage (`layer`) or a
list of stages (`layers`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.base import Distiller, FloatMaps
from crossmodal.errors import check


def stage_index(layer: int, num_student: int, num_teacher: int, key: str) -> int:
    """A stage index checked against both networks; negative values count from the deepest stage of each."""
    n = min(num_student, num_teacher)
    check(-n <= layer < n, key, f"a stage index valid for {num_student} student and {num_teacher} teacher stages",
          layer)
    return layer


def stage_pairs(layers: list[int], num_student: int, num_teacher: int, key: str) -> list[int]:
    """Stage indices checked against both networks and used on both.

    Empty `layers` means every stage; when the stage counts differ, it means the deepest min(counts) stages of
    each, paired from the deepest down (negative indices).
    """
    if not layers:
        if num_student != num_teacher:
            return list(range(-min(num_student, num_teacher), 0))
        return list(range(num_student))
    return [stage_index(i, num_student, num_teacher, key) for i in layers]


def match_size(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the teacher map to the student's grid.

    A finer teacher map is average-pooled (RepDistiller's rule for AT, VID and NST); a coarser one is upsampled
    bilinearly (a teacher of larger stride, or one with a dilated trunk).
    """
    size = tuple(s.shape[-2:])
    if tuple(t.shape[-2:]) == size:
        return s, t
    if t.shape[-2] >= size[0] and t.shape[-1] >= size[1]:
        return s, F.adaptive_avg_pool2d(t, size)
    return s, F.interpolate(t, size=size, mode="bilinear", align_corners=False)


class OneStage(Distiller):
    """A distiller that compares one stage of each network, chosen by the option `layer`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layer = stage_index(self.cfg.layer, len(self.student_channels), len(self.teacher_channels),
                                 f"{self.key}.layer")

    def teacher_stages(self) -> set[int]:
        return {self.layer % len(self.teacher_channels)}

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        return self.pair_loss(student[self.layer], teacher[self.layer], index)

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The unweighted loss of the student map `s` and the detached teacher map `t` (both float32)."""
        raise NotImplementedError


class PerStage(Distiller):
    """A distiller that sums one loss per stage over the stages of the option `layers` ([] = every stage)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layers = stage_pairs(self.cfg.layers, len(self.student_channels), len(self.teacher_channels),
                                  f"{self.key}.layers")

    def teacher_stages(self) -> set[int]:
        return {i % len(self.teacher_channels) for i in self.layers}

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        return sum(self.stage_loss(k, student[i], teacher[i]) for k, i in enumerate(self.layers))

    def stage_loss(self, k: int, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The unweighted loss of the k-th chosen stage: student map `s`, detached teacher map `t` (float32)."""
        raise NotImplementedError
