"""Linear classification probes at every stage of a frozen backbone: the paper's protocol for L -> ab.

Each stage's features are average-pooled to a grid x grid map, flattened and standardised with the training
split's statistics; a linear layer is trained on them (cross-entropy, AdamW, cosine schedule) and top-1 accuracy
is measured on the test split, over frames that have a class (class_id >= 0). Features are computed once with the
backbone frozen (eval mode, no augmentation); every process computes the same thing, so 1 or N agree.
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
from crossmodal.models import ResNetBackbone


@torch.no_grad()
def pooled_features(cfg: Config, backbone: ResNetBackbone, info: PairedInfo, key: str, side: str,
                    device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per stage (N, C * grid^2) pooled features of every frame of a split, and its class ids (N,)."""
    loader = make_loader(info, {key: input_spec(cfg, side)}, train=False, batch_size=cfg.probe.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed, label="class_id")
    backbone.eval().to(device)
    feats: list[list[torch.Tensor]] = [[] for _ in backbone.out_channels]
    labels = []
    for batch in loader:
        for i, f in enumerate(backbone(batch[key].to(device))):
            feats[i].append(F.adaptive_avg_pool2d(f.float(), cfg.probe.grid).flatten(1).cpu())
        labels.append(batch["class_id"])
    return [torch.cat(f) for f in feats], torch.cat(labels).long()


def train_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: Config, seed: int,
                 device: torch.device) -> nn.Linear:
    """A linear classifier on standardised features (rows with class -1 are left out)."""
    keep = y >= 0
    x, y = x[keep], y[keep]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = nn.Linear(x.shape[1], num_classes).to(device)
    p = cfg.probe
    optimizer = torch.optim.AdamW(layer.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    steps = p.epochs * -(-len(x) // p.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    for _ in range(p.epochs):
        for idx in torch.randperm(len(x), generator=g).split(p.batch_size):
            loss = F.cross_entropy(layer(x[idx].to(device)), y[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return layer


def linear_probes(cfg: Config, backbone: ResNetBackbone, data: DataFiles, accelerator: Accelerator,
                  key: str | None = None, side: str = "target") -> dict[str, Any]:
    """Top-1 test accuracy of a linear probe on each stage of the frozen `backbone` (fed `key`, the target
    modality by default); `top1` is the last stage's, fixed in advance (no choice of stage on the test split)."""
    key = key or cfg.data.target
    device = accelerator.device
    was_training = backbone.training
    x_train, y_train = pooled_features(cfg, backbone, data.train, key, side, device)
    x_test, y_test = pooled_features(cfg, backbone, data.test, key, side, device)
    backbone.train(was_training)
    if not (y_train >= 0).any():
        raise ValueError(f"{data.train.path}: no frame has a class (class_id >= 0); linear probes need labeled frames")
    per_stage = []
    for stage, (xtr, xte) in enumerate(zip(x_train, x_test)):
        mean, std = xtr[y_train >= 0].mean(0), xtr[y_train >= 0].std(0).clamp_min(1e-6)
        layer = train_linear((xtr - mean) / std, y_train, data.num_classes, cfg, cfg.seed + 3 + stage, device)
        keep = y_test >= 0
        with torch.no_grad():
            pred = layer(((xte[keep] - mean) / std).to(device)).argmax(1).cpu()
        per_stage.append(float((pred == y_test[keep]).float().mean()) if keep.any() else 0.0)
    return {"top1": per_stage[-1], "top1_per_stage": per_stage, "grid": cfg.probe.grid,
            "num_test": int((y_test >= 0).sum())}
