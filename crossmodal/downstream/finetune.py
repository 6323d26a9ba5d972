"""The downstream protocol: fine-tune a student with a fresh segmentation head on the small labeled split, test it."""
from __future__ import annotations

import logging

import torch
from accelerate import Accelerator

from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.downstream.evaluate import evaluate_model
from crossmodal.downstream.results import MethodResult
from crossmodal.models import Segmenter
from crossmodal.models.features import FeatureNet
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.bn import recalibrate_after_stage
from crossmodal.stages.supervised import train_segmenter


def finetune_and_evaluate(cfg: Config, method: str, backbone: FeatureNet, data: DataFiles,
                          accelerator: Accelerator, log: logging.Logger,
                          ckpt: StageCheckpoints) -> tuple[MethodResult, Segmenter]:
    """Fine-tune backbone + a fresh head (same initial head and data order for every method; resumable via
    `ckpt`), then test, so every method is measured by the same protocol."""
    torch.manual_seed(cfg.seed + 2)
    model = Segmenter(backbone, data.num_classes, cfg.student.head_channels)
    key, spec, ft = cfg.data.target, input_spec(cfg, "target"), cfg.finetune
    loader = make_loader(data.train, {key: spec}, train=True, batch_size=ft.batch_size, num_workers=cfg.data.num_workers,
                         seed=cfg.seed + 2, label="label", hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter)
    model, curve = train_segmenter(accelerator, model, loader, key, epochs=ft.epochs, lr=ft.lr,
                                   weight_decay=ft.weight_decay, desc=f"finetune[{method}]", log=log, ckpt=ckpt)
    steps = ft.epochs * -(-len(loader) // accelerator.num_processes)  # batches each process trained on
    recalibrate_after_stage(cfg.student.bn_recalibrate, model, steps, data.train, key, spec,
                            batch_size=ft.batch_size, num_workers=cfg.data.num_workers, seed=cfg.seed,
                            accelerator=accelerator, log=log, desc=f"finetune[{method}]")
    metrics, confusion, examples = evaluate_model(cfg, model, data.test, data.class_names, key, spec, accelerator,
                                                  f"test[{method}]")
    log.info("%s: mIoU %.4f pixel acc %.4f mean acc %.4f", method, metrics["miou"], metrics["pixel_acc"], metrics["mean_acc"])
    return MethodResult(metrics, confusion, {"finetune": curve}, examples), model
