"""RGB-D pairs (and optional NYU-40 labels) from one ScanNet `.sens` recording.

    python -m data_tools.scannet --sens scans/scene0000_00/scene0000_00.sens --every 10 \
        --out data/scannet/scene0000_00.h5

The `.sens` layout is the one ScanNet's own reader uses (SensReader, version 4; read by data_tools.scannet_sens).
Depth is uint16 (depth_height, depth_width); metres = value / depth_shift (typically 1000); 0 = no reading.

Registration: the colour image is resized to the depth camera's resolution with area interpolation (ScanNet's own
SensorData.py export_color_images(image_size=...) resizes the same way, but with INTER_NEAREST); no reprojection
through the extrinsics or the colour intrinsics is done -- ScanNet's calibrated colour and depth cameras are treated
as aligned after resizing (a note is printed when extrinsic_depth is not the identity). Depth is stored at its
native resolution (resized with nearest neighbours only when --size asks), and the root attribute `intrinsics` is the
depth camera's [fx, fy, cx, cy] from intrinsic_depth, scaled to the stored size. A --size of another aspect ratio
than the depth camera's is refused unless --aspect says crop (colour, depth and labels cut to the same centred
window, intrinsics shifted) or stretch (data_tools.resize). Frames pair by record (PAIRING).
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from crossmodal.data.sensor_files import imread
from data_tools.common import (
    add_output_flags,
    check_input_file,
    check_outputs,
    command_line,
    int_at_least,
    ordered_map,
    parse_size,
    tool_main,
    tool_parser,
    warn,
)
from data_tools.nyu_tables import NAMES_40
from data_tools.resize import (
    add_aspect_argument,
    crop_to,
    crop_window,
    fit_intrinsics,
    resized,
    size_aspect,
    size_attrs,
)
from data_tools.scannet_sens import (
    FrameEntry,
    SensError,
    SensHeader,
    check_header,
    decode_color,
    decode_depth,
    depth_metres,
    index_frames,
    read_exact,
    read_header,
)
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.scannet"
IGNORE = 255
PAIRING = ("frame record (each .sens frame stores its colour and depth image together); timestamp_color / "
           "timestamp_depth are kept in `timestamp`, not used (ScanNet's are often all zero)")
REGISTRATION = ("colour resized to the depth camera's resolution (cv2.INTER_AREA when shrinking, INTER_LINEAR when "
                "enlarging); no reprojection through the extrinsics (ScanNet's calibrated colour and depth "
                "cameras are treated as aligned); intrinsics are the depth camera's")


def read_label_map(path: Path) -> np.ndarray:
    """Lookup table ScanNet id -> stored NYU-40 class id (nyu40id - 1; 0 or unmapped -> 255) from the tsv."""
    check_input_file(path, "ScanNet's scannetv2-labels.combined.tsv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        cols = reader.fieldnames or []
        if "id" not in cols or "nyu40id" not in cols:
            raise ValueError(f"--label-map {path}: columns {cols[:8]}{' ...' if len(cols) > 8 else ''}; expected "
                             f"ScanNet's scannetv2-labels.combined.tsv with 'id' and 'nyu40id' columns")
        pairs = []
        for line, row in enumerate(reader, start=2):
            sid, nyu = (row.get("id") or "").strip(), (row.get("nyu40id") or "").strip()
            if not sid:
                continue
            try:
                sid_i, nyu_i = int(sid), int(nyu) if nyu else 0
            except ValueError:
                raise ValueError(f"--label-map {path}: line {line}: id {sid!r} / nyu40id {nyu!r} are not "
                                 f"integers") from None
            if not 0 <= sid_i < 65536 or not 0 <= nyu_i <= 40:
                raise ValueError(f"--label-map {path}: line {line}: id {sid_i} / nyu40id {nyu_i} out of range "
                                 f"(ids 0..65535, nyu40id 0..40)")
            pairs.append((sid_i, nyu_i))
    if not pairs:
        raise ValueError(f"--label-map {path}: no rows")
    lut = np.full(65536, IGNORE, np.uint8)
    for sid_i, nyu_i in pairs:
        lut[sid_i] = IGNORE if nyu_i == 0 else nyu_i - 1
    lut[0] = IGNORE
    return lut


def read_label(path: Path, lut: np.ndarray, index: int) -> np.ndarray:
    """A label-filt PNG (uint16 or uint8 ScanNet ids) mapped through lut to NYU-40 ids (255 = ignore)."""
    img = imread(path)
    if img is None:
        raise SensError(f"{path}: frame {index}: not a readable label PNG")
    if img.ndim != 2 or img.dtype not in (np.uint8, np.uint16):
        raise SensError(f"{path}: frame {index}: label image is {img.dtype} {img.shape}; expected a one-channel "
                        f"8- or 16-bit PNG of ScanNet ids (label-filt)")
    return lut[img]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to turn one frame into a sample."""

    header: SensHeader
    size: tuple[int, int]
    label_dir: Path | None
    lut: np.ndarray | None
    window: tuple[int, int, int, int] | None = None  # of the depth frame, cut first (--aspect crop)


def make_sample(job: Job, entry: FrameEntry, f=None) -> dict[str, np.ndarray]:
    """Read, decode and resize one frame (rgb, depth[, label]); f is an open handle on the .sens file, or None."""
    h = job.header
    own = f is None
    if own:
        f = open(h.path, "rb")
    try:
        f.seek(entry.color_offset)
        where = f"frame {entry.index} data"
        cbytes = read_exact(f, entry.color_size, h.path, where)
        dbytes = read_exact(f, entry.depth_size, h.path, where)
    finally:
        if own:
            f.close()
    depth_hw = (h.depth_height, h.depth_width)
    window = job.window or (0, 0, *depth_hw)  # in depth pixels; colour and labels are cut to the same field of view
    rgb = crop_to(decode_color(cbytes, h, entry.index), window, depth_hw)
    raw = crop_to(decode_depth(dbytes, h, entry.index), window, depth_hw)
    sample = {"rgb": np.ascontiguousarray(resized(rgb, job.size, nearest=False)),
              "depth": np.ascontiguousarray(resized(depth_metres(raw, h.depth_shift), job.size, nearest=True))}
    if job.label_dir is not None:
        label = read_label(job.label_dir / f"{entry.index}.png", job.lut, entry.index)
        sample["label"] = np.ascontiguousarray(resized(crop_to(label, window, depth_hw), job.size, nearest=True))
    return sample


def _samples(job: Job, entries: list[FrameEntry], workers: int) -> Iterator[dict[str, np.ndarray]]:
    """The samples in frame order.

    They are read here through one open file, or with workers > 1 in a spawn pool with at most 4 frames per worker
    in flight (data_tools.common.ordered_map)."""
    if workers <= 1:
        with open(job.header.path, "rb") as f:
            for e in entries:
                yield make_sample(job, e, f)
        return
    yield from ordered_map(partial(make_sample, job), entries, workers, batch=1, batches_per_worker=4)


# ------------------------------------------------------------------------------------------------ conversion

@dataclass
class Report:
    """What a conversion did."""

    path: Path
    num_samples: int = 0
    num_frames: int = 0
    notes: list[str] = field(default_factory=list)


def _matrix_attr(m: np.ndarray) -> list[float]:
    """A 4x4 matrix as 16 floats, row-major."""
    return [float(v) for v in np.asarray(m, np.float64).reshape(-1)]


def _header_attrs(header: SensHeader, sens: Path) -> dict:
    """Root attributes describing the recording: cameras, sizes, calibration and compression, as in its header."""
    return {
        "camera": f"ScanNet depth camera ({header.sensor_name or 'sensor name not recorded'})",
        "registration": REGISTRATION,
        "pairing": PAIRING,
        "sens_file": sens.name,
        "sensor_name": header.sensor_name,
        "depth_shift": float(header.depth_shift),
        "color_size": [int(header.color_height), int(header.color_width)],
        "depth_size": [int(header.depth_height), int(header.depth_width)],
        "intrinsic_color": _matrix_attr(header.intrinsic_color),
        "extrinsic_color": _matrix_attr(header.extrinsic_color),
        "intrinsic_depth": _matrix_attr(header.intrinsic_depth),
        "extrinsic_depth": _matrix_attr(header.extrinsic_depth),
        "color_compression": header.color_type,
        "depth_compression": header.depth_type,
    }


def _check_options(sens: Path, every: int, workers: int, size: tuple[int, int] | None, aspect: str | None,
                   labels: Path | None, label_map: Path | None) -> str:
    """Refuse bad options before the recording is read; returns the --aspect policy."""
    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    policy = size_aspect(size, aspect)
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    check_input_file(sens, "a ScanNet .sens file")
    if labels is not None and label_map is None:
        raise ValueError(f"--labels {labels}: label-filt PNGs hold raw ScanNet ids, which are not a class set; pass "
                         f"--label-map scannetv2-labels.combined.tsv (ScanNet's own table) to map them to NYU-40")
    if label_map is not None and labels is None:
        raise ValueError(f"--label-map {label_map} needs --labels DIR (the exported label-filt PNGs)")
    if labels is not None and not labels.is_dir():
        raise NotADirectoryError(f"--labels {labels}: no such folder; expected the exported label-filt/ folder of "
                                 f"<frame index>.png files")
    return policy


def _check_label_files(labels: Path, entries: list[FrameEntry]) -> None:
    """Every kept frame needs its label-filt PNG."""
    missing = [e.index for e in entries if not (labels / f"{e.index}.png").is_file()]
    if missing:
        raise FileNotFoundError(f"--labels {labels}: {len(missing)} of the {len(entries)} kept frames have no "
                                f"label PNG (first missing: {labels / f'{missing[0]}.png'}); label-filt holds "
                                f"<frame index>.png -- choose --every to match the exported frames")


def _modality_attrs(header: SensHeader, labels: Path | None, label_map: Path | None) -> dict:
    """The description of each stored modality."""
    mod_attrs = {"rgb": {"description": "ScanNet colour, " + REGISTRATION},
                 "depth": {"description": f"ScanNet depth, uint16 / depth_shift ({header.depth_shift:g}); "
                                          f"0 = no reading; not in-painted"}}
    if label_map is not None:
        mod_attrs["label"] = {"description": f"label-filt ScanNet ids mapped to NYU-40 (id - 1) with "
                                             f"{label_map.name}; 0 / unmapped = 255", "folder": str(labels)}
    return mod_attrs


def _row_datasets(entries: list[FrameEntry]) -> dict:
    """The per-row frame index, pose and timestamps from the .sens file."""
    text = h5py.string_dtype("utf-8")
    return {
        "frame_name": (np.array([str(e.index) for e in entries], dtype=text),
                       "frame index in the .sens file each row came from (label-filt <index>.png); not a modality"),
        "camera_to_world": (np.stack([e.camera_to_world for e in entries]).astype(np.float32),
                            "per-frame 4x4 camera-to-world pose from the .sens file (-inf = invalid)"),
        "timestamp": (np.array([[e.timestamp_color, e.timestamp_depth] for e in entries], np.uint64),
                      "[colour, depth] timestamps from the .sens file (typically microseconds)"),
    }


def convert(sens: Path, out: Path, *, every: int = 1, size: tuple[int, int] | None = None,
            labels: Path | None = None, label_map: Path | None = None, workers: int = 1, overwrite: bool = False,
            show_progress: bool = True, command: str | None = None, aspect: str | None = None) -> Report:
    """Convert every `every`-th frame of a .sens file into one paired file, atomically, with per-frame metadata.

    A size of another aspect ratio than the depth camera's is refused unless aspect is 'crop' or 'stretch'."""
    policy = _check_options(sens, every, workers, size, aspect, labels, label_map)
    header = read_header(sens)
    check_header(header)
    dh, dw = header.depth_height, header.depth_width
    hw = size or (dh, dw)
    what = f"{sens}: depth frames"
    window = crop_window((dh, dw), hw, policy, what, error=SensError)
    entries = index_frames(header)[::every]
    lut = read_label_map(label_map) if label_map is not None else None
    if labels is not None:
        _check_label_files(labels, entries)
    check_outputs([out], overwrite)
    intrinsics = fit_intrinsics(header.depth_intrinsics(), (dh, dw), hw, policy, what, error=SensError)
    attrs = {"intrinsics": np.array(intrinsics, np.float64), "every": int(every), **_header_attrs(header, sens),
             **size_attrs(size, policy)}
    specs = {"rgb": ((*hw, 3), np.uint8), "depth": (hw, np.float32)}
    if lut is not None:
        attrs["label_map"] = label_map.name
        attrs["nyu40_ids"] = np.arange(1, 41, dtype=np.int64)
        specs["label"] = (hw, np.uint8)
    with StagedOutput(out, overwrite=overwrite) as staged:
        staged.write(_samples(Job(header, hw, labels, lut, window), entries, workers), len(entries), specs,
                     class_names=list(NAMES_40) if lut is not None else None,
                     source=command or f"data_tools.scannet --sens {sens.name} --every {every}", attrs=attrs,
                     modality_attrs=_modality_attrs(header, labels, label_map),
                     desc="scannet" if show_progress else None)
        staged.add_rows(_row_datasets(entries))
    rep = Report(out, len(entries), header.num_frames)
    if not np.allclose(header.extrinsic_depth, np.eye(4), atol=1e-3):
        rep.notes.append("extrinsic_depth is not the identity; colour was still only resized (not reprojected)")
    return rep


DESCRIPTION = (
    "Build RGB-D pairs from one ScanNet .sens recording (the layout of ScanNet's SensReader, version 4: zlib or raw "
    "uint16 depth, JPEG/PNG/raw colour), read frame by frame. Depth is stored in metres (value / depth_shift, "
    "0 = no reading) at the depth camera's resolution. Registration: " + REGISTRATION + ". Root attribute "
    "intrinsics = depth [fx, fy, cx, cy] at the stored size. Optional labels: the exported label-filt PNGs "
    "(<frame index>.png, ScanNet ids) mapped to NYU-40 with ScanNet's scannetv2-labels.combined.tsv (resized "
    "nearest; 0 / unmapped = 255). Output: rgb (N,H,W,3) uint8, depth (N,H,W) float32[, label (N,H,W) uint8], plus "
    "per-sample frame_name, camera_to_world and timestamp."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(
        PROG, DESCRIPTION,
        "example:\n  python -m data_tools.scannet --sens scans/scene0000_00/scene0000_00.sens --every 10 \\\n"
               "      --labels scans/scene0000_00/label-filt --label-map scannetv2-labels.combined.tsv \\\n"
        "      --out data/scannet/scene0000_00.h5")
    p.add_argument("--sens", required=True, type=Path, help="ScanNet .sens file, e.g. scene0000_00.sens")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/scannet/scene0000_00.h5")
    p.add_argument("--every", type=int_at_least(1), default=1,
                   help="keep frames 0, K, 2K, ... (default 1 = all), e.g. --every 10")
    p.add_argument("--labels", type=Path, default=None,
                   help="folder of exported label-filt PNGs named <frame index>.png (ScanNet ids), e.g. "
                        "scene0000_00/label-filt; needs --label-map")
    p.add_argument("--label-map", type=Path, default=None,
                   help="ScanNet's scannetv2-labels.combined.tsv ('id' -> 'nyu40id'): labels are stored as NYU-40 "
                        "ids 0..39 (nyu40id - 1), 0 / unmapped = 255")
    p.add_argument("--size", type=parse_size, default=None,
                   help="store at HEIGHTxWIDTH (colour area/linear, depth and labels nearest; intrinsics scaled), "
                        "e.g. 240x320; default: the depth camera's size (480x640 in ScanNet). A size of another "
                        "aspect ratio than the depth camera's is refused unless --aspect says crop or stretch")
    add_aspect_argument(p)
    p.add_argument("--workers", type=int_at_least(1), default=1,
                   help="decode with N processes (frames stay in order), e.g. --workers 2 (default 1)")
    add_output_flags(p)
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert a .sens file; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.sens, args.out, every=args.every, size=args.size, labels=args.labels,
                  label_map=args.label_map, workers=args.workers, overwrite=args.overwrite,
                  show_progress=not args.quiet, command=command_line("scannet", argv), aspect=args.aspect)
    for note in rep.notes:
        warn(PROG, note)
    print(f"wrote {rep.path} ({rep.num_samples} of {rep.num_frames} frames)", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
