"""`kd`: pixel-wise Hinton KD on the teacher's logits, through a segmentation head the distiller owns and trains."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.base import Distiller, FloatMaps
from crossmodal.errors import ConfigError, check
from crossmodal.models.segmenter import SegHead


def pixel_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
             class_balance: float = 0.0) -> torch.Tensor:
    """Pixel-wise Hinton KD: KL(softmax(t/T) || softmax(s/T)) times T^2.

    The KL is summed over classes and averaged over samples and pixels. With `class_balance` p > 0 each pixel's
    KL is weighted by teacher_class_weights(teacher_logits, p).
    """
    log_s = F.log_softmax(student_logits / temperature, dim=1)
    log_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    if class_balance > 0:
        kl = (log_t.exp() * (log_t - log_s)).sum(1)  # (B, H, W)
        return (kl * teacher_class_weights(teacher_logits, class_balance)).mean() * temperature ** 2
    pixels = student_logits.numel() // student_logits.shape[1]
    return F.kl_div(log_s, log_t, reduction="sum", log_target=True) / pixels * temperature ** 2


def teacher_class_weights(teacher_logits: torch.Tensor, power: float) -> torch.Tensor:
    """(B, H, W) pixel weights 1 / n_c ** power, scaled to mean 1 per frame.

    n_c is the number of pixels of the frame that the teacher labels, by argmax, with the pixel's class. With power
    1 every class the teacher sees in a frame weighs the same in it, so its small and rare objects, where what it
    knows beyond the new sensor's labels lives, are not drowned by wall and floor.
    """
    b, c = teacher_logits.shape[:2]
    classes = teacher_logits.detach().argmax(1).flatten(1)  # (B, HW)
    counts = torch.zeros(b, c, device=classes.device)
    counts.scatter_add_(1, classes, torch.ones_like(classes, dtype=counts.dtype))
    weights = counts.gather(1, classes).pow(-power)
    return (weights / weights.mean(1, keepdim=True)).view(b, *teacher_logits.shape[2:])


def student_head(student_channels: list[int], cfg, out_channels: int, key: str) -> SegHead:
    """The distiller's own SegHead over the student's stages, for the distillers that read the teacher's logits.

    `cfg` gives num_classes, filled from the data, hidden and skip_stage; `key` is its config section.
    """
    if cfg.num_classes < 1:
        raise ConfigError(f"config key '{key}.num_classes' must be the teacher's class count (>= 1) when the "
                          f"distiller is built, got {cfg.num_classes} (fill it from the data)")
    n = len(student_channels)
    check(-n <= cfg.skip_stage < n, f"{key}.skip_stage", f"a stage index valid for {n} student stages",
          cfg.skip_stage)
    return SegHead(student_channels, out_channels, cfg.hidden, cfg.skip_stage % n)


def check_logits(name: str, teacher_logits: torch.Tensor | None, num_classes: int) -> None:
    """Raise ValueError unless the teacher's logits are (B, num_classes, H, W)."""
    if teacher_logits is None or teacher_logits.dim() != 4 or teacher_logits.shape[1] != num_classes:
        got = None if teacher_logits is None else tuple(teacher_logits.shape)
        raise ValueError(f"{name}: expected teacher_logits of shape (B, {num_classes}, H, W), got {got}")


def kd_grid(teacher_logits: torch.Tensor, stride: int) -> torch.Tensor:
    """The teacher's logits on the grid KD is taken on.

    They are average-pooled to 1/stride of their size, at least one cell, which undoes the bilinear upsampling of
    a head that predicts at that stride; stride 1 keeps them.
    """
    if stride == 1:
        return teacher_logits
    h, w = teacher_logits.shape[-2:]
    return F.adaptive_avg_pool2d(teacher_logits, (max(1, h // stride), max(1, w // stride)))


class KD(Distiller):
    """Hinton's KD on the teacher's logits, through a segmentation head of the distiller's own.

    A SegHead over the student's stages predicts per-pixel classes on the KD grid: the teacher logits'
    resolution, or 1/kd.stride of it. The loss is Hinton's KD at temperature T against the teacher's logits on
    that grid; the head is trained with the student, and its pixels are weighted by class when kd.class_balance
    > 0. A stride of 4 matches a head at stride 4 and costs far less than the full frame. The head predicts the
    teacher's classes: `finetune.head_init: distiller` starts the fine-tuning from it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.head = student_head(self.student_channels, self.cfg, self.cfg.num_classes, self.key)

    def teacher_stages(self) -> set[int]:
        return set()  # the teacher's logits only

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        check_logits("kd", teacher_logits, self.cfg.num_classes)
        target = kd_grid(teacher_logits, self.cfg.stride)
        logits = self.head(list(student), target.shape[-2:])
        return pixel_kd(logits, target, self.cfg.temperature, self.cfg.class_balance)
