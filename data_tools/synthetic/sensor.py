"""Kinect-like depth sensor model, reusable by any renderer that knows true depth, surface normals and rays.

kinect_depth turns true z-depth into what a structured-light Kinect (v1) reports: parallax shadows beside near
edges, no return at grazing angles, on a few random blobs and single pixels, noise growing with z^2, disparity
quantisation to 1/8 pixel at the native 640-wide resolution, and 0 (no reading) outside [MIN_DEPTH, MAX_DEPTH].
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_DEPTH, MAX_DEPTH = 0.5, 10.0  # metres; anything outside reads 0
KINECT_BASELINE = 0.075  # metres between IR projector and camera (parallax shadows)
KINECT_FB = 580.0 * KINECT_BASELINE  # focal length x baseline at the native resolution, pixel-metres


def kinect_depth(z: np.ndarray, normal: np.ndarray, dirs: np.ndarray, intrinsics: tuple[float, float, float, float],
                 rng: np.random.Generator, *, no_return: np.ndarray | None = None) -> np.ndarray:
    """Kinect-like depth (float32 HxW metres, 0 = no reading) from true z-depth.

    z: true z-depth along the optical axis (HxW, metres, > 0); normal: unit surface normals (HxWx3) and dirs: the
    rays through the pixels (HxWx3, any length), both in one frame; intrinsics: (fx, fy, cx, cy) of this image
    (fx sets the parallax shadow width); rng: the noise source (same state, same output); no_return: an optional
    HxW bool mask of pixels the sensor cannot see at all (e.g. glass), which read 0.
    """
    h, w = z.shape
    fx = intrinsics[0]
    # Parallax shadow: the projector sits KINECT_BASELINE to the right; a pixel is dark when a nearer surface
    # to its right covers it in projector coordinates (u - disparity).
    disparity = fx * KINECT_BASELINE / z
    proj = np.arange(w)[None, :] - disparity
    right_min = np.minimum.accumulate(proj[:, ::-1], axis=1)[:, ::-1]
    shadow = np.zeros_like(z, bool)
    shadow[:, :-1] = right_min[:, 1:] < proj[:, :-1] - 0.3
    # Grazing angles return nothing (specular loss of the IR pattern).
    cosang = np.abs((normal * dirs).sum(-1)) / np.linalg.norm(dirs, axis=-1)
    grazing = cosang < rng.uniform(0.08, 0.16) * (0.5 + rng.random(z.shape))
    # A few random dropout blobs (dark or shiny surfaces).
    blobs = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.uniform(0.01, 0.06) * w) + 1, int(rng.uniform(0.01, 0.05) * h) + 1)
        cv2.ellipse(blobs, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    speckle = rng.random(z.shape) < 0.004
    sigma = 0.0012 + 0.0019 * (z - 0.4) ** 2
    noisy = z + rng.normal(0, 1, z.shape) * sigma
    step = 1.0 / 8.0  # Kinect disparity resolution in pixels at 640 wide
    d = np.round(KINECT_FB / np.maximum(noisy, 1e-3) / step) * step
    out = KINECT_FB / np.maximum(d, step)
    bad = shadow | grazing | blobs.astype(bool) | speckle
    if no_return is not None:
        bad = no_return | bad
    bad |= (out < MIN_DEPTH) | (out > MAX_DEPTH) | ~np.isfinite(out)
    return np.where(bad, 0.0, out).astype(np.float32)
