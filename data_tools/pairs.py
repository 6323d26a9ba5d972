"""Paired files for any new sensor: match file stems across folders and write one paired HDF5 split.

Each folder holds one modality, one file per frame; frames pair up by their path relative to the folder
without the extension (`rgb/0001.png` <-> `thermal/0001.tiff` <-> `labels/0001.png`). Reads 8/16-bit PNG,
TIFF (also float), JPEG/BMP for colour images, and .npy. The source modality is stored as uint8 RGB; target
modalities as float32 (H, W) or (H, W, C) after multiplying by a per-modality scale (raw thermal counts x 0.01
-> kelvin, depth millimetres x 0.001 -> metres); labels as uint8 class ids with 255 = ignore (uint16 with 65535 =
ignore for more than 255 classes, from 16-bit label images). Refused, naming the
file: a folder whose files differ in dtype / bit depth, integer depth with no --scale (no unit is guessed), depth
whose median is not plausible in metres, and a resize that changes the aspect ratio without --aspect
(data_tools.resize). All-zero, constant and saturated frames are named and left out of the printed statistics
(data_tools.frame_checks).

    python -m data_tools.pairs --source rgb=rec/rgb --target thermal=rec/thermal --scale thermal=0.01 \
        --units thermal=kelvin --label rec/labels --class-names rec/classes.txt --out data/thermal/test.h5
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from crossmodal.data.h5format import DEFAULT_MODALITY_ATTRS, FormatError
from crossmodal.data.labels import MAX_CLASSES
from crossmodal.data.sensor_files import (
    DEPTH_FACTORS,
    IGNORE,
    SUFFIXES,
    largest_class_id,
    list_files,
    read_file,
    to_label,
    to_source,
    to_target,
)
from data_tools.common import (
    add_val_arguments,
    carve_by_group,
    check_val_fraction,
    command_line,
    tool_main,
    val_path_beside,
)
from data_tools.frame_checks import ModalityWatch
from data_tools.frames import check_modality_name, is_depth, name_value, parse_scales, role_attrs
from data_tools.resize import Resize, fit
from data_tools.resize import add_arguments as add_resize_arguments
from data_tools.resize import from_args as resize_from_args
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.pairs"

MAX_LISTED = 20  # unmatched files printed per folder


@dataclass
class Folder:
    """One modality: its name, role (source, target or label), folder, and files keyed by relative stem."""

    name: str
    role: str
    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    first: tuple[np.dtype, Path] | None = None  # dtype of the first file read, and that file

    def check_dtype(self, arr: np.ndarray, path: Path) -> None:
        """Refuse a file whose dtype or bit depth differs from the folder's first file.

        Every file of one folder must hold one dtype: an 8-bit PNG among 16-bit ones is refused.
        """
        if self.first is None:
            self.first = (arr.dtype, path)
        elif arr.dtype != self.first[0]:
            raise FormatError(f"{path}: {_bits(arr.dtype)} but {self.first[1]} in the same '{self.name}' folder is "
                              f"{_bits(self.first[0])}; every frame of one sensor folder must have one dtype and bit "
                              f"depth (re-export the odd files)")


@dataclass
class Options:
    """How target values are converted and how sizes are reconciled."""

    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    resize: Resize = field(default_factory=Resize)
    nan_as_zero: bool = False


# ----------------------------------------------------------------------------------------------
# Listing and matching
# ----------------------------------------------------------------------------------------------

def list_folder(folder: Folder) -> Folder:
    """Fill folder.files: every supported file under root, keyed by its relative path without suffix."""
    if not folder.root.is_dir():
        raise ValueError(f"{folder.role} folder for '{folder.name}' does not exist: {folder.root}")
    folder.files = list_files(folder.root)
    if not folder.files:
        raise ValueError(f"{folder.root}: no {', '.join(SUFFIXES)} files for '{folder.name}'")
    return folder


def match(folders: list[Folder], frames: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """Frame keys present in every folder (sorted), and per folder what did not pair up.

    Without `frames`: the files (relative paths) that have no partner in every other folder. With a list of
    frames: only those are considered, and the listed frames a folder lacks are reported instead.
    """
    common = set.intersection(*(set(f.files) for f in folders))
    if frames is None:
        unmatched = {f"{f.name} ({f.root})": [p.relative_to(f.root).as_posix() for k, p in f.files.items()
                                               if k not in common] for f in folders}
        return sorted(common), unmatched
    wanted = list(dict.fromkeys(frames))
    unmatched = {f"{f.name} ({f.root}), listed in --frames but missing": [k for k in wanted if k not in f.files]
                 for f in folders}
    return sorted(set(wanted) & common), unmatched


# ----------------------------------------------------------------------------------------------
# Reading and converting one file
# ----------------------------------------------------------------------------------------------

def _bits(dtype: np.dtype) -> str:
    """A dtype as users know it from image files: 'uint16 (16-bit)', 'float32 (32-bit float)'."""
    return f"{dtype} ({dtype.itemsize * 8}-bit{' float' if dtype.kind == 'f' else ''})"


def _check_depth_scale(name: str, arr: np.ndarray, path: Path, opts: Options) -> None:
    """Refuse integer depth without a stated --scale.

    Millimetres, 0.1 mm and 1/5000 m are all common, so none is assumed.
    """
    if is_depth(name) and arr.dtype.kind in "iu" and name not in opts.scale:
        raise FormatError(f"{path}: integer depth ({arr.dtype}) in an unstated unit; '{name}' is stored in metres, "
                          f"so give --scale {name}=FACTOR, usually {DEPTH_FACTORS}")


def load_frame(key: str, folders: list[Folder], opts: Options, num_classes: int | None) -> dict[str, np.ndarray]:
    """All modalities of one frame, converted and brought to one size.

    opts.resize says which side is resized; a change of aspect ratio happens only as --aspect chooses.
    """
    frame, paths = {}, {}
    for f in folders:
        path = f.files[key]
        arr = read_file(path)
        f.check_dtype(arr, path)
        if f.role == "source":
            arr = to_source(arr, path)
        elif f.role == "target":
            _check_depth_scale(f.name, arr, path, opts)
            arr = to_target(arr, path, opts.scale.get(f.name, 1.0), opts.nan_as_zero)
        else:
            arr = to_label(arr, path, num_classes)
        frame[f.name], paths[f.name] = arr, path
    sizes = {n: a.shape[:2] for n, a in frame.items()}
    roles = {f.name: f.role for f in folders}
    if opts.resize.side == "none":
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{paths[n]} {s[0]}x{s[1]}" for n, s in sizes.items())
            raise ValueError(f"frame '{key}' has different sizes: {listed}; pass --resize source or --resize target "
                             f"to resize one side to the other")
        return frame
    resized = opts.resize.side
    ref_name = next(n for n in frame if roles[n] == ("target" if resized == "source" else "source"))
    ref = sizes[ref_name]
    for name, arr in frame.items():
        role = roles[name]
        if role == "target" and resized == "source" and sizes[name] != ref:
            raise ValueError(f"frame '{key}': targets {paths[ref_name]} ({ref[0]}x{ref[1]}) and {paths[name]} "
                             f"({sizes[name][0]}x{sizes[name][1]}) differ in size; "
                             f"--resize source needs one target size")
        if role == resized or role == "label":
            frame[name] = fit(arr, ref, opts.resize.aspect, nearest=role == "label" or is_depth(name),
                              what=f"frame '{key}': {name} {paths[name]}", error=FormatError)
    return frame


# ----------------------------------------------------------------------------------------------
# Building a split
# ----------------------------------------------------------------------------------------------

def _modality_attrs(folders: list[Folder], opts: Options, sample: dict[str, np.ndarray]) -> dict[str, dict]:
    """units/channels per modality (defaults for rgb, depth and label), plus scale and folder."""
    attrs: dict[str, dict] = {}
    for f in folders:
        a: dict = {"folder": str(f.root), **role_attrs(f.name, f.role, opts.scale.get(f.name, 1.0), sample[f.name],
                                                       "file values", "as read from the files")}
        if f.name in opts.units:
            a["units"] = opts.units[f.name]
        if f.name in opts.channels:
            a["channels"] = opts.channels[f.name]
        attrs[f.name] = a
    return attrs


def _class_names(path: Path | None, folders: list[Folder], keys: list[str]) -> list[str] | None:
    """Names from the --class-names file (one per line), else class_0..class_K for the largest id present.

    What follows a tab on a line is left out, so crossmodal-predict's classes.txt ("name<TAB>#rrggbb") reads too.
    """
    label = next((f for f in folders if f.role == "label"), None)
    if path is not None:
        names = [line.split("\t", 1)[0].strip() for line in path.read_text().splitlines() if line.strip()]
        if not names:
            raise ValueError(f"--class-names {path}: no names (expected one class name per line)")
        if len(names) > MAX_CLASSES:  # up to 255 classes are stored as uint8 labels, more as uint16
            raise ValueError(f"--class-names {path}: {len(names)} names; at most {MAX_CLASSES} classes fit uint16 "
                             f"labels ({MAX_CLASSES} = ignore)")
        return names
    if label is None:
        return None
    top = max(largest_class_id(read_file(label.files[key]), label.files[key]) for key in keys)
    if top < 0:
        raise ValueError(f"{label.root}: every label pixel is the ignore value ({IGNORE}, or 65535 in 16-bit "
                         f"images); nothing to learn from")
    return [f"class_{i}" for i in range(top + 1)]


def frame_group(key: str) -> str:
    """The group a frame is kept with for --val-fraction.

    It is the frame's subfolder, or the frame itself at the top level.
    """
    parent = Path(key).parent.as_posix()
    return key if parent == "." else parent


def build(folders: list[Folder], out: Path, opts: Options, *, class_names_file: Path | None = None,
          attrs: dict | None = None, overwrite: bool = False, command: str = "data_tools.pairs",
          frames: list[str] | None = None, log: Callable[[str], None] = print, val_fraction: float = 0.0,
          val_seed: int = 0) -> Path:
    """Match the folders' frames, or the listed ones, and write them as one paired file; reports via log.

    With val_fraction > 0, which needs labels, whole subfolders (frame_group) holding about that fraction of the
    frames go to val.h5 beside `out`.
    """
    check_val_fraction(val_fraction)
    if val_fraction > 0 and not any(f.role == "label" for f in folders):
        raise ValueError("--val-fraction writes a labeled val.h5; give --label DIR")
    for f in folders:
        list_folder(f)
    keys, unmatched = match(folders, frames)
    for where, paths in unmatched.items():
        if paths:
            shown = ", ".join(paths[:MAX_LISTED])
            more = f" ... and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else ""
            log(f"unmatched in {where} ({len(paths)}): {shown}{more}")
    if not keys:
        raise ValueError(f"no {'listed ' if frames is not None else ''}frame is present in every folder (frames pair "
                         "up by file name without the extension: "
                         + "; ".join(f"{f.name}: e.g. {next(iter(f.files))}" for f in folders) + ")")
    parts = {out: keys}
    if val_fraction > 0:
        val_out = val_path_beside(out)
        groups = [frame_group(k) for k in keys]
        keep, val = carve_by_group(groups, val_fraction, val_seed)
        parts = {out: [keys[i] for i in keep], val_out: [keys[i] for i in val]}
        attrs = dict(attrs or {}, val_fraction=float(val_fraction), val_seed=int(val_seed),
                     val_grouping="subfolder (top-level frames: per frame)")
        log(f"val: {len(val)} of {len(keys)} frames ({len({groups[i] for i in val})} groups) go to {val_out} "
            f"(--val-fraction {val_fraction:g} --val-seed {val_seed})")
    for path in parts:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists (pass --overwrite to replace it)")
    names = _class_names(class_names_file, folders, keys)
    num_classes = len(names) if names is not None and any(f.role == "label" for f in folders) else None
    first = load_frame(keys[0], folders, opts, num_classes)
    specs = {n: (a.shape, a.dtype) for n, a in first.items()}
    mod_attrs = _modality_attrs(folders, opts, first)
    out.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with StagedOutput(list(parts), overwrite=overwrite) as staged:
        for path, part in parts.items():
            part_attrs = dict(attrs, split="val", carved_from=out.name) if path != out else attrs
            part_notes = _write_part(staged, path, part, folders, opts, specs, names, num_classes, command,
                                     part_attrs, mod_attrs, keys[0])
            notes += [f"{path.name}: {n}" for n in part_notes] if len(parts) > 1 else part_notes
    for path, part in parts.items():
        log(f"wrote {path}: {len(part)} frames, " + ", ".join(f"{n} {specs[n][1]} {specs[n][0]}" for n in specs))
    for note in notes:
        log(note)
    return out


def _write_part(staged: StagedOutput, path: Path, keys: list[str], folders: list[Folder], opts: Options,
                specs: dict, names: list[str] | None, num_classes: int | None, command: str, attrs: dict | None,
                mod_attrs: dict, first_key: str) -> list[str]:
    """Write these frames into the staged file of `path`, with frame names and target channel statistics.

    Each frame is checked as it is written (data_tools.frame_checks): depth units refused, suspicious frames named.
    """
    watches = [_watch(f, specs[f.name][0], len(keys), opts, mod_attrs[f.name]) for f in folders if f.role != "label"]
    staged.write(_frames(keys, folders, opts, num_classes, specs, first_key), len(keys), specs, class_names=names,
                 source=command, attrs=attrs, modality_attrs=mod_attrs, watches=watches, out=path)
    frame_names = (np.array(keys, dtype=h5py.string_dtype("utf-8")),
                   "file name (relative, without extension) each row was read from; not a modality")
    return staged.add_rows({"frame_name": frame_names}, watches=watches, names=keys, out=path)


def _frames(keys: list[str], folders: list[Folder], opts: Options, num_classes: int | None, specs: dict,
            first_key: str) -> Iterator[dict[str, np.ndarray]]:
    """The frames of these keys, each checked to have the size and channels of the first frame."""
    by_name = {f.name: f for f in folders}
    for key in keys:
        frame = load_frame(key, folders, opts, num_classes)
        for n, a in frame.items():
            if (a.shape, a.dtype) != specs[n]:
                raise ValueError(f"{by_name[n].files[key]}: {n} is {a.dtype} {a.shape} but the "
                                 f"first frame ({first_key}) gave {specs[n][1]} {specs[n][0]}; "
                                 f"all frames must have one size and channel count")
        yield frame


def _watch(folder: Folder, shape: tuple[int, ...], total: int, opts: Options, attrs: dict) -> ModalityWatch:
    """The checks of one source or target modality (depth units for modalities stored in metres)."""
    units = attrs.get("units", DEFAULT_MODALITY_ATTRS.get(folder.name, {}).get("units"))
    ceiling = 255.0 if folder.role == "source" else None  # the files' largest value, as stored (saturation)
    if folder.role == "target" and folder.first is not None and folder.first[0].kind in "iu":
        ceiling = float(np.float32(np.iinfo(folder.first[0]).max * opts.scale.get(folder.name, 1.0)))
    return ModalityWatch(folder.name, total, 1 if len(shape) == 2 else shape[2], str(folder.root),
                         stats=folder.role == "target", metres=units == "metres", scale=opts.scale.get(folder.name),
                         ceiling=ceiling, error=FormatError)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Pair frames of several sensors by file name and write one paired HDF5 split "
                    "(docs/data_format.md, docs/new_modality.md).",
        epilog="example: python -m data_tools.pairs --source rgb=rec/rgb --target thermal=rec/thermal "
               "--scale thermal=0.01 --units thermal=kelvin --out data/thermal/unlabeled.h5")
    p.add_argument("--source", type=name_value, metavar="NAME=DIR",
                   help="colour images (8-bit), stored uint8 RGB, e.g. rgb=rec/rgb")
    p.add_argument("--target", type=name_value, action="append", default=[], metavar="NAME=DIR",
                   help="a target modality (repeatable), stored float32 x scale, e.g. thermal=rec/thermal")
    p.add_argument("--label", type=Path, metavar="DIR", help="single-channel class-id images (255 = ignore; 16-bit "
                   "images for more than 255 classes, 65535 = ignore)")
    p.add_argument("--class-names", type=Path, metavar="FILE", help="one class name per line; line i names label id i "
                   "(anything after a tab is ignored: crossmodal-predict's classes.txt works)")
    p.add_argument("--units", type=name_value, action="append", default=[], metavar="NAME=UNITS",
                   help="units of a target after scaling, e.g. thermal=kelvin")
    p.add_argument("--scale", type=name_value, action="append", default=[], metavar="NAME=FACTOR",
                   help="multiply a target's file values by FACTOR, e.g. thermal=0.01 or depth=0.001; required for "
                        "integer depth images (depth=0.001 millimetres, 0.0001 for 0.1 mm, 0.0002 for 1/5000 m)")
    p.add_argument("--channels", type=name_value, action="append", default=[], metavar="NAME=TEXT",
                   help="what a target's channels are, e.g. 'thermal=brightness temperature'")
    add_resize_arguments(p, "depth and labels")
    p.add_argument("--intrinsics", metavar="FX,FY,CX,CY",
                   help="pinhole intrinsics in pixels at the stored size (root attribute, used by add_hha)")
    p.add_argument("--frames", type=Path, metavar="FILE",
                   help="only these frames: a text file with one frame name (file name without extension) per line")
    p.add_argument("--nan-as-zero", action="store_true", help="store NaN/inf target values as 0 instead of failing")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/thermal/train.h5")
    add_val_arguments(p, "move whole subfolders of frames (frame names like rec1/0001 group by rec1; frames at the "
                         "top level count one by one) holding about F of the frames into val.h5 beside --out; needs "
                         "--label", "group")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def _options(args: argparse.Namespace, folders: list[Folder]) -> tuple[Options, dict]:
    """Check names and values of the per-modality options; root attributes from --intrinsics."""
    targets = {f.name for f in folders if f.role == "target"}
    named = {f.name for f in folders}
    for opt, items in (("--units", args.units), ("--scale", args.scale), ("--channels", args.channels)):
        for name, _ in items:
            allowed, what = (targets, "--target") if opt == "--scale" else (named, "modality")
            if name not in allowed:
                raise ValueError(f"{opt} {name}=...: '{name}' is not a {what} here ({', '.join(sorted(allowed))})")
    scale = parse_scales(args.scale, targets)
    units = dict(args.units)
    for name, unit in units.items():
        if name in ("depth", "raw_depth") and unit != "metres":
            raise ValueError(f"--units {name}={unit}: '{name}' is stored in metres by definition; "
                             f"convert with --scale (e.g. --scale {name}=0.001 for millimetres)")
    resize = resize_from_args(args)
    attrs: dict = resize.attrs()
    if args.intrinsics:
        try:
            k = [float(v) for v in args.intrinsics.split(",")]
        except ValueError:
            k = []
        if len(k) != 4 or not all(np.isfinite(k)) or k[0] <= 0 or k[1] <= 0:
            raise ValueError(f"--intrinsics {args.intrinsics!r}: expected FX,FY,CX,CY with FX, FY > 0")
        attrs["intrinsics"] = np.array(k)
    return Options(scale, units, dict(args.channels), resize, args.nan_as_zero), attrs


def _folders(args: argparse.Namespace) -> list[Folder]:
    """The modality folders named on the command line, checked for valid and distinct names."""
    folders = []
    if args.source:
        folders.append(Folder(args.source[0], "source", Path(args.source[1])))
    folders += [Folder(name, "target", Path(d)) for name, d in args.target]
    if args.label:
        folders.append(Folder("label", "label", args.label))
    if not any(f.role != "label" for f in folders):
        raise ValueError("nothing to pair: give --source NAME=DIR and/or --target NAME=DIR")
    seen = set()
    for f in folders:
        if f.role != "label":
            check_modality_name(f.name)
        if f.name in seen:
            raise ValueError(f"modality '{f.name}' is given twice")
        seen.add(f.name)
    if args.resize == "target" and not args.source:
        raise ValueError("--resize target resizes targets to the source size, but there is no --source")
    if args.resize == "source" and not args.target:
        raise ValueError("--resize source resizes the source to the target size, but there is no --target")
    if args.class_names and not args.class_names.is_file():
        raise ValueError(f"--class-names {args.class_names}: no such file")
    return folders


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Build one paired split from folders; bad input raises (tool_main reports it in one line, exit 2)."""
    folders = _folders(args)
    opts, attrs = _options(args, folders)
    frames = None
    if args.frames is not None:
        if not args.frames.is_file():
            raise ValueError(f"--frames {args.frames}: no such file")
        frames = [line.strip() for line in args.frames.read_text().splitlines() if line.strip()]
    build(folders, args.out, opts, class_names_file=args.class_names, attrs=attrs, overwrite=args.overwrite,
          frames=frames, command=command_line("pairs", argv), val_fraction=args.val_fraction, val_seed=args.val_seed)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
