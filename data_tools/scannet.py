"""RGB-D pairs (and optional NYU-40 labels) from one ScanNet `.sens` recording.

    python -m data_tools.scannet --sens scans/scene0000_00/scene0000_00.sens --every 10 \
        --out data/scannet/scene0000_00.h5

The `.sens` layout is the one ScanNet's own reader uses (SensReader/python/SensorData.py and
SensReader/src/sensorData.h, version 4), all little-endian:

    uint32 version (= 4); uint64 n + n bytes sensor name;
    float32[16] intrinsic_color, extrinsic_color, intrinsic_depth, extrinsic_depth (row-major 4x4);
    int32 color compression (-1 unknown, 0 raw, 1 png, 2 jpeg); int32 depth compression (-1 unknown, 0 raw_ushort,
    1 zlib_ushort, 2 occi_ushort); uint32 color_width, color_height, depth_width, depth_height; float32 depth_shift;
    uint64 num_frames; then per frame: float32[16] camera_to_world, uint64 timestamp_color, uint64 timestamp_depth,
    uint64 color_size_bytes, uint64 depth_size_bytes, the colour bytes, the depth bytes.
    (sensorData.h then writes uint64 num_imu_frames and the IMU frames; they are not read.)

Depth is uint16 (depth_height, depth_width); metres = value / depth_shift (typically 1000); 0 = no reading.

Registration: the colour image is resized to the depth camera's resolution with area interpolation (ScanNet's own
SensorData.py export_color_images(image_size=...) resizes the same way, but with INTER_NEAREST); no reprojection
through the extrinsics or the colour intrinsics is done -- ScanNet's calibrated colour and depth cameras are treated
as aligned after resizing (a note is printed when extrinsic_depth is not the identity). Depth is stored at its
native resolution (resized with nearest neighbours only when --size asks), and the root attribute `intrinsics` is the
depth camera's [fx, fy, cx, cy] from intrinsic_depth, scaled to the stored size. Frames pair by record (PAIRING).
"""
from __future__ import annotations

import argparse
import csv
import struct
import sys
import textwrap
import zlib
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
from crossmodal.data.sensor_files import imdecode, imread
from data_tools import camera
from data_tools.common import (check_input_file, check_outputs, command_line, commit, int_at_least, ordered_map,
                               parse_size, progress, staging_path, tool_main, warn)
from data_tools.nyu_tables import NAMES_40

PROG = "python -m data_tools.scannet"
SENS_VERSION = 4
COLOR_TYPES = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
DEPTH_TYPES = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
SUPPORTED_COLOR = (0, 1, 2)
SUPPORTED_DEPTH = (0, 1)
MAX_NAME = 1 << 16           # a sensor name longer than this means the file is not a .sens file
FRAME_HEADER = struct.Struct("<16f4Q")  # camera_to_world, timestamp_color, timestamp_depth, color bytes, depth bytes
IGNORE = 255
PAIRING = ("frame record (each .sens frame stores its colour and depth image together); timestamp_color / "
           "timestamp_depth are kept in `timestamp`, not used (ScanNet's are often all zero)")
REGISTRATION = ("colour resized to the depth camera's resolution (cv2.INTER_AREA when shrinking, INTER_LINEAR when "
                "enlarging); no reprojection through the extrinsics (ScanNet's calibrated colour and depth "
                "cameras are treated as aligned); intrinsics are the depth camera's")


class SensError(FormatError):
    """A .sens file that cannot be read; the message names the file (and the frame)."""


@dataclass(frozen=True)
class SensHeader:
    """The fixed part of a .sens file, before the frames."""

    path: Path
    version: int
    sensor_name: str
    intrinsic_color: np.ndarray
    extrinsic_color: np.ndarray
    intrinsic_depth: np.ndarray
    extrinsic_depth: np.ndarray
    color_compression: int
    depth_compression: int
    color_width: int
    color_height: int
    depth_width: int
    depth_height: int
    depth_shift: float
    num_frames: int
    frames_offset: int   # byte offset of the first frame

    @property
    def color_type(self) -> str:
        """Name of the colour compression type (as SensorData.py names it)."""
        return COLOR_TYPES.get(self.color_compression, f"undefined ({self.color_compression})")

    @property
    def depth_type(self) -> str:
        """Name of the depth compression type (as SensorData.py names it)."""
        return DEPTH_TYPES.get(self.depth_compression, f"undefined ({self.depth_compression})")

    def depth_intrinsics(self) -> tuple[float, float, float, float]:
        """[fx, fy, cx, cy] of the depth camera, at the depth resolution."""
        k = self.intrinsic_depth
        return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


@dataclass(frozen=True)
class FrameEntry:
    """Where one frame's data lie in the file, and its pose and timestamps."""

    index: int
    color_offset: int
    color_size: int
    depth_size: int
    camera_to_world: np.ndarray
    timestamp_color: int
    timestamp_depth: int


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    """n bytes or a SensError saying the file ends inside `what`."""
    data = f.read(n)
    if len(data) != n:
        raise SensError(f"{path}: file ends inside {what} (needed {n} bytes, got {len(data)}); truncated .sens file")
    return data


def read_header(path: Path) -> SensHeader:
    """Parse the header (everything before the first frame); compression types are not checked here."""
    path = Path(path)
    with open(path, "rb") as f:
        (version,) = struct.unpack("<I", _read_exact(f, 4, path, "the header"))
        if version != SENS_VERSION:
            raise SensError(f"{path}: .sens version is {version}; expected {SENS_VERSION} (is this a ScanNet "
                            f".sens file?)")
        (strlen,) = struct.unpack("<Q", _read_exact(f, 8, path, "the header"))
        if strlen > MAX_NAME:
            raise SensError(f"{path}: sensor name length {strlen} is implausible; not a ScanNet .sens file or corrupt")
        name = _read_exact(f, strlen, path, "the header").decode("utf-8", errors="replace")
        mats = np.frombuffer(_read_exact(f, 4 * 64, path, "the header"), "<f4").reshape(4, 4, 4).astype(np.float32)
        rest = _read_exact(f, 4 * 7 + 8, path, "the header")
        ctype, dtype_, cw, ch, dw, dh = struct.unpack("<iiIIII", rest[:24])
        (shift,) = struct.unpack("<f", rest[24:28])
        (num,) = struct.unpack("<Q", rest[28:36])
        offset = f.tell()
    return SensHeader(path, version, name, mats[0], mats[1], mats[2], mats[3], ctype, dtype_, cw, ch, dw, dh,
                      float(shift), int(num), offset)


def check_header(h: SensHeader) -> None:
    """Refuse what this tool cannot decode: unknown compression types, empty sizes, a bad depth_shift."""
    if h.color_compression not in SUPPORTED_COLOR:
        raise SensError(f"{h.path}: colour compression type {h.color_compression} ({h.color_type}) is not supported; "
                        f"this tool reads jpeg (2), png (1) and raw (0) colour")
    if h.depth_compression not in SUPPORTED_DEPTH:
        raise SensError(f"{h.path}: depth compression type {h.depth_compression} ({h.depth_type}) is not supported; "
                        f"this tool reads zlib_ushort (1) and raw_ushort (0) depth")
    if min(h.color_width, h.color_height, h.depth_width, h.depth_height) < 1:
        raise SensError(f"{h.path}: image sizes colour {h.color_width}x{h.color_height}, depth "
                        f"{h.depth_width}x{h.depth_height} (width x height); expected non-empty images")
    if not np.isfinite(h.depth_shift) or h.depth_shift <= 0:
        raise SensError(f"{h.path}: depth_shift is {h.depth_shift}; expected a positive factor (typically 1000)")
    if h.num_frames < 1:
        raise SensError(f"{h.path}: the file holds no frames (num_frames = 0)")


def index_frames(h: SensHeader) -> list[FrameEntry]:
    """Walk the frame headers (seeking over the image bytes): offsets, poses, timestamps; truncation named by frame."""
    size = h.path.stat().st_size
    out = []
    pos = h.frames_offset
    with open(h.path, "rb") as f:
        for i in range(h.num_frames):
            f.seek(pos)
            raw = f.read(FRAME_HEADER.size)
            if len(raw) != FRAME_HEADER.size:
                raise SensError(f"{h.path}: frame {i} of {h.num_frames}: the file ends inside the frame header at "
                                f"byte {pos + len(raw)}; truncated .sens file")
            vals = FRAME_HEADER.unpack(raw)
            ts_c, ts_d, csize, dsize = vals[16:]
            start = pos + FRAME_HEADER.size
            end = start + csize + dsize
            if end > size:
                raise SensError(f"{h.path}: frame {i} of {h.num_frames}: its colour and depth data "
                                f"({csize} + {dsize} bytes) end at byte {end} but the file has {size} bytes; "
                                f"truncated .sens file")
            out.append(FrameEntry(i, start, int(csize), int(dsize),
                                  np.asarray(vals[:16], np.float32).reshape(4, 4), int(ts_c), int(ts_d)))
            pos = end
    return out


# ------------------------------------------------------------------------------------------------ decoding

def decode_depth(data: bytes, h: SensHeader, index: int) -> np.ndarray:
    """uint16 (depth_height, depth_width) from a frame's depth bytes."""
    if h.depth_compression == 1:
        try:
            data = zlib.decompress(data)
        except zlib.error as err:
            raise SensError(f"{h.path}: frame {index}: depth is not valid zlib data ({err})") from None
    expected = h.depth_width * h.depth_height * 2
    if len(data) != expected:
        raise SensError(f"{h.path}: frame {index}: depth holds {len(data)} bytes; expected {expected} "
                        f"({h.depth_width}x{h.depth_height} uint16)")
    return np.frombuffer(data, "<u2").reshape(h.depth_height, h.depth_width)


def decode_color(data: bytes, h: SensHeader, index: int) -> np.ndarray:
    """uint8 RGB (color_height, color_width, 3) from a frame's colour bytes."""
    if h.color_compression == 0:
        expected = h.color_width * h.color_height * 3
        if len(data) != expected:
            raise SensError(f"{h.path}: frame {index}: raw colour holds {len(data)} bytes; expected {expected}")
        return np.frombuffer(data, np.uint8).reshape(h.color_height, h.color_width, 3)
    img = imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)   # BGR
    if img is None:
        raise SensError(f"{h.path}: frame {index}: colour is not a decodable {h.color_type} image "
                        f"({len(data)} bytes)")
    if img.shape[:2] != (h.color_height, h.color_width):
        raise SensError(f"{h.path}: frame {index}: colour image is {img.shape[1]}x{img.shape[0]}; the header says "
                        f"{h.color_width}x{h.color_height}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def depth_metres(raw: np.ndarray, depth_shift: float) -> np.ndarray:
    """float32 metres = raw / depth_shift; 0 stays 0 (no reading)."""
    return raw.astype(np.float32) / np.float32(depth_shift)


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


def _resize(arr: np.ndarray, hw: tuple[int, int], nearest: bool) -> np.ndarray:
    """arr at hw (H, W): nearest for depth and labels, area when shrinking colour, bilinear when enlarging."""
    h, w = hw
    if arr.shape[:2] == (h, w):
        return np.ascontiguousarray(arr)
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(arr, (w, h), interpolation=interp))


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to turn one frame into a sample."""

    header: SensHeader
    size: tuple[int, int]
    label_dir: Path | None
    lut: np.ndarray | None


def make_sample(job: Job, entry: FrameEntry, f=None) -> dict[str, np.ndarray]:
    """Read, decode and resize one frame (rgb, depth[, label]); f is an open handle on the .sens file, or None."""
    h = job.header
    own = f is None
    if own:
        f = open(h.path, "rb")
    try:
        f.seek(entry.color_offset)
        where = f"frame {entry.index} data"
        cbytes = _read_exact(f, entry.color_size, h.path, where)
        dbytes = _read_exact(f, entry.depth_size, h.path, where)
    finally:
        if own:
            f.close()
    rgb = decode_color(cbytes, h, entry.index)
    raw = decode_depth(dbytes, h, entry.index)
    sample = {"rgb": _resize(rgb, job.size, nearest=False),
              "depth": _resize(depth_metres(raw, h.depth_shift), job.size, nearest=True)}
    if job.label_dir is not None:
        sample["label"] = _resize(read_label(job.label_dir / f"{entry.index}.png", job.lut, entry.index), job.size,
                                  nearest=True)
    return sample


def _samples(job: Job, entries: list[FrameEntry], workers: int) -> Iterator[dict[str, np.ndarray]]:
    """Samples in frame order: here through one open file, or with workers > 1 in a spawn pool (bounded, at most 4
    frames per worker in flight; data_tools.common.ordered_map)."""
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


def convert(sens: Path, out: Path, *, every: int = 1, size: tuple[int, int] | None = None,
            labels: Path | None = None, label_map: Path | None = None, workers: int = 1, overwrite: bool = False,
            show_progress: bool = True, command: str | None = None) -> Report:
    """Convert every `every`-th frame of a .sens file into one paired file (atomically, with per-frame metadata)."""
    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
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
    header = read_header(sens)
    check_header(header)
    entries = index_frames(header)[::every]
    lut = read_label_map(label_map) if label_map is not None else None
    if labels is not None:
        missing = [e.index for e in entries if not (labels / f"{e.index}.png").is_file()]
        if missing:
            raise FileNotFoundError(f"--labels {labels}: {len(missing)} of the {len(entries)} kept frames have no "
                                    f"label PNG (first missing: {labels / f'{missing[0]}.png'}); label-filt holds "
                                    f"<frame index>.png -- choose --every to match the exported frames")
    check_outputs([out], overwrite)
    dh, dw = header.depth_height, header.depth_width
    hw = size or (dh, dw)
    intrinsics = header.depth_intrinsics()
    if hw != (dh, dw):
        intrinsics = camera.scale_intrinsics(intrinsics, (dh, dw), hw)
    attrs = {
        "intrinsics": np.array(intrinsics, np.float64),
        "every": int(every),
        "camera": f"ScanNet depth camera ({header.sensor_name or 'sensor name not recorded'})",
        "registration": REGISTRATION,
        "pairing": PAIRING,
        "sens_file": sens.name,
        "sensor_name": header.sensor_name,
        "depth_shift": float(header.depth_shift),
        "color_size": [int(header.color_height), int(header.color_width)],
        "depth_size": [int(dh), int(dw)],
        "intrinsic_color": _matrix_attr(header.intrinsic_color),
        "extrinsic_color": _matrix_attr(header.extrinsic_color),
        "intrinsic_depth": _matrix_attr(header.intrinsic_depth),
        "extrinsic_depth": _matrix_attr(header.extrinsic_depth),
        "color_compression": header.color_type,
        "depth_compression": header.depth_type,
    }
    if lut is not None:
        attrs["label_map"] = label_map.name
        attrs["nyu40_ids"] = np.arange(1, 41, dtype=np.int64)
    source = command or f"data_tools.scannet --sens {sens.name} --every {every}"
    specs = {"rgb": ((*hw, 3), np.uint8), "depth": (hw, np.float32)}
    if lut is not None:
        specs["label"] = (hw, np.uint8)
    mod_attrs = {"rgb": {"description": "ScanNet colour, " + REGISTRATION},
                 "depth": {"description": f"ScanNet depth, uint16 / depth_shift ({header.depth_shift:g}); "
                                          f"0 = no reading; not in-painted"}}
    if lut is not None:
        mod_attrs["label"] = {"description": f"label-filt ScanNet ids mapped to NYU-40 (id - 1) with "
                                             f"{label_map.name}; 0 / unmapped = 255", "folder": str(labels)}
    job = Job(header, hw, labels, lut)
    staged = staging_path(out)
    try:
        with PairedWriter(staged, len(entries), specs, class_names=list(NAMES_40) if lut is not None else None,
                          source=source, attrs=attrs, modality_attrs=mod_attrs) as writer:
            samples = _samples(job, entries, workers)
            rows = enumerate(samples)
            for i, sample in (progress(rows, len(entries), "scannet") if show_progress else rows):
                writer.write(i, sample)
        text = h5py.string_dtype("utf-8")
        with writing_h5(staged, "r+") as f:
            meta = {
                "frame_name": (np.array([str(e.index) for e in entries], dtype=text),
                               "frame index in the .sens file each row came from (label-filt <index>.png); "
                               "not a modality"),
                "camera_to_world": (np.stack([e.camera_to_world for e in entries]).astype(np.float32),
                                    "per-frame 4x4 camera-to-world pose from the .sens file (-inf = invalid)"),
                "timestamp": (np.array([[e.timestamp_color, e.timestamp_depth] for e in entries], np.uint64),
                              "[colour, depth] timestamps from the .sens file (typically microseconds)"),
            }
            for key, (arr, desc) in meta.items():
                f.create_dataset(key, data=arr)
                f[key].attrs["description"] = desc
        commit(staged, out, overwrite)
    finally:
        staged.unlink(missing_ok=True)
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
    p = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(DESCRIPTION, width=96),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m data_tools.scannet --sens scans/scene0000_00/scene0000_00.sens --every 10 \\\n"
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
                        "e.g. 240x320; default: the depth camera's size (480x640 in ScanNet)")
    p.add_argument("--workers", type=int_at_least(1), default=1,
                   help="decode with N processes (frames stay in order), e.g. --workers 2 (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert a .sens file; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.sens, args.out, every=args.every, size=args.size, labels=args.labels,
                  label_map=args.label_map, workers=args.workers, overwrite=args.overwrite,
                  show_progress=not args.quiet,
                  command=command_line("scannet", argv))
    for note in rep.notes:
        warn(PROG, note)
    print(f"wrote {rep.path} ({rep.num_samples} of {rep.num_frames} frames)", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
