"""Supervised segmentation training and evaluation, shared by the teacher and the downstream protocol."""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader

from crossmodal.models import Segmenter
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.common import make_optimizer, progress, sync_batchnorm, warmup_cosine
from crossmodal.stages.loop import fit
from eval.metrics import ConfusionMatrix

IGNORE_INDEX = 255


def train_segmenter(accelerator: Accelerator, model: Segmenter, loader: DataLoader, input_key: str, *, epochs: int,
                    lr: float, weight_decay: float, desc: str, log: logging.Logger,
                    ckpt: StageCheckpoints) -> tuple[Segmenter, list]:
    """Train `model` with pixel-wise cross-entropy (resumable via `ckpt`); returns the unwrapped model and its curve."""
    model = sync_batchnorm(model, accelerator)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay)
    scheduler = warmup_cosine(optimizer, epochs * len(loader), warmup_steps=min(20, len(loader)))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    def train_step(batch: dict) -> torch.Tensor:
        loss = F.cross_entropy(model(batch[input_key]), batch["label"], ignore_index=IGNORE_INDEX)
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
