"""SUN RGB-D frames: reading, size checks and resizing, for data_tools.sunrgbd.

A scene's colour, bit-rotated depth, labels and intrinsics.txt are read here. Every scene's size is checked from
the file headers before anything is written, together with what --size and --aspect do to its aspect ratio
(data_tools.resize). Each frame is then brought to the stored size."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.data.sensor_files import imread
from data_tools.common import progress
from data_tools.resize import crop_to, crop_window, resized
from data_tools.sunrgbd_toolbox import SEG_FIELD, ids37, seg_mat

if TYPE_CHECKING:
    from data_tools.sunrgbd import Scene


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header (no decoding)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise FormatError(f"{path}: cannot be read as an image ({err})") from None
    return h, w


def read_intrinsics(path: Path) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy), 0-based, from a SUN RGB-D intrinsics.txt (K row by row; MATLAB 1-based principal point)."""
    try:
        k = np.array([float(v) for v in path.read_text(encoding="utf-8").split()], np.float64)
    except (ValueError, UnicodeDecodeError):
        k = np.zeros(0)
    if k.size != 9 or not np.all(np.isfinite(k)):
        raise FormatError(f"{path}: expected 9 numbers (the 3x3 camera matrix fx 0 cx / 0 fy cy / 0 0 1)")
    k = k.reshape(3, 3)
    if k[0, 0] <= 0 or k[1, 1] <= 0 or abs(k[2, 2] - 1) > 1e-6 or np.any(np.abs(k[[1, 2, 2], [0, 0, 1]]) > 1e-9):
        raise FormatError(f"{path}: {k.ravel().tolist()} is not a camera matrix written row by row "
                          f"(fx 0 cx / 0 fy cy / 0 0 1)")
    return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]) - 1.0, float(k[1, 2]) - 1.0


def unrotate(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D depth PNG values -> millimetres: (raw >> 3) | (raw << 13) in uint16 arithmetic."""
    raw = raw.astype(np.uint16, copy=False)
    return ((raw >> np.uint16(3)) | (raw << np.uint16(13))).astype(np.uint16)


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 metres from a bit-rotated 16-bit SUN RGB-D depth PNG (0 = no reading)."""
    raw = imread(path)
    if raw is None:
        raise FormatError(f"{path}: cannot be decoded as an image")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise FormatError(f"{path}: depth image is {raw.dtype} {'x'.join(map(str, raw.shape))}; expected a "
                          f"single-channel 16-bit PNG")
    return unrotate(raw).astype(np.float32) / np.float32(1000.0)


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    img = imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)  # pixels as stored, as PIL sizes
    if img is None:
        raise FormatError(f"{path}: cannot be decoded as an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_label(path: Path) -> np.ndarray:
    """(H, W) uint8 class ids 0..36 (255 = ignore) from a 37-class label image (1..37, 0 = void)."""
    raw = imread(path)
    if raw is None:
        raise FormatError(f"{path}: cannot be decoded as an image")
    if raw.ndim != 2 or raw.dtype not in (np.uint8, np.uint16):
        raise FormatError(f"{path}: label image is {raw.dtype} {'x'.join(map(str, raw.shape))}; expected a "
                          f"single-channel 8- or 16-bit PNG of 37-class ids (0 = void, 1..37)")
    return ids37(raw, path)


TOOLBOX_CLIP_M = 8.0  # read3dPoints.m clips decoded depth at 8 m


def load_frame(scene: Scene, size: tuple[int, int], max_depth: float | None = None,
               far: list[int] | None = None) -> dict[str, np.ndarray]:
    """One scene's modalities at the stored size; depth beyond max_depth becomes 0.

    With far = [count, total], the pixels beyond the toolbox's 8 m clip are added to far[0] and all to far[1]."""
    rgb, depth = read_rgb(scene.rgb), read_depth(scene.depth)
    if far is not None:
        far[0] += int(np.count_nonzero(depth > TOOLBOX_CLIP_M))
        far[1] += depth.size
    if max_depth is not None:
        depth[depth > max_depth] = 0.0
    frame = {"rgb": rgb, "depth": depth}
    if scene.label is not None:
        frame["label"] = read_label(scene.label)
    elif scene.seg is not None:
        frame["label"] = seg_mat(scene.seg[0]).read(scene.seg[1], scene.rel)
    for name, arr in frame.items():
        if arr.shape[:2] != scene.size:
            raise FormatError(f"{scene.folder}: {name} is {arr.shape[0]}x{arr.shape[1]} after decoding but its "
                              f"header said {scene.size[0]}x{scene.size[1]}")
    window = scene.window or (0, 0, *scene.size)  # cut first when --aspect crop chose it (check_sizes)
    return {n: np.ascontiguousarray(resized(crop_to(a, window, scene.size), size, nearest=n != "rgb", exact=True))
            for n, a in frame.items()}


def load_counted(scene: Scene, size: tuple[int, int], max_depth: float | None
                 ) -> tuple[dict[str, np.ndarray], int, int]:
    """load_frame plus its [far, total] depth pixel counts; module level (picklable) for --workers processes."""
    far = [0, 0]
    frame = load_frame(scene, size, max_depth, far)
    return frame, far[0], far[1]


def check_sizes(scenes: list[Scene], size: tuple[int, int] | None, show_progress: bool,
                aspect: str = "refuse") -> None:
    """Read every file's size from its header and check the sizes agree.

    The rgb, depth and label of a scene must have one size. Without --size all scenes must have one size, else a
    FormatError lists the sizes by sensor. With it, a scene whose aspect ratio --size would change is refused
    unless aspect is 'crop', which keeps its window in scene.window, or 'stretch' (data_tools.resize)."""
    it: Iterator[Scene] = iter(scenes)
    for s in (progress(it, len(scenes), "sunrgbd sizes") if show_progress and len(scenes) > 200 else it):
        files = [("image", s.rgb), ("depth", s.depth)] + ([("label", s.label)] if s.label is not None else [])
        sizes = {what: image_size(p) for what, p in files}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{p} {sizes[w][0]}x{sizes[w][1]}" for w, p in files)
            raise FormatError(f"{s.folder}: the scene's files differ in size ({listed}); expected one size per scene")
        s.size = sizes["image"]
        if s.seg is not None:
            seg_size = seg_mat(s.seg[0]).size(s.seg[1], s.rel)
            if seg_size != s.size:
                raise FormatError(f"{s.folder}: scene {s.rel} is {s.size[0]}x{s.size[1]} but its label in "
                                  f"{s.seg[0]} ({SEG_FIELD} entry {s.seg[1] + 1}) is {seg_size[0]}x{seg_size[1]}; "
                                  f"expected one size per scene (is --meta the SUNRGBDMeta.mat of this "
                                  f"SUNRGBD2Dseg.mat?)")
        if size is not None:
            s.window = crop_window(s.size, size, aspect, f"{s.folder} ({s.sensor} scene, {s.rgb.name})",
                                   error=FormatError)
    if size is None:
        by_size = Counter((s.size, s.sensor) for s in scenes)
        if len({sz for sz, _ in by_size}) > 1:
            listed = "; ".join(f"{sensor} {sz[0]}x{sz[1]} ({n} scenes)" for (sz, sensor), n in sorted(by_size.items()))
            raise FormatError(f"frames have different sizes ({listed}); one file holds one size: pass --size HxW to "
                              f"resize every frame (e.g. --size {min(s.size for s in scenes)[0]}x"
                              f"{min(s.size for s in scenes)[1]}), or --sensor NAME to convert one sensor folder")
