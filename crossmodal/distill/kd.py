"""`kd`: pixel-wise Hinton KD on the teacher's logits, through a segmentation head the distiller owns and trains."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal.distill.base import Distiller
from crossmodal.errors import ConfigError, check
from crossmodal.models.segmenter import SegHead


def pixel_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
             class_balance: float = 0.0) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) summed over classes, averaged over samples and pixels, times T^2; with
    `class_balance` p > 0 each pixel's KL is weighted by teacher_class_weights(teacher_logits, p)."""
    log_s = F.log_softmax(student_logits / temperature, dim=1)
    log_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    if class_balance > 0:
        kl = (log_t.exp() * (log_t - log_s)).sum(1)  # (B, H, W)
        return (kl * teacher_class_weights(teacher_logits, class_balance)).mean() * temperature ** 2
    pixels = student_logits.numel() // student_logits.shape[1]
    return F.kl_div(log_s, log_t, reduction="sum", log_target=True) / pixels * temperature ** 2


def teacher_class_weights(teacher_logits: torch.Tensor, power: float) -> torch.Tensor:
    """(B, H, W) pixel weights 1 / n_c ** power, n_c = the pixels of the frame the teacher labels (argmax) with the
    pixel's class, scaled to mean 1 per frame: with power 1 every class the teacher sees in a frame weighs the same
    in it, so its small and rare objects, where what it knows beyond the new sensor's labels lives, are not drowned
    by wall and floor."""
    b, c = teacher_logits.shape[:2]
    classes = teacher_logits.detach().argmax(1).flatten(1)  # (B, HW)
    counts = torch.zeros(b, c, device=classes.device)
    counts.scatter_add_(1, classes, torch.ones_like(classes, dtype=counts.dtype))
    weights = counts.gather(1, classes).pow(-power)
    return (weights / weights.mean(1, keepdim=True)).view(b, *teacher_logits.shape[2:])


def student_head(student_channels: list[int], cfg, out_channels: int, key: str) -> SegHead:
    """The distiller's own SegHead over the student's stages (cfg: num_classes filled from the data, hidden,
    skip_stage), for the distillers that read the teacher's logits."""
    if cfg.num_classes < 1:
        raise ConfigError(f"config key '{key}.num_classes' must be the teacher's class count (>= 1) when the "
                          f"distiller is built, got {cfg.num_classes} (fill it from the data)")
    n = len(student_channels)
    check(-n <= cfg.skip_stage < n, f"{key}.skip_stage", f"a stage index valid for {n} student stages",
          cfg.skip_stage)
    return SegHead(student_channels, out_channels, cfg.hidden, cfg.skip_stage % n)


def kd_grid(teacher_logits: torch.Tensor, stride: int) -> torch.Tensor:
    """The teacher's logits on the grid KD is taken on: average-pooled to 1/stride of their size (at least one
    cell), which undoes the bilinear upsampling of a head that predicts at that stride; stride 1 keeps them."""
    if stride == 1:
        return teacher_logits
    h, w = teacher_logits.shape[-2:]
    return F.adaptive_avg_pool2d(teacher_logits, (max(1, h // stride), max(1, w // stride)))


class KD(Distiller):
    """A SegHead over the student's stages predicts per-pixel classes on the KD grid (the teacher logits'
    resolution, or 1/kd.stride of it); the loss is Hinton's KD at temperature T against the teacher's logits on
    that grid (the head is trained with the student), its pixels weighted by class when kd.class_balance > 0. A
    stride of 4 matches a head at stride 4 and costs far less than the full frame. The head predicts the teacher's
    classes: `finetune.head_init: distiller` starts the fine-tuning from it."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0, key: str = "transfer.kd") -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.head = student_head(student_channels, cfg, cfg.num_classes, key)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        if teacher_logits is None or teacher_logits.dim() != 4 or teacher_logits.shape[1] != self.cfg.num_classes:
            got = None if teacher_logits is None else tuple(teacher_logits.shape)
            raise ValueError(f"kd: expected teacher_logits of shape (B, {self.cfg.num_classes}, H, W), got {got}")
        with torch.autocast(device_type=teacher_logits.device.type, enabled=False):
            target = kd_grid(teacher_logits.float(), self.cfg.stride)
            logits = self.head([f.float() for f in student_feats], target.shape[-2:])
            return self.weight * pixel_kd(logits, target, self.cfg.temperature, self.cfg.class_balance)
