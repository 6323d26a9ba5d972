"""The distiller interface: one small class per method, chosen by name in configs (registered by the `@distiller`
decorator on its options class in crossmodal/config/distillers.py, loaded here on first use)."""
from __future__ import annotations

import importlib
from typing import Any, ClassVar

import torch
from torch import nn

from crossmodal.config.distillers import REGISTRY, DistillerConfig

DISTILLERS: dict[str, type["Distiller"]] = {}


def load_distillers() -> dict[str, type["Distiller"]]:
    """Every registered distiller's class by name (imported once), with its `name`, `Config` and
    `needs_teacher_logits` set from its registration, so the class itself repeats none of them."""
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


class Distiller(nn.Module):
    """Turns student and teacher features of a batch of paired samples into a transfer loss.

    Trainable parts (embedding heads, regressors) live here and are trained with the student. The
    distiller is not wrapped by Accelerate: the transfer stage averages its gradients across processes by hooks
    (crossmodal.distributed.install_gradient_averaging), and any state (a memory bank) stays identical on every
    rank and is saved with `state_dict`. `name`, `Config` and `needs_teacher_logits` come from the registration.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[DistillerConfig]] = DistillerConfig
    needs_teacher_logits: ClassVar[bool] = False  # True: forward also gets the teacher's per-pixel logits

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg: Any,
                 seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_samples = num_samples
        self.seed = seed

    @property
    def weight(self) -> float:
        return float(getattr(self.cfg, "weight", 1.0))

    def forward(self, student_feats: list[torch.Tensor], teacher_feats: list[torch.Tensor], index: torch.Tensor,
                teacher_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted transfer loss for one batch.

        Features are every backbone stage (list, shallow to deep); index = dataset indices of the samples;
        teacher_logits = (B, classes, H, W) when the class sets needs_teacher_logits.
        """
        raise NotImplementedError
