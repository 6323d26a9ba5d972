"""The distiller interface: one small class per method, chosen by name in configs.

A distiller is registered by the `@distiller` decorator on its options class in crossmodal/config/distillers.py
and loaded here on first use.
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from crossmodal.config.distillers import REGISTRY, DistillerConfig, config_key

DISTILLERS: dict[str, type["Distiller"]] = {}


def load_distillers() -> dict[str, type["Distiller"]]:
    """Every registered distiller's class by name, imported once.

    The class's `name`, `Config` and `needs_teacher_logits` are set from its registration, so the class itself
    repeats none of them.
    """
    for name, entry in REGISTRY.items():
        if name in DISTILLERS:
            continue
        module, _, attr = entry.impl.partition(":")
        cls = getattr(importlib.import_module(f"crossmodal.distill.{module}"), attr)
        if not (isinstance(cls, type) and issubclass(cls, Distiller)) or vars(cls).get("name", "") not in ("", name):
            raise RuntimeError(f"distiller '{name}' is registered as {entry.impl}, which is not a Distiller subclass "
                               f"of its own")
        cls.name, cls.Config, cls.needs_teacher_logits = name, entry.options, entry.needs_teacher_logits
        DISTILLERS[name] = cls
    return DISTILLERS


class FloatMaps(Sequence[torch.Tensor]):
    """A network's stage maps, each converted to float32 when it is read; the teacher's are also detached.

    Converting on read means a distiller that reads one stage never copies the others.
    """

    def __init__(self, maps: Sequence[torch.Tensor], detach: bool = False) -> None:
        if isinstance(maps, FloatMaps):
            maps, detach = maps.maps, detach or maps.detach
        self.maps, self.detach = maps, detach

    def __getitem__(self, i: int) -> torch.Tensor:  # type: ignore[override]
        m = self.maps[i]
        return (m.detach() if self.detach else m).float()

    def __len__(self) -> int:
        return len(self.maps)


class Distiller(nn.Module):
    """Turns student and teacher features of a batch of paired samples into a transfer loss.

    Trainable parts (embedding heads, regressors) live here and are trained with the student. The distiller is
    not wrapped by Accelerate: the transfer stage averages its gradients across processes by hooks
    (crossmodal.distributed.install_gradient_averaging), and any state, such as a memory bank, stays identical on
    every rank and is saved with `state_dict`. `name`, `Config` and `needs_teacher_logits` come from the
    registration. `key` is the config section of this instance: transfer.<config_key(name)> by default, and the
    part's own section inside a combination (transfer.crd_kd.crd). A subclass writes `loss`; `forward` does
    the rest once for all.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[DistillerConfig]] = DistillerConfig
    needs_teacher_logits: ClassVar[bool] = False  # True: forward also gets the teacher's per-pixel logits

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg: Any,
                 seed: int = 0, key: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.student_channels, self.teacher_channels = list(student_channels), list(teacher_channels)
        self.num_samples = num_samples
        self.seed = seed
        self.key = key or f"transfer.{config_key(self.name)}"
        cfg.check_data(self.key, num_samples)

    @property
    def weight(self) -> float:
        """The factor of this distiller's loss (its option `weight`)."""
        return float(getattr(self.cfg, "weight", 1.0))

    def teacher_stages(self) -> set[int]:
        """The teacher stages this distiller reads, as indices from 0 (what a teacher cache must hold for it).

        Every stage unless a subclass says fewer.
        """
        return set(range(len(self.teacher_channels)))

    def forward(self, student_feats: Sequence[torch.Tensor], teacher_feats: Sequence[torch.Tensor],
                index: torch.Tensor, teacher_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted transfer loss for one batch, computed in float32 with autocast off.

        The features are every backbone stage, shallow to deep; `index` holds the dataset indices of the samples;
        `teacher_logits` is (B, classes, H, W) when the class sets needs_teacher_logits. The teacher's maps and
        logits are detached here, so no distiller lets a gradient reach the teacher.
        """
        student, teacher = FloatMaps(student_feats), FloatMaps(teacher_feats, detach=True)
        with torch.autocast(device_type=student.maps[0].device.type, enabled=False):
            logits = None if teacher_logits is None else teacher_logits.detach().float()
            return self.weight * self.loss(student, teacher, index, logits)

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        """The unweighted loss: maps and logits arrive as float32, the teacher's detached."""
        raise NotImplementedError
