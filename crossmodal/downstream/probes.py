"""Probes of a frozen backbone: how much a student's features hold without fine-tuning.

Both probes share one path. `frozen_features` computes the features of a split once with the backbone frozen
(eval mode, so BatchNorm statistics stay fixed; no augmentation), and `fit_head` trains a small head on them
(AdamW, cosine schedule, seeded minibatch order). Every process computes the same thing on the whole (small) split,
so 1 or N processes give identical numbers.

* The dense probe (segmentation): a 1x1 convolution on one stage's maps, its logits upsampled bilinearly to the
  frame, scored by mIoU on the test split.
* The linear probes (classification, the paper's protocol for L -> ab): each stage average-pooled to a
  grid x grid map, flattened and standardised with the training split's statistics, a linear layer on top, top-1
  accuracy on the test frames that have a class (class_id >= 0).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from crossmodal.config import Config, ProbeConfig
from crossmodal.data.files import DataFiles
from crossmodal.data.h5format import PairedInfo
from crossmodal.data.labels import IGNORE_INDEX
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.errors import ConfigError
from crossmodal.metrics import ConfusionMatrix, segmentation_metrics
from crossmodal.models.features import FeatureNet
from crossmodal.seeds import seed_for

MapTransform = Callable[[torch.Tensor], torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _identity(f: torch.Tensor) -> torch.Tensor:
    return f


@torch.no_grad()
def frozen_features(cfg: Config, backbone: FeatureNet, info: PairedInfo, key: str, side: str, label: str,
                    stages: Sequence[int], transform: MapTransform = _identity,
                    device: torch.device | str = "cpu") -> tuple[list[torch.Tensor], torch.Tensor]:
    """The frozen backbone's features of every frame of a split, and the split's `label` tensor.

    Per requested stage, `transform` of the float32 maps, on the CPU, in file order: the one feature path of
    every probe.
    """
    loader = make_loader(info, {key: input_spec(cfg, side)}, train=False, batch_size=cfg.probe.batch_size,
                         num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "evaluation"), label=label)
    was_training = backbone.training
    backbone.eval().to(device)
    feats: list[list[torch.Tensor]] = [[] for _ in stages]
    labels = []
    try:
        for batch in loader:
            maps = backbone(batch[key].to(device))
            for out, stage in zip(feats, stages):
                out.append(transform(maps[stage].float()).cpu())
            labels.append(batch[label])
    finally:
        backbone.train(was_training)
    return [torch.cat(f) for f in feats], torch.cat(labels).long()


def fit_head(x: torch.Tensor, y: torch.Tensor, num_classes: int, probe: ProbeConfig, seed: int,
             device: torch.device | str, loss: Loss) -> nn.Module:
    """Train a fresh head on precomputed features.

    The head is a 1x1 convolution on (N, C, h, w) maps, a linear layer on (N, C) vectors. `loss(logits, targets)`
    scores a minibatch. Training is seeded, so the same inputs give the same head.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Conv2d(x.shape[1], num_classes, 1) if x.dim() == 4 else nn.Linear(x.shape[1], num_classes)
    head = head.to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=probe.lr, weight_decay=probe.weight_decay)
    steps = probe.epochs * -(-len(x) // probe.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    for _ in range(probe.epochs):
        for idx in torch.randperm(len(x), generator=g).split(probe.batch_size):
            batch_loss = loss(head(x[idx].to(device)), y[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
    return head


# --- the dense probe (segmentation) ---


def dense_features(cfg: Config, backbone: FeatureNet, info: PairedInfo, layer: int,
                   device: torch.device | str, side: str = "target") -> tuple[torch.Tensor, torch.Tensor]:
    """Features of stage `layer` for every frame of a labeled split, and its labels.

    The backbone is fed data.<side>. Features are (N, C, h, w) float32, labels (N, H, W).
    """
    key = getattr(cfg.data, side)
    feats, labels = frozen_features(cfg, backbone, info, key, side, "label", [layer], device=device)
    return feats[0], labels


def probe_segmentation(cfg: Config, backbone: FeatureNet, data: DataFiles, accelerator: Accelerator,
                       side: str = "target", what: str = "the student") -> dict[str, Any]:
    """Train a 1x1-conv probe on frozen features of data.train; returns its segmentation metrics on data.test.

    The backbone sees the data.<side> frames: the student's sensor, or the source for the teacher's reference.
    """
    p = cfg.probe
    n = len(backbone.out_channels)
    if not -n <= p.layer < n:
        raise ConfigError(f"config key 'probe.layer' is {p.layer}, but {what} has {n} stages (use -{n}..{n - 1})")
    device = accelerator.device
    x_train, y_train = dense_features(cfg, backbone, data.train, p.layer, device, side)
    x_test, y_test = dense_features(cfg, backbone, data.test, p.layer, device, side)

    def upsampled(logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits, size=y_train.shape[-2:], mode="bilinear", align_corners=False)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(upsampled(logits), target, ignore_index=IGNORE_INDEX)

    probe = fit_head(x_train, y_train, data.num_classes, p, seed_for(cfg.seed, "probe"), device, loss)
    cm = ConfusionMatrix(data.num_classes, ignore_index=IGNORE_INDEX, device=device)
    with torch.no_grad():
        for idx in torch.arange(len(x_test)).split(p.batch_size):
            logits = F.interpolate(probe(x_test[idx].to(device)), size=y_test.shape[-2:], mode="bilinear",
                                   align_corners=False)
            cm.update(logits.argmax(1), y_test[idx].to(device))
    metrics = segmentation_metrics(cm.matrix.cpu().numpy(), data.class_names)
    metrics["layer"] = p.layer
    return metrics


# --- the linear probes (classification) ---


def pooled_features(cfg: Config, backbone: FeatureNet, info: PairedInfo, key: str, side: str,
                    device: torch.device | str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per stage (N, C * grid^2) average-pooled features of every frame of a split, and its class ids (N,)."""
    grid = cfg.probe.grid

    def pool(f: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(f, grid).flatten(1)

    return frozen_features(cfg, backbone, info, key, side, "class_id", range(len(backbone.out_channels)), pool,
                           device)


def train_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: Config, seed: int,
                 device: torch.device | str) -> nn.Linear:
    """A linear classifier on standardised features (rows with class -1 are left out: they have no class)."""
    keep = y >= 0
    return fit_head(x[keep], y[keep], num_classes, cfg.probe, seed, device, F.cross_entropy)


def linear_probes(cfg: Config, backbone: FeatureNet, data: DataFiles, accelerator: Accelerator,
                  key: str | None = None, side: str = "target") -> dict[str, Any]:
    """Top-1 test accuracy of a linear probe on each stage of the frozen `backbone`.

    The backbone is fed `key`, the target modality by default. `top1` is the last stage's, fixed in advance: no
    stage is chosen on the test split.
    """
    key = key or cfg.data.target
    device = accelerator.device
    x_train, y_train = pooled_features(cfg, backbone, data.train, key, side, device)
    x_test, y_test = pooled_features(cfg, backbone, data.test, key, side, device)
    if not (y_train >= 0).any():
        raise ValueError(f"{data.train.path}: no frame has a class (class_id >= 0); linear probes need labeled frames")
    per_stage = []
    for stage, (xtr, xte) in enumerate(zip(x_train, x_test)):
        mean, std = xtr[y_train >= 0].mean(0), xtr[y_train >= 0].std(0).clamp_min(1e-6)
        layer = train_linear((xtr - mean) / std, y_train, data.num_classes, cfg, seed_for(cfg.seed, "probe", stage),
                             device)
        keep = y_test >= 0
        with torch.no_grad():
            pred = layer(((xte[keep] - mean) / std).to(device)).argmax(1).cpu()
        per_stage.append(float((pred == y_test[keep]).float().mean()) if keep.any() else 0.0)
    return {"top1": per_stage[-1], "top1_per_stage": per_stage, "grid": cfg.probe.grid,
            "num_test": int((y_test >= 0).sum())}
