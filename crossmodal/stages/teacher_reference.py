"""The teacher's reference on its own sensor: its head on the test split (`teacher_<source>`, when it predicts the
data's classes) and a frozen linear probe of its features (`teacher_probe`), which needs no head at all."""
from __future__ import annotations

import logging

import torch
from accelerate import Accelerator

from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.downstream import MethodResult, evaluate_model
from crossmodal.downstream.probes import probe_segmentation
from crossmodal.modalities import encoding_channels
from crossmodal.models.teacher_views import TeacherFeatures, has_logits
from crossmodal.seeds import seed_for
from crossmodal.stages.supervised import evaluate_classifier


def teacher_result(cfg: Config, teacher: torch.nn.Module, data: DataFiles, accelerator: Accelerator,
                   curve: list) -> MethodResult:
    """The frozen teacher's own head on its sensor and the test split: the reference the students are measured
    against (the teacher predicts the data's classes)."""
    key, spec = cfg.data.source, input_spec(cfg, "source")
    if not cfg.task_spec.per_pixel:  # image-level labels: the teacher is a classifier
        loader = make_loader(data.test, {key: spec}, train=False, batch_size=cfg.finetune.batch_size,
                             num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "evaluation"),
                             label=cfg.task_spec.label_key)
        return MethodResult(evaluate_classifier(accelerator, teacher, loader, key, "test[teacher]"), None,
                            {"teacher": curve})
    metrics, confusion, examples = evaluate_model(cfg, teacher, data.test, data.class_names, key, spec, accelerator,
                                                  "test[teacher]")
    metrics["classes_predicted"] = int((confusion.sum(0) > 0).sum()) if confusion is not None else None
    return MethodResult(metrics, confusion, {"teacher": curve}, examples)


def teacher_probe(cfg: Config, teacher: torch.nn.Module, data: DataFiles, accelerator: Accelerator) -> MethodResult:
    """A 1x1 convolution trained on the frozen teacher's features of data.train's source frames, measured on the
    test split's source frames: what the teacher's features hold about the data's classes, with or without a head
    for them (the same probe the students get)."""
    channels = encoding_channels(cfg.data.source_encoding, data.test.shapes[cfg.data.source])
    features = TeacherFeatures(teacher, channels)
    metrics = probe_segmentation(cfg, features, data, accelerator, side="source", what="the teacher")
    return MethodResult({**metrics, "probe": dict(metrics)}, None, {})


def teacher_references(cfg: Config, teacher: torch.nn.Module, data: DataFiles, accelerator: Accelerator,
                       curve: list, log: logging.Logger) -> dict[str, dict[int, MethodResult]]:
    """The teacher rows of the report: `teacher_<source>` when its head predicts the data's classes, and
    `teacher_probe` for a segmentation run whose data.train holds the source frames."""
    rows: dict[str, dict[int, MethodResult]] = {}
    same_classes = tuple(data.teacher_class_names) == tuple(data.class_names)
    if has_logits(teacher) and same_classes:
        rows[f"teacher_{cfg.data.source}"] = {cfg.seed: teacher_result(cfg, teacher, data, accelerator, curve)}
    elif has_logits(teacher):
        log.info("teacher: its head predicts %d classes of its own, not the data's %d: no teacher_%s row (the "
                 "probe of its features is the reference)", len(data.teacher_class_names), data.num_classes,
                 cfg.data.source)
    if not cfg.task_spec.per_pixel or not cfg.probe.enabled:
        return rows
    if not data.train.holds(cfg.data.source):
        log.info("teacher: %s holds no '%s' frames, so the teacher's features are not probed (teacher_probe)",
                 data.train.path, cfg.data.source)
        return rows
    result = teacher_probe(cfg, teacher, data, accelerator)
    log.info("teacher: frozen probe of its features on %s mIoU %.4f", cfg.data.source, result.metrics["miou"])
    rows["teacher_probe"] = {cfg.seed: result}
    return rows
