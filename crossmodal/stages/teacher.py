"""The frozen source-modality teacher: loaded from a checkpoint, or trained once on labeled frames and cached."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from crossmodal.checkpoint import save_checkpoint
from crossmodal.config import Config, to_dict
from crossmodal.data.files import DataFiles, label_key
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.models import Classifier, Segmenter, build_backbone
from crossmodal.modalities import encoding_channels
from crossmodal.stages.checkpoints import stage_checkpoints
from crossmodal.stages.supervised import train_segmenter


def build_teacher(cfg: Config, data: DataFiles) -> Segmenter | Classifier:
    """The teacher network for the source modality (weights random, or from teacher.net.pretrained): a segmenter,
    or a classifier when the task is image-level classification."""
    net = cfg.teacher.net
    channels = encoding_channels(cfg.data.source_encoding, data.teacher.shapes[cfg.data.source])
    backbone = build_backbone(net.arch, channels, net.pretrained)
    if cfg.task == "classification":
        return Classifier(backbone, data.num_classes)
    return Segmenter(backbone, data.num_classes, net.head_channels)


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode (BatchNorm statistics fixed) and no gradients: the teacher only gives targets."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _file_fingerprint(path: Path) -> str:
    """Size plus a hash of the first and last MiB: cheap, and changes when a split is regenerated."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def teacher_cache_key(cfg: Config, data: DataFiles) -> str:
    """Everything the trained teacher depends on: its config, the data it sees, the classes, the seed."""
    key = {"teacher": {k: v for k, v in to_dict(cfg.teacher).items() if k not in ("cache_dir", "checkpoint")},
           "data": _file_fingerprint(data.teacher.path), "classes": list(data.class_names),
           "input": [cfg.data.source, cfg.data.source_encoding, cfg.data.source_mean, cfg.data.source_std],
           "seed": cfg.seed, "hflip": cfg.data.hflip, "scale_jitter": cfg.data.scale_jitter}
    if cfg.task != "segmentation":  # (kept out for segmentation so existing caches stay valid)
        key["task"] = cfg.task
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_teacher_checkpoint(cfg: Config, path: Path, data: DataFiles) -> Segmenter:
    """A teacher saved by this project (or any file holding a matching Segmenter state dict)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"teacher checkpoint not found: {path} (config key teacher.checkpoint). Expected a file written by "
            f"run_transfer.py (runs/<name>/checkpoints/teacher.pt or the teacher cache), holding a "
            f"'{cfg.teacher.net.arch}' {'segmenter' if cfg.task == 'segmentation' else 'classifier'} for "
            f"{data.num_classes} classes; leave the key empty to train one.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"teacher checkpoint {path} cannot be read: {err}") from err
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"teacher checkpoint {path} holds no state dict")
    model = build_teacher(cfg, data)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"teacher checkpoint {path} does not fit teacher.net.arch='{cfg.teacher.net.arch}' "
                         f"with {data.num_classes} classes: {str(err).splitlines()[0]} ...") from None
    return model


def get_teacher(cfg: Config, data: DataFiles, accelerator: Accelerator, log: logging.Logger,
                run_dir: Path) -> tuple[Segmenter, dict[str, Any]]:
    """The frozen teacher on the accelerator's device, and how it was obtained (with its loss curve if trained)."""
    info: dict[str, Any] = {"curve": []}
    if cfg.teacher.checkpoint:
        model = load_teacher_checkpoint(cfg, Path(cfg.teacher.checkpoint), data)
        info["source"] = f"checkpoint {cfg.teacher.checkpoint}"
    else:
        cache = Path(cfg.teacher.cache_dir) / f"teacher-{teacher_cache_key(cfg, data)}.pt"
        if cache.is_file():
            model = load_teacher_checkpoint(cfg, cache, data)
            info["curve"] = torch.load(cache, map_location="cpu", weights_only=False).get("curve", [])
            info["source"] = f"cache {cache}"
            log.info("teacher: reusing %s", cache)
        else:
            torch.manual_seed(cfg.seed)
            model = build_teacher(cfg, data)
            loader = make_loader(data.teacher, {cfg.data.source: input_spec(cfg, "source")}, train=True, batch_size=cfg.teacher.batch_size,
                                 num_workers=cfg.data.num_workers, seed=cfg.seed,
                                 hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter, label=label_key(cfg))
            t = cfg.teacher
            ckpt = stage_checkpoints(cfg, run_dir, "teacher", accelerator, log)
            model, info["curve"] = train_segmenter(accelerator, model, loader, cfg.data.source, epochs=t.epochs, lr=t.lr,
                                                   weight_decay=t.weight_decay, desc="teacher", log=log, ckpt=ckpt,
                                                   target_key=label_key(cfg))
            if accelerator.is_main_process:
                save_checkpoint({"model": model.state_dict(), "config": to_dict(cfg), "curve": info["curve"],
                                 "class_names": list(data.class_names)}, cache)
            accelerator.wait_for_everyone()
            ckpt.clear()
            info["source"] = f"trained on {data.teacher.path}, cached as {cache}"
    if accelerator.is_main_process:
        save_checkpoint({"model": model.state_dict(), "config": to_dict(cfg), "class_names": list(data.class_names)},
                        run_dir / "checkpoints" / "teacher.pt")
    return freeze(model.to(accelerator.device)), info
