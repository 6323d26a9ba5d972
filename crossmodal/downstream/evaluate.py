"""Testing a segmenter on a labeled split, and loading the fine-tuned students a run saved.

A test gives metrics, a confusion matrix and example predictions; a loaded student can be tested again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn

from crossmodal.config import Config
from crossmodal.data.dataset import PairedDataset
from crossmodal.data.h5format import PairedInfo
from crossmodal.data.labels import label_dtype
from crossmodal.data.loaders import make_loader
from crossmodal.downstream.results import example_indices
from crossmodal.metrics import segmentation_metrics
from crossmodal.modalities import InputSpec, PairTransform
from crossmodal.models import Segmenter, build_backbone
from crossmodal.seeds import seed_for
from crossmodal.stages.supervised import evaluate_segmenter


@torch.no_grad()
def predict(model: nn.Module, info_path: str | Path, key: str, spec: InputSpec, indices: list[int],
            device: torch.device | str) -> np.ndarray:
    """Argmax predictions of `model` on the given frames of a split, for the example figures.

    The array is (k, H, W), uint8, or uint16 for more than 255 classes.
    """
    if not indices:
        return np.zeros((0, 1, 1), np.uint8)
    ds = PairedDataset(info_path, [key], transform=PairTransform({key: spec}, (1, 1), train=False))
    x = torch.stack([ds[i][key] for i in indices]).to(device)
    model.eval()
    logits = model(x)
    return logits.argmax(1).cpu().numpy().astype(label_dtype(logits.shape[1]))


def evaluate_model(cfg: Config, model: nn.Module, test: PairedInfo, class_names: Sequence[str], key: str,
                   spec: InputSpec, accelerator: Accelerator, desc: str,
                   num_examples: int | None = None) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics and confusion matrix of `model` on a labeled split, and its predictions on the example frames.

    There are finetune.num_examples example frames unless `num_examples` says otherwise.
    """
    loader = make_loader(test, {key: spec}, train=False, batch_size=cfg.finetune.batch_size,
                         num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "evaluation"), label="label")
    confusion = evaluate_segmenter(accelerator, model, loader, key, len(class_names), desc).numpy()
    metrics = segmentation_metrics(confusion, class_names)
    k = cfg.finetune.num_examples if num_examples is None else num_examples
    examples = predict(model, test.path, key, spec, example_indices(test.num_samples, k), accelerator.device)
    return metrics, confusion, examples


def load_finetuned(path: Path, cfg: Config, channels: int) -> tuple[Segmenter, list[str]]:
    """A fine-tuned student saved by run_transfer.py (checkpoints/<method>_finetuned.pt) and its class names."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    names = list(blob["class_names"])
    s = cfg.student  # rebuilt from the run's config alone: the weights come from the checkpoint, not `pretrained`
    backbone = build_backbone(s.arch, channels, features=s.features, num_classes=len(names), key="student",
                              kwargs=s.kwargs)
    model = Segmenter(backbone, len(names), s.head_channels)
    model.load_state_dict(blob["model"])
    return model, names
