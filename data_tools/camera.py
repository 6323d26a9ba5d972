"""NYU-Depth V2 Kinect cameras: intrinsics, distortion, depth->RGB extrinsics, registration.

The numbers are those of the toolbox's camera_params.m. Pixel coordinates are 0-based pixel centres, OpenCV's
convention, which cv2.undistort uses for the RGB image too.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

NYU_HEIGHT, NYU_WIDTH = 480, 640

# RGB camera: fx, fy, cx, cy and distortion (k1, k2, p1, p2, k3).
RGB_INTRINSICS = (5.1885790117450188e+02, 5.1946961112127485e+02, 3.2558244941119034e+02, 2.5373616633400465e+02)
RGB_DISTORTION = (2.0796615318809061e-01, -5.8613825163911781e-01, 7.2231363135888329e-04, 1.0479627195765181e-03,
                  4.9856986684705107e-01)
# Depth (IR) camera.
DEPTH_INTRINSICS = (5.8262448167737955e+02, 5.8269103270988637e+02, 3.1304475870804731e+02, 2.3844389626620386e+02)
DEPTH_DISTORTION = (-9.9897236553084481e-02, 3.9065324602765344e-01, 1.9290592870229277e-03,
                    -1.9422022475975055e-03, -5.1031725053400578e-01)
# The nine numbers camera_params.m negates, reshapes column-major and inverts (R = inv(reshape(-v, 3, 3)')).
ROTATION_VALUES = (9.9997798940829263e-01, 5.0518419386157446e-03, 4.3011152014118693e-03, -5.0359919480810989e-03,
                   9.9998051861143999e-01, -3.6879781309514218e-03, -4.3196624923060242e-03, 3.6662365748484798e-03,
                   9.9998394948385538e-01)
# The toolbox's translation T = [t_x; t_z; t_y] (in that order), metres.
TRANSLATION = (2.5031875059141302e-02, -2.9342312935846411e-04, 6.6238747008330102e-04)

# Raw Kinect disparity -> metres (depth_rel2depth_abs.m): 351.3 / (1092.5 - raw), clipped to [0, MAX_DEPTH].
DEPTH_PARAM1, DEPTH_PARAM2 = 351.3, 1092.5
MAX_DEPTH = 10.0
RAW_MIN_VALID = 600     # raw values below this are invalid (toolbox: imgDepth < 600)
RAW_NO_READING = 2047   # the 11-bit "no reading" value
RAW_MAX = 2047          # largest valid 11-bit value; anything above means the bytes were read in the wrong order

# The labeled set's standard evaluation crop: rows 45:470, columns 40:600 (MATLAB 46:470, 41:600) -> 425 x 560.
EVAL_CROP = (45, 470, 40, 600)


def camera_matrix(intrinsics: tuple[float, float, float, float]) -> np.ndarray:
    """3x3 pinhole matrix K from (fx, fy, cx, cy)."""
    fx, fy, cx, cy = intrinsics
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@lru_cache(maxsize=None)
def depth_to_rgb_rotation() -> np.ndarray:
    """The rotation R taking depth-camera points to RGB-camera points: P_rgb = R @ P_depth - T.

    R is close to identity. camera_params.m builds R_tb = inv(reshape(-v, 3, 3)') = -inv(V), with V = v read
    row-major: minus a rotation. depth_world2rgb_world.m computes P' = R_tb P + T = -(inv(V) P - T). The projection
    X/Z, Y/Z does not see the overall sign and the toolbox z-buffers with the depth-camera z, so the toolbox's mapping
    is exactly P_rgb = inv(V) P - T with a proper rotation inv(V); T's x, 2.5 cm, is the RGB camera's offset along +x.
    """
    r = np.linalg.inv(np.asarray(ROTATION_VALUES, np.float64).reshape(3, 3))
    if not (np.allclose(r @ r.T, np.eye(3), atol=1e-6) and abs(np.linalg.det(r) - 1) < 1e-6
            and np.abs(r - np.eye(3)).max() < 0.01):
        raise AssertionError(f"NYU depth->RGB rotation is not a rotation close to identity: {r}")
    r.setflags(write=False)
    return r


def translation() -> np.ndarray:
    """The toolbox translation vector T = [t_x, t_z, t_y] (metres); applied as P_rgb = R P - T."""
    return np.asarray(TRANSLATION, np.float64)


def raw_to_metres(raw: np.ndarray) -> np.ndarray:
    """Raw 11-bit Kinect values -> float32 metres, clipped to [0, 10].

    0 where raw < 600 or raw == 2047.
    """
    r = np.asarray(raw).astype(np.float64)
    metres = np.clip(DEPTH_PARAM1 / (DEPTH_PARAM2 - r), 0.0, MAX_DEPTH)
    invalid = (r < RAW_MIN_VALID) | (r == RAW_NO_READING)
    return np.where(invalid, 0.0, metres).astype(np.float32)


@lru_cache(maxsize=1)
def _depth_rays_in_rgb() -> np.ndarray:
    """R @ (x/z, y/z, 1) for every undistorted depth pixel centre, (3, H*W): P_rgb = z * ray - T."""
    v, u = np.mgrid[0:NYU_HEIGHT, 0:NYU_WIDTH].astype(np.float64)
    pts = np.stack([u.ravel(), v.ravel()], -1)[:, None, :]
    norm = cv2.undistortPoints(pts, camera_matrix(DEPTH_INTRINSICS), np.asarray(DEPTH_DISTORTION), None, None,
                               criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)).reshape(-1, 2)
    rays = np.stack([norm[:, 0], norm[:, 1], np.ones(len(norm))])
    out = np.ascontiguousarray(depth_to_rgb_rotation() @ rays)
    out.setflags(write=False)
    return out


def register_depth(metres: np.ndarray) -> np.ndarray:
    """Depth in metres from the depth camera -> z-depth in the undistorted RGB camera, holes 0.

    0 marks no reading in the input too. Each valid depth pixel is undistorted with the depth intrinsics and
    distortion, back-projected, moved into the RGB camera by P_rgb = R P - T, projected with the RGB intrinsics and
    rounded to the nearest pixel; where several land on one pixel the nearest wins, as a z-buffer. Stored values are
    z along the RGB optical axis, clipped to [0, 10] m.
    """
    if metres.shape != (NYU_HEIGHT, NYU_WIDTH):
        raise ValueError(f"register_depth needs a {NYU_HEIGHT}x{NYU_WIDTH} depth image, got shape {metres.shape}")
    flat = metres.reshape(-1)
    valid = np.flatnonzero(flat > 0)
    z = flat[valid].astype(np.float64)
    rays = _depth_rays_in_rgb()
    t = translation()
    xr = z * rays[0, valid] - t[0]
    yr = z * rays[1, valid] - t[1]
    zr = z * rays[2, valid] - t[2]
    fx, fy, cx, cy = RGB_INTRINSICS
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(xr * fx / zr + cx + 0.5)
        v = np.floor(yr * fy / zr + cy + 0.5)
    inside = (zr > 0) & (u >= 0) & (u < NYU_WIDTH) & (v >= 0) & (v < NYU_HEIGHT)
    pix = v[inside].astype(np.int64) * NYU_WIDTH + u[inside].astype(np.int64)
    zbuf = np.full(NYU_HEIGHT * NYU_WIDTH, np.inf)
    np.minimum.at(zbuf, pix, zr[inside])
    zbuf[np.isinf(zbuf)] = 0.0
    return np.clip(zbuf, 0.0, MAX_DEPTH).astype(np.float32).reshape(NYU_HEIGHT, NYU_WIDTH)


@lru_cache(maxsize=2)
def _rgb_undistort_maps(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point remap tables cv2.undistort would build for the RGB camera (same K for the output)."""
    k = camera_matrix(RGB_INTRINSICS)
    return cv2.initUndistortRectifyMap(k, np.asarray(RGB_DISTORTION), None, k, (width, height), cv2.CV_16SC2)


def undistort_rgb(rgb: np.ndarray) -> np.ndarray:
    """Undistort a 480x640 RGB frame with the RGB distortion, keeping the RGB intrinsics.

    This is what cv2.undistort does.
    """
    if rgb.shape != (NYU_HEIGHT, NYU_WIDTH, 3):
        raise ValueError(f"undistort_rgb needs a {NYU_HEIGHT}x{NYU_WIDTH}x3 image, got shape {rgb.shape}")
    map1, map2 = _rgb_undistort_maps(NYU_HEIGHT, NYU_WIDTH)
    return cv2.remap(rgb, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def scale_intrinsics(intrinsics: tuple[float, float, float, float], src_hw: tuple[int, int],
                     dst_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """Intrinsics after resizing src_hw -> dst_hw with cv2.resize.

    Pixel centres move as c' = (c + 0.5) s - 0.5.
    """
    fx, fy, cx, cy = intrinsics
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    return fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5


def crop_intrinsics(intrinsics: tuple[float, float, float, float], top: int, left: int
                    ) -> tuple[float, float, float, float]:
    """Intrinsics after cropping `top` rows and `left` columns off the image."""
    fx, fy, cx, cy = intrinsics
    return fx, fy, cx - left, cy - top


# The RGB intrinsics to four decimals: what the embedded synthetic data are rendered with (and record in their files).
RGB_INTRINSICS_4DP: tuple[float, float, float, float] = (round(RGB_INTRINSICS[0], 4), round(RGB_INTRINSICS[1], 4),
                                                          round(RGB_INTRINSICS[2], 4), round(RGB_INTRINSICS[3], 4))


def intrinsics_at_size(intrinsics: tuple[float, float, float, float], height: int, width: int,
                       src_hw: tuple[int, int] = (NYU_HEIGHT, NYU_WIDTH)) -> tuple[float, float, float, float]:
    """All four numbers multiplied by the size ratio src_hw -> (height, width): c' = c s.

    This is how the synthetic renderer sizes its camera. scale_intrinsics, with c' = (c + 0.5) s - 0.5, is the one that
    matches a cv2.resize of an image.
    """
    fx, fy, cx, cy = intrinsics
    sx, sy = width / src_hw[1], height / src_hw[0]
    return fx * sx, fy * sy, cx * sx, cy * sy
