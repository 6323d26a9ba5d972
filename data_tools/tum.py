"""RGB-D pairs from a TUM RGB-D benchmark sequence folder (rgb.txt, depth.txt, rgb/*.png, depth/*.png).

    python -m data_tools.tum --sequence rgbd_dataset_freiburg1_xyz/ --out data/tum/fr1_xyz.h5 \
        [--max-dt 0.02] [--workers 2]

RGB and depth frames are associated exactly as TUM's own `associate.py` does (every candidate pair whose stamps
differ by less than --max-dt, taken nearest first while both frames are still free; data_tools.associate), in RGB
time order. Depth PNGs are 16-bit with 5000 counts per metre (0 = no reading) and are stored as float32 metres.
TUM's depth images are already registered to the colour camera by the Kinect driver, so both share one camera.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from statistics import median

import cv2
import h5py
import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.data.sensor_files import imread
from data_tools import camera
from data_tools.associate import associate
from data_tools.common import (
    add_output_flags,
    check_outputs,
    command_line,
    int_at_least,
    ordered_map,
    parse_size,
    positive_number,
    tool_main,
    tool_parser,
    warn,
)
from data_tools.resize import (
    add_aspect_argument,
    crop_to,
    crop_window,
    fit_intrinsics,
    resized,
    size_aspect,
    size_attrs,
)
from data_tools.staged import StagedOutput
from data_tools.stamps import check_stamps, in_recording_order, pair_timing, stream_timing, timing_attrs, timing_lines

PROG = "python -m data_tools.tum"
DEPTH_COUNTS_PER_METRE = 5000.0
DEFAULT_MAX_DT = 0.02
# TUM RGB-D's published intrinsics (fx, fy, cx, cy at 640x480) per camera, and the ROS default parameter set.
INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}
ROS_DEFAULT = (525.0, 525.0, 319.5, 239.5)
CAMERA_NAME = re.compile(r"(?:freiburg|fr)([123])(?![0-9])", re.IGNORECASE)
MODALITY_ATTRS = {"rgb": {"folder": "rgb.txt"},
                  "depth": {"folder": "depth.txt", "scale": 1.0 / DEPTH_COUNTS_PER_METRE,
                            "description": "TUM RGB-D depth (registered to the colour camera by the Kinect driver), "
                                           "16-bit PNG counts / 5000; 0 = no reading; not in-painted"}}


@dataclass(frozen=True)
class Entry:
    """One line of rgb.txt or depth.txt: the stamp as float and as written, the file, and its line."""

    time: float
    stamp: str
    file: str
    line: int


@dataclass
class Report:
    """What a conversion did."""

    path: Path
    num_samples: int = 0
    num_rgb: int = 0
    num_depth: int = 0
    unpaired_rgb: int = 0
    unpaired_depth: int = 0
    skipped_every: int = 0
    median_offset: float | None = None
    intrinsics_source: str = ""
    notes: list[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)  # rates, gaps and pairing offset (data_tools.stamps.timing_attrs)


# ------------------------------------------------------------------------------------------------ lists

def read_list(path: Path, sequence: Path) -> list[Entry]:
    """Parse a TUM 'timestamp filename' list as TUM's read_file_list does.

    '#' starts a comment; fields are separated by spaces, tabs or commas. Entries come back sorted by stamp. Unlike
    TUM's script, which silently drops them, malformed lines are errors naming the file and line: one field only, or
    a stamp that is not a number. Every listed file must exist. The stamps are checked as a bag's are by
    data_tools.stamps: zero, repeated, and, in a list written in recording order, going back in time; the FormatError
    names the count and the first line.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected a TUM list of 'timestamp filename' lines in the "
                                f"sequence folder {sequence}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise FormatError(f"{path}: not a text file ({err})") from None
    entries: list[Entry] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.replace(",", " ").replace("\t", " ").strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            raise FormatError(f"{path} line {number}: {raw.strip()!r} is malformed; expected 'timestamp filename'")
        try:
            t = float(fields[0])
        except ValueError:
            t = float("nan")
        if not np.isfinite(t):
            raise FormatError(f"{path} line {number}: timestamp {fields[0]!r} is not a number; "
                              f"expected 'timestamp filename'")
        file = fields[1]
        if not (sequence / file).is_file():
            raise FileNotFoundError(f"{path} line {number}: {file} does not exist (looked for {sequence / file})")
        entries.append(Entry(t, fields[0], file, number))
    if not entries:
        raise FormatError(f"{path}: no 'timestamp filename' lines (only comments or blank lines)")
    # a list out of time order is read as a set, as TUM's script does: its order cannot show a clock going back
    listed = entries if in_recording_order([e.time for e in entries]) else sorted(entries, key=lambda e: e.time)
    check_stamps([e.time for e in listed], str(path), FormatError, positions=[f"line {e.line}" for e in listed])
    # in stamp order, so that equal differences are broken by stamp as in TUM's sort of (diff, a, b)
    return sorted(entries, key=lambda e: e.time)


def camera_intrinsics(sequence: Path, override: tuple[float, float, float, float] | None
                      ) -> tuple[tuple[float, float, float, float], str, bool]:
    """(fx, fy, cx, cy) at 640x480, where they came from, and whether that was a guess (the ROS default)."""
    if override is not None:
        return override, "--intrinsics (given on the command line)", False
    m = CAMERA_NAME.search(sequence.resolve().name)
    if m:
        cam = f"freiburg{m[1]}"
        dist = "undistorted" if cam == "freiburg3" else "distorted (TUM publishes d0..d4; not undistorted here)"
        return INTRINSICS[cam], (f"TUM RGB-D published {cam} colour camera intrinsics (from the sequence name); "
                                 f"images {dist}"), False
    return ROS_DEFAULT, "ROS default 525/525/319.5/239.5 (the sequence name names no freiburg1/2/3 camera)", True


# ------------------------------------------------------------------------------------------------ frames

def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an 8-bit colour PNG (FormatError naming the file otherwise)."""
    img = imread(path)
    if img is None:
        raise FormatError(f"{path}: cannot be decoded as an image")
    if img.dtype != np.uint8:
        raise FormatError(f"{path}: colour image is {img.dtype}; expected 8-bit")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit TUM depth PNG (5000 counts per metre, 0 = no reading)."""
    img = imread(path)
    if img is None:
        raise FormatError(f"{path}: cannot be decoded as an image")
    if img.dtype != np.uint16 or img.ndim != 2:
        shape = "x".join(map(str, img.shape))
        raise FormatError(f"{path}: depth image is {img.dtype} {shape}; expected a single-channel 16-bit PNG "
                          f"(5000 counts per metre)")
    return (img.astype(np.float32) / np.float32(DEPTH_COUNTS_PER_METRE)).astype(np.float32)


def make_pair(rgb: np.ndarray, depth: np.ndarray, size: tuple[int, int] | None,
              window: tuple[int, int, int, int] | None = None) -> dict[str, np.ndarray]:
    """The pair at the stored size, cut to window first when --aspect crop gave one.

    The window comes from data_tools.resize.crop_window. RGB is then resized by area when shrinking, else
    bilinear; depth by nearest neighbours, so 0 stays 0.
    """
    if window is not None:
        rgb, depth = crop_to(rgb, window, rgb.shape[:2]), crop_to(depth, window, depth.shape[:2])
    if size is not None:
        rgb, depth = resized(rgb, size, nearest=False), resized(depth, size, nearest=True, exact=True)
    return {"rgb": np.ascontiguousarray(rgb), "depth": np.ascontiguousarray(depth)}


def load_pair(files: tuple[Path, Path], native: tuple[int, int], first: str, size: tuple[int, int] | None,
              window: tuple[int, int, int, int] | None = None) -> dict[str, np.ndarray]:
    """Read, check and resize one (rgb, depth) file pair; every frame must have the native size of `first`.

    Module level (and picklable) so that --workers processes can run it."""
    rgb_path, depth_path = files
    rgb, depth = read_rgb(rgb_path), read_depth(depth_path)
    for what, arr, path in (("colour", rgb, rgb_path), ("depth", depth, depth_path)):
        if arr.shape[:2] != native:
            raise FormatError(f"{path}: {what} image is {arr.shape[0]}x{arr.shape[1]} but {first} is "
                              f"{native[0]}x{native[1]}; all frames must have one size")
    return make_pair(rgb, depth, size, window)


# ------------------------------------------------------------------------------------------------ conversion

def _row_datasets(rgb_list: list[Entry], depth_list: list[Entry], kept: list[tuple[int, int]]) -> dict:
    """Per-row frame_name, timestamp, rgb_file and depth_file datasets, written beside the modalities."""
    text = h5py.string_dtype("utf-8")
    return {
        "frame_name": (np.array([rgb_list[i].stamp for i, _ in kept], dtype=text),
                       "rgb timestamp of each row, as written in rgb.txt; not a modality"),
        "timestamp": (np.array([[rgb_list[i].time, depth_list[j].time] for i, j in kept], np.float64),
                      "seconds [rgb, depth] of each row"),
        "rgb_file": (np.array([rgb_list[i].file for i, _ in kept], dtype=text), "rgb file of each row"),
        "depth_file": (np.array([depth_list[j].file for _, j in kept], dtype=text), "depth file of each row"),
    }


def _check_arguments(sequence: Path, max_dt: float, every: int, workers: int, size: tuple[int, int] | None,
                     aspect: str | None) -> str:
    """Refuse bad numbers and a sequence path that is not a folder; the aspect policy of the size."""
    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if not (max_dt > 0 and np.isfinite(max_dt)):
        raise ValueError(f"--max-dt must be a positive number of seconds, got {max_dt}")
    policy = size_aspect(size, aspect)
    if not sequence.exists():
        raise FileNotFoundError(f"{sequence}: no such folder; expected a TUM RGB-D sequence "
                                f"(rgb.txt, depth.txt, rgb/, depth/)")
    if not sequence.is_dir():
        raise NotADirectoryError(f"{sequence}: not a folder; expected a TUM RGB-D sequence "
                                 f"(rgb.txt, depth.txt, rgb/, depth/)")
    return policy


@dataclass
class Pairing:
    """The sequence's two lists, the pairs kept with their stamp gaps, and the report so far."""

    rgb: list[Entry]
    depth: list[Entry]
    kept: list[tuple[int, int]]
    gaps: list[float]  # depth - rgb stamp of each pair kept, seconds
    report: Report


def _pair_lists(sequence: Path, out: Path, max_dt: float, every: int) -> Pairing:
    """Read both lists, associate them as TUM's script does and keep every `every`-th pair."""
    rgb_list = read_list(sequence / "rgb.txt", sequence)
    depth_list = read_list(sequence / "depth.txt", sequence)
    assoc = associate([e.time for e in rgb_list], [e.time for e in depth_list], max_dt)
    report = Report(out, num_rgb=len(rgb_list), num_depth=len(depth_list), unpaired_rgb=assoc.unpaired_source,
                    unpaired_depth=assoc.unpaired_target, median_offset=assoc.median_offset)
    if not assoc.pairs:
        raise FormatError(f"{sequence}: no rgb.txt / depth.txt pair within --max-dt {max_dt:g} s "
                          f"({len(rgb_list)} rgb, {len(depth_list)} depth stamps); the median offset depth - nearest "
                          f"rgb is {assoc.median_offset:+.4f} s (a clock offset or latency: check the lists, or "
                          f"raise --max-dt)")
    kept = assoc.pairs[::every]
    report.skipped_every = len(assoc.pairs) - len(kept)
    gaps = [depth_list[j].time - rgb_list[i].time for i, j in kept]
    timings = [stream_timing([e.time for e in rgb_list]), stream_timing([e.time for e in depth_list])]
    report.timing = timing_attrs(["rgb", "depth"], timings,
                                 [None, pair_timing(*timings, len(rgb_list), len(assoc.pairs), gaps)])
    return Pairing(rgb_list, depth_list, kept, gaps, report)


def _root_attrs(sequence: Path, pairing: Pairing, native: tuple[int, int], size: tuple[int, int] | None,
                policy: str, intrinsics: tuple[float, float, float, float] | None, max_dt: float, every: int,
                first_file: Path) -> dict:
    """The file's root attributes: intrinsics at the stored size, their source, and how frames were paired."""
    report = pairing.report
    k640, report.intrinsics_source, guessed = camera_intrinsics(sequence, intrinsics)
    if guessed:
        report.notes.append(f"intrinsics: {report.intrinsics_source}; pass --intrinsics FX,FY,CX,CY if you know them")
    k_native = k640 if intrinsics is not None or native == (480, 640) else \
        camera.scale_intrinsics(k640, (480, 640), native)
    k_stored = fit_intrinsics(k_native, native, size or native, policy, str(first_file), error=FormatError)
    return {"intrinsics": [float(v) for v in k_stored], "intrinsics_source": report.intrinsics_source,
            "sequence": sequence.resolve().name, "max_dt": float(max_dt), "every": int(every),
            "depth_scale": f"depth PNG counts / {DEPTH_COUNTS_PER_METRE:g} = metres",
            "association": "TUM associate.py: nearest first, one-to-one, |t_rgb - t_depth| < max_dt, offset 0",
            "median_dt": float(median(pairing.gaps)), **size_attrs(size, policy), **report.timing}


def convert(sequence: Path, out: Path, *, max_dt: float = DEFAULT_MAX_DT, every: int = 1,
            size: tuple[int, int] | None = None, intrinsics: tuple[float, float, float, float] | None = None,
            workers: int = 1, overwrite: bool = False, show_progress: bool = True,
            command: str = "data_tools.tum", aspect: str | None = None) -> Report:
    """Associate, read and write every `every`-th RGB-D pair of one sequence into one file, atomically.

    A size whose aspect ratio differs from the frames' is refused unless aspect is 'crop' or 'stretch', as
    data_tools.resize decides; the intrinsics follow. With workers > 1 the frames are read, converted and resized in
    that many processes, results in order with a few batches in flight; the file is the same byte for byte.
    """
    policy = _check_arguments(sequence, max_dt, every, workers, size, aspect)
    pairing = _pair_lists(sequence, out, max_dt, every)
    kept, report = pairing.kept, pairing.report
    check_outputs([out], overwrite)
    first_file = sequence / pairing.rgb[kept[0][0]].file
    native = read_rgb(first_file).shape[:2]
    h, w = size or native
    window = crop_window(native, (h, w), policy, f"{first_file} (all frames have its size)", error=FormatError)
    attrs = _root_attrs(sequence, pairing, native, size, policy, intrinsics, max_dt, every, first_file)
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    files = [(sequence / pairing.rgb[i].file, sequence / pairing.depth[j].file) for i, j in kept]
    load = partial(load_pair, native=native, first=pairing.rgb[kept[0][0]].file, size=size, window=window)
    with StagedOutput(out, overwrite=overwrite) as staged:
        staged.write(ordered_map(load, files, workers), len(kept), specs, class_names=None, source=command,
                     attrs=attrs, modality_attrs=MODALITY_ATTRS, desc="tum" if show_progress else None)
        staged.add_rows(_row_datasets(pairing.rgb, pairing.depth, kept))
    report.num_samples = len(kept)
    return report


# ------------------------------------------------------------------------------------------------ command line

DESCRIPTION = (
    "Build RGB-D pairs from one TUM RGB-D sequence folder (rgb.txt, depth.txt, rgb/*.png, depth/*.png). Frames are "
    "associated as TUM's associate.py does (nearest stamps first, one-to-one, closer than --max-dt); depth is "
    "16-bit with 5000 counts per metre and is stored as float32 metres (0 = no reading). Intrinsics: TUM's "
    "published values for freiburg1/2/3 when the folder name says which camera, else the ROS default, or "
    "--intrinsics. Output: rgb (N,H,W,3) uint8, depth (N,H,W) float32, plus per-row frame_name (the rgb stamp), "
    "timestamp, rgb_file and depth_file."
)


def _intrinsics(text: str) -> tuple[float, float, float, float]:
    """Parse FX,FY,CX,CY (pixels at 640x480, or at the images' own size)."""
    try:
        k = [float(v) for v in text.split(",")]
    except ValueError:
        k = []
    if len(k) != 4 or not all(np.isfinite(k)) or k[0] <= 0 or k[1] <= 0:
        raise argparse.ArgumentTypeError(f"expected FX,FY,CX,CY with FX, FY > 0, e.g. 517.3,516.5,318.6,255.3; "
                                         f"got {text!r}")
    return k[0], k[1], k[2], k[3]


def _size(text: str) -> tuple[int, int] | None:
    """HEIGHTxWIDTH, or 'none' for the native size."""
    return None if text.strip().lower() == "none" else parse_size(text)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(PROG, DESCRIPTION, "example:\n  python -m data_tools.tum --sequence "
                                       "downloads/rgbd_dataset_freiburg1_xyz --out data/tum/fr1_xyz.h5 \\\n"
                                       "      --max-dt 0.02 --every 3 --size 240x320")
    p.add_argument("--sequence", required=True, type=Path,
                   help="a TUM RGB-D sequence folder holding rgb.txt and depth.txt, "
                        "e.g. downloads/rgbd_dataset_freiburg1_xyz")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/tum/fr1_xyz.h5")
    p.add_argument("--max-dt", type=positive_number("number of seconds", "0.02"), default=DEFAULT_MAX_DT,
                   help=f"largest stamp difference of a pair in seconds (exclusive, as TUM's associate.py), "
                        f"default {DEFAULT_MAX_DT}")
    p.add_argument("--every", type=int_at_least(1), default=1,
                   help="keep every K-th associated pair, starting with the first (default 1 = all), e.g. --every 3")
    p.add_argument("--size", type=_size, default=None,
                   help="resize to HEIGHTxWIDTH (RGB area/bilinear, depth nearest; intrinsics scaled), "
                        "e.g. 240x320; 'none' or omitted: native 480x640. A size of another aspect ratio than "
                        "the frames' is refused unless --aspect says crop or stretch")
    add_aspect_argument(p)
    p.add_argument("--intrinsics", type=_intrinsics, default=None, metavar="FX,FY,CX,CY",
                   help="pinhole intrinsics in pixels at the images' native size, instead of TUM's published ones, "
                        "e.g. 525,525,319.5,239.5")
    p.add_argument("--workers", type=int_at_least(1), default=1, metavar="N",
                   help="read and convert frames in N processes (rows stay in order; same file), e.g. --workers 2 "
                        "(default 1)")
    add_output_flags(p)
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert one TUM sequence; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.sequence, args.out, max_dt=args.max_dt, every=args.every, size=args.size,
                  intrinsics=args.intrinsics, workers=args.workers, overwrite=args.overwrite,
                  show_progress=not args.quiet, command=command_line("tum", argv), aspect=args.aspect)
    for note in rep.notes:
        warn(PROG, note)
    print(f"paired {rep.num_rgb - rep.unpaired_rgb} of {rep.num_rgb} rgb and "
          f"{rep.num_depth - rep.unpaired_depth} of {rep.num_depth} depth frames within {args.max_dt:g} s; "
          f"unpaired: {rep.unpaired_rgb} rgb, {rep.unpaired_depth} depth"
          + (f"; {rep.skipped_every} pairs skipped by --every {args.every}" if rep.skipped_every else ""),
          file=sys.stderr)
    for line in timing_lines(rep.timing, f" beyond --max-dt {args.max_dt:g} s"):
        print(line, file=sys.stderr)
    print(f"wrote {rep.path} ({rep.num_samples} pairs)", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
