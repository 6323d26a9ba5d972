"""HHA encoding of depth (Gupta et al., ECCV 2014): horizontal disparity, height above ground, angle with gravity.

A vectorised numpy/cv2 re-implementation of Gupta et al.'s MATLAB code (s-gupta/rcnn-depth: saveHHA.m,
processDepthImage.m, computeNormalsSquareSupport.m, getYDir.m, getRMatrix.m) as ported to Python by
charlesCXK/Depth2HHA-python (getHHA.py, utils/rgbd_util.py, utils/util.py; MIT). Same constants:

* R = 31000 / z, z in centimetres clamped to >= 100 cm (so R saturates at 255 for z <= 1.22 m);
* G = height in centimetres above the lowest point of the frame (or 130 cm below the camera when the lowest
  point is less than 90 cm below it), along the estimated gravity direction, saturating at 255 cm;
* B = angle (degrees) between the surface normal and the gravity direction + 38 (floor 38, walls 128,
  ceiling 218; 218 where no normal can be fitted, as MATLAB's max(-1, NaN) = -1 gives acosd(-1) = 180).

Normals are least-squares planes a*X + b*Y + c*Z = 1 over square windows of valid points (radius 3 for the
normals stored, radius 10 for the gravity estimate). Gravity starts at the camera's y axis and is refined
(5 iterations at 45 degrees, then 5 at 15 degrees) as the direction most parallel to the normals it is nearly
parallel to and most orthogonal to those it is nearly orthogonal to (smallest eigenvector of NW NW' - NF NF').
See docs/hha.md for the agreement with the MATLAB reference.
"""
from __future__ import annotations

import numpy as np

# Gravity estimation: angle thresholds (degrees) and iterations per stage, as in processDepthImage.m.
_YDIR_THRESH_DEG = (45.0, 15.0)
_YDIR_ITERS = (5, 5)
_NORMAL_RADIUS = 3  # window radius for the stored normals
_GRAVITY_RADIUS = 10  # window radius for the normals used to estimate gravity


def _box_sum(f: np.ndarray, r: int) -> np.ndarray:
    """Sum of f (H, W, C) over (2r+1)^2 windows with zero padding (MATLAB filter2 'same'), via integral images."""
    h, w = f.shape[:2]
    c = np.zeros((h + 2 * r + 1, w + 2 * r + 1) + f.shape[2:], np.float64)
    c[r + 1:r + 1 + h, r + 1:r + 1 + w] = f
    np.cumsum(c, axis=0, out=c)
    np.cumsum(c, axis=1, out=c)
    k = 2 * r + 1
    return c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w] + c[:h, :w]


def _point_cloud(z: np.ndarray, intrinsics: tuple[float, float, float, float], origin: float) -> np.ndarray:
    """(H, W, 3) camera-frame points from z-depth; pixel (row 0, col 0) has coordinates (origin, origin)."""
    fx, fy, cx, cy = intrinsics
    h, w = z.shape
    u = np.arange(w, dtype=np.float64) + origin
    v = np.arange(h, dtype=np.float64) + origin
    x = ((u - cx) / fx)[None, :] * z
    y = ((v - cy) / fy)[:, None] * z
    return np.stack([x, y, z], axis=-1)


def surface_normals(pc: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """Unit normals (H, W, 3) of planes fitted to valid points in (2r+1)^2 windows, facing away from the camera.

    NaN where a window holds no valid point. Follows computeNormalsSquareSupport.m (without superpixels).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(valid, pc[..., 2], np.nan)
        xz = np.where(valid, pc[..., 0], np.nan) / z
        yz = np.where(valid, pc[..., 1], np.nan) / z
        one = np.where(valid, 1.0, np.nan)
        inv_z = 1.0 / z
        raw = np.stack([xz * xz, xz * yz, xz, yz * yz, yz, one, xz * inv_z, yz * inv_z, inv_z], axis=-1)
    raw[np.isnan(raw)] = 0.0
    s = _box_sum(raw, radius)
    a0, a1, a2, a3, a4, a5, b0, b1, b2 = np.moveaxis(s, -1, 0)
    # Adjugate of the symmetric 3x3 [[a0 a1 a2] [a1 a3 a4] [a2 a4 a5]] (scale does not matter: normalised below).
    i0, i1, i2 = a3 * a5 - a4 * a4, a2 * a4 - a1 * a5, a1 * a4 - a2 * a3
    i3, i4, i5 = a0 * a5 - a2 * a2, a1 * a2 - a0 * a4, a0 * a3 - a1 * a1
    n = np.stack([i0 * b0 + i1 * b1 + i2 * b2, i1 * b0 + i3 * b1 + i4 * b2, i2 * b0 + i4 * b1 + i5 * b2], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        n /= np.sqrt((n * n).sum(-1, keepdims=True))
        sign = np.sign(n[..., 2])
        sign[sign == 0] = 1
        n *= sign[..., None]
        sign = np.sign((n * pc).sum(-1))
    sign[np.isnan(sign) | (sign == 0)] = 1
    return n * sign[..., None]


def gravity_direction(normals: np.ndarray, y0: np.ndarray | None = None) -> np.ndarray:
    """Unit gravity direction (pointing down) in camera coordinates, refined from the camera's y axis (getYDir.m)."""
    nn = normals.reshape(-1, 3)
    nn = np.ascontiguousarray(nn[~np.isnan(nn).any(axis=1)])
    y = np.array([0.0, 1.0, 0.0]) if y0 is None else np.asarray(y0, np.float64)
    if nn.shape[0] == 0:
        return y / np.linalg.norm(y)
    outer = (nn[:, :, None] * nn[:, None, :]).reshape(-1, 9)  # n n' per normal, so each step is one product
    for thresh_deg, iters in zip(_YDIR_THRESH_DEG, _YDIR_ITERS):
        thresh = np.deg2rad(thresh_deg)
        for _ in range(iters):
            sim = np.abs(nn @ y)
            # +1 for "wall" normals (nearly orthogonal to y), -1 for "floor" ones (nearly parallel): NW NW' - NF NF'
            weight = (sim < np.sin(thresh)).astype(np.float64) - (sim > np.cos(thresh))
            evals, evecs = np.linalg.eigh((weight @ outer).reshape(3, 3))
            new = evecs[:, int(np.argmin(evals))]
            y = new * (np.sign(y @ new) or 1.0)
    return y / np.linalg.norm(y)


def rotation_between(yi: np.ndarray, yf: np.ndarray) -> np.ndarray:
    """Rotation matrix turning unit vector yi onto yf about yi x yf (identity below 0.1 degree; getRMatrix.m)."""
    yi = yi / np.linalg.norm(yi)
    yf = yf / np.linalg.norm(yf)
    phi = np.degrees(np.arccos(np.clip(yi @ yf, -1.0, 1.0)))
    if abs(phi) <= 0.1:
        return np.eye(3)
    ax = np.cross(yi, yf)
    ax /= np.linalg.norm(ax)
    s = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    phi = np.deg2rad(phi)
    return np.eye(3) + np.sin(phi) * s + (1 - np.cos(phi)) * (s @ s)


def depth_to_hha(depth_m: np.ndarray, intrinsics: tuple[float, float, float, float],
                 raw_depth_m: np.ndarray | None = None, *, pixel_origin: float = 0.0) -> np.ndarray:
    """HHA image uint8 (H, W, 3), channels R = disparity, G = height, B = angle, from z-depth in metres.

    `intrinsics` = (fx, fy, cx, cy) in pixels. Normals use only pixels with a reading: raw_depth_m > 0 when
    the sensor's raw depth is given (as for NYU's in-painted `depth` + `raw_depth`), else depth_m > 0.
    Pixels where depth_m is 0 (no reading) are (0, 0, 0) and do not count as the lowest point.
    `pixel_origin` is the coordinate of the first pixel centre: 0 (this project, OpenCV) or 1 (the MATLAB
    code's 1-based meshgrid, which reproduces its reference images most closely).
    """
    depth = np.asarray(depth_m, np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth_to_hha: depth must be (H, W) metres, got shape {depth.shape}")
    if not np.isfinite(depth).all() or (depth < 0).any():
        raise ValueError("depth_to_hha: depth must be finite and >= 0 (0 = no reading)")
    if len(intrinsics) != 4 or not all(np.isfinite(v) for v in intrinsics) or intrinsics[0] <= 0 or intrinsics[1] <= 0:
        raise ValueError(f"depth_to_hha: intrinsics must be (fx, fy, cx, cy) with fx, fy > 0, got {intrinsics!r}")
    has = depth > 0
    if raw_depth_m is None:
        valid = has
    else:
        raw = np.asarray(raw_depth_m, np.float64)
        if raw.shape != depth.shape:
            raise ValueError(f"depth_to_hha: raw depth shape {raw.shape} differs from depth shape {depth.shape}")
        valid = has & (raw > 0)
    if not has.any():
        return np.zeros(depth.shape + (3,), np.uint8)
    pc = _point_cloud(depth * 100.0, tuple(float(v) for v in intrinsics), pixel_origin)  # centimetres
    n_small = surface_normals(pc, valid, _NORMAL_RADIUS)
    n_large = surface_normals(pc, valid, _GRAVITY_RADIUS)
    ydir = gravity_direction(n_large)
    rot = rotation_between(np.array([0.0, 1.0, 0.0]), ydir)
    height = -(pc @ rot)[..., 1]  # (R^T p)_y: the y axis of the gravity-aligned frame points down
    y_min = float(height[has].min())
    if y_min > -90:
        y_min = -130.0
    height -= y_min
    cos = np.clip(np.nan_to_num((n_small * ydir).sum(-1), nan=-1.0), -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    disparity = 31000.0 / np.maximum(pc[..., 2], 100.0)
    hha = np.stack([disparity, height, angle + 128.0 - 90.0], axis=-1)
    # MATLAB's uint8(): round half away from zero, saturate at 0 and 255.
    hha = np.clip(np.floor(hha + 0.5), 0, 255).astype(np.uint8)
    hha[~has] = 0
    return hha
