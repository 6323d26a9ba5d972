"""RGB-D frames (and 37-class labels) from SUN RGB-D as released (SUNRGBD.zip, unpacked).

    python -m data_tools.sunrgbd --root downloads/SUNRGBD --size 240x320 --out data/sunrgbd/all.h5 [--workers 2]

What is read, per scene folder SUNRGBD/<sensor>/<collection>/.../<scene>/ (sensor: kv1, kv2, realsense, xtion):

* `image/*.jpg` - the colour image (exactly one file);
* `depth/*.png` (default, the sensor's depth) or `depth_bfx/*.png` (`--depth bfx`, the toolbox's hole-filled
  depth) - 16-bit PNGs whose bits are rotated: millimetres = (raw >> 3) | (raw << 13) in uint16 arithmetic, as
  SUNRGBDtoolbox/read3dPoints.m decodes them; stored as float32 metres, 0 = no reading (the toolbox's clip of
  values above 8 m is not applied);
* `intrinsics.txt` - the 3x3 camera matrix K, row by row (fx 0 cx / 0 fy cy / 0 0 1). The toolbox projects with
  MATLAB's 1-based pixel grid, as read_3d_pts_general.m does with meshgrid(1:w, 1:h) - cx, so the stored
  principal point is cx - 1, cy - 1 (0-based pixel centres), scaled with --size;
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
  or `rgbpath` ('/n/fs/sun3d/data/SUNRGBD/<scene>/image/<file>.jpg', cut from 'SUNRGBD/' on) names the scene.
  Scenes are matched by that path relative to SUNRGBD/; only the selected scenes' labels are read, one dataset
  per frame (the whole file needs ~64 GB in memory).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from crossmodal.data.h5format import FormatError
from data_tools.common import (
    add_output_flags,
    add_val_arguments,
    carve_by_group,
    check_input_file,
    check_outputs,
    check_val_fraction,
    command_line,
    int_at_least,
    ordered_map,
    parse_size,
    positive_number,
    tool_main,
    tool_parser,
    val_path_beside,
    warn,
)
from data_tools.resize import add_aspect_argument, fit_intrinsics, size_aspect, size_attrs
from data_tools.staged import StagedOutput
from data_tools.sunrgbd_frames import TOOLBOX_CLIP_M, check_sizes, load_counted, read_intrinsics
from data_tools.sunrgbd_toolbox import SEG37, SEG_FIELD, SEG_GROUP, attach_seg, close_seg_mat, split_entry

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
    window: tuple[int, int, int, int] | None = None  # (top, left, h, w) cut before resizing (--aspect crop)


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


# ------------------------------------------------------------------------------------------------ conversion

def convert(root: Path, out: Path, *, split_file: Path | None = None, size: tuple[int, int] | None = None,
            depth: str = "raw", labels: str | None = None, seg_file: Path | None = None,
            meta_file: Path | None = None, sensors: list[str] | None = None, max_depth: float | None = None,
            workers: int = 1, overwrite: bool = False, show_progress: bool = True,
            command: str = "data_tools.sunrgbd", val_fraction: float = 0.0, val_seed: int = 0,
            aspect: str | None = None) -> Report:
    """Find (and select) the scenes, check sizes, and stream every frame into one paired file (atomically).

    Labels come from per-scene PNGs (labels) or from the toolbox's SUNRGBD2Dseg.mat matched through
    SUNRGBDMeta.mat (seg_file and meta_file, read one label per frame). With workers > 1 the frames are read,
    decoded and resized in that many processes (results in order, a few batches in flight); the file is the same
    byte for byte. With val_fraction > 0 whole scene folders holding about that fraction of the frames go to
    val.h5 beside out instead (labels needed). A size that would change a scene's aspect ratio is refused at the
    first such scene unless aspect is 'crop' or 'stretch' (data_tools.resize; the intrinsics follow)."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    policy = size_aspect(size, aspect)
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
                        val_fraction=val_fraction, val_seed=val_seed, aspect=policy)
    finally:
        if seg_file is not None:
            close_seg_mat(seg_file)


def _parts(out: Path, scenes: list[Scene], val_fraction: float, val_seed: int) -> dict[Path, list[Scene]]:
    """The scenes of each output file: all in out, or with val_fraction > 0 whole scene folders in val.h5."""
    if val_fraction <= 0:
        return {out: scenes}
    val_out = val_path_beside(out)
    keep, val = carve_by_group([s.rel for s in scenes], val_fraction, val_seed)
    return {out: [scenes[i] for i in keep], val_out: [scenes[i] for i in val]}


def _root_attrs(report: Report, ks: np.ndarray, depth: str, max_depth: float | None, size: tuple[int, int] | None,
                aspect: str, val: tuple[float, int]) -> dict:
    """The root attributes shared by the output files: sensors, depth folder, intrinsics, size and val split."""
    common = report.common_intrinsics
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
    attrs.update(size_attrs(size, aspect))
    if size is not None:
        attrs["native_sizes"] = [f"{k} ({n})" for k, n in sorted(report.sizes.items())]
    if val[0] > 0:
        attrs.update(val_fraction=float(val[0]), val_seed=int(val[1]), val_grouping="scene folder")
    return attrs


def _modality_attrs(depth: str, max_depth: float | None, label_source: str | None) -> dict:
    """The description of the stored depth, and of the labels when label_source says where they come from."""
    mod_attrs = {"depth": {"folder": "depth_bfx" if depth == "bfx" else "depth", "scale": 0.001,
                           "description": "SUN RGB-D depth PNG, bits rotated back ((raw >> 3) | (raw << 13)), "
                                          "millimetres x 0.001; 0 = no reading"
                                          + ("; hole-filled by the toolbox (depth_bfx)" if depth == "bfx" else "")
                                          + (f"; readings beyond {max_depth:g} m set to 0" if max_depth else "")}}
    if label_source is not None:
        mod_attrs["label"] = {"description": f"SUNRGBDtoolbox seg37list ids 1..37 from {label_source} minus 1; "
                                             f"0 (void) -> 255"}
    return mod_attrs


def _row_datasets(scenes: list[Scene], ks: np.ndarray) -> dict:
    """The per-row frame name, scene folder, sensor and intrinsics."""
    text = h5py.string_dtype("utf-8")
    return {
        "frame_name": (np.array([s.rgb.stem for s in scenes], dtype=text), "colour image name without extension"),
        "scene": (np.array([s.rel for s in scenes], dtype=text), "scene folder relative to --root"),
        "sensor": (np.array([s.sensor for s in scenes], dtype=text), "sensor folder (kv1, kv2, realsense, xtion)"),
        "intrinsics": (ks, "[fx, fy, cx, cy] per row in pixels at the stored size, 0-based pixel centres"),
    }


def _counted(frames: Iterator[tuple[dict[str, np.ndarray], int, int]], far: list[int]
             ) -> Iterator[dict[str, np.ndarray]]:
    """The frames of load_counted, adding their far and total depth pixels to `far`."""
    for frame, n_far, n_total in frames:
        far[0] += n_far
        far[1] += n_total
        yield frame


def _convert(root: Path, out: Path, *, split_file: Path | None, size: tuple[int, int] | None, depth: str,
             labels: str | None, seg_file: Path | None, meta_file: Path | None, sensors: list[str] | None,
             max_depth: float | None, workers: int, overwrite: bool, show_progress: bool, command: str,
             val_fraction: float = 0.0, val_seed: int = 0, aspect: str = "refuse") -> Report:
    """The body of convert, which closes the label file whatever happens."""
    scenes = find_scenes(root, depth, labels, sensors)
    if split_file is not None:
        scenes = select(scenes, split_file)
    parts = _parts(out, scenes, val_fraction, val_seed)
    if seg_file is not None and meta_file is not None:
        attach_seg(scenes, root, seg_file, meta_file)
    label_source = labels if labels is not None else None if seg_file is None else \
        f"{seg_file} ({SEG_GROUP}.{SEG_FIELD}, matched by sequenceName in {meta_file})"
    check_sizes(scenes, size, show_progress, aspect)
    check_outputs(list(parts), overwrite)
    h, w = size or scenes[0].size
    ks = np.array([fit_intrinsics(read_intrinsics(s.intrinsics_file), s.size, (h, w), aspect, str(s.folder),
                                  error=FormatError) for s in scenes], np.float64)
    index = {id(s): k for k, s in enumerate(scenes)}
    report = Report(out, sensors=dict(Counter(s.sensor for s in scenes)),
                    sizes=dict(Counter(f"{s.size[0]}x{s.size[1]}" for s in scenes)),
                    common_intrinsics=bool(np.all(np.abs(ks - ks[0]) < 1e-9)))
    attrs = _root_attrs(report, ks, depth, max_depth, size, aspect, (val_fraction, val_seed))
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    if label_source is not None:
        specs["label"] = ((h, w), np.uint8)
    far = [0, 0]
    load = partial(load_counted, size=(h, w), max_depth=max_depth)
    with StagedOutput(list(parts), overwrite=overwrite) as staged:
        for path, rows_of in parts.items():
            staged.write(_counted(ordered_map(load, rows_of, workers), far), len(rows_of), specs,
                         class_names=list(SEG37) if label_source is not None else None, source=command,
                         attrs=dict(attrs, split="val", carved_from=str(out.name)) if path != out else attrs,
                         modality_attrs=_modality_attrs(depth, max_depth, label_source),
                         desc="sunrgbd" if show_progress else None, out=path)
            staged.add_rows(_row_datasets(rows_of, ks[[index[id(s)] for s in rows_of]]), out=path)
    report.num_samples = len(parts[out])
    if len(parts) > 1:
        report.val_path, report.val_samples = list(parts)[1], len(list(parts.values())[1])
    report.far_pixels, report.total_pixels = far
    return report


# ------------------------------------------------------------------------------------------------ command line

DESCRIPTION = (
    "Build RGB-D frames from SUN RGB-D as released (SUNRGBD/<sensor>/.../<scene>/ with image/*.jpg, depth/*.png "
    "or depth_bfx/*.png and intrinsics.txt), optionally with 37-class labels from one label PNG per scene "
    "(--labels) or from the toolbox's SUNRGBD2Dseg.mat matched by scene path through SUNRGBDMeta.mat (--seg-mat "
    "with --meta; scipy needed). Depth PNG bits are rotated back ((raw >> 3) | (raw << 13)) and stored as float32 "
    "metres (0 = no reading); labels 1..37 become 0..36 (seg37list), 0 = void becomes 255. One file holds one size: "
    "--size resizes every frame (colour area/bilinear, depth and labels nearest), or pick one --sensor. Output: "
    "rgb, depth[, label], plus per-row frame_name, scene, sensor and intrinsics (N, 4)."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(
        PROG, DESCRIPTION,
        "examples:\n  python -m data_tools.sunrgbd --root downloads/SUNRGBD --size 240x320 "
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
                        "which must then be one size for all frames. A size of another aspect ratio than a scene's "
                        "is refused unless --aspect says crop or stretch")
    add_aspect_argument(p)
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
    add_output_flags(p)
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert SUN RGB-D scenes; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.root, args.out, split_file=args.split_file, size=args.size, depth=args.depth,
                  labels=args.labels, seg_file=args.seg_mat, meta_file=args.meta, sensors=args.sensor,
                  max_depth=args.max_depth, workers=args.workers, overwrite=args.overwrite,
                  show_progress=not args.quiet, command=command_line("sunrgbd", argv),
                  val_fraction=args.val_fraction, val_seed=args.val_seed, aspect=args.aspect)
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
