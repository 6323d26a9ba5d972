"""Supervised training and evaluation of a headed network, shared by the teacher and the downstream protocol.

The network is a segmenter (per-pixel labels) or an image-level classifier.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.data.labels import IGNORE_INDEX
from crossmodal.metrics import ConfusionMatrix
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.common import make_optimizer, progress, sync_batchnorm, warmup_cosine
from crossmodal.stages.loop import LossGuard, fit


def train_supervised(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str, *, epochs: int,
                     lr: float, weight_decay: float, desc: str, log: logging.Logger, ckpt: StageCheckpoints,
                     target_key: str = "label", backbone_lr_scale: float = 1.0,
                     class_weight: torch.Tensor | None = None) -> tuple[nn.Module, list]:
    """Train a headed `model` with cross-entropy against `target_key`; returns the unwrapped model and its curve.

    The target is per-pixel `label`, ignored where IGNORE_INDEX (the in-memory ignore index of every label file),
    or image-level `class_id`, ignored where -1. Classes are weighted by `class_weight` when given. The stage is
    resumable via `ckpt`. The backbone's rate is `lr` x `backbone_lr_scale`, the head's is `lr`.
    """
    ignore = IGNORE_INDEX if target_key == "label" else -1
    weight = None if class_weight is None else class_weight.to(accelerator.device)
    model = sync_batchnorm(model, accelerator)
    slow = None if backbone_lr_scale == 1.0 else (model.backbone.parameters(), backbone_lr_scale)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay, slow=slow)
    scheduler = warmup_cosine(optimizer, epochs * len(loader), warmup_steps=min(20, len(loader)))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    guard = LossGuard(accelerator, "cross-entropy loss")

    def train_step(batch: dict) -> torch.Tensor:
        logits = model(batch[input_key])
        loss = F.cross_entropy(logits, batch[target_key], ignore_index=ignore,
                               weight=None if weight is None else weight.to(logits.dtype))
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if guard.ok(loss):  # a non-finite loss stops the stage before the weights change
            optimizer.step()
            scheduler.step()
        return loss

    state = {"model": accelerator.unwrap_model(model), "optimizer": optimizer, "scheduler": scheduler}
    curve = fit(accelerator, loader, epochs=epochs, train_step=train_step, state=state, train_modules=[model],
                ckpt=ckpt, desc=desc, log=log, guard=guard)
    model = accelerator.unwrap_model(model)
    accelerator.free_memory()
    return model, curve


class TopOneCounter:
    """Counts correct argmax predictions over the frames with a class (class_id >= 0): top-1 accuracy."""

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one (gathered) batch of predicted and true class ids; frames with class -1 are not counted."""
        keep = target >= 0
        self.correct += int((pred[keep] == target[keep]).sum())
        self.total += int(keep.sum())

    def result(self) -> dict[str, float]:
        """Top-1 accuracy and the number of frames it was measured on."""
        return {"top1": self.correct / max(self.total, 1), "num_test": self.total}


@torch.no_grad()
def evaluate(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str, target_key: str,
             accumulator: ConfusionMatrix | TopOneCounter, desc: str) -> None:
    """Feed `accumulator` the argmax predictions of `model` over the whole loader, and their targets.

    Both are gathered from every process, duplicates dropped. This is the one evaluation loop of segmenters and
    classifiers.
    """
    model.eval().to(accelerator.device)
    loader = accelerator.prepare(loader)
    for batch in progress(loader, accelerator, desc):
        with accelerator.autocast():
            pred = model(batch[input_key]).argmax(1)
        pred, target = accelerator.gather_for_metrics((pred.int(), batch[target_key].int()))
        accumulator.update(pred.long(), target.long())


def evaluate_segmenter(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str,
                       num_classes: int, desc: str) -> torch.Tensor:
    """Confusion matrix of per-pixel `label` over the whole loader, gathered from every process.

    Pixels at IGNORE_INDEX are not counted.
    """
    cm = ConfusionMatrix(num_classes, ignore_index=IGNORE_INDEX, device=accelerator.device)
    evaluate(accelerator, model, loader, input_key, "label", cm, desc)
    return cm.matrix.cpu()


def evaluate_classifier(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str,
                        desc: str) -> dict[str, float]:
    """Top-1 accuracy over the frames with a class (class_id >= 0), gathered from every process."""
    counter = TopOneCounter()
    evaluate(accelerator, model, loader, input_key, "class_id", counter, desc)
    return counter.result()
