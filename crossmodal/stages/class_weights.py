"""Per-class cross-entropy weights from a labeled split's class frequencies.

They serve teacher.class_weighting and finetune.class_weighting, so a network trained on a long-tailed split does
not ignore its rare classes. The two schemes are the ones used for RGB-D segmentation (ESANet's --class_weighting):
median frequency balancing (Eigen and Fergus, 2015) and ENet's logarithmic weighting (Paszke et al., 2016).
"""
from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import torch

from crossmodal.config import CLASS_WEIGHTINGS
from crossmodal.data.h5format import FormatError

BLOCK_BYTES = 64 << 20  # label rows read at a time
ENET_C = 1.02  # ENet's constant: weights lie in (1, 1/ln(1.02) = 50.5]


def label_frequencies(path: Path, key: str, num_classes: int,
                      indices: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per class: its labeled pixels, and the labeled pixels of the frames in which it appears.

    For image-level `class_id` labels, frames are counted instead of pixels. The rows counted are `indices`, all
    when None. Ignored pixels count in neither: the file's ignore value (255 in uint8 labels, 65535 in uint16
    ones), or class -1.
    """
    counts = np.zeros(num_classes, np.int64)
    present_in = np.zeros(num_classes, np.int64)
    try:
        with h5py.File(path, "r") as f:
            ds = f[key]
            rows = np.arange(ds.shape[0]) if indices is None else np.unique(np.asarray(indices, np.int64))
            if key == "class_id":
                ids = np.asarray(ds[:], np.int64)[rows]
                ids = ids[(ids >= 0) & (ids < num_classes)]
                counts = np.bincount(ids, minlength=num_classes)[:num_classes]
                return counts, np.full(num_classes, ids.size, np.int64)
            row_bytes = max(1, int(np.prod(ds.shape[1:])) * 8)
            step = max(1, BLOCK_BYTES // row_bytes)
            for start in range(0, rows.size, step):
                block = np.asarray(ds[rows[start:start + step]], np.int64).reshape(-1, int(np.prod(ds.shape[1:])))
                row_of = np.broadcast_to(np.arange(block.shape[0])[:, None], block.shape)
                keep = block < num_classes  # drops the ignore value (and ids the file checks refused)
                per_row = np.bincount(row_of[keep] * num_classes + block[keep],
                                      minlength=block.shape[0] * num_classes).reshape(-1, num_classes)
                counts += per_row.sum(0)
                present_in += ((per_row > 0) * per_row.sum(1, keepdims=True)).sum(0)
    except (OSError, KeyError, RuntimeError) as err:
        raise FormatError(f"{path}: dataset '{key}' cannot be read to count classes for class_weighting "
                          f"({err})") from err
    return counts, present_in


def class_weights(counts: np.ndarray, present_in: np.ndarray, scheme: str) -> torch.Tensor | None:
    """The cross-entropy weight of each class under `scheme`; None for 'none'.

    Classes absent from the split get weight 0: they have no pixels to weigh.
    median_frequency: median(f) / f_c with f_c = pixels of c / pixels of the frames holding c.
    logarithmic: 1 / ln(1.02 + p_c) with p_c = pixels of c / all labeled pixels.
    """
    if scheme == "none":
        return None
    if scheme not in CLASS_WEIGHTINGS:
        raise ValueError(f"unknown class weighting {scheme!r} (known: {', '.join(CLASS_WEIGHTINGS)})")
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    if not present.any():
        return torch.zeros(counts.size, dtype=torch.float32)
    if scheme == "median_frequency":
        freq = counts[present] / np.asarray(present_in, np.float64)[present]
        weights[present] = np.median(freq) / freq
    else:
        share = counts[present] / counts.sum()
        weights[present] = 1.0 / np.log(ENET_C + share)
    return torch.tensor(weights, dtype=torch.float32)


def describe(weights: torch.Tensor, class_names: tuple[str, ...] | list[str]) -> str:
    """One log line: each class's weight, e.g. 'wall 0.31, floor 0.52, ...'."""
    return ", ".join(f"{name} {w:.2f}" for name, w in zip(class_names, weights.tolist()))


def split_class_weights(scheme: str, path: Path, key: str, class_names: tuple[str, ...] | list[str],
                        log: logging.Logger, desc: str, indices: list[int] | None = None) -> torch.Tensor | None:
    """The weights of `scheme` counted from the rows `indices` of split `path`, logged under `desc`.

    All rows are counted when `indices` is None. For 'none' the answer is None and the file is not read.
    """
    if scheme == "none":
        return None
    weights = class_weights(*label_frequencies(path, key, len(class_names), indices), scheme)
    log.info("%s: %s class weights: %s", desc, scheme, describe(weights, class_names))
    return weights
