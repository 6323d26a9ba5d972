"""Fine-tuning a student with a segmentation head on the small labeled split, and testing it."""
from __future__ import annotations

import logging

import torch
from accelerate import Accelerator

from crossmodal.config import Config, with_setting
from crossmodal.config.distillers import OPTIONS, KDConfig, class_head, config_key
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.downstream.evaluate import evaluate_model
from crossmodal.downstream.results import MethodResult
from crossmodal.errors import ConfigError
from crossmodal.models import Segmenter, seg_skip_stage
from crossmodal.models.features import FeatureNet
from crossmodal.seeds import label_subset_order, seed_for
from crossmodal.stages.bn import recalibrate_after_stage
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.class_weights import split_class_weights
from crossmodal.stages.supervised import train_supervised


def label_subset(cfg: Config, data: DataFiles, count: int) -> list[int]:
    """The first `count` frames of one permutation of data.train fixed by the cell's `seed`.

    The subsets are nested: a smaller one is inside every larger one. They are the same for every method of a
    seed, and a new draw for each seed, so the mean over seeds averages over subsets rather than over one lucky or
    unlucky draw.
    """
    order = label_subset_order(cfg.seed, data.train.num_samples)
    return sorted(order[:count].tolist())


def _class_head(cfg: Config, method: str) -> tuple[str, KDConfig] | None:
    """The state-dict prefix and kd options of `method`'s distiller head for the teacher's classes, or None.

    None unless `finetune.head_init` is distiller and the method's distiller has such a head.
    """
    if cfg.finetune.head_init != "distiller" or method not in OPTIONS:
        return None
    return class_head(method, cfg.transfer)


def distiller_head(cfg: Config, method: str, distiller_state: dict | None) -> dict | None:
    """The state dict of the head `method`'s distiller trained for the teacher's classes, or None.

    It is taken from the distiller's state dict when `finetune.head_init` is distiller and the method has such a
    head.
    """
    found = _class_head(cfg, method)
    if found is None or distiller_state is None:
        return None
    return {k[len(found[0]):]: v for k, v in distiller_state.items() if k.startswith(found[0])}


def check_head_init(cfg: Config, student: FeatureNet) -> None:
    """Refuse a distiller head that cannot start the fine-tuning head, before any training.

    Where `finetune.head_init: distiller` applies, in the config or a setting of tune.trials, the distiller head
    must have the fine-tuning head's shape: width student.head_channels, and the skip from the same stage.
    """
    cases = [(cfg, method, "") for method in cfg.methods]
    cases += [(with_setting(cfg, method, setting), method, f" (tune.trials.{method}[{i}])")
              for method, settings in cfg.tune.trials.items() for i, setting in enumerate(settings)]
    heads = [(c, method, where, _class_head(c, method)) for c, method, where in cases]
    skip, n = seg_skip_stage(student.strides), len(student.out_channels)
    for c, method, where, (prefix, kd) in (h for h in heads if h[3] is not None):
        key = f"transfer.{config_key(method)}" + ("" if prefix == "head." else ".kd")
        if kd.num_classes and c.data.num_classes and kd.num_classes != c.data.num_classes:
            raise ConfigError(f"config key 'finetune.head_init' is distiller{where}, but {key} trains a head for the "
                              f"teacher's {kd.num_classes} classes (teacher.num_classes) and the data have "
                              f"{c.data.num_classes}: the fine-tuning head cannot start from it; use fresh")
        if kd.hidden != c.student.head_channels:
            raise ConfigError(f"config key '{key}.hidden' is {kd.hidden}{where}, but finetune.head_init: "
                              f"distiller starts the fine-tuning head from that head, whose width is "
                              f"student.head_channels ({c.student.head_channels}); make them equal")
        if kd.skip_stage % n != skip:
            raise ConfigError(f"config key '{key}.skip_stage' is {kd.skip_stage}{where}, but "
                              f"finetune.head_init: distiller starts the fine-tuning head from that head, which skips "
                              f"from stage {skip} of the student (the first at stride >= 4); set it to {skip}")


def finetune_and_evaluate(cfg: Config, method: str, backbone: FeatureNet, data: DataFiles,
                          accelerator: Accelerator, log: logging.Logger, ckpt: StageCheckpoints,
                          label_count: int | None = None, test: bool = True,
                          head_state: dict | None = None) -> tuple[MethodResult, Segmenter]:
    """Fine-tune the backbone with a head, then measure it on val and test; returns the result and the model.

    The head is fresh, the same initial head and data order for every method, or the distiller's head
    `head_state` (finetune.head_init: distiller). The stage is resumable via `ckpt`. The model is measured on the
    validation split (`val_miou`) when the run has one and, unless `test` is False for a setting being tried, once
    on the test split, so every method is measured by the same protocol. With `label_count`, it trains on that
    many frames of data.train (label_subset) for as many optimiser steps as the full split gets. The schedule is
    fixed: the last epoch is what is measured, nothing is chosen by a score.
    """
    torch.manual_seed(seed_for(cfg.seed, "finetune"))
    model = Segmenter(backbone, data.num_classes, cfg.student.head_channels)
    if head_state is not None:
        model.head.load_state_dict(head_state)
        log.info("finetune[%s]: the head starts from the distiller's head (finetune.head_init: distiller)", method)
    key, spec, ft = cfg.data.target, input_spec(cfg, "target"), cfg.finetune
    full = make_loader(data.train, {key: spec}, train=True, batch_size=ft.batch_size, num_workers=cfg.data.num_workers,
                       seed=seed_for(cfg.seed, "finetune"), label="label", hflip=cfg.data.hflip,
                       scale_jitter=cfg.data.scale_jitter)
    loader, epochs, desc, rows = full, ft.epochs, f"finetune[{method}]", None
    if label_count is not None:
        rows = label_subset(cfg, data, label_count)
        loader = make_loader(data.train, {key: spec}, train=True, batch_size=ft.batch_size,
                             num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "finetune"), label="label",
                             hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter, indices=rows)
        epochs = max(1, round(ft.epochs * len(full) / len(loader)))  # the full split's optimiser steps
        desc = f"finetune[{method}, {label_count} labels]"
    weight = split_class_weights(ft.class_weighting, data.train.path, "label", data.class_names, log, desc, rows)
    model, curve = train_supervised(accelerator, model, loader, key, epochs=epochs, lr=ft.lr,
                                    weight_decay=ft.weight_decay, desc=desc, log=log, ckpt=ckpt,
                                    backbone_lr_scale=ft.backbone_lr_scale, class_weight=weight)
    steps = epochs * -(-len(loader) // accelerator.num_processes)  # batches each process trained on
    recalibrate_after_stage(cfg.student.bn_recalibrate, model, steps, data.train, key, spec,
                            batch_size=ft.batch_size, num_workers=cfg.data.num_workers,
                            seed=seed_for(cfg.seed, "bn_recalibrate"), accelerator=accelerator, log=log,
                            desc=f"finetune[{method}]")
    return evaluate_finetuned(cfg, method, model, data, accelerator, log, curve, test=test), model


def evaluate_finetuned(cfg: Config, method: str, model: Segmenter, data: DataFiles, accelerator: Accelerator,
                       log: logging.Logger, curve: list, test: bool = True) -> MethodResult:
    """A fine-tuned student measured on val, when the run has one, and on test unless `test` is False.

    `curve` is its fine-tuning loss curve; the val score is `val_miou`.
    """
    key, spec = cfg.data.target, input_spec(cfg, "target")
    val_miou = None
    if data.val is not None:
        val, _, _ = evaluate_model(cfg, model, data.val, data.class_names, key, spec, accelerator, f"val[{method}]",
                                   num_examples=0)
        val_miou = val["miou"]
        log.info("%s: val mIoU %.4f", method, val_miou)
    metrics: dict = {}
    confusion = examples = None
    if test:
        metrics, confusion, examples = evaluate_model(cfg, model, data.test, data.class_names, key, spec,
                                                      accelerator, f"test[{method}]")
        log.info("%s: mIoU %.4f pixel acc %.4f mean acc %.4f", method, metrics["miou"], metrics["pixel_acc"],
                 metrics["mean_acc"])
    if val_miou is not None:
        metrics["val_miou"] = val_miou
    return MethodResult(metrics, confusion, {"finetune": curve}, examples)
