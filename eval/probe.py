"""The frozen-backbone probe: how much segmentation a student's dense features hold without fine-tuning.

A 1x1 convolution is trained on one stage's features of the frozen backbone (BatchNorm statistics fixed, no
augmentation: the features are computed once), its logits upsampled bilinearly to the frame. Every process computes
the same thing on the whole (small) labeled split, so 1 or N processes give identical numbers.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from crossmodal.config import Config
from crossmodal.data.h5format import PairedInfo
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.errors import ConfigError
from crossmodal.models import ResNetBackbone
from eval.metrics import ConfusionMatrix, segmentation_metrics

IGNORE_INDEX = 255


@torch.no_grad()
def dense_features(cfg: Config, backbone: ResNetBackbone, info: PairedInfo, layer: int,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of stage `layer` for every frame of a labeled split, (N, C, h, w) float32, and labels (N, H, W)."""
    key = cfg.data.target
    loader = make_loader(info, {key: input_spec(cfg, "target")}, train=False, batch_size=cfg.probe.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed, label="label")
    backbone.eval().to(device)
    feats, labels = [], []
    for batch in loader:
        feats.append(backbone(batch[key].to(device))[layer].float().cpu())
        labels.append(batch["label"])
    return torch.cat(feats), torch.cat(labels).long()


def probe_segmentation(cfg: Config, backbone: ResNetBackbone, data: DataFiles, accelerator: Accelerator) -> dict[str, Any]:
    """Train a 1x1-conv probe on frozen features of data.train, return its segmentation metrics on data.test."""
    p = cfg.probe
    n = len(backbone.out_channels)
    if not -n <= p.layer < n:
        raise ConfigError(f"config key 'probe.layer' is {p.layer}, but the student has {n} stages (use -{n}..{n - 1})")
    device = accelerator.device
    was_training = backbone.training
    x_train, y_train = dense_features(cfg, backbone, data.train, p.layer, device)
    x_test, y_test = dense_features(cfg, backbone, data.test, p.layer, device)
    backbone.train(was_training)
    g = torch.Generator().manual_seed(cfg.seed + 3)
    torch.manual_seed(cfg.seed + 3)
    probe = nn.Conv2d(x_train.shape[1], data.num_classes, 1).to(device)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    steps_per_epoch = -(-len(x_train) // p.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=p.epochs * steps_per_epoch)
    size = y_train.shape[-2:]
    for _ in range(p.epochs):
        for idx in torch.randperm(len(x_train), generator=g).split(p.batch_size):
            logits = F.interpolate(probe(x_train[idx].to(device)), size=size, mode="bilinear", align_corners=False)
            loss = F.cross_entropy(logits, y_train[idx].to(device), ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    cm = ConfusionMatrix(data.num_classes, ignore_index=IGNORE_INDEX, device=device)
    with torch.no_grad():
        for idx in torch.arange(len(x_test)).split(p.batch_size):
            logits = F.interpolate(probe(x_test[idx].to(device)), size=y_test.shape[-2:], mode="bilinear",
                                   align_corners=False)
            cm.update(logits.argmax(1), y_test[idx].to(device))
    metrics = segmentation_metrics(cm.matrix.cpu().numpy(), data.class_names)
    metrics["layer"] = p.layer
    return metrics
