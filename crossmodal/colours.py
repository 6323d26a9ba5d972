"""Colours for class-id maps and depth: a distinct class palette and a turbo depth map.

The class palette is deterministic, has no grey or near-grey colour and keeps its colours apart in CIE Lab (the rule
is in `class_palette`); black stays for ignored pixels. The report figures, the dataset inspector and
crossmodal-predict overlays use them.
"""
from __future__ import annotations

import math
import threading
from functools import lru_cache

import cv2
import numpy as np

from crossmodal.data.labels import ignore_of

__all__ = ["MIN_CHROMA", "LIGHTNESS", "class_palette", "colorize_depth", "colorize_label", "delta_e2000", "overlay",
           "srgb_to_lab"]

# The palette rule: every class colour has CIE Lab chroma C*ab >= MIN_CHROMA (its CIE76 distance to the nearest grey;
# Kelly's buff, 27.7, and grey, 1.1, fail it) and lightness L* in LIGHTNESS (away from black = ignored, white = page).
MIN_CHROMA = 30.0
LIGHTNESS = (30.0, 90.0)
_GRID_LEVELS = 16  # the sRGB candidate grid (16 levels a channel: 2978 colours pass the rule)
_GREEDY_MAX = 1024  # colours chosen farthest-first; beyond, the grid's other colours follow, farthest first
_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in 0-255 to (..., 3) CIE Lab (D65), in float64 numpy so that the palette is the same everywhere."""
    c = np.asarray(rgb, np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _SRGB_TO_XYZ.T / _D65
    d = 6.0 / 29.0
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of Lab colours (broadcast over leading axes); about 2.3 is a just-noticeable step.

    Sharma, Wu and Dalal (2005), whose test pairs tests/test_colours.py checks.
    """
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 25.0 ** 7)))
    c1, c2 = np.hypot((1 + g) * a1, b1), np.hypot((1 + g) * a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, (1 + g) * a1)) % 360, np.degrees(np.arctan2(b2, (1 + g) * a2)) % 360
    grey = c1 * c2 == 0
    dh = h2 - h1
    dh = np.where(grey, 0.0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    d_hue = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    hs = h1 + h2
    hm = np.where(grey, hs, np.where(np.abs(h1 - h2) <= 180, hs / 2, np.where(hs < 360, hs + 360, hs - 360) / 2))
    t = (1 - 0.17 * np.cos(np.radians(hm - 30)) + 0.24 * np.cos(np.radians(2 * hm))
         + 0.32 * np.cos(np.radians(3 * hm + 6)) - 0.20 * np.cos(np.radians(4 * hm - 63)))
    lm, cm = (l1 + l2) / 2, (c1 + c2) / 2
    rc = 2 * np.sqrt(cm ** 7 / (cm ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (lm - 50) ** 2 / np.sqrt(20 + (lm - 50) ** 2)
    sc, sh = 1 + 0.045 * cm, 1 + 0.015 * cm * t
    rt = -np.sin(np.radians(60 * np.exp(-(((hm - 275) / 25) ** 2)))) * rc
    dl, dc, dhh = (l2 - l1) / sl, (c2 - c1) / sc, d_hue / sh
    return np.sqrt(dl ** 2 + dc ** 2 + dhh ** 2 + rt * dc * dhh)


@lru_cache(maxsize=4)
def _candidates(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The sRGB grid's colours that pass the palette rule (chroma and lightness), with their Lab values."""
    grid = np.round(np.linspace(0, 255, levels))
    rgb = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    lab = srgb_to_lab(rgb)
    keep = (np.hypot(lab[:, 1], lab[:, 2]) >= MIN_CHROMA) & (lab[:, 0] >= LIGHTNESS[0]) & (lab[:, 0] <= LIGHTNESS[1])
    return rgb[keep], lab[keep]


class _FarthestFirst:
    """Colours chosen farthest-first (CIEDE2000) from the grid, the greys counting as already chosen.

    Glasbey et al. (2007)'s greedy step: each colour is the candidate farthest from every grey level and every colour
    before it, so the first colours are the most distinct and a palette of n is the first n of a longer one. The
    choice is kept and extended on demand; distances are rounded so that ties fall to grid order on every platform.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chosen: list[int] = []
        self.dist: np.ndarray | None = None  # each candidate's distance to the nearest grey or chosen colour

    def first(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first n colours (n <= _GREEDY_MAX) and the distances after choosing them (-1 for the chosen)."""
        rgb, lab = _candidates(_GRID_LEVELS)
        with self.lock:
            if self.dist is None:
                greys = np.stack([np.linspace(0.0, 100.0, 101), np.zeros(101), np.zeros(101)], -1)
                self.dist = np.round(delta_e2000(lab[:, None], greys[None]).min(axis=1), 6)
            while len(self.chosen) < n:
                i = int(np.argmax(self.dist))
                self.chosen.append(i)
                self.dist = np.minimum(self.dist, np.round(delta_e2000(lab, lab[i]), 6))
                self.dist[self.chosen] = -1.0
            return rgb[self.chosen[:n]].astype(np.uint8), self.dist.copy()


_FARTHEST_FIRST = _FarthestFirst()


@lru_cache(maxsize=32)
def _palette(n: int) -> np.ndarray:
    """The palette of n colours: farthest-first up to _GREEDY_MAX, then the other grid colours farthest first."""
    first, dist = _FARTHEST_FIRST.first(min(n, _GREEDY_MAX))
    out = first
    if n > len(first):
        levels = _GRID_LEVELS
        while len(_candidates(levels)[0]) < n:
            levels += 4
        rgb, lab = _candidates(levels)
        if levels != _GRID_LEVELS:  # a finer grid for very many classes: distance to the chosen colours in CIE76
            taken = {tuple(int(v) for v in c) for c in first}
            near = np.full(len(lab), np.inf)
            for c in srgb_to_lab(first):
                near = np.minimum(near, ((lab - c) ** 2).sum(-1))
            dist = np.where([tuple(int(v) for v in c) in taken for c in rgb], -1.0, np.round(near, 6))
        order = np.argsort(-dist, kind="stable")[: n - len(first)]
        out = np.concatenate([first, rgb[order].astype(np.uint8)])
    out.setflags(write=False)
    return out


def class_palette(num_classes: int) -> np.ndarray:
    """Return (C, 3) uint8 RGB colours: deterministic, far apart, none grey, none black (black marks ignored pixels).

    The rule: chroma C*ab >= MIN_CHROMA (30) and lightness L* in LIGHTNESS (30-90), chosen farthest-first in CIEDE2000
    from a 16-level sRGB grid with the greys counted as chosen. Measured by tests/test_colours.py: the smallest
    CIEDE2000 difference between two colours is 23.5 at 13 classes, 21.8 at 18, 14.6 at 40, 7.5 at 150 and 3.5 at
    894; between a colour and any grey it is 18.0 or more.
    """
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return _palette(int(num_classes)).copy()


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
