"""The distiller interface: one small class per method, chosen by name in configs."""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from crossmodal.distributed import install_gradient_averaging
from crossmodal.distill.options import DistillerConfig, config_key  # noqa: F401 (re-exported)

DISTILLERS: dict[str, type["Distiller"]] = {}


def register(cls: type["Distiller"]) -> type["Distiller"]:
    """Class decorator: make a distiller selectable by its `name` in `methods:`."""
    DISTILLERS[cls.name] = cls
    return cls


class Distiller(nn.Module):
    """Turns student and teacher features of a batch of paired samples into a transfer loss.

    Trainable parts (embedding heads, regressors) live here and are trained with the student. The
    distiller is not wrapped by Accelerate: its gradients are averaged across processes by hooks, and
    any state (a memory bank) stays identical on every rank and is saved with `state_dict`.
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

    def finish_init(self) -> None:
        """Call at the end of a subclass __init__: averages gradients of the trainable parts across processes."""
        install_gradient_averaging(self)

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
