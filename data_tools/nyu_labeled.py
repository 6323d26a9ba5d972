"""Convert NYU-Depth V2's labeled set (nyu_depth_v2_labeled.mat + splits.mat) into paired HDF5 files.

    python -m data_tools.nyu_labeled --mat nyu_depth_v2_labeled.mat --splits splits.mat --classes 40 --out data/nyu

writes DIR/train.h5 (795 frames) and DIR/test.h5 (654 frames), or DIR/all.h5 with --all, streaming frame by frame.
With --val-fraction F, whole scenes holding about F of the training frames go to DIR/val.h5 instead of train.h5.
See docs/nyu.md.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.data.h5writer import PairedWriter
from data_tools import camera, nyu_tables
from data_tools.common import (
    add_output_flags,
    add_val_arguments,
    carve_by_group,
    check_input_file,
    check_outputs,
    check_val_fraction,
    progress,
    tool_main,
    tool_parser,
    warn,
)
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.nyu_labeled"
NUM_NYU_CLASSES = 894
# Chunk cache per dataset while streaming: MATLAB v7.3 stores compressed chunks that may span several frames.
CHUNK_CACHE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LabeledMat:
    """What a validated labeled .mat holds: frame count and size, NYU class names, scene per frame."""

    path: Path
    num_frames: int
    height: int
    width: int
    names: tuple[str, ...]
    scenes: tuple[str, ...] | None


def _matlab_string(f: h5py.File, ref: Any, path: Path, key: str, k: int) -> str:
    """Decode one MATLAB char array (uint16 codes) reached through an object reference."""
    try:
        obj = f[ref]
        if obj.attrs.get("MATLAB_empty", 0):
            return ""
        codes = np.asarray(obj[()]).ravel()
    except (KeyError, ValueError, OSError, TypeError) as err:
        raise FormatError(f"{path}: key '{key}' entry {k + 1}: reference does not resolve to a string ({err})") \
            from None
    if codes.dtype.kind not in "ui":
        raise FormatError(f"{path}: key '{key}' entry {k + 1} is {codes.dtype}; expected MATLAB char codes (uint16)")
    return "".join(chr(int(c)) for c in codes)


def _strings(f: h5py.File, path: Path, key: str, count: int) -> tuple[str, ...]:
    """Decode a (1, count) or (count, 1) array of object references to MATLAB strings."""
    ds = f[key]
    if not isinstance(ds, h5py.Dataset) or h5py.check_dtype(ref=ds.dtype) is not h5py.Reference:
        raise FormatError(f"{path}: key '{key}' is not an array of object references (MATLAB cell of strings)")
    if ds.size != count or ds.ndim != 2 or 1 not in ds.shape:
        raise FormatError(f"{path}: key '{key}' has shape {ds.shape}; expected (1, {count})")
    refs = ds[()].ravel()
    return tuple(_matlab_string(f, r, path, key, k) for k, r in enumerate(refs))


def _check_dataset(f: h5py.File, path: Path, key: str, shape: tuple[int, ...], dtype: Any, hint: str) -> None:
    """A key must exist and be a dataset of exactly this h5py shape and dtype."""
    if key not in f:
        raise FormatError(f"{path}: key '{key}' is missing (keys present: {', '.join(sorted(f.keys()))}); "
                          f"not the NYU-Depth V2 labeled .mat?")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(f"{path}: key '{key}' is a {type(ds).__name__}; expected a dataset")
    if ds.shape != shape or ds.dtype != np.dtype(dtype):
        raise FormatError(f"{path}: key '{key}' is {ds.dtype} with shape {ds.shape}; expected {np.dtype(dtype)} "
                          f"{shape} ({hint})")


def open_mat(path: Path) -> h5py.File:
    """Open the MATLAB v7.3 (HDF5) file read-only with a chunk cache large enough to stream frames."""
    check_input_file(path, "the NYU-Depth V2 labeled .mat, nyu_depth_v2_labeled.mat")
    try:
        return h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, rdcc_nslots=10007)
    except OSError as err:
        raise FormatError(f"{path}: not a MATLAB v7.3 (HDF5) file, or truncated or corrupt ({err})") from None


def check_mat(f: h5py.File, path: Path) -> LabeledMat:
    """Check every key, shape and dtype the conversion needs, before anything is written."""
    try:
        if "images" not in f:
            raise FormatError(f"{path}: key 'images' is missing (keys present: {', '.join(sorted(f.keys()))}); "
                              f"not the NYU-Depth V2 labeled .mat?")
        ds = f["images"]
        shape = ds.shape if isinstance(ds, h5py.Dataset) else None
        if shape is None or len(shape) != 4 or shape[1] != 3 or min(shape) < 1 or ds.dtype != np.uint8:
            got = f"{ds.dtype} with shape {shape}" if shape is not None else f"a {type(ds).__name__}"
            raise FormatError(f"{path}: key 'images' is {got}; expected uint8 (N, 3, W, H) as h5py sees MATLAB's "
                              f"H x W x 3 x N, e.g. (1449, 3, 640, 480)")
        n, _, w, h = shape
        for key in ("depths", "rawDepths"):
            _check_dataset(f, path, key, (n, w, h), np.float32, "metres, N x W x H like 'images'")
        _check_dataset(f, path, "labels", (n, w, h), np.uint16, "NYU class ids 0..894, N x W x H like 'images'")
        if "names" not in f:
            raise FormatError(f"{path}: key 'names' is missing (keys present: {', '.join(sorted(f.keys()))})")
        names = _strings(f, path, "names", NUM_NYU_CLASSES)
        scenes = _strings(f, path, "scenes", n) if "scenes" in f else None
    except (OSError, RuntimeError, KeyError) as err:
        raise FormatError(f"{path}: unreadable, truncated or corrupt ({err})") from None
    differ = [k for k, (a, b) in enumerate(zip(names, nyu_tables.NAMES_894)) if a != b]
    if differ:
        k = differ[0]
        warn(PROG, f"{path}: {len(differ)} of the 894 names differ from the embedded NYU table (first: id {k + 1} "
                   f"{names[k]!r} vs {nyu_tables.NAMES_894[k]!r}); labels are mapped by id")
    return LabeledMat(path=path, num_frames=n, height=h, width=w, names=names, scenes=scenes)


def read_splits(path: Path, num_frames: int) -> dict[str, np.ndarray]:
    """Read splits.mat (MATLAB v5): sorted 1-based 'trainNdxs'/'testNdxs' that partition 1..num_frames."""
    check_input_file(path, "the NYU split file, splits.mat")
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises ValueError, NotImplementedError (v7.3), TypeError... for bad files
        raise FormatError(f"{path}: cannot read as a MATLAB v5 .mat file ({type(err).__name__}: {err})") from None
    out: dict[str, np.ndarray] = {}
    for split, key in (("train", "trainNdxs"), ("test", "testNdxs")):
        if key not in mat:
            present = sorted(k for k in mat if not k.startswith("__"))
            raise FormatError(f"{path}: key '{key}' is missing (keys present: {', '.join(present)})")
        arr = np.asarray(mat[key])
        if arr.dtype.kind not in "uif" or arr.ndim != 2 or 1 not in arr.shape or arr.size == 0:
            raise FormatError(f"{path}: key '{key}' is {arr.dtype} with shape {arr.shape}; "
                              f"expected an (n, 1) array of 1-based frame indices")
        vals = arr.ravel()
        if arr.dtype.kind == "f" and not np.all(vals == np.round(vals)):
            raise FormatError(f"{path}: key '{key}' holds non-integer indices")
        idx = vals.astype(np.int64)
        bad = idx[(idx < 1) | (idx > num_frames)]
        if bad.size:
            raise FormatError(f"{path}: key '{key}' has indices {sorted(set(bad.tolist()))[:5]} outside 1..{num_frames}"
                              f" (the labeled .mat holds {num_frames} frames)")
        if np.unique(idx).size != idx.size:
            raise FormatError(f"{path}: key '{key}' repeats frame indices")
        out[split] = np.sort(idx)
    both = np.intersect1d(out["train"], out["test"])
    if both.size:
        raise FormatError(f"{path}: keys 'trainNdxs' and 'testNdxs' overlap in {both.size} frames "
                          f"(first {both[:5].tolist()})")
    total = out["train"].size + out["test"].size
    if total != num_frames:
        raise FormatError(f"{path}: keys 'trainNdxs' ({out['train'].size}) and 'testNdxs' ({out['test'].size}) "
                          f"cover {total} frames; expected all {num_frames} frames of the labeled .mat")
    return out


def read_frame(f: h5py.File, src: LabeledMat, i: int) -> dict[str, np.ndarray]:
    """Frame i (0-based) in image orientation: rgb (H, W, 3), depth/raw_depth (H, W) metres, NYU label (H, W)."""
    try:
        frame = {"rgb": f["images"][i].transpose(2, 1, 0), "depth": f["depths"][i].T,
                 "raw_depth": f["rawDepths"][i].T, "label": f["labels"][i].T}
    except (OSError, RuntimeError, ValueError) as err:
        raise FormatError(f"{src.path}: cannot read frame {i + 1} (truncated or corrupt file?): {err}") from None
    for key, name in (("depth", "depths"), ("raw_depth", "rawDepths")):
        d = frame[key]
        bad = ~np.isfinite(d)
        if bad.any():
            raise FormatError(f"{src.path}: key '{name}' frame {i + 1} (1-based NYU index) has {int(bad.sum())} "
                              f"NaN/inf values; expected finite metres")
        if (d < 0).any():
            raise FormatError(f"{src.path}: key '{name}' frame {i + 1} (1-based NYU index) has negative depth "
                              f"(min {float(d.min())})")
    top = int(frame["label"].max())
    if top > NUM_NYU_CLASSES:
        raise FormatError(f"{src.path}: key 'labels' frame {i + 1} (1-based NYU index) has class id {top}; "
                          f"expected 0..{NUM_NYU_CLASSES}")
    return frame


def frame_intrinsics(height: int, width: int, crop: bool) -> list[float]:
    """RGB intrinsics [fx, fy, cx, cy] of the stored frames (scaled if the .mat is not 640x480, then cropped)."""
    k = camera.RGB_INTRINSICS
    if (height, width) != (camera.NYU_HEIGHT, camera.NYU_WIDTH):
        k = camera.scale_intrinsics(k, (camera.NYU_HEIGHT, camera.NYU_WIDTH), (height, width))
    if crop:
        top, _, left, _ = camera.EVAL_CROP
        k = camera.crop_intrinsics(k, top, left)
    return [float(v) for v in k]


def _stderr(message: str) -> None:
    """Print one report line on stderr."""
    print(message, file=sys.stderr)


def carve_val(mat: Path, src: LabeledMat, train: np.ndarray, fraction: float,
              seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Split the 1-based training indices into (train, val, val scenes) by whole scenes; needs the 'scenes' key."""
    if src.scenes is None:
        raise FormatError(f"{mat}: key 'scenes' is missing, so --val-fraction cannot keep scenes out of both train "
                          f"and val; convert without --val-fraction or use a .mat with 'scenes'")
    scenes = [src.scenes[int(k) - 1] for k in train]
    keep, val = carve_by_group(scenes, fraction, seed)
    return train[keep], train[val], sorted({scenes[i] for i in val})


def _groups(mat: Path, src: LabeledMat, splits: Path | None, val_fraction: float, val_seed: int,
            log: Callable[[str], None]) -> dict[str, np.ndarray]:
    """The 1-based NYU indices of each output split: train and test (and val), or all."""
    if splits is None:
        return {"all": np.arange(1, src.num_frames + 1)}
    groups = read_splits(splits, src.num_frames)
    if val_fraction > 0:
        n_train = int(groups["train"].size)
        train, val, val_scenes = carve_val(mat, src, groups["train"], val_fraction, val_seed)
        groups = {"train": train, "val": val, "test": groups["test"]}
        log(f"val: {val.size} of {n_train} training frames ({len(val_scenes)} scenes) carved into val.h5 "
            f"(--val-fraction {val_fraction:g} --val-seed {val_seed}); train keeps {train.size} frames")
    return groups


def _labels(classes: int, src: LabeledMat) -> tuple[np.ndarray, list[str], dict[str, dict[str, str]]]:
    """The NYU id lookup table, the class names and the description of each stored modality."""
    lut = nyu_tables.nyu_to_class_ids(classes)
    names = list(nyu_tables.class_names(classes))
    if classes == NUM_NYU_CLASSES:
        names = [a or b for a, b in zip(src.names, nyu_tables.NAMES_894)]
    ignore = int(np.iinfo(lut.dtype).max)
    label_note = ("NYU class id - 1" if classes == NUM_NYU_CLASSES else f"NYU-{classes} class id - 1")
    mod_attrs = {
        "depth": {"description": "NYU 'depths': Kinect depth projected into the RGB camera, holes in-painted "
                                 "(Levin et al. colorization)"},
        "raw_depth": {"description": "NYU 'rawDepths': projected raw Kinect depth, 0 = no reading"},
        "label": {"channels": f"class id ({label_note}); {ignore} = ignore (NYU 0 = unlabeled)"},
    }
    return lut, names, mod_attrs


def _split_file(mat: Path, splits: Path | None, src: LabeledMat, split: str, idx: np.ndarray, classes: int,
                window: tuple[int, int, int, int] | None, val: tuple[float, int]) -> tuple[str, dict[str, Any]]:
    """The source line and root attributes of one split's file; window is the --crop window or None."""
    top, bottom, left, right = window or (0, src.height, 0, src.width)
    attrs: dict[str, Any] = {
        "intrinsics": frame_intrinsics(src.height, src.width, window is not None),
        "nyu_index": idx.astype(np.int64), "split": split, "classes": int(classes),
        "crop": [top, bottom, left, right], "camera": "NYU-Depth V2 Kinect v1 RGB (undistorted)"}
    if src.scenes is not None:
        attrs["scene"] = [src.scenes[k - 1] for k in idx]
    val_fraction, val_seed = val
    carved = ""
    if val_fraction > 0 and split in ("train", "val"):
        attrs.update(val_fraction=float(val_fraction), val_seed=int(val_seed), val_grouping="scene")
        if split == "val":
            attrs["carved_from"] = "train"
        carved = f" --val-fraction {val_fraction:g} --val-seed {val_seed}"
    which = f" --splits {splits.name}" if splits is not None else " --all"
    source = (f"data_tools.nyu_labeled --mat {mat.name}{which} --classes {classes}"
              + (" --crop" if window is not None else "") + carved + f" split={split}")
    return source, attrs


def _write_frames(f: h5py.File, src: LabeledMat, groups: dict[str, np.ndarray], writers: dict[str, PairedWriter],
                  lut: np.ndarray, window: tuple[int, int, int, int], show_progress: bool) -> None:
    """Stream every frame of the .mat, in order, to its split's writer, cut to the window and labels mapped."""
    top, bottom, left, right = window
    where: dict[int, tuple[str, int]] = {}
    for split, idx in groups.items():
        for row, nyu in enumerate(idx):
            where[int(nyu)] = (split, row)
    frames = range(src.num_frames)
    for i in (progress(frames, src.num_frames, "nyu labeled") if show_progress else frames):
        frame = read_frame(f, src, i)
        split, row = where[i + 1]
        writers[split].write(row, {
            "rgb": np.ascontiguousarray(frame["rgb"][top:bottom, left:right]),
            "depth": np.ascontiguousarray(frame["depth"][top:bottom, left:right]),
            "raw_depth": np.ascontiguousarray(frame["raw_depth"][top:bottom, left:right]),
            "label": np.ascontiguousarray(lut[frame["label"][top:bottom, left:right]]),
        })


def _check_options(classes: int, val_fraction: float, splits: Path | None) -> None:
    """Refuse a class set or a --val-fraction the conversion cannot honour."""
    if classes not in nyu_tables.CLASS_SETS:
        raise ValueError(f"--classes must be one of {nyu_tables.CLASS_SETS}, got {classes}")
    check_val_fraction(val_fraction)
    if val_fraction > 0 and splits is None:
        raise ValueError("--val-fraction carves val.h5 from the training frames of --splits; --all has no "
                         "training split")


def convert(mat: Path, splits: Path | None, out: Path, classes: int = 40, crop: bool = False,
            overwrite: bool = False, show_progress: bool = True, val_fraction: float = 0.0, val_seed: int = 0,
            log: Callable[[str], None] = _stderr) -> list[Path]:
    """Validate the inputs, then stream every frame into DIR/train.h5 and DIR/test.h5, or DIR/all.h5, atomically.

    With val_fraction > 0 whole training scenes go to DIR/val.h5 instead (see carve_val)."""
    _check_options(classes, val_fraction, splits)
    with open_mat(mat) as f:
        src = check_mat(f, mat)
        groups = _groups(mat, src, splits, val_fraction, val_seed, log)
        if crop and (src.height, src.width) != (camera.NYU_HEIGHT, camera.NYU_WIDTH):
            raise FormatError(f"{mat}: --crop needs 480x640 frames (rows 45:470, cols 40:600); "
                              f"this file has {src.height}x{src.width}")
        paths = {split: out / f"{split}.h5" for split in groups}
        check_outputs(paths.values(), overwrite)
        if splits is not None and val_fraction == 0 and (out / "val.h5").exists():
            warn(PROG, f"{out / 'val.h5'} is left from an earlier --val-fraction run and overlaps the train.h5 "
                       f"written now; delete it or pass --val-fraction again")
        lut, names, mod_attrs = _labels(classes, src)
        window = camera.EVAL_CROP if crop else None
        top, bottom, left, right = window or (0, src.height, 0, src.width)
        h, w = bottom - top, right - left
        specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32), "raw_depth": ((h, w), np.float32),
                 "label": ((h, w), lut.dtype)}
        with StagedOutput(list(paths.values()), overwrite=overwrite) as staged, ExitStack() as stack:
            writers = {}
            for split, idx in groups.items():
                source, attrs = _split_file(mat, splits, src, split, idx, classes, window, (val_fraction, val_seed))
                writers[split] = stack.enter_context(staged.writer(
                    int(idx.size), specs, class_names=names, source=source, attrs=attrs, modality_attrs=mod_attrs,
                    out=paths[split]))
            _write_frames(f, src, groups, writers, lut, (top, bottom, left, right), show_progress)
    return [paths[s] for s in groups]


DESCRIPTION = (
    "Convert NYU-Depth V2's labeled frames (nyu_depth_v2_labeled.mat, MATLAB v7.3) into paired HDF5 files with rgb "
    "(N,H,W,3) uint8, depth and raw_depth float32 metres and label (class ids, 255 = ignore). With --splits: "
    "DIR/train.h5 (795 frames) and DIR/test.h5 (654), and with --val-fraction DIR/val.h5 made of whole training "
    "scenes; with --all: DIR/all.h5. Everything is checked before anything is written; outputs appear atomically."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(
        PROG, DESCRIPTION,
        "example:\n  python -m data_tools.nyu_labeled --mat downloads/nyu/nyu_depth_v2_labeled.mat \\\n"
        "      --splits downloads/nyu/splits.mat --classes 40 --crop --val-fraction 0.15 --out data/nyu40\n"
        "  python -m data_tools.nyu_labeled --mat downloads/nyu/nyu_depth_v2_labeled.mat --all "
        "--classes 894 --out data/nyu894")
    p.add_argument("--mat", required=True, type=Path,
                   help="the labeled .mat (MATLAB v7.3), e.g. downloads/nyu_depth_v2_labeled.mat")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--splits", type=Path,
                       help="the official split (MATLAB v5 splits.mat with trainNdxs/testNdxs), "
                            "e.g. downloads/splits.mat")
    which.add_argument("--all", action="store_true", help="no split: write every frame to DIR/all.h5")
    p.add_argument("--classes", type=int, choices=nyu_tables.CLASS_SETS, default=40,
                   help="label set (default 40): 40 = Gupta et al. NYU-40, 13 = Couprie et al., 894 = NYU's own ids "
                        "(stored uint16, 65535 = ignore); stored id = class id - 1, unlabeled -> ignore. "
                        "e.g. --classes 13")
    p.add_argument("--out", required=True, type=Path, help="output folder (created), e.g. data/nyu40")
    p.add_argument("--crop", action="store_true",
                   help="apply the standard 425x560 evaluation crop (rows 45:470, cols 40:600); intrinsics follow")
    add_val_arguments(p, "move whole scenes (grouped by the .mat's 'scenes') holding about F of the training frames "
                         "into DIR/val.h5, so no scene is in both train and val; needs --splits", "scene")
    add_output_flags(p, "existing output files")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert the labeled .mat; bad input raises (tool_main reports it in one line, exit 2)."""
    paths = convert(args.mat, None if args.all else args.splits, args.out, classes=args.classes, crop=args.crop,
                    overwrite=args.overwrite, show_progress=not args.quiet, val_fraction=args.val_fraction,
                    val_seed=args.val_seed)
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
