"""Semantic-segmentation metrics: a streaming confusion matrix and the scores derived from it.

Conventions (the usual mmseg / ESANet "nanmean" semantics):

* rows of the confusion matrix are ground truth, columns are predictions;
* pixels whose ground truth is ``ignore_index`` (by default the in-memory ignore index 65535 of
  crossmodal.data.labels, never a class id) or any id outside ``[0, C)`` are not counted;
* ``IoU_c = TP / (TP + FP + FN)``. A class absent from both ground truth and predictions
  (union 0) has IoU ``None`` (JSON ``null``) and is left out of the mean; a class absent
  from the ground truth but predicted somewhere has IoU 0 and *is* included, so false
  positives on an absent class lower mIoU;
* ``acc_c = TP / GT_c`` is ``None`` where ``GT_c = 0``; ``mean_acc`` averages the others;
* ``fw_iou = sum_c freq_c * IoU_c`` with ``freq_c = GT_c / N`` (ground-truth frequency).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from crossmodal.data.labels import IGNORE_INDEX

__all__ = ["ConfusionMatrix", "segmentation_metrics"]


class ConfusionMatrix:
    """Accumulates a (C, C) int64 confusion matrix, ignoring `ignore_index`.

    Rows are the ground truth, columns the prediction.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str | None = None) -> None:
        """Start empty; with ``device=None`` the matrix follows the device of the tensors given to `update`."""
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._follow_inputs = device is None
        self._matrix = torch.zeros(
            (self.num_classes, self.num_classes), dtype=torch.int64, device=device if device is not None else "cpu"
        )

    @property
    def matrix(self) -> torch.Tensor:
        """The accumulated (C, C) int64 counts: the live tensor, so clone it before modifying."""
        return self._matrix

    def reset(self) -> None:
        """Zero all counts, e.g. between evaluation epochs."""
        self._matrix.zero_()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch of predicted class ids and ground-truth labels (same shape, any shape).

        Counting is pure tensor ops on the inputs' device; the only host syncs are the
        range check on ``pred`` (to raise early) and the ones inside ``torch.bincount``.
        """
        if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
            raise TypeError(f"pred and target must be torch.Tensor, got {type(pred).__name__} and "
                            f"{type(target).__name__}")
        if pred.shape != target.shape:
            raise ValueError(f"pred and target shapes differ: pred {tuple(pred.shape)} vs target {tuple(target.shape)}")
        if pred.device != target.device:
            raise ValueError(f"pred and target are on different devices: {pred.device} vs {target.device}")
        for name, t in (("pred", pred), ("target", target)):
            if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                raise TypeError(f"{name} must hold integer class ids, got dtype {t.dtype}")
        c = self.num_classes
        pred = pred.reshape(-1).long()
        target = target.reshape(-1).long()
        if pred.numel() and bool(((pred < 0) | (pred >= c)).any()):
            lo, hi = int(pred.min()), int(pred.max())
            raise ValueError(f"pred class ids must lie in [0, {c}), got values in [{lo}, {hi}]")
        valid = (target != self.ignore_index) & (target >= 0) & (target < c)
        # Invalid pixels go to an extra bin (index C*C) instead of boolean indexing, which would sync.
        index = torch.where(valid, target * c + pred, torch.full_like(target, c * c))
        counts = torch.bincount(index, minlength=c * c + 1)[: c * c].reshape(c, c)
        if self._follow_inputs and self._matrix.device != counts.device:
            self._matrix = self._matrix.to(counts.device)
        self._matrix += counts.to(self._matrix.device)

    def merge_(self, other_matrix: torch.Tensor) -> None:
        """Add another (C, C) count matrix, e.g. one gathered from other processes."""
        other = torch.as_tensor(other_matrix)
        if other.shape != self._matrix.shape:
            raise ValueError(f"cannot merge a matrix of shape {tuple(other.shape)} into {tuple(self._matrix.shape)}")
        if other.is_floating_point() or other.is_complex() or other.dtype == torch.bool:
            raise TypeError(f"merged counts must be integers, got dtype {other.dtype}")
        if bool((other < 0).any()):
            raise ValueError("merged counts must be non-negative")
        self._matrix += other.to(device=self._matrix.device, dtype=torch.int64)


def _opt(x: float, ok: bool) -> float | None:
    return float(x) if ok else None


def segmentation_metrics(confusion: np.ndarray | torch.Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """Summarise a (C, C) confusion matrix, rows the ground truth, as JSON-ready mIoU and accuracy scores in [0, 1]."""
    if isinstance(confusion, torch.Tensor):
        confusion = confusion.detach().cpu().numpy()
    cm = np.asarray(confusion)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion must be a square (C, C) matrix, got shape {cm.shape}")
    names = [str(n) for n in class_names]
    if len(names) != cm.shape[0]:
        raise ValueError(f"{len(names)} class names for a {cm.shape[0]}-class confusion matrix")
    if len(set(names)) != len(names):
        raise ValueError("class names must be unique")
    if not (np.issubdtype(cm.dtype, np.integer) or np.issubdtype(cm.dtype, np.floating)):
        raise TypeError(f"confusion must be numeric, got dtype {cm.dtype}")
    if not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError("confusion counts must be finite and non-negative")
    cm = cm.astype(np.float64)
    total = cm.sum()
    if total <= 0:
        raise ValueError("confusion matrix is empty: no labelled pixels were counted")

    tp = np.diag(cm)
    gt = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    union = gt + predicted - tp
    in_union = union > 0
    in_gt = gt > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=in_union)
    acc = np.divide(tp, gt, out=np.zeros_like(tp), where=in_gt)
    freq = gt / total
    return {
        "miou": float(iou[in_union].mean()),
        "pixel_acc": float(tp.sum() / total),
        "mean_acc": float(acc[in_gt].mean()),
        "fw_iou": float((freq * iou).sum()),
        "per_class_iou": {n: _opt(v, ok) for n, v, ok in zip(names, iou, in_union)},
        "per_class_acc": {n: _opt(v, ok) for n, v, ok in zip(names, acc, in_gt)},
        "num_pixels": int(round(total)),
        # Classes that appear in the ground truth or the predictions, i.e. those averaged into "miou".
        "present_classes": int(in_union.sum()),
    }
