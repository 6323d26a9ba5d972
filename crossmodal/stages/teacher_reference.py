"""The teacher's reference on its own sensor: its head on the test split, and a frozen probe of its features.

The head gives the row `teacher_<source>` when it predicts the data's classes; the probe gives `teacher_probe`,
which needs no head at all. How each is measured is the task's protocol (crossmodal.downstream.protocols).
"""
from __future__ import annotations

from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.downstream import MethodResult, evaluate_model
from crossmodal.downstream.probes import probe_segmentation
from crossmodal.modalities import encoding_channels
from crossmodal.models.teacher_views import TeacherFeatures, has_logits
from crossmodal.seeds import seed_for
from crossmodal.stages.context import RunContext
from crossmodal.stages.supervised import evaluate_classifier


def teacher_segmentation(ctx: RunContext, curve: list) -> MethodResult:
    """The frozen teacher's segmentation head on its sensor and the test split, with the classes it predicts."""
    cfg, data = ctx.cfg, ctx.data
    metrics, confusion, examples = evaluate_model(cfg, ctx.teacher, data.test, data.class_names, cfg.data.source,
                                                  input_spec(cfg, "source"), ctx.accelerator, "test[teacher]")
    metrics["classes_predicted"] = int((confusion.sum(0) > 0).sum()) if confusion is not None else None
    return MethodResult(metrics, confusion, {"teacher": curve}, examples)


def teacher_classification(ctx: RunContext, curve: list) -> MethodResult:
    """The frozen teacher's classifier head on its sensor: top-1 accuracy on the test split."""
    cfg, key = ctx.cfg, ctx.cfg.data.source
    loader = make_loader(ctx.data.test, {key: input_spec(cfg, "source")}, train=False,
                         batch_size=cfg.finetune.batch_size, num_workers=cfg.data.num_workers,
                         seed=seed_for(cfg.seed, "evaluation"), label=cfg.task_spec.label_key)
    return MethodResult(evaluate_classifier(ctx.accelerator, ctx.teacher, loader, key, "test[teacher]"), None,
                        {"teacher": curve})


def teacher_probe(ctx: RunContext) -> MethodResult:
    """A 1x1 convolution on the frozen teacher's features, trained on data.train and tested on data.test.

    Both splits are read on the source sensor. It measures what the teacher's features hold about the data's
    classes, with or without a head for them: the same probe the students get.
    """
    cfg, data = ctx.cfg, ctx.data
    channels = encoding_channels(cfg.data.source_encoding, data.test.shapes[cfg.data.source])
    features = TeacherFeatures(ctx.teacher, channels)
    metrics = probe_segmentation(cfg, features, data, ctx.accelerator, side="source", what="the teacher")
    return MethodResult({**metrics, "probe": dict(metrics)}, None, {})


def probed_teacher(ctx: RunContext) -> MethodResult | None:
    """The teacher_probe row when probe.enabled and data.train holds the source frames, else None (logged)."""
    cfg, data = ctx.cfg, ctx.data
    if not cfg.probe.enabled:
        return None
    if not data.train.holds(cfg.data.source):
        ctx.log.info("teacher: %s holds no '%s' frames, so the teacher's features are not probed (teacher_probe)",
                     data.train.path, cfg.data.source)
        return None
    result = teacher_probe(ctx)
    ctx.log.info("teacher: frozen probe of its features on %s mIoU %.4f", cfg.data.source, result.metrics["miou"])
    return result


def teacher_references(ctx: RunContext, curve: list) -> dict[str, dict[int, MethodResult]]:
    """The teacher rows of the report, measured as the task's protocol says.

    `teacher_<source>` comes when the teacher's head predicts the data's classes, `teacher_probe` when the protocol
    probes the teacher's features. `curve` is the teacher's training loss curve.
    """
    cfg, data, teacher = ctx.cfg, ctx.data, ctx.teacher
    protocol = cfg.task_spec.downstream()
    rows: dict[str, dict[int, MethodResult]] = {}
    same_classes = tuple(data.teacher_class_names) == tuple(data.class_names)
    if has_logits(teacher) and same_classes:
        rows[f"teacher_{cfg.data.source}"] = {cfg.seed: protocol.teacher_result(ctx, curve)}
    elif has_logits(teacher):
        ctx.log.info("teacher: its head predicts %d classes of its own, not the data's %d: no teacher_%s row (the "
                     "probe of its features is the reference)", len(data.teacher_class_names), data.num_classes,
                     cfg.data.source)
    probe = protocol.teacher_probe(ctx)
    if probe is not None:
        rows["teacher_probe"] = {cfg.seed: probe}
    return rows
