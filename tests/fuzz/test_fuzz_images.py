"""Fuzzing the frame readers of the data tools (and of crossmodal-predict): random bytes, cut or corrupted PNG,
JPEG, TIFF, BMP and .npy files, images of odd dtypes, channel counts and sizes, PNG headers claiming any size, NYU
raw PGM/PPM dumps and ROS image messages. Each reader either returns an array of the kind it promises or raises
its tool's error naming the file (or topic); never another exception type, a crash or a hang."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
from fuzz_support import FUZZ, check_error, no_hang
from hypothesis import example, given
from hypothesis import strategies as st

from crossmodal.data import sensor_files
from crossmodal.data.h5format import FormatError
from crossmodal.deploy.frames import _peek_size
from data_tools import lab, nyu_raw, scannet, sunrgbd_frames, tum
from data_tools.ros_messages import COMPRESSED, ENCODINGS, IMAGE, BagError, Role, decode

SUFFIXES = (".png", ".jpg", ".tif", ".bmp", ".npy")
LUT = np.arange(65536, dtype=np.int64).astype(np.uint8)  # scannet.read_label's id table: any ids map somewhere


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    """A PNG with a valid signature and CRCs but any IHDR values (sizes up to 2^31 - 1) and any IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(idat))
            + _png_chunk(b"IEND", b""))


@st.composite
def encoded(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real image file (any dtype / channels / size the format stores) or .npy array, as (suffix, bytes)."""
    suffix = draw(st.sampled_from(SUFFIXES))
    dtype = draw(st.sampled_from(["u1", "u2", "f4", "i1", "i2", "f8", "?", "c8"]))
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6))) + draw(st.sampled_from([(), (1,), (2,), (3,), (4,)]))
    fill = draw(st.sampled_from([0, 1, 255, 65535, -1, np.nan, np.inf, 1e9]))
    with np.errstate(invalid="ignore", over="ignore"):
        arr = np.full(shape, fill).astype(dtype)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, draw(st.sampled_from([arr, arr.ravel(), arr[None, ..., None], arr.ravel()[0], arr[:0]])))
        return suffix, buf.getvalue()
    try:
        ok, data = cv2.imencode(suffix, arr)
    except cv2.error:
        ok = False
    return (suffix, data.tobytes()) if ok else (suffix, b"")


@st.composite
def files(draw: st.DrawFn) -> tuple[str, bytes]:
    """Any frame file: random bytes, a real image or array, a PNG header of any size; then maybe cut and flipped."""
    suffix, data = draw(st.one_of(
        st.tuples(st.sampled_from(SUFFIXES), st.binary(max_size=300)),
        encoded(),
        st.tuples(st.just(".png"), st.builds(png_header, st.integers(0, 2**31 - 1) | st.integers(0, 8),
                                             st.integers(0, 2**31 - 1) | st.integers(0, 8),
                                             st.sampled_from([1, 2, 4, 8, 16, 3]), st.sampled_from([0, 2, 3, 4, 6, 5]),
                                             st.binary(max_size=64)))))
    raw = bytearray(data)
    if raw and draw(st.booleans()):
        for where, xor in draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                        max_size=4)):
            raw[int(where * len(raw))] ^= xor
        raw = raw[: int(draw(st.floats(0, 1)) * len(raw))]
    return suffix, bytes(raw)


def _expect(arr: np.ndarray, ndim: tuple[int, ...], dtype: object = None) -> None:
    """What a reader returned on success is a non-empty array of the promised rank (and dtype)."""
    assert isinstance(arr, np.ndarray) and arr.size > 0 and arr.ndim in ndim, (type(arr), getattr(arr, "shape", None))
    assert dtype is None or arr.dtype == dtype, arr.dtype


def _pairs_reader(path: Path) -> None:
    """data_tools.pairs / crossmodal-predict: read the file, then turn it into a source, target and label frame."""
    arr = sensor_files.read_file(path)
    _expect(arr, (2, 3))
    for convert in (lambda a: sensor_files.to_source(a, path), lambda a: sensor_files.to_target(a, path, 0.001, False),
                    lambda a: sensor_files.to_label(a, path, 40)):
        try:
            convert(arr)
        except FormatError as err:
            check_error(err, (FormatError,), str(path))


# name -> (reader, error types the tool documents); each gets every fuzzed file.
READERS: dict[str, tuple[Callable[[Path], object], tuple[type[BaseException], ...]]] = {
    "pairs/predict read_file": (_pairs_reader, (FormatError,)),
    "predict _peek_size": (lambda p: _peek_size(p), (FormatError,)),
    "tum read_rgb": (lambda p: _expect(tum.read_rgb(p), (3,), np.uint8), (FormatError,)),
    "tum read_depth": (lambda p: _expect(tum.read_depth(p), (2,), np.float32), (FormatError,)),
    "sunrgbd image_size": (lambda p: sunrgbd_frames.image_size(p), (FormatError,)),
    "sunrgbd read_rgb": (lambda p: _expect(sunrgbd_frames.read_rgb(p), (3,), np.uint8), (FormatError,)),
    "sunrgbd read_depth": (lambda p: _expect(sunrgbd_frames.read_depth(p), (2,), np.float32), (FormatError,)),
    "sunrgbd read_label": (lambda p: _expect(sunrgbd_frames.read_label(p), (2,), np.uint8), (FormatError,)),
    "scannet read_label": (lambda p: _expect(scannet.read_label(p, LUT, 7), (2,), np.uint8), (FormatError,)),
    "lab read_image": (lambda p: _expect(lab.read_image(p), (3,), np.uint8), (ValueError,)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@FUZZ
@given(file=files())
@example(file=(".png", png_header(50000, 50000, 8, 2, b"")))  # more pixels than OpenCV and Pillow open (found)
@example(file=(".png", b""))
@example(file=(".npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (), |" + b" " * 62
               + b"\n\x00"))  # found: a corrupt .npy header gave tokenize.TokenError
@example(file=(".tif", cv2.imencode(".tif", np.zeros((2, 2, 4), np.int8))[1].tobytes()))  # found: cvtColor's cv2.error
def test_image_readers(tmp_path_factory: pytest.TempPathFactory, reader: str, file: tuple[str, bytes]) -> None:
    """One reader on any frame file: a promised array, or its tool's error naming the file."""
    suffix, data = file
    path = tmp_path_factory.mktemp("img") / f"frame{suffix}"
    path.write_bytes(data)
    fn, allowed = READERS[reader]
    with no_hang(f"{reader} on {len(data)} bytes"):
        try:
            fn(path)
        except Exception as err:  # noqa: BLE001 - the check re-raises anything but the tool's errors
            check_error(err, allowed, str(path))


# --------------------------------------------------------------------------------------------- NYU raw dumps

@st.composite
def pnm(draw: st.DrawFn) -> bytes:
    """A PGM/PPM dump: right or wrong magic, sizes, maxval, comments, whitespace and payload length."""
    magic = draw(st.sampled_from([b"P5", b"P6", b"P2", b"", b"P"]))
    nums = [draw(st.sampled_from([nyu_raw.W, nyu_raw.H, 255, 65535, 0, 10**30]) | st.integers(0, 99999))
            for _ in range(draw(st.integers(0, 4)))]
    seps = st.sampled_from([b" ", b"\n", b"\t", b"\r\n", b"  # comment\n", b"#", b"x", b""])
    header = magic + b"".join(draw(seps) + str(n).encode() for n in nums) + draw(seps)
    if magic == b"P5":
        size = nyu_raw.DEPTH_PAYLOAD
    elif magic == b"P6":
        size = nyu_raw.RGB_PAYLOAD
    else:
        size = 16
    size = draw(st.sampled_from([size, size - 1, size + 1, 0, 7]))
    fill = draw(st.sampled_from([b"\x00", b"\xff", b"\x07", b"\x01\x00"]))
    return header + (fill * size)[:size]


@FUZZ
@given(data=pnm() | st.binary(max_size=120))
def test_nyu_raw_decoders(data: bytes) -> None:
    """decode_depth / decode_rgb on any dump: the NYU frame, or BadFrame naming it."""
    where = "scene_0001/d-1.0-1.pgm"
    for fn, ndim in ((nyu_raw.decode_depth, 2), (nyu_raw.decode_rgb, 3)):
        with no_hang(f"{fn.__name__} on {len(data)} bytes"):
            try:
                out = fn(data, where)
            except Exception as err:  # noqa: BLE001 - the check re-raises anything but the tool's errors
                check_error(err, (nyu_raw.BadFrame,), where)
                continue
        _expect(out[0] if isinstance(out, tuple) else out, (ndim,))


# ------------------------------------------------------------------------------------------- ROS image messages

compressed = st.fixed_dictionaries({
    "type": st.just(COMPRESSED),
    "format": st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth png",
                               "32FC1; compressedDepth png", "16UC1; compressedDepth rvl", "8UC3; compressedDepth png",
                               "bmp", ""]),
    "data": st.one_of(files().map(lambda f: f[1]),
                      st.tuples(st.binary(min_size=12, max_size=12), encoded()).map(lambda t: t[0] + t[1][1]))})
raw_image = st.fixed_dictionaries({
    "type": st.just(IMAGE), "encoding": st.sampled_from([*ENCODINGS, "yuv422", "8UC3", ""]),
    "height": st.integers(0, 6), "width": st.integers(0, 6), "step": st.integers(0, 40),
    "is_bigendian": st.booleans(), "data": st.binary(max_size=200)})
roles = st.sampled_from([Role("rgb", "source", "/camera/rgb"), Role("depth", "target", "/camera/depth"),
                         Role("depth", "target", "/camera/depth", 0.001), Role("thermal", "target", "/lwir")])


@FUZZ
@given(msg=compressed | raw_image, role=roles)
@example(msg={"type": COMPRESSED, "format": "jpeg", "data": b""}, role=Role("rgb", "source", "/c"))  # found
@example(msg={"type": IMAGE, "encoding": "rgb8", "height": 0, "width": 0, "step": 0, "is_bigendian": False,
              "data": b""}, role=Role("rgb", "source", "/c"))  # found: a 0x0 image was returned
def test_ros_messages(msg: dict, role: Role) -> None:
    """A bag's Image / CompressedImage message with any fields and bytes: the frame, or BagError naming the topic."""
    with no_hang(f"decode {msg['type']}"):
        try:
            arr, _ = decode(msg, role, 12.5)
        except Exception as err:  # noqa: BLE001 - the check re-raises anything but the tool's errors
            check_error(err, (BagError,), role.topic)
            return
    if role.role == "source":
        _expect(arr, (3,), np.uint8)
        assert arr.shape[2] == 3
    else:
        _expect(arr, (2, 3), np.float32)
