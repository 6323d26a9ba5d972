"""Supervised segmentation training and evaluation, shared by the teacher and the downstream protocol."""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader

from crossmodal.data.loaders import set_loader_epoch
from crossmodal.models import Segmenter
from crossmodal.stages.common import Curve, make_optimizer, progress, sync_batchnorm, warmup_cosine
from eval.metrics import ConfusionMatrix

IGNORE_INDEX = 255


def train_segmenter(accelerator: Accelerator, model: Segmenter, loader: DataLoader, input_key: str, *, epochs: int,
                    lr: float, weight_decay: float, desc: str, log: logging.Logger) -> tuple[Segmenter, list]:
    """Train `model` with pixel-wise cross-entropy; returns the unwrapped model and its loss curve."""
    model = sync_batchnorm(model, accelerator)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay)
    scheduler = warmup_cosine(optimizer, epochs * len(loader), warmup_steps=min(20, len(loader)))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    curve, step = Curve(), 0
    for epoch in range(epochs):
        model.train()
        set_loader_epoch(loader, epoch)
        for batch in progress(loader, accelerator, f"{desc} {epoch + 1}/{epochs}"):
            logits = model(batch[input_key])
            loss = F.cross_entropy(logits, batch["label"], ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            step += 1
            curve.add(step, loss.item())
        curve.flush(step)
        accelerator.log({f"{desc}/loss": curve.points[-1][1]}, step=step)
        log.info("%s epoch %d/%d: loss %.4f", desc, epoch + 1, epochs, curve.points[-1][1])
    model = accelerator.unwrap_model(model)
    accelerator.free_memory()
    return model, curve.points


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
