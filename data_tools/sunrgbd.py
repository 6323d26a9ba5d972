"""RGB-D frames (and 37-class labels) from SUN RGB-D as released (SUNRGBD.zip, unpacked).

    python -m data_tools.sunrgbd --root downloads/SUNRGBD --size 240x320 --out data/sunrgbd/all.h5 [--workers 2]

What is read, per scene folder SUNRGBD/<sensor>/<collection>/.../<scene>/ (sensor: kv1, kv2, realsense, xtion):

* `image/*.jpg` - the colour image (exactly one file);
* `depth/*.png` (default, the sensor's depth) or `depth_bfx/*.png` (`--depth bfx`, the toolbox's hole-filled
  depth) - 16-bit PNGs whose bits are rotated: millimetres = (raw >> 3) | (raw << 13) in uint16 arithmetic, as
  SUNRGBDtoolbox/read3dPoints.m decodes them; stored as float32 metres, 0 = no reading (the toolbox's clip of
  values above 8 m is not applied);
* `intrinsics.txt` - the 3x3 camera matrix K, row by row (fx 0 cx / 0 fy cy / 0 0 1). The toolbox projects with
  MATLAB's 1-based pixel grid (read_3d_pts_general.m: meshgrid(1:w, 1:h) - cx), so the stored principal point
  is cx - 1, cy - 1 (0-based pixel centres), scaled with --size;
* labels, when `--labels NAME` is given: a per-scene label image NAME (a path or glob inside the scene folder,
  e.g. `seg37.png` or `label37/*.png`) holding the 37-class ids of SUNRGBDtoolbox's seg37list, 1..37, 0 = void;
  stored as 0..36 with 255 = ignore. Such PNGs are what the usual exports of
  SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat (`seglabel`) write. The scenes' own `seg.mat` is refused: its
  `seglabel` indexes that scene's free-form object `names`, not the 37 classes;
* or labels straight from the toolbox, `--seg-mat SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat --meta
  SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat` (both together, instead of --labels). SUNRGBD2Dseg.mat is MATLAB v7.3
  (HDF5, read with h5py): `SUNRGBD2Dseg/seglabel` is an (N, 1) dataset of object references, the k-th (MATLAB
  linear order) pointing to image k's label stored transposed (W, H), ids 0..37 of seg37list. Image k is
  SUNRGBDMeta(k) of SUNRGBDMeta.mat (MATLAB v5/v7, read with scipy.io.loadmat, so scipy is needed for this path
  only), whose field `sequenceName` ('SUNRGBD/kv2/kinect2data/<scene>', with or without the leading 'SUNRGBD/')
  or `rgbpath` ('/n/fs/sun3d/data/SUNRGBD/<scene>/image/<file>.jpg', cut from 'SUNRGBD/' on) names the scene. Scenes are matched by that path relative to SUNRGBD/; only the
  selected scenes' labels are read, one dataset per frame (the whole file needs ~64 GB in memory).
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

import cv2
import h5py
import numpy as np

from crossmodal.data.h5format import FormatError

from crossmodal.data.h5writer import PairedWriter
from crossmodal.diskspace import writing_h5
from crossmodal.data.sensor_files import imread
from data_tools import camera
from data_tools.sunrgbd_toolbox import (SEG37, SEG_FIELD, SEG_GROUP, attach_seg, close_seg_mat, ids37,
                                     seg_mat, split_entry)
from data_tools.common import (add_val_arguments, carve_by_group, check_input_file, check_outputs, check_val_fraction,
                               command_line, commit, int_at_least, ordered_map, parse_size, positive_number, progress,
                               staging_path, tool_main, val_path_beside, warn)

PROG = "python -m data_tools.sunrgbd"
SENSORS = ("kv1", "kv2", "realsense", "xtion")
# SUNRGBDtoolbox seg37list (Metadata/seg37list.mat): label id k (1-based in the toolbox) is SEG37[k - 1].
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_LISTED = 5


@dataclass
class Scene:
    """One SUN RGB-D frame: its folder (relative to --root), sensor, files and image size."""

    rel: str
    folder: Path
    sensor: str
    rgb: Path
    depth: Path
    intrinsics_file: Path
    label: Path | None = None
    size: tuple[int, int] = (0, 0)
    seg: tuple[Path, int] | None = None  # (SUNRGBD2Dseg.mat, 0-based image index) for --seg-mat labels


@dataclass
class Report:
    """What a conversion did."""

    path: Path
    num_samples: int = 0
    sensors: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    common_intrinsics: bool = False
    far_pixels: int = 0
    total_pixels: int = 0
    val_path: Path | None = None
    val_samples: int = 0


# ------------------------------------------------------------------------------------------------ finding scenes

def _sensor(rel: Path, root: Path) -> str:
    """The sensor folder a scene lies under (kv1, kv2, realsense, xtion), else its top folder under root."""
    for part in (root.resolve().name, *rel.parts):
        if part.lower() in SENSORS:
            return part.lower()
    return rel.parts[0] if len(rel.parts) > 1 else root.resolve().name


def _one(folder: Path, sub: str, what: str) -> Path:
    """The single image file in folder/sub (FormatError naming the folder when there are none or several)."""
    d = folder / sub
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) \
        if d.is_dir() else []
    if len(files) != 1:
        found = "no such folder" if not d.is_dir() else \
            ("no image file" if not files else f"{len(files)} image files: " + ", ".join(p.name for p in files[:3]))
        raise FormatError(f"{d}: {found}; expected exactly one {what}")
    return files[0]


def _label_file(folder: Path, pattern: str) -> Path:
    """The scene's label image named by --labels (a path or glob inside the scene folder)."""
    matches = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(matches) != 1:
        what = "nothing matches" if not matches else f"{len(matches)} files match: " + \
            ", ".join(p.name for p in matches[:3])
        raise FormatError(f"{folder}: --labels {pattern!r}: {what}; expected one 37-class label image per scene")
    return matches[0]


def find_scenes(root: Path, depth: str = "raw", labels: str | None = None, sensors: list[str] | None = None
                ) -> list[Scene]:
    """Every scene folder (one holding image/) under root, sorted by relative path, filtered by sensor."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder; expected the unpacked SUNRGBD/ folder "
                                f"(kv1/, kv2/, realsense/, xtion/)")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder; expected the unpacked SUNRGBD/ folder")
    depth_sub = "depth_bfx" if depth == "bfx" else "depth"
    scenes: list[Scene] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        if "image" not in dirnames:
            continue
        folder = Path(dirpath)
        dirnames[:] = []  # a scene folder holds no further scenes
        rel = folder.relative_to(root)
        sensor = _sensor(rel, root)
        if sensors and sensor not in sensors:
            continue
        k_file = folder / "intrinsics.txt"
        if not k_file.is_file():
            raise FileNotFoundError(f"{k_file}: no such file; expected the scene's 3x3 camera matrix")
        scenes.append(Scene(rel.as_posix() if rel.parts else ".", folder, sensor, _one(folder, "image", "colour image"),
                            _one(folder, depth_sub, f"depth PNG ({depth_sub}/)"), k_file,
                            _label_file(folder, labels) if labels else None))
    if not scenes:
        which = f" for --sensor {', '.join(sensors)}" if sensors else ""
        raise FormatError(f"{root}: no SUN RGB-D scene folders{which} (expected folders holding image/*.jpg, "
                          f"{depth_sub}/*.png and intrinsics.txt, e.g. {root}/kv1/NYUdata/NYU0001/)")
    return sorted(scenes, key=lambda s: s.rel)


def select(scenes: list[Scene], split_file: Path) -> list[Scene]:
    """The scenes the split file lists (one scene path per line; '#' comments), in its order, duplicates once."""
    check_input_file(split_file, "a text file of SUN RGB-D scene paths, one per line")
    by_rel = {s.rel: s for s in scenes}
    out: dict[str, Scene] = {}
    for number, line in enumerate(split_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rel = split_entry(line)
        if rel not in by_rel:
            example = next(iter(by_rel))
            raise FormatError(f"{split_file} line {number}: scene {line.strip()!r} ({rel}) is not a scene under "
                              f"--root (or not of the selected --sensor); expected paths like {example}")
        out.setdefault(rel, by_rel[rel])
    if not out:
        raise FormatError(f"{split_file}: no scene paths (only comments or blank lines)")
    return list(out.values())


# ------------------------------------------------------------------------------------------------ reading

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


def _resized(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """arr at (H, W): nearest for depth and labels, area when shrinking / bilinear when enlarging for colour."""
    h, w = size
    if arr.shape[:2] == (h, w):
        return arr
    if nearest:
        interp = cv2.INTER_NEAREST_EXACT
    else:
        interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(arr, (w, h), interpolation=interp)


TOOLBOX_CLIP_M = 8.0  # read3dPoints.m clips decoded depth at 8 m


def load_frame(scene: Scene, size: tuple[int, int], max_depth: float | None = None,
               far: list[int] | None = None) -> dict[str, np.ndarray]:
    """One scene's modalities at the stored size; depth beyond max_depth becomes 0 (pixels beyond the toolbox's
    8 m clip are counted into far[0] of far = [count, total])."""
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
    return {n: np.ascontiguousarray(_resized(a, size, nearest=n != "rgb")) for n, a in frame.items()}


def load_counted(scene: Scene, size: tuple[int, int], max_depth: float | None
                 ) -> tuple[dict[str, np.ndarray], int, int]:
    """load_frame plus its [far, total] depth pixel counts; module level (picklable) for --workers processes."""
    far = [0, 0]
    frame = load_frame(scene, size, max_depth, far)
    return frame, far[0], far[1]


def check_sizes(scenes: list[Scene], size: tuple[int, int] | None, show_progress: bool) -> None:
    """Read every file's size from its header: rgb, depth and label of a scene must agree; without --size all
    scenes must have one size (else a FormatError listing the sizes by sensor)."""
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
    if size is None:
        by_size = Counter((s.size, s.sensor) for s in scenes)
        if len({sz for sz, _ in by_size}) > 1:
            listed = "; ".join(f"{sensor} {sz[0]}x{sz[1]} ({n} scenes)" for (sz, sensor), n in sorted(by_size.items()))
            raise FormatError(f"frames have different sizes ({listed}); one file holds one size: pass --size HxW to "
                              f"resize every frame (e.g. --size {min(s.size for s in scenes)[0]}x"
                              f"{min(s.size for s in scenes)[1]}), or --sensor NAME to convert one sensor folder")


# ------------------------------------------------------------------------------------------------ conversion

def convert(root: Path, out: Path, *, split_file: Path | None = None, size: tuple[int, int] | None = None,
            depth: str = "raw", labels: str | None = None, seg_file: Path | None = None,
            meta_file: Path | None = None, sensors: list[str] | None = None, max_depth: float | None = None,
            workers: int = 1, overwrite: bool = False, show_progress: bool = True,
            command: str = "data_tools.sunrgbd", val_fraction: float = 0.0, val_seed: int = 0) -> Report:
    """Find (and select) the scenes, check sizes, and stream every frame into one paired file (atomically).

    Labels come from per-scene PNGs (labels) or from the toolbox's SUNRGBD2Dseg.mat matched through
    SUNRGBDMeta.mat (seg_file and meta_file, read one label per frame). With workers > 1 the frames are read,
    decoded and resized in that many processes (results in order, a few batches in flight); the file is the same
    byte for byte. With val_fraction > 0 whole scene folders holding about that fraction of the frames go to
    val.h5 beside out instead (labels needed)."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    check_val_fraction(val_fraction)
    if val_fraction > 0 and labels is None and seg_file is None:
        raise ValueError("--val-fraction writes a labeled val.h5; give labels with --labels or --seg-mat/--meta")
    if (seg_file is None) != (meta_file is None):
        raise ValueError("--seg-mat and --meta go together: --seg-mat SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat "
                         "--meta SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat")
    if seg_file is not None and labels is not None:
        raise ValueError("--labels (per-scene PNGs) and --seg-mat/--meta (the toolbox's SUNRGBD2Dseg.mat) are two "
                         "sources of the same labels; pass one")
    if labels is not None and labels.lower().endswith(".mat"):
        raise FormatError(f"--labels {labels}: .mat labels are not read by --labels. A scene's seg.mat holds "
                          f"'seglabel' indexing that scene's own free-form object 'names', not the 37 classes; the "
                          f"37-class labels are SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat: pass --seg-mat "
                          f"SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat --meta SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat "
                          f"instead of --labels")
    try:
        return _convert(root, out, split_file=split_file, size=size, depth=depth, labels=labels, seg_file=seg_file,
                        meta_file=meta_file, sensors=sensors, max_depth=max_depth, workers=workers,
                        overwrite=overwrite, show_progress=show_progress, command=command,
                        val_fraction=val_fraction, val_seed=val_seed)
    finally:
        if seg_file is not None:
            close_seg_mat(seg_file)


def _convert(root: Path, out: Path, *, split_file: Path | None, size: tuple[int, int] | None, depth: str,
             labels: str | None, seg_file: Path | None, meta_file: Path | None, sensors: list[str] | None,
             max_depth: float | None, workers: int, overwrite: bool, show_progress: bool, command: str,
             val_fraction: float = 0.0, val_seed: int = 0) -> Report:
    """convert's body (convert closes the label file whatever happens)."""
    scenes = find_scenes(root, depth, labels, sensors)
    if split_file is not None:
        scenes = select(scenes, split_file)
    parts: dict[str, tuple[Path, list[Scene]]] = {"out": (out, scenes)}
    if val_fraction > 0:
        val_out = val_path_beside(out)
        keep, val = carve_by_group([s.rel for s in scenes], val_fraction, val_seed)
        parts = {"out": (out, [scenes[i] for i in keep]), "val": (val_out, [scenes[i] for i in val])}
    if seg_file is not None and meta_file is not None:
        attach_seg(scenes, root, seg_file, meta_file)
    labelled = labels is not None or seg_file is not None
    check_sizes(scenes, size, show_progress)
    check_outputs([path for path, _ in parts.values()], overwrite)
    h, w = size or scenes[0].size
    ks = np.array([camera.scale_intrinsics(read_intrinsics(s.intrinsics_file), s.size, (h, w)) for s in scenes],
                  np.float64)
    common = bool(np.all(np.abs(ks - ks[0]) < 1e-9))
    index = {id(s): k for k, s in enumerate(scenes)}
    report = Report(out, sensors=dict(Counter(s.sensor for s in scenes)),
                    sizes=dict(Counter(f"{s.size[0]}x{s.size[1]}" for s in scenes)), common_intrinsics=common)
    attrs: dict = {"sensors": sorted(report.sensors), "depth_folder": "depth_bfx" if depth == "bfx" else "depth",
                   "intrinsics_note": "per row in the dataset 'intrinsics' (N, 4) [fx, fy, cx, cy], 0-based pixel "
                                      "centres at the stored size (intrinsics.txt principal point minus 1, MATLAB "
                                      "1-based)"
                                      + ("; all rows share the root attribute 'intrinsics'" if common else
                                         "; rows differ (several cameras), so there is no root 'intrinsics'")}
    if common:
        attrs["intrinsics"] = [float(v) for v in ks[0]]
    if max_depth is not None:
        attrs["max_depth"] = float(max_depth)
    if size is not None:
        attrs["native_sizes"] = [f"{k} ({n})" for k, n in sorted(report.sizes.items())]
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    if labelled:
        specs["label"] = ((h, w), np.uint8)
    mod_attrs = {"depth": {"folder": attrs["depth_folder"], "scale": 0.001,
                           "description": "SUN RGB-D depth PNG, bits rotated back ((raw >> 3) | (raw << 13)), "
                                          "millimetres x 0.001; 0 = no reading"
                                          + ("; hole-filled by the toolbox (depth_bfx)" if depth == "bfx" else "")
                                          + (f"; readings beyond {max_depth:g} m set to 0" if max_depth else "")}}
    if labelled:
        source = labels if labels is not None else \
            f"{seg_file} ({SEG_GROUP}.{SEG_FIELD}, matched by sequenceName in {meta_file})"
        mod_attrs["label"] = {"description": f"SUNRGBDtoolbox seg37list ids 1..37 from {source} minus 1; "
                                             f"0 (void) -> 255"}
    if val_fraction > 0:
        attrs.update(val_fraction=float(val_fraction), val_seed=int(val_seed), val_grouping="scene folder")
    staged = {key: staging_path(path) for key, (path, _) in parts.items()}
    far = [0, 0]
    try:
        for key, (path, rows_of) in parts.items():
            file_attrs = dict(attrs, split="val", carved_from=str(out.name)) if key == "val" else attrs
            _write_staged(staged[key], rows_of, ks[[index[id(s)] for s in rows_of]], (h, w), specs, labelled,
                          command, file_attrs, mod_attrs, max_depth, workers, show_progress, far)
        for key, (path, _) in parts.items():
            commit(staged[key], path, overwrite)
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)
    report.num_samples = len(parts["out"][1])
    if "val" in parts:
        report.val_path, report.val_samples = parts["val"][0], len(parts["val"][1])
    report.far_pixels, report.total_pixels = far
    return report


def _write_staged(staged: Path, scenes: list[Scene], ks: np.ndarray, hw: tuple[int, int], specs: dict,
                  labelled: bool, command: str, attrs: dict, mod_attrs: dict, max_depth: float | None,
                  workers: int, show_progress: bool, far: list[int]) -> None:
    """Stream these scenes into one staged paired file plus its per-row metadata; adds to the far-pixel counts."""
    h, w = hw
    with PairedWriter(staged, len(scenes), specs, class_names=list(SEG37) if labelled else None, source=command,
                      attrs=attrs, modality_attrs=mod_attrs, overwrite=True) as writer:
        load = partial(load_counted, size=(h, w), max_depth=max_depth)
        rows: Iterator[tuple[int, tuple[dict[str, np.ndarray], int, int]]] = \
            enumerate(ordered_map(load, scenes, workers))
        for row, (frame, n_far, n_total) in (progress(rows, len(scenes), "sunrgbd") if show_progress else rows):
            writer.write(row, frame)
            far[0] += n_far
            far[1] += n_total
    text = h5py.string_dtype("utf-8")
    meta = {
        "frame_name": (np.array([s.rgb.stem for s in scenes], dtype=text), "colour image name without extension"),
        "scene": (np.array([s.rel for s in scenes], dtype=text), "scene folder relative to --root"),
        "sensor": (np.array([s.sensor for s in scenes], dtype=text), "sensor folder (kv1, kv2, realsense, xtion)"),
        "intrinsics": (ks, "[fx, fy, cx, cy] per row in pixels at the stored size, 0-based pixel centres"),
    }
    with writing_h5(staged, "r+") as f:
        for key, (arr, description) in meta.items():
            f.create_dataset(key, data=arr)
            f[key].attrs["description"] = description


# ------------------------------------------------------------------------------------------------ command line

DESCRIPTION = (
    "Build RGB-D frames from SUN RGB-D as released (SUNRGBD/<sensor>/.../<scene>/ with image/*.jpg, depth/*.png "
    "or depth_bfx/*.png and intrinsics.txt), optionally with 37-class labels from one label PNG per scene "
    "(--labels) or from the toolbox's SUNRGBD2Dseg.mat matched by scene path through SUNRGBDMeta.mat (--seg-mat "
    "with --meta; scipy needed). Depth PNG bits are rotated back ((raw >> 3) | (raw << 13)) and stored as float32 metres "
    "(0 = no reading); labels 1..37 become 0..36 (seg37list), 0 = void becomes 255. One file holds one size: "
    "--size resizes every frame (colour area/bilinear, depth and labels nearest), or pick one --sensor. Output: "
    "rgb, depth[, label], plus per-row frame_name, scene, sensor and intrinsics (N, 4)."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = argparse.ArgumentParser(
        prog=PROG, description=textwrap.fill(DESCRIPTION, width=96),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m data_tools.sunrgbd --root downloads/SUNRGBD --size 240x320 "
               "--out data/sunrgbd/all.h5\n  python -m data_tools.sunrgbd --root downloads/SUNRGBD --sensor kv2 "
               "--labels seg37.png \\\n      --split-file splits/test_scenes.txt --out data/sunrgbd/kv2_test.h5\n"
               "  python -m data_tools.sunrgbd --root downloads/SUNRGBD --size 240x320 \\\n"
               "      --seg-mat SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat --meta SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat"
               " \\\n      --out data/sunrgbd/all_labelled.h5")
    p.add_argument("--root", required=True, type=Path,
                   help="the unpacked SUNRGBD/ folder (or one sensor folder in it), searched recursively for scene "
                        "folders, e.g. downloads/SUNRGBD")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/sunrgbd/all.h5")
    p.add_argument("--split-file", type=Path, metavar="FILE",
                   help="only these scenes, in this order: one scene path per line, relative to SUNRGBD/ or with "
                        "any prefix up to SUNRGBD/, e.g. kv1/NYUdata/NYU0001 or /n/fs/sun3d/data/SUNRGBD/kv1/...")
    p.add_argument("--sensor", action="append", choices=SENSORS, default=None,
                   help="only scenes under this sensor folder (repeatable), e.g. --sensor kv2")
    p.add_argument("--size", type=parse_size, default=None,
                   help="resize every frame to HEIGHTxWIDTH, intrinsics scaled, e.g. 240x320; default: native, "
                        "which must then be one size for all frames")
    p.add_argument("--depth", choices=("raw", "bfx"), default="raw",
                   help="depth/ (raw sensor depth, default) or depth_bfx/ (the toolbox's hole-filled depth)")
    p.add_argument("--labels", metavar="NAME",
                   help="per-scene 37-class label image inside each scene folder (path or glob), ids 1..37 and "
                        "0 = void, e.g. seg37.png or label37/*.png; every selected scene must have one")
    p.add_argument("--seg-mat", type=Path, metavar="FILE",
                   help="37-class labels from the toolbox instead of --labels: SUNRGBDtoolbox/Metadata/"
                        "SUNRGBD2Dseg.mat (MATLAB v7.3), read one label per frame; needs --meta")
    p.add_argument("--meta", type=Path, metavar="FILE",
                   help="SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat, whose sequenceName entries say which scene each "
                        "--seg-mat label belongs to (read with scipy); needs --seg-mat")
    p.add_argument("--max-depth", type=positive_number("distance in metres", "8"), default=None, metavar="METRES",
                   help="store readings beyond METRES as 0 (no reading); the toolbox clips at 8 m, and values beyond "
                        "8.19 m come from low bits that rotate into the top bits, e.g. --max-depth 8")
    p.add_argument("--workers", type=int_at_least(1), default=1, metavar="N",
                   help="read and decode frames in N processes (rows stay in order; same file), e.g. --workers 2 "
                        "(default 1)")
    add_val_arguments(p, "move whole scene folders (SUN RGB-D keeps one frame per scene folder, so this is per "
                         "frame) holding about F of the selected frames into val.h5 beside --out; needs labels",
                      "scene")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert SUN RGB-D scenes; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.root, args.out, split_file=args.split_file, size=args.size, depth=args.depth,
                  labels=args.labels, seg_file=args.seg_mat, meta_file=args.meta, sensors=args.sensor,
                  max_depth=args.max_depth, workers=args.workers, overwrite=args.overwrite,
                  show_progress=not args.quiet, command=command_line("sunrgbd", argv),
                  val_fraction=args.val_fraction, val_seed=args.val_seed)
    sensors = ", ".join(f"{k} {n}" for k, n in sorted(rep.sensors.items()))
    sizes = ", ".join(f"{k} ({n})" for k, n in sorted(rep.sizes.items()))
    print(f"wrote {rep.path} ({rep.num_samples} frames; sensors: {sensors}; native sizes: {sizes}; intrinsics "
          f"{'shared by all frames' if rep.common_intrinsics else 'per frame in the dataset intrinsics'})",
          file=sys.stderr)
    if rep.val_path is not None:
        print(f"wrote {rep.val_path} ({rep.val_samples} frames = {rep.val_samples} scene folders carved from "
              f"the {rep.num_samples + rep.val_samples} selected; --val-fraction {args.val_fraction:g} "
              f"--val-seed {args.val_seed})", file=sys.stderr)
    if rep.far_pixels and args.max_depth is None:
        warn(PROG, f"{rep.far_pixels} depth pixels ({100 * rep.far_pixels / rep.total_pixels:.3f} %) decode to "
                   f"more than {TOOLBOX_CLIP_M:g} m (the toolbox clips them to 8 m); pass --max-depth 8 to store "
                   f"them as no reading")
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
