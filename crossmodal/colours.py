"""Colours for class-id maps and depth: a distinct class palette and a turbo depth map.

The class palette is deterministic and maximally distinct, with black kept for ignored pixels. The report figures,
the dataset inspector and crossmodal-predict overlays use them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from crossmodal.data.labels import ignore_of

__all__ = ["class_palette", "colorize_depth", "colorize_label", "overlay"]

RGB = tuple[int, int, int]

# Kelly's (1965) colours of maximum contrast, without black, white and the near-black olive green.
_KELLY: tuple[RGB, ...] = (
    (243, 195, 0), (135, 86, 146), (243, 132, 0), (161, 202, 241), (190, 0, 50), (194, 178, 128),
    (132, 132, 130), (0, 136, 86), (230, 143, 172), (0, 103, 165), (249, 147, 121), (96, 78, 151),
    (246, 166, 0), (179, 68, 108), (220, 211, 0), (136, 45, 23), (141, 182, 0), (101, 69, 34), (226, 88, 34),
)


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert (N, 3) RGB in 0-255 to (N, 3) CIE Lab."""
    unit = (np.asarray(rgb, np.float64) / 255.0).astype(np.float32)[None]
    return cv2.cvtColor(unit, cv2.COLOR_RGB2Lab)[0].astype(np.float64)


@lru_cache(maxsize=32)
def _glasbey(n: int) -> np.ndarray:
    """Kelly's colours, then greedy farthest-point colours in CIE Lab, away from black and white.

    The greedy step follows Glasbey et al. 2007.
    """
    if n <= len(_KELLY):
        out = np.array(_KELLY[:n], np.uint8)
        out.setflags(write=False)
        return out
    n_new = n - len(_KELLY)
    levels = max(12, math.ceil((6 * n) ** (1 / 3)))
    while True:
        grid = np.round(np.linspace(0, 255, levels))
        rgb = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
        lab = _to_lab(rgb)
        keep = (lab[:, 0] > 22) & (lab[:, 0] < 92)  # black means "ignore", white is the page
        if keep.sum() >= n:
            break
        levels += 4
    rgb, lab = rgb[keep], lab[keep]
    seeds = np.concatenate([[[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]], _to_lab(np.array(_KELLY))])
    dist = np.min(((lab[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    kelly = {tuple(c) for c in _KELLY}
    dist[[tuple(int(v) for v in c) in kelly for c in rgb]] = -1.0
    chosen = []
    for _ in range(n_new):
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, ((lab - lab[i]) ** 2).sum(-1))
        dist[i] = -1.0
    out = np.concatenate([np.array(_KELLY, np.uint8), rgb[chosen].astype(np.uint8)])
    out.setflags(write=False)
    return out


def class_palette(num_classes: int) -> np.ndarray:
    """Return (C, 3) uint8 RGB colours, deterministic and maximally distinct, none black.

    Black marks ignored pixels.
    """
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return _glasbey(int(num_classes)).copy()


def colorize_label(label: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Map an (H, W) class-id map to (H, W, 3) uint8 RGB with `class_palette`; ignored pixels become black.

    The ignore value defaults to the map's own: 255 in uint8 maps, 65535 in uint16 and in-memory ones
    (crossmodal.data.labels.ignore_of).
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be 2-D (H, W), got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"label must hold integer class ids, got dtype {label.dtype}")
    if ignore_index is None:
        ignore_index = ignore_of(label)
    ids = label.astype(np.int64)
    ignore = ids == ignore_index
    bad = ~ignore & ((ids < 0) | (ids >= num_classes))
    if bad.any():
        raise ValueError(f"label ids must be in [0, {num_classes}) or {ignore_index}, found {int(ids[bad][0])}")
    out = class_palette(num_classes)[np.where(ignore, 0, ids)]
    out[ignore] = 0
    return out


def colorize_depth(depth: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """Map (H, W) depth in metres to (H, W, 3) uint8 RGB with the turbo colormap; holes black.

    Near is blue, far is red.

    Holes are zeros and non-finite values; ``max_depth`` defaults to the largest valid depth.
    """
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise ValueError(f"depth must be 2-D (H, W), got shape {depth.shape}")
    if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
        raise ValueError(f"depth must be numeric, got dtype {depth.dtype}")
    d = depth.astype(np.float64)
    finite = np.isfinite(d)
    if np.any(d[finite] < 0):
        raise ValueError("depth must be non-negative (0 marks a hole)")
    valid = finite & (d > 0)
    if max_depth is None:
        max_depth = float(d[valid].max()) if valid.any() else 1.0
    if not (math.isfinite(max_depth) and max_depth > 0):
        raise ValueError(f"max_depth must be a positive number, got {max_depth}")
    scaled = np.clip(np.where(valid, d, 0.0) / max_depth, 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb


def overlay(base: np.ndarray, label: np.ndarray, num_classes: int, alpha: float = 0.5,
            ignore_index: int | None = None) -> np.ndarray:
    """Return `base`, (H, W, 3) uint8 RGB, blended with the class colours of `label`.

    Ignored pixels keep the base image; the ignore value defaults to the map's own, as in colorize_label.
    """
    if ignore_index is None and np.issubdtype(np.asarray(label).dtype, np.integer):
        ignore_index = ignore_of(label)
    colours = colorize_label(label, num_classes, ignore_index)
    if base.shape != colours.shape or base.dtype != np.uint8:
        raise ValueError(f"base must be uint8 (H, W, 3) of the label's size {colours.shape}, got {base.dtype} "
                         f"{base.shape}")
    out = np.round((1.0 - alpha) * base.astype(np.float32) + alpha * colours.astype(np.float32)).astype(np.uint8)
    keep = np.asarray(label) == ignore_index
    out[keep] = base[keep]
    return out
