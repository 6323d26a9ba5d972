"""ROS message bytes for data_tools.rosbag: header stamps peeked, images decoded.

The header stamps are peeked from raw messages; Image and CompressedImage messages are decoded.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmodal.data.sensor_files import imdecode
from data_tools.frames import is_depth

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED)
# encoding -> (numpy dtype, channels); bgr/bgra are reordered to RGB for the source
ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4), "mono8": ("u1", 1),
    "mono16": ("u2", 1), "16UC1": ("u2", 1), "32FC1": ("f4", 1),
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONFIG_HEADER = 12  # compressed_depth_image_transport ConfigHeader: int32 format + float32 depthQuantA, depthQuantB


class BagError(ValueError):
    """Bad input from a bag: the message names the bag, the topic and what is wrong."""


# ------------------------------------------------------------------------------------------------ header bytes

class _Bytes:
    """A cursor over one serialised message, ROS 1 or CDR.

    ROS 1 messages are packed little-endian; CDR ones aligned, in either endianness.
    """

    def __init__(self, raw: bytes, cdr: bool) -> None:
        self.raw, self.cdr = memoryview(raw), cdr
        self.end = "<"
        self.pos = 0
        if cdr:
            if len(raw) < 4:
                raise struct.error("shorter than the CDR header")
            self.end = "<" if raw[1] & 1 else ">"
            self.raw, self.pos = self.raw[4:], 0

    def _align(self, n: int) -> None:
        if self.cdr:
            self.pos += -self.pos % n

    def u32(self) -> int:
        self._align(4)
        (v,) = struct.unpack_from(self.end + "I", self.raw, self.pos)
        self.pos += 4
        return v

    def i32(self) -> int:
        self._align(4)
        (v,) = struct.unpack_from(self.end + "i", self.raw, self.pos)
        self.pos += 4
        return v

    def string(self) -> str:
        n = self.u32()
        if n > len(self.raw) - self.pos:
            raise struct.error("string runs past the end of the message")
        text = bytes(self.raw[self.pos:self.pos + n])
        self.pos += n
        return text.rstrip(b"\0").decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Peek:
    """What the first pass keeps of one image message: header stamp (s), and size/encoding for raw images."""

    stamp: float
    height: int = 0
    width: int = 0
    encoding: str = ""


def peek(raw: bytes, msgtype: str, cdr: bool) -> Peek:
    """The header stamp and image description of one message, from its raw bytes.

    The description is the height, width and encoding of an Image, or the format of a CompressedImage.
    """
    b = _Bytes(raw, cdr)
    if not cdr:
        b.u32()  # seq
    sec = b.i32() if cdr else b.u32()
    nsec = b.u32()
    b.string()  # frame_id
    stamp = sec + nsec * 1e-9
    if msgtype == IMAGE:
        h, w = b.u32(), b.u32()
        return Peek(stamp, h, w, b.string())
    return Peek(stamp, encoding=b.string())


# ------------------------------------------------------------------------------------------------ decoding

@dataclass(frozen=True)
class Role:
    """One modality: its name, role (source/target), topic and value factor (targets)."""

    name: str
    role: str
    topic: str
    scale: float | None = None  # None: the encoding's default (0.001 for 16-bit depth, else 1)


def _where(role: Role, stamp: float) -> str:
    return f"topic {role.topic} ({role.name}), message stamped {stamp:.9f}"


def _image(msg: dict, role: Role, stamp: float) -> np.ndarray:
    """A sensor_msgs/Image as an (H, W) or (H, W, C) array in native byte order.

    Row padding is dropped and the endianness converted.
    """
    enc = msg["encoding"]
    if enc not in ENCODINGS:
        raise BagError(f"{_where(role, stamp)}: image encoding {enc!r} is not supported "
                       f"(supported: {', '.join(ENCODINGS)})")
    kind, c = ENCODINGS[enc]
    h, w, step = msg["height"], msg["width"], msg["step"]
    if h < 1 or w < 1:
        raise BagError(f"{_where(role, stamp)}: {enc} image is {h}x{w} pixels; expected at least 1x1")
    dtype = np.dtype(kind).newbyteorder(">" if msg["is_bigendian"] else "<")
    row = w * c * dtype.itemsize
    data = msg["data"]
    if step < row or len(data) < step * (h - 1) + row:
        raise BagError(f"{_where(role, stamp)}: {enc} image {h}x{w} with step {step} needs "
                       f"{step * (h - 1) + row} data bytes, message has {len(data)}")
    buf = np.frombuffer(data, np.uint8, count=min(len(data), step * h))
    if buf.size < step * h:
        buf = np.concatenate([buf, np.zeros(step * h - buf.size, np.uint8)])
    rows = buf.reshape(h, step)[:, :row]
    arr = np.ascontiguousarray(rows).view(dtype).reshape(h, w, c) if c > 1 else \
        np.ascontiguousarray(rows).view(dtype).reshape(h, w)
    arr = arr.astype(dtype.newbyteorder("="))
    if enc in ("bgr8", "bgra8"):
        arr = np.concatenate([arr[..., 2::-1], arr[..., 3:]], axis=2)
    return arr


def _compressed(msg: dict, role: Role, stamp: float) -> tuple[np.ndarray, str]:
    """A CompressedImage decoded: (array, encoding the values are in: rgb8/rgba8/mono8/16UC1/32FC1)."""
    fmt = msg["format"]
    data = np.frombuffer(msg["data"], np.uint8)
    low = fmt.lower()
    encoding = fmt.split(";")[0].strip()
    if "compresseddepth" in low:
        if "rvl" in low:
            raise BagError(f"{_where(role, stamp)}: CompressedImage format {fmt!r} (RVL) is not supported; "
                           f"record compressedDepth with png")
        if encoding not in ("16UC1", "32FC1"):
            raise BagError(f"{_where(role, stamp)}: compressedDepth format {fmt!r}: encoding {encoding!r} is not "
                           f"supported (16UC1 or 32FC1)")
        raw = bytes(msg["data"])
        if raw[CONFIG_HEADER:CONFIG_HEADER + 8] == PNG_MAGIC:
            quant_a, quant_b = struct.unpack_from("<ff", raw, 4)
            png = data[CONFIG_HEADER:]
        elif raw[:8] == PNG_MAGIC and encoding == "16UC1":  # very old drivers: no ConfigHeader
            quant_a = quant_b = 0.0
            png = data
        else:
            raise BagError(f"{_where(role, stamp)}: compressedDepth {fmt!r} data is not a ConfigHeader followed by a "
                           f"PNG image")
        img = imdecode(png)
        if img is None or img.dtype != np.uint16 or img.ndim != 2:
            raise BagError(f"{_where(role, stamp)}: compressedDepth {fmt!r}: the PNG does not decode to 16-bit grey")
        if encoding == "16UC1":
            return img, "16UC1"
        inv = img.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.float32(quant_a) / (inv - np.float32(quant_b))
        depth[img == 0] = np.nan
        return depth.astype(np.float32), "32FC1"
    if "jpeg" not in low and "jpg" not in low and "png" not in low:
        raise BagError(f"{_where(role, stamp)}: CompressedImage format {fmt!r} is not supported "
                       f"(jpeg, png or compressedDepth png)")
    img = imdecode(data)
    if img is None:
        raise BagError(f"{_where(role, stamp)}: CompressedImage ({fmt!r}) does not decode ({data.size} bytes)")
    if img.ndim == 3 and img.shape[2] == 3:
        return img[..., ::-1].copy(), "rgb8"
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[..., [2, 1, 0, 3]]), "rgba8"  # cvtColor refuses some depths (int8 TIFF)
    if img.dtype == np.uint16:
        return img, "16UC1" if encoding == "16UC1" else "mono16"
    if img.dtype == np.uint8:
        return img, "mono8"
    raise BagError(f"{_where(role, stamp)}: CompressedImage ({fmt!r}) decodes to {img.dtype} {img.shape}")


def message_fields(msg: Any, msgtype: str) -> dict:
    """The fields decode() needs from a deserialised Image / CompressedImage, as plain picklable values."""
    data = bytes(memoryview(msg.data))
    if msgtype == IMAGE:
        return {"type": IMAGE, "encoding": msg.encoding, "height": int(msg.height), "width": int(msg.width),
                "step": int(msg.step), "is_bigendian": bool(msg.is_bigendian), "data": data}
    return {"type": COMPRESSED, "format": msg.format, "data": data}


def decode(msg: dict, role: Role, stamp: float) -> tuple[np.ndarray, float]:
    """One message, given as plain fields, decoded as stored; and the factor applied to its raw values.

    The source becomes uint8 RGB with factor 1; a target float32 times its scale, 0 where there is no reading.
    """
    if msg["type"] == IMAGE:
        arr, enc = _image(msg, role, stamp), msg["encoding"]
    else:
        arr, enc = _compressed(msg, role, stamp)
    if role.role == "source":
        if arr.dtype != np.uint8:
            raise BagError(f"{_where(role, stamp)}: source images must be 8-bit colour or grey, got encoding {enc!r}")
        if arr.ndim == 2:
            return np.repeat(arr[..., None], 3, axis=2), 1.0
        return np.ascontiguousarray(arr[..., :3]), 1.0
    scale = role.scale if role.scale is not None else (0.001 if is_depth(role.name) and arr.dtype == np.uint16
                                                       else 1.0)
    out = (arr.astype(np.float64) * scale).astype(np.float32)
    out[~np.isfinite(out)] = 0.0  # depth drivers mark "no reading" with NaN
    return out, scale
