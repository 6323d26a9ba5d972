"""The ScanNet `.sens` file format, read as ScanNet's own reader reads it.

The reader is SensReader/python/SensorData.py and SensReader/src/sensorData.h, version 4; all little-endian:

    uint32 version (= 4); uint64 n + n bytes sensor name;
    float32[16] intrinsic_color, extrinsic_color, intrinsic_depth, extrinsic_depth (row-major 4x4);
    int32 color compression (-1 unknown, 0 raw, 1 png, 2 jpeg); int32 depth compression (-1 unknown, 0 raw_ushort,
    1 zlib_ushort, 2 occi_ushort); uint32 color_width, color_height, depth_width, depth_height; float32 depth_shift;
    uint64 num_frames; then per frame: float32[16] camera_to_world, uint64 timestamp_color, uint64 timestamp_depth,
    uint64 color_size_bytes, uint64 depth_size_bytes, the colour bytes, the depth bytes.
    (sensorData.h then writes uint64 num_imu_frames and the IMU frames; they are not read.)

Depth is uint16 (depth_height, depth_width); metres = value / depth_shift (typically 1000); 0 = no reading.
Header, frame index and per-frame decoding live here; data_tools.scannet turns frames into a paired file.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.data.sensor_files import imdecode

SENS_VERSION = 4
COLOR_TYPES = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
DEPTH_TYPES = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
SUPPORTED_COLOR = (0, 1, 2)
SUPPORTED_DEPTH = (0, 1)
MAX_NAME = 1 << 16           # a sensor name longer than this means the file is not a .sens file
FRAME_HEADER = struct.Struct("<16f4Q")  # camera_to_world, timestamp_color, timestamp_depth, color bytes, depth bytes


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


def read_exact(f, n: int, path: Path, what: str) -> bytes:
    """n bytes or a SensError saying the file ends inside `what`."""
    data = f.read(n)
    if len(data) != n:
        raise SensError(f"{path}: file ends inside {what} (needed {n} bytes, got {len(data)}); truncated .sens file")
    return data


def read_header(path: Path) -> SensHeader:
    """Parse the header (everything before the first frame); compression types are not checked here."""
    path = Path(path)
    with open(path, "rb") as f:
        (version,) = struct.unpack("<I", read_exact(f, 4, path, "the header"))
        if version != SENS_VERSION:
            raise SensError(f"{path}: .sens version is {version}; expected {SENS_VERSION} (is this a ScanNet "
                            f".sens file?)")
        (strlen,) = struct.unpack("<Q", read_exact(f, 8, path, "the header"))
        if strlen > MAX_NAME:
            raise SensError(f"{path}: sensor name length {strlen} is implausible; not a ScanNet .sens file or corrupt")
        name = read_exact(f, strlen, path, "the header").decode("utf-8", errors="replace")
        mats = np.frombuffer(read_exact(f, 4 * 64, path, "the header"), "<f4").reshape(4, 4, 4).astype(np.float32)
        rest = read_exact(f, 4 * 7 + 8, path, "the header")
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
