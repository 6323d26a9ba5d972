"""The transfer stage: a student on the target sensor learns from the frozen teacher on unlabeled pairs."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.distill import DISTILLERS, Distiller, config_key
from crossmodal.distributed import install_gradient_averaging
from crossmodal.modalities import encoding_channels
from crossmodal.models import FeatureNet, build_backbone
from crossmodal.seeds import seed_for
from crossmodal.stages.bn import recalibrate_after_stage
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.common import make_optimizer, sync_batchnorm, warmup_cosine
from crossmodal.stages.context import RunContext
from crossmodal.stages.loop import LossGuard, drop_gradients, fit
from crossmodal.stages.teacher_cache import TeacherViews, teacher_views


def build_student(cfg: Config, data: DataFiles) -> FeatureNet:
    """The target-sensor backbone, initialised from the seed and student.pretrained alone.

    So every method of a seed starts from the same weights.
    """
    torch.manual_seed(seed_for(cfg.seed, "student_init"))
    channels = encoding_channels(cfg.data.target_encoding, data.train.shapes[cfg.data.target])
    s = cfg.student
    return build_backbone(s.arch, channels, features=s.features, pretrained=s.pretrained,
                          num_classes=data.num_classes, key="student", allow_download=s.allow_download,
                          kwargs=s.kwargs, probe_size=(data.train.height, data.train.width))


def run_transfer(ctx: RunContext, cfg: Config, method: str,
                 ckpt: StageCheckpoints) -> tuple[FeatureNet, nn.Module, list]:
    """Train a fresh student with distiller `method` from the context's teacher, resumable via `ckpt`.

    `cfg` is the cell's config. Returns the unwrapped student, the distiller (its heads and memory) and the loss
    curve.
    """
    data, teacher, accelerator = ctx.data, ctx.teacher, ctx.accelerator
    student = sync_batchnorm(build_student(cfg, data), accelerator)
    distiller = build_distiller(cfg, method, getattr(cfg.transfer, config_key(method)), student, teacher, data)
    distiller.to(accelerator.device)
    install_gradient_averaging(distiller)  # not wrapped by Accelerate: its gradients are averaged by hooks
    t = cfg.transfer
    cache = teacher_views(ctx, cfg, distiller) if cfg.teacher.cache_views else None  # None: the teacher runs live
    encodings = {cfg.data.target: input_spec(cfg, "target")}
    if cache is None:  # the live teacher reads the source frames; a cached one has them stored
        encodings = {cfg.data.source: input_spec(cfg, "source"), **encodings}
    loader = make_loader(data.unlabeled, encodings, train=True, batch_size=t.batch_size,
                         num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "transfer_data"),
                         hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter,
                         views=None if cache is None else (cache.views, cache.view_seed))
    optimizer = make_optimizer([*student.parameters(), *distiller.parameters()], t.lr, t.weight_decay)
    steps = t.epochs * max(1, len(loader) // t.grad_accum)  # batches are split across processes
    scheduler = warmup_cosine(optimizer, steps, t.warmup_steps)
    student, optimizer, loader, scheduler = accelerator.prepare(student, optimizer, loader, scheduler)
    curve = _train(ctx, cfg, method, ckpt, student, distiller, optimizer, loader, scheduler, cache)
    student = accelerator.unwrap_model(student)
    accelerator.free_memory()
    recalibrate_after_stage(cfg.student.bn_recalibrate, student, t.epochs * len(loader), data.unlabeled,
                            cfg.data.target, input_spec(cfg, "target"), batch_size=t.batch_size,
                            num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "bn_recalibrate"),
                            accelerator=accelerator, log=ctx.log, desc=f"transfer[{method}]")
    return student, distiller, curve


def build_distiller(cfg: Config, method: str, options: Any, student: nn.Module, teacher: nn.Module,
                    data: DataFiles) -> Distiller:
    """The distiller of `method` with `options` for this student and teacher, initialised from the cell's seed.

    Bad options are refused, named. The dry run builds its distillers with this too.
    """
    torch.manual_seed(seed_for(cfg.seed, "distiller_init"))
    return DISTILLERS[method](student.out_channels, teacher.out_channels, data.unlabeled.num_samples, options,
                              seed=seed_for(cfg.seed, "distiller_sampling"))


def _train(ctx: RunContext, cfg: Config, method: str, ckpt: StageCheckpoints, student: nn.Module,
           distiller: Distiller, optimizer: torch.optim.Optimizer, loader: DataLoader, scheduler: Any,
           cache: TeacherViews | None) -> list:
    """The transfer's epochs (prepared student, optimiser, loader and schedule); returns the loss curve.

    The teacher's outputs come from `cache` when given, else from running it on the batch.
    A step with a non-finite loss stops the stage, or is skipped while transfer.skip_nonfinite allows.
    """
    accelerator, teacher, t = ctx.accelerator, ctx.teacher, cfg.transfer
    guard = LossGuard(accelerator, f"{method} loss", skip=t.skip_nonfinite, skip_key="transfer.skip_nonfinite")
    terms: dict[str, torch.Tensor] = {}  # the parts of a combined distiller (crd+kd: crd, kd), for the message
    hooks = [part.register_forward_hook(lambda module, args, out, name=name: terms.__setitem__(name, out.detach()))
             for name, part in distiller.named_children() if isinstance(part, Distiller)]

    def train_step(batch: dict) -> torch.Tensor:
        with accelerator.accumulate(student):
            if cache is not None:
                t_feats, t_logits = cache.outputs(batch["index"], batch["view"], accelerator.device)
            else:
                with torch.no_grad(), accelerator.autocast():
                    t_feats, t_logits = teacher.features_and_logits(batch[cfg.data.source],
                                                                    distiller.needs_teacher_logits)
            loss = distiller(student(batch[cfg.data.target]), t_feats, batch["index"], t_logits)
            accelerator.backward(loss)  # on every process alike (collectives), then the (agreed) check
            if guard.ok(loss, terms):
                optimizer.step()
                scheduler.step()
            else:
                drop_gradients(optimizer)
            optimizer.zero_grad(set_to_none=True)
        return loss

    state = {"student": accelerator.unwrap_model(student), "distiller": distiller, "optimizer": optimizer,
             "scheduler": scheduler}
    try:
        return fit(accelerator, loader, epochs=t.epochs, train_step=train_step, state=state,
                   train_modules=[student, distiller], ckpt=ckpt, desc=f"transfer[{method}]", log=ctx.log, guard=guard)
    finally:
        for hook in hooks:
            hook.remove()
