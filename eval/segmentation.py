"""The downstream protocol: fine-tune a student with a segmentation head on the small labeled split, test it."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config, ConfigError, load_config
from crossmodal.data.dataset import PairedDataset
from crossmodal.data.h5format import FormatError, PairedInfo, read_info
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.models import ResNetBackbone, Segmenter, build_backbone
from crossmodal.modalities import InputSpec, PairTransform, check_encoding, encoding_channels
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.supervised import evaluate_segmenter, train_segmenter
from eval.metrics import segmentation_metrics


@dataclass
class MethodResult:
    """What one method produced: its metrics, loss curves, and predictions on the example frames."""

    metrics: dict[str, Any]
    confusion: np.ndarray | None
    curves: dict[str, list] = field(default_factory=dict)
    examples: np.ndarray | None = None


def example_indices(num_test: int, k: int) -> list[int]:
    """k test frames spread evenly over the split (the same for every method)."""
    return sorted({int(i) for i in np.linspace(0, num_test - 1, num=min(k, num_test))}) if k else []


@torch.no_grad()
def predict(model: Segmenter, info_path, key: str, spec: InputSpec, indices: list[int], device) -> np.ndarray:
    """Argmax predictions of `model` on the given frames of a split, (k, H, W) uint8."""
    if not indices:
        return np.zeros((0, 1, 1), np.uint8)
    ds = PairedDataset(info_path, [key], transform=PairTransform({key: spec}, (1, 1), train=False))
    x = torch.stack([ds[i][key] for i in indices]).to(device)
    model.eval()
    return model(x).argmax(1).to(torch.uint8).cpu().numpy()


def evaluate_model(cfg: Config, model: Segmenter, test: PairedInfo, class_names: Sequence[str], key: str,
                   spec: InputSpec, accelerator: Accelerator, desc: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics and confusion matrix of `model` on a labeled split, and its predictions on the example frames."""
    loader = make_loader(test, {key: spec}, train=False, batch_size=cfg.finetune.batch_size,
                         num_workers=cfg.data.num_workers, seed=cfg.seed, label="label")
    confusion = evaluate_segmenter(accelerator, model, loader, key, len(class_names), desc).numpy()
    metrics = segmentation_metrics(confusion, class_names)
    examples = predict(model, test.path, key, spec, example_indices(test.num_samples, cfg.finetune.num_examples),
                       accelerator.device)
    return metrics, confusion, examples


def finetune_and_evaluate(cfg: Config, method: str, backbone: ResNetBackbone, data: DataFiles,
                          accelerator: Accelerator, log: logging.Logger,
                          ckpt: StageCheckpoints) -> tuple[MethodResult, Segmenter]:
    """Fine-tune backbone + a fresh head (same initial head and data order for every method; resumable via
    `ckpt`), then test."""
    torch.manual_seed(cfg.seed + 2)
    model = Segmenter(backbone, data.num_classes, cfg.student.head_channels)
    key, spec, ft = cfg.data.target, input_spec(cfg, "target"), cfg.finetune
    loader = make_loader(data.train, {key: spec}, train=True, batch_size=ft.batch_size, num_workers=cfg.data.num_workers,
                         seed=cfg.seed + 2, label="label", hflip=cfg.data.hflip, scale_jitter=cfg.data.scale_jitter)
    model, curve = train_segmenter(accelerator, model, loader, key, epochs=ft.epochs, lr=ft.lr,
                                   weight_decay=ft.weight_decay, desc=f"finetune[{method}]", log=log, ckpt=ckpt)
    metrics, confusion, examples = evaluate_model(cfg, model, data.test, data.class_names, key, spec, accelerator,
                                                  f"test[{method}]")
    log.info("%s: mIoU %.4f pixel acc %.4f mean acc %.4f", method, metrics["miou"], metrics["pixel_acc"], metrics["mean_acc"])
    return MethodResult(metrics, confusion, {"finetune": curve}, examples), model


def load_finetuned(path: Path, cfg: Config, channels: int) -> tuple[Segmenter, list[str]]:
    """A fine-tuned student saved by run_transfer.py (checkpoints/<method>_finetuned.pt) and its class names."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    names = list(blob["class_names"])
    model = Segmenter(build_backbone(cfg.student.arch, channels), len(names), cfg.student.head_channels)
    model.load_state_dict(blob["model"])
    return model, names


def main(argv: list[str] | None = None) -> int:
    """python -m eval.segmentation --run runs/X --data FILE: test a finished run's fine-tuned students on FILE."""
    p = argparse.ArgumentParser(description="Evaluate the fine-tuned students of a finished run on a labeled paired "
                                "file (docs/data_format.md): mIoU, pixel accuracy, mean accuracy, per-class IoU.",
                                epilog="example: python -m eval.segmentation --run runs/default --data data/synthetic/test.h5")
    p.add_argument("--run", required=True, type=Path, help="a run folder written by run_transfer.py")
    p.add_argument("--data", required=True, type=Path, help="labeled paired HDF5 file holding the run's target modality")
    p.add_argument("--method", action="append", help="method(s) to evaluate (default: every fine-tuned checkpoint)")
    p.add_argument("--out", type=Path, help="JSON file for the metrics (default: <run>/eval_<data stem>.json)")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.run / "config.yaml")
        test = read_info(args.data)
        for needed in (cfg.data.target, "label"):
            if needed not in test.modalities:
                raise FormatError(f"{args.data} lacks modality '{needed}' (it has {', '.join(test.modalities)})")
        spec = input_spec(cfg, "target")
        check_encoding(spec.encoding, cfg.data.target, test.shapes[cfg.data.target], str(args.data), spec.mean, spec.std)
        ckpts = sorted((args.run / "checkpoints").glob("*_finetuned.pt"))
        if args.method:
            ckpts = [args.run / "checkpoints" / f"{m}_finetuned.pt" for m in args.method]
        missing = [str(c) for c in ckpts if not c.is_file()]
        if not ckpts or missing:
            raise FileNotFoundError(f"no fine-tuned checkpoint {', '.join(missing)} in {args.run / 'checkpoints'} "
                                    f"(run_transfer.py writes <method>_finetuned.pt there)")
        accelerator = Accelerator(cpu=not torch.cuda.is_available())
        channels = encoding_channels(spec.encoding, test.shapes[cfg.data.target])
        results = {}
        for ckpt in ckpts:
            model, names = load_finetuned(ckpt, cfg, channels)
            if tuple(names) != tuple(test.class_names):
                raise FormatError(f"{args.data} has classes {list(test.class_names)}, the run was trained on {names}")
            method = ckpt.name.removesuffix("_finetuned.pt")
            results[method], _, _ = evaluate_model(cfg, model.to(accelerator.device), test, names, cfg.data.target,
                                                   spec, accelerator, f"test[{method}]")
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.run / f"eval_{args.data.stem}.json"
    write_text_atomic(out, json.dumps({"data": str(args.data), "run": str(args.run), "methods": results}, indent=2))
    for method, m in results.items():
        print(f"{method:>12}: mIoU {m['miou']:.4f}  pixel acc {m['pixel_acc']:.4f}  mean acc {m['mean_acc']:.4f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
