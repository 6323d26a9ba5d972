"""The frozen source-modality teacher: loaded from a checkpoint, or trained once on labeled frames and cached."""
from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from filelock import FileLock, Timeout
from torch import nn

from crossmodal.atomic import save_checkpoint
from crossmodal.config import Config, NetConfig, teacher_head, to_dict
from crossmodal.config.tasks import SEGMENTATION
from crossmodal.data.content import content_fingerprint
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.errors import NetworkError
from crossmodal.modalities import encoding_channels
from crossmodal.models import build_backbone, build_teacher
from crossmodal.models.networks import code_fingerprint
from crossmodal.models.teacher_views import HeadlessTeacher, ResizedTeacher
from crossmodal.models.weights import load_strict, read_state_dict
from crossmodal.seeds import seed_for
from crossmodal.stages.bn import recalibrate_after_stage
from crossmodal.stages.class_weights import split_class_weights
from crossmodal.stages.context import RunContext
from crossmodal.stages.supervised import train_supervised


def configured_teacher(cfg: Config, data: DataFiles, state_keys: frozenset[str] = frozenset()) -> nn.Module:
    """The teacher network the config describes, for the source modality, with random or pretrained weights.

    Its weights are random, or the backbone's come from teacher.net.pretrained. It is the project's head on a
    backbone (a segmenter, or a classifier for image-level tasks), a network with its own head for the teacher's
    classes (crossmodal.models.networks), or a head-less feature backbone when teacher.head is none.
    """
    net = cfg.teacher.net
    channels = encoding_channels(cfg.data.source_encoding, data.source_info.shapes[cfg.data.source])
    size = teacher_input_size(cfg, data)
    common = dict(features=net.features, pretrained=net.pretrained, key="teacher.net", kwargs=net.kwargs,
                  probe_size=size, allow_download=net.allow_download)
    if teacher_head(cfg) == "none":
        check_headless_arch(net.arch)
        return HeadlessTeacher(build_backbone(net.arch, channels, **common))
    return build_teacher(net.arch, channels, len(data.teacher_class_names), task=cfg.task,
                         head_channels=net.head_channels, state_keys=state_keys, **common)


def check_headless_arch(arch: str) -> None:
    """Refuse a segmentation model with its own head as a head-less teacher: a head-less teacher is a backbone.

    Such a model is named by its backbone instead, or loaded whole as a checkpoint of another vocabulary.
    """
    from crossmodal.models.families.torchvision_nets import SEGMENTATION

    family, _, name = arch.partition(":")
    if family == "torchvision" and name in SEGMENTATION:
        raise NetworkError(f"config key 'teacher.net.arch' is {arch}, a segmentation model with its own head, but "
                           f"teacher.head is none: name its backbone (e.g. torchvision:"
                           f"{'mobilenet_v3_large' if 'mobilenet' in name else 'resnet50'}), or load the whole model "
                           f"with teacher.head checkpoint, teacher.checkpoint FILE and teacher.num_classes N")


def teacher_input_size(cfg: Config, data: DataFiles) -> tuple[int, int]:
    """The size of the frames the teacher sees: teacher.input_size, or the frame size of the unlabeled pairs."""
    if cfg.teacher.input_size:
        return int(cfg.teacher.input_size[0]), int(cfg.teacher.input_size[1])
    return data.unlabeled.height, data.unlabeled.width


def with_input_size(cfg: Config, data: DataFiles, model: nn.Module) -> nn.Module:
    """`model` fed frames resized to teacher.input_size when that differs from the frame size."""
    size, frame = teacher_input_size(cfg, data), (data.unlabeled.height, data.unlabeled.width)
    return ResizedTeacher(model, size, frame) if size != frame else model


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode (BatchNorm statistics fixed) and no gradients: the teacher only gives targets."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# keys left out of the cache key at these values, so old caches stay valid
NEW_TEACHER_KEYS = {"features": [], "bn_recalibrate": "auto"}
NEW_TEACHER_STAGE_KEYS = {"class_weighting": "none"}  # the same for teacher.* keys
NEW_TEACHER_NET_KEYS = {"kwargs": {}, "allow_download": False}  # teacher.net.* keys, the same
# what a trained teacher never depends on: how it is obtained (head, checkpoint), where the cache is, and how it is
# used afterwards (its input size; a vocabulary of its own is a loaded teacher's only)
NOT_IN_CACHE_KEY = ("cache_dir", "checkpoint", "head", "num_classes", "class_names", "input_size", "cache_views",
                    "cache_dtype")


def teacher_cache_key(cfg: Config, data: DataFiles) -> str:
    """The cache key of a trained teacher: a hash of everything it depends on.

    That is its config, the data it sees, the classes and the seed. The data enter by the content fingerprint of
    the teacher's split, so data rewritten at the same path train a new teacher.
    """
    teacher = {k: v for k, v in to_dict(cfg.teacher).items()
               if k not in NOT_IN_CACHE_KEY and NEW_TEACHER_STAGE_KEYS.get(k, object()) != v}
    defaults = {**NEW_TEACHER_KEYS, **NEW_TEACHER_NET_KEYS}
    teacher["net"] = {k: v for k, v in teacher["net"].items() if defaults.get(k, object()) != v}
    key = {"teacher": teacher,
           "data": content_fingerprint(data.teacher.path), "classes": list(data.class_names),
           "input": [cfg.data.source, cfg.data.source_encoding, cfg.data.source_mean, cfg.data.source_std],
           "seed": cfg.seed, "hflip": cfg.data.hflip, "scale_jitter": cfg.data.scale_jitter}
    if cfg.task != SEGMENTATION.name:  # (kept out for segmentation so existing caches stay valid)
        key["task"] = cfg.task
    code = code_fingerprint(cfg.teacher.net.arch)
    if code:  # networks from a library or your own module (built-in ones are covered by the config)
        key["code"] = code
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_teacher_checkpoint(cfg: Config, path: Path, data: DataFiles, key: str = "teacher.checkpoint") -> nn.Module:
    """A teacher loaded strictly from a state dict file, with weights_only=True.

    The file is one this project wrote (teacher.pt, the cache), or your own network's saved with
    torch.save(model.state_dict()). The dict may sit under 'model' or 'state_dict'; 'module.' prefixes are
    stripped.
    """
    arch = cfg.teacher.net.arch
    state = read_state_dict(path, key, hint=(
        f"Expected a state dict of teacher.net.arch='{arch}' for {len(data.teacher_class_names)} classes (your own "
        f"training's "
        f"torch.save(model.state_dict(), path), or runs/<name>/checkpoints/teacher.pt); leave the key empty to "
        f"train a teacher"))
    model = configured_teacher(cfg, data, frozenset(state))
    try:
        load_strict(model.checkpoint_module(), state, path, key,
                    f"teacher.net.arch='{arch}' with {len(data.teacher_class_names)} classes")
    except NetworkError as err:
        if cfg.teacher.num_classes:
            raise
        raise NetworkError(f"{err}. If it was trained for other classes than the data's, give its class count in "
                           f"teacher.num_classes") from None
    return model


def train_teacher(ctx: RunContext, cache: Path) -> tuple[nn.Module, list]:
    """A teacher trained on data.teacher with teacher.*, written to `cache`; returns it and its loss curve.

    Its step checkpoints are in runs/<name>/state/teacher; its BatchNorm statistics are recalibrated as
    teacher.net.bn_recalibrate says.
    """
    cfg, data, accelerator, log = ctx.cfg, ctx.data, ctx.accelerator, ctx.log
    torch.manual_seed(seed_for(cfg.seed, "teacher"))
    model = configured_teacher(cfg, data)
    loader = make_loader(data.teacher, {cfg.data.source: input_spec(cfg, "source")}, train=True,
                         batch_size=cfg.teacher.batch_size, num_workers=cfg.data.num_workers,
                         seed=seed_for(cfg.seed, "teacher"), hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter,
                         label=cfg.task_spec.label_key)
    t = cfg.teacher
    weight = split_class_weights(t.class_weighting, data.teacher.path, cfg.task_spec.label_key, data.class_names,
                                 log, "teacher")
    ckpt = ctx.checkpoints(cfg, "teacher")
    model, curve = train_supervised(accelerator, model, loader, cfg.data.source, epochs=t.epochs, lr=t.lr,
                                    weight_decay=t.weight_decay, desc="teacher", log=log, ckpt=ckpt,
                                    target_key=cfg.task_spec.label_key, class_weight=weight)
    steps = t.epochs * -(-len(loader) // accelerator.num_processes)  # batches each process trained on
    recalibrate_after_stage(t.net.bn_recalibrate, model, steps, data.teacher, cfg.data.source,
                            input_spec(cfg, "source"), batch_size=t.batch_size, num_workers=cfg.data.num_workers,
                            seed=seed_for(cfg.seed, "bn_recalibrate"), accelerator=accelerator, log=log, desc="teacher")
    if accelerator.is_main_process:  # atomic (temp file, then rename): a reader never sees half a teacher
        save_checkpoint({"model": model.checkpoint_module().state_dict(), "config": to_dict(cfg), "curve": curve,
                         "class_names": list(data.class_names)}, cache)
    accelerator.wait_for_everyone()
    ckpt.clear()
    return model, curve


def _acquire(lock: FileLock, log: logging.Logger | None) -> None:
    """Take `lock`, saying so (when `log` is given) if another run holds it and this one has to wait."""
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if log is not None:
            log.info("teacher: waiting for the teacher cache lock held by another run (%s)", lock.lock_file)
            print(f"waiting for the teacher cache lock held by another run: {lock.lock_file}", flush=True)
        lock.acquire()


@contextmanager
def cache_lock(ctx: RunContext, cache: Path) -> Iterator[None]:
    """Hold <cache>.lock while the cache is looked up and, if missing, trained and written.

    A second run needing the same teacher waits here, then finds the cache made. Every process first waits until
    no other run holds the lock, so none of them waits in a collective, whose timeout is shorter than a teacher's
    training. Then the main process holds it for the whole run.
    """
    accelerator, log = ctx.accelerator, ctx.log
    main = accelerator.is_main_process
    cache.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{cache}.lock")
    _acquire(lock, log if main else None)
    lock.release()
    accelerator.wait_for_everyone()
    if main:
        _acquire(lock, log)
    try:
        accelerator.wait_for_everyone()
        yield
    finally:
        if main:
            lock.release()


def get_teacher(ctx: RunContext) -> tuple[nn.Module, dict[str, Any]]:
    """The frozen teacher on the accelerator's device, fed teacher.input_size, and how it was obtained.

    The second part holds the teacher's `source` (a line for the report) and its loss `curve` if trained.
    """
    cfg, data, accelerator, log = ctx.cfg, ctx.data, ctx.accelerator, ctx.log
    info: dict[str, Any] = {"curve": []}
    head = teacher_head(cfg)
    if head == "none":
        model = configured_teacher(cfg, data)
        net = cfg.teacher.net
        weighted = brings_weights(net)
        info["source"] = (f"head-less feature backbone, weights {net.pretrained or 'published with ' + net.arch}"
                          if weighted else "head-less feature backbone with RANDOM weights (no teacher.net.pretrained)")
        if not weighted:
            log.warning("teacher: teacher.head is none and teacher.net.pretrained is empty: the teacher is an "
                        "untrained network and has nothing to teach")
    elif head == "checkpoint":
        model = load_teacher_checkpoint(cfg, Path(cfg.teacher.checkpoint), data)
        info["source"] = f"checkpoint {cfg.teacher.checkpoint}"
    else:
        cache = Path(cfg.teacher.cache_dir) / f"teacher-{teacher_cache_key(cfg, data)}.pt"
        with cache_lock(ctx, cache):  # one run trains a missing teacher; another waits, then reuses it
            if cache.is_file():  # only ever complete: written to a temp file and renamed (save_checkpoint)
                model = load_teacher_checkpoint(cfg, cache, data)
                info["curve"] = torch.load(cache, map_location="cpu", weights_only=True).get("curve", [])
                info["source"] = f"cache {cache}"
                log.info("teacher: reusing %s", cache)
            else:
                model, info["curve"] = train_teacher(ctx, cache)
                info["source"] = f"trained on {data.teacher.path}, cached as {cache}"
    if accelerator.is_main_process:
        save_checkpoint({"model": model.checkpoint_module().state_dict(), "config": to_dict(cfg),
                         "class_names": list(data.teacher_class_names)}, ctx.run_dir / "checkpoints" / "teacher.pt")
    return freeze(with_input_size(cfg, data, model).to(accelerator.device)), info


def teacher_network(cfg: Config, data: DataFiles) -> nn.Module:
    """The teacher network as the run will use it, frozen, without training anything: for --dry-run.

    It is loaded from teacher.checkpoint, a head-less backbone, or built untrained when the run would train it.
    """
    if teacher_head(cfg) == "checkpoint":
        model = load_teacher_checkpoint(cfg, Path(cfg.teacher.checkpoint), data)
    else:
        torch.manual_seed(seed_for(cfg.seed, "teacher"))
        model = configured_teacher(cfg, data)
    return freeze(with_input_size(cfg, data, model))


def untrained(net: NetConfig) -> NetConfig:
    """`net` without any weights to load: no pretrained file or cache, no download, a bare timm architecture.

    A tagged timm name such as timm:vit_small_patch14_dinov2.lvd142m means its published weights; the tag is
    dropped.
    """
    import dataclasses

    arch = net.arch.split(".", 1)[0] if net.arch.startswith("timm:") else net.arch
    return dataclasses.replace(net, arch=arch, pretrained="", allow_download=False)


def brings_weights(net: NetConfig) -> bool:
    """Whether `net` starts from trained weights: a file, the caches, a download, or a tagged timm name."""
    return bool(net.pretrained or net.allow_download) or untrained(net).arch != net.arch


def random_teacher(ctx: RunContext) -> nn.Module:
    """The control teacher: teacher.net's architecture with untrained weights, frozen.

    The weights come from the run's `seed`; teacher.net.pretrained is not loaded. Its BatchNorm statistics are
    measured on the teacher's frames (the unlabeled pairs' source frames when there is no data.teacher), so its
    features are as well scaled as a trained one's.
    """
    import dataclasses

    cfg, data, accelerator, log = ctx.cfg, ctx.data, ctx.accelerator, ctx.log
    net = untrained(cfg.teacher.net)
    torch.manual_seed(seed_for(cfg.seed, "teacher"))
    model = configured_teacher(dataclasses.replace(cfg, teacher=dataclasses.replace(cfg.teacher, net=net)), data)
    model = with_input_size(cfg, data, model)  # statistics of the frames at the size the teacher sees them
    frames = data.source_info
    recalibrate_after_stage("always", model, 0, frames, cfg.data.source, input_spec(cfg, "source"),
                            batch_size=cfg.teacher.batch_size, num_workers=cfg.data.num_workers,
                            seed=seed_for(cfg.seed, "bn_recalibrate"), accelerator=accelerator, log=log,
                            desc="random teacher")
    log.info("control: a random teacher (untrained %s, BatchNorm statistics from %s)", net.arch, frames.path)
    return freeze(model.to(accelerator.device))


def resolve_teacher_input(cfg: Config, data: DataFiles) -> str:
    """Fill data.source_mean/std from the teacher's own normalisation; returns a line saying what the teacher sees.

    The normalisation is timm's pretrained_cfg. It is filled in when the keys are empty, the teacher comes with
    weights and its mean/std differ from the rgb encoding's ImageNet ones, so the saved config states them. The
    line names the input size and normalisation, for the log and the report.
    """
    from crossmodal.config.encodings import IMAGENET_MEAN, IMAGENET_STD
    from crossmodal.models.networks import pretrained_normalisation

    d, net = cfg.data, cfg.teacher.net
    h, w = teacher_input_size(cfg, data)
    size = ("teacher.input_size; its maps are resampled to the student's grid" if cfg.teacher.input_size
            else "the frame size")
    weighted = brings_weights(net) or bool(cfg.teacher.checkpoint)
    own = pretrained_normalisation(net.arch) if weighted and d.source_encoding == "rgb" else None
    if d.source_mean or d.source_std:
        norm = f"data.source_mean {list(d.source_mean)}, data.source_std {list(d.source_std)} (set in the config)"
    elif own is None or (np.allclose(own[0], IMAGENET_MEAN) and np.allclose(own[1], IMAGENET_STD)):
        norm = f"the {d.source_encoding} encoding's own" + (" (ImageNet mean/std)" if d.source_encoding == "rgb"
                                                             else "")
    else:  # after the encoding's ImageNet standardisation: x' = (x * s_in + m_in - m) / s
        mean, std = np.asarray(own[0], np.float64), np.asarray(own[1], np.float64)
        d.source_mean = [round(float(v), 6) for v in (mean - IMAGENET_MEAN) / IMAGENET_STD]
        d.source_std = [round(float(v), 6) for v in std / IMAGENET_STD]
        norm = (f"mean {[round(float(v), 4) for v in mean]}, std {[round(float(v), 4) for v in std]} from "
                f"{net.arch}'s pretrained config (data.source_mean/std set to match)")
    return f"teacher input: {h}x{w} ({size}); normalisation: {norm}"
