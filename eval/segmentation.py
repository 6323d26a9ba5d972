"""The downstream protocol: fine-tune a student with a segmentation head on the small labeled split, test it."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from crossmodal.config import Config
from crossmodal.data.h5format import PairedDataset
from crossmodal.data.loaders import DataFiles, input_spec, make_loader
from crossmodal.models import ResNetBackbone, Segmenter
from crossmodal.modalities import InputSpec, PairTransform
from crossmodal.stages.supervised import evaluate_segmenter, train_segmenter
from eval.metrics import segmentation_metrics


@dataclass
class MethodResult:
    """What one method produced: its metrics, loss curves, and predictions on the example frames."""

    metrics: dict[str, Any]
    confusion: np.ndarray
    curves: dict[str, list] = field(default_factory=dict)
    examples: np.ndarray | None = None


def example_indices(num_test: int, k: int) -> list[int]:
    """k test frames spread evenly over the split (the same for every method)."""
    return sorted({int(i) for i in np.linspace(0, num_test - 1, num=min(k, num_test))}) if k else []


@torch.no_grad()
def predict(model: Segmenter, info_path, key: str, spec: InputSpec, indices: list[int], device) -> np.ndarray:
    """Argmax predictions of `model` on the given frames of a split, (k, H, W) uint8."""
    if not indices:
        return np.zeros((0, 1, 1), np.uint8)
    ds = PairedDataset(info_path, [key], transform=PairTransform({key: spec}, (1, 1), train=False))
    x = torch.stack([ds[i][key] for i in indices]).to(device)
    model.eval()
    return model(x).argmax(1).to(torch.uint8).cpu().numpy()


def evaluate_model(cfg: Config, model: Segmenter, data: DataFiles, key: str, spec: InputSpec,
                   accelerator: Accelerator, desc: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics and confusion matrix of `model` on the test split, and its predictions on the example frames."""
    loader = make_loader(data.test, {key: spec}, train=False, batch_size=cfg.finetune.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed, with_label=True)
    confusion = evaluate_segmenter(accelerator, model, loader, key, data.num_classes, desc).numpy()
    metrics = segmentation_metrics(confusion, data.class_names)
    examples = predict(model, data.test.path, key, spec,
                       example_indices(data.test.num_samples, cfg.finetune.num_examples), accelerator.device)
    return metrics, confusion, examples


def finetune_and_evaluate(cfg: Config, method: str, backbone: ResNetBackbone, data: DataFiles,
                          accelerator: Accelerator, log: logging.Logger) -> tuple[MethodResult, Segmenter]:
    """Fine-tune backbone + a fresh head (same initial head and data order for every method), then test."""
    torch.manual_seed(cfg.seed + 2)
    model = Segmenter(backbone, data.num_classes, cfg.student.head_channels)
    key, spec, ft = cfg.data.target, input_spec(cfg, "target"), cfg.finetune
    loader = make_loader(data.train, {key: spec}, train=True, batch_size=ft.batch_size, num_workers=cfg.data.num_workers,
                         seed=cfg.seed + 2, with_label=True, hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter)
    model, curve = train_segmenter(accelerator, model, loader, key, epochs=ft.epochs, lr=ft.lr,
                                   weight_decay=ft.weight_decay, desc=f"finetune[{method}]", log=log)
    metrics, confusion, examples = evaluate_model(cfg, model, data, key, spec, accelerator, f"test[{method}]")
    log.info("%s: mIoU %.4f pixel acc %.4f mean acc %.4f", method, metrics["miou"], metrics["pixel_acc"], metrics["mean_acc"])
    return MethodResult(metrics, confusion, {"finetune": curve}, examples), model
