"""Supervised segmentation training and evaluation, shared by the teacher and the downstream protocol."""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from accelerate import Accelerator
from torch.utils.data import DataLoader

from crossmodal.models import Segmenter
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.common import make_optimizer, progress, sync_batchnorm, warmup_cosine
from crossmodal.stages.loop import fit
from eval.metrics import ConfusionMatrix

IGNORE_INDEX = 255


def train_segmenter(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str, *, epochs: int,
                    lr: float, weight_decay: float, desc: str, log: logging.Logger, ckpt: StageCheckpoints,
                    target_key: str = "label") -> tuple[nn.Module, list]:
    """Train `model` with cross-entropy against `target_key` (per-pixel `label`, ignored where 255; or image-level
    `class_id`, ignored where -1), resumable via `ckpt`; returns the unwrapped model and its loss curve."""
    ignore = IGNORE_INDEX if target_key == "label" else -1
    model = sync_batchnorm(model, accelerator)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay)
    scheduler = warmup_cosine(optimizer, epochs * len(loader), warmup_steps=min(20, len(loader)))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    def train_step(batch: dict) -> torch.Tensor:
        loss = F.cross_entropy(model(batch[input_key]), batch[target_key], ignore_index=ignore)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        return loss

    state = {"model": accelerator.unwrap_model(model), "optimizer": optimizer, "scheduler": scheduler}
    curve = fit(accelerator, loader, epochs=epochs, train_step=train_step, state=state, train_modules=[model],
                ckpt=ckpt, desc=desc, log=log)
    model = accelerator.unwrap_model(model)
    accelerator.free_memory()
    return model, curve


@torch.no_grad()
def evaluate_segmenter(accelerator: Accelerator, model: Segmenter, loader: DataLoader, input_key: str,
                       num_classes: int, desc: str) -> torch.Tensor:
    """Confusion matrix over the whole loader; predictions are gathered from every process (duplicates dropped)."""
    model.eval().to(accelerator.device)
    loader = accelerator.prepare(loader)
    cm = ConfusionMatrix(num_classes, ignore_index=IGNORE_INDEX, device=accelerator.device)
    for batch in progress(loader, accelerator, desc):
        with accelerator.autocast():
            pred = model(batch[input_key]).argmax(1)
        pred, target = accelerator.gather_for_metrics((pred.int(), batch["label"].int()))
        cm.update(pred.long(), target.long())
    return cm.matrix.cpu()


@torch.no_grad()
def evaluate_classifier(accelerator: Accelerator, model: nn.Module, loader: DataLoader, input_key: str,
                        desc: str) -> dict[str, float]:
    """Top-1 accuracy over the frames with a class (class_id >= 0), gathered from every process."""
    model.eval().to(accelerator.device)
    loader = accelerator.prepare(loader)
    correct = total = 0
    for batch in progress(loader, accelerator, desc):
        with accelerator.autocast():
            pred = model(batch[input_key]).argmax(1)
        pred, target = accelerator.gather_for_metrics((pred, batch["class_id"]))
        keep = target >= 0
        correct += int((pred[keep] == target[keep]).sum())
        total += int(keep.sum())
    return {"top1": correct / max(total, 1), "num_test": total}
