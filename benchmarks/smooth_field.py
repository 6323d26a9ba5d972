"""Smooth random content for the frames the benchmarks generate: it compresses like a photo, not like noise."""
from __future__ import annotations

import cv2
import numpy as np


def smooth(rng: np.random.Generator, shape: tuple[int, int], channels: int, cells: int = 12) -> np.ndarray:
    """A smooth random field in [0, 1), (H, W, channels) float32."""
    small = rng.random((cells, cells * shape[1] // shape[0], channels)).astype(np.float32)
    out = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    out = out.reshape(shape[0], shape[1], channels) + rng.normal(0, 0.02, (*shape, channels)).astype(np.float32)
    return np.clip(out, 0, 0.999)
