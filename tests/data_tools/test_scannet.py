"""Tests for the ScanNet .sens converter: header, zlib depth / depth_shift, JPEG colour resized to depth, labels,
errors."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools.nyu_tables import NAMES_40
from data_tools.scannet import main
from data_tools.scannet_sens import index_frames, read_header

DH, DW = 24, 32        # depth camera
CH, CW = 36, 48        # colour camera
SHIFT = 1000.0
N = 5
K_DEPTH = np.array([[30.0, 0, 15.5, 0], [0, 31.0, 11.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float32)
K_COLOR = np.array([[45.0, 0, 23.5, 0], [0, 46.0, 17.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float32)


def depth_raw(k: int) -> np.ndarray:
    """A recognisable uint16 depth frame (millimetres at shift 1000) with a band of holes."""
    yy, xx = np.mgrid[0:DH, 0:DW]
    raw = (1000 + 37 * k + 7 * xx + 3 * yy).astype(np.uint16)
    raw[:, :3] = 0
    raw[0, 5] = 65535
    return raw


def color(k: int) -> np.ndarray:
    """Flat-coloured RGB frame (JPEG keeps flat colour nearly exact): red rises with k, blue is fixed."""
    img = np.zeros((CH, CW, 3), np.uint8)
    img[..., 0] = (40 + 30 * k) % 256
    img[..., 1] = 100
    img[..., 2] = 200
    return img


def jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes of an RGB image (as ScanNet stores colour)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def write_sens(path: Path, n: int = N, *, color_type: int = 2, depth_type: int = 1, name: bytes = b"StructureSensor",
               truncate: int = 0, bad_depth_frame: int = -1, stamps: list[tuple[int, int]] | None = None) -> Path:
    """A .sens file byte for byte as sensorData.h writes it (little-endian), plus the trailing IMU frame count."""
    out = bytearray()
    out += struct.pack("<I", 4) + struct.pack("<Q", len(name)) + name
    for m in (K_COLOR, np.eye(4, dtype=np.float32), K_DEPTH, np.eye(4, dtype=np.float32)):
        out += m.astype("<f4").tobytes()
    out += struct.pack("<iiIIIIf", color_type, depth_type, CW, CH, DW, DH, SHIFT)
    out += struct.pack("<Q", n)
    for k in range(n):
        pose = np.eye(4, dtype=np.float32)
        pose[0, 3] = k
        c = {0: color(k).tobytes(), 1: cv2.imencode(".png", cv2.cvtColor(color(k), cv2.COLOR_RGB2BGR))[1].tobytes(),
             2: jpeg(color(k))}.get(color_type, b"\0" * 16)
        d = depth_raw(k).astype("<u2").tobytes()
        d = zlib.compress(d) if depth_type == 1 else d
        d = b"not zlib data" if k == bad_depth_frame else d
        ts = stamps[k] if stamps is not None else (1000 + k, 2000 + k)
        out += pose.astype("<f4").tobytes() + struct.pack("<QQQQ", *ts, len(c), len(d)) + c + d
    out += struct.pack("<Q", 0)
    path.write_bytes(bytes(out[:len(out) - truncate]) if truncate else bytes(out))
    return path


def test_header_and_index(tmp_path: Path) -> None:
    h = read_header(write_sens(tmp_path / "s.sens"))
    assert (h.version, h.sensor_name, h.num_frames) == (4, "StructureSensor", N)
    assert (h.color_width, h.color_height, h.depth_width, h.depth_height) == (CW, CH, DW, DH)
    assert (h.color_type, h.depth_type, h.depth_shift) == ("jpeg", "zlib_ushort", SHIFT)
    np.testing.assert_array_equal(h.intrinsic_depth, K_DEPTH)
    np.testing.assert_array_equal(h.intrinsic_color, K_COLOR)
    assert h.depth_intrinsics() == (30.0, 31.0, 15.5, 11.5)
    frames = index_frames(h)
    assert [f.index for f in frames] == list(range(N))
    assert [f.timestamp_color for f in frames] == [1000 + k for k in range(N)]
    assert frames[3].camera_to_world[0, 3] == 3


def test_convert_depth_colour_intrinsics_every(tmp_path: Path) -> None:
    sens = write_sens(tmp_path / "scene0000_00.sens")
    out = tmp_path / "out.h5"
    assert main(["--sens", str(sens), "--out", str(out), "--every", "2", "--quiet"]) == 0
    info = read_info(out)
    assert info.num_samples == 3 and info.modalities == ("rgb", "depth")
    assert info.shapes["rgb"] == (DH, DW, 3) and info.shapes["depth"] == (DH, DW)
    np.testing.assert_allclose(info.attrs["intrinsics"], [30.0, 31.0, 15.5, 11.5])
    with h5py.File(out, "r") as f:
        assert [v.decode() if isinstance(v, bytes) else v for v in f["frame_name"][()]] == ["0", "2", "4"]
        for row, k in enumerate([0, 2, 4]):
            expected = depth_raw(k).astype(np.float32) / np.float32(SHIFT)
            np.testing.assert_array_equal(f["depth"][row], expected)
            decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg(color(k)), np.uint8), cv2.IMREAD_COLOR),
                                   cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(f["rgb"][row], cv2.resize(decoded, (DW, DH), interpolation=cv2.INTER_AREA))
            assert np.abs(f["rgb"][row].astype(int) - color(k)[:DH, :DW]).max() <= 3   # RGB order, not BGR
        assert f["depth"][0][0, 0] == 0.0 and f["depth"][0][0, 5] == np.float32(65.535)
        assert f["camera_to_world"].shape == (3, 4, 4) and f["camera_to_world"][2][0, 3] == 4
        np.testing.assert_array_equal(f["timestamp"][1], [1002, 2002])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no staging file left
    assert main(["--sens", str(sens), "--out", str(out), "--quiet"]) == 2    # exists, no --overwrite


def test_size_scales_intrinsics_and_workers(tmp_path: Path) -> None:
    sens = write_sens(tmp_path / "s.sens", n=3)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main(["--sens", str(sens), "--out", str(a), "--size", "12x16", "--quiet"]) == 0
    info = read_info(a)
    assert info.shapes["depth"] == (12, 16)
    np.testing.assert_allclose(info.attrs["intrinsics"], [15.0, 15.5, (15.5 + 0.5) / 2 - 0.5, (11.5 + 0.5) / 2 - 0.5])
    assert main(["--sens", str(sens), "--out", str(b), "--workers", "2", "--quiet"]) == 0
    with h5py.File(b, "r") as f:
        for k in range(3):
            np.testing.assert_array_equal(f["depth"][k], depth_raw(k).astype(np.float32) / np.float32(SHIFT))


def write_labels(folder: Path, frames: list[int]) -> Path:
    """label-filt PNGs at colour size: ScanNet id 1 (wall) left, 2 (chair) right, 0 top rows, 999 (unmapped) a patch."""
    folder.mkdir()
    for k in frames:
        lab = np.ones((CH, CW), np.uint16)
        lab[:, CW // 2:] = 2
        lab[:6] = 0
        lab[-6:, :6] = 999
        cv2.imwrite(str(folder / f"{k}.png"), lab)
    return folder


TSV = ("id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n"
       "1\twall\twall\t8277\t1\t12\twall\twall\n"
       "2\tchair\tchair\t4646\t5\t4\tchair\tchair\n"
       "3\tbooks\tbook\t1678\t23\t2\tbook\tbooks\n"
       "999\tthing\tthing\t1\t\t\t\t\n")


def test_labels_mapped_to_nyu40(tmp_path: Path) -> None:
    sens = write_sens(tmp_path / "s.sens", n=3)
    labels = write_labels(tmp_path / "label-filt", [0, 1, 2])
    tsv = tmp_path / "scannetv2-labels.combined.tsv"
    tsv.write_text(TSV)
    out = tmp_path / "l.h5"
    assert main(["--sens", str(sens), "--labels", str(labels), "--label-map", str(tsv), "--out", str(out),
                 "--quiet"]) == 0
    info = read_info(out)
    assert info.class_names == NAMES_40 and info.shapes["label"] == (DH, DW)
    with h5py.File(out, "r") as f:
        lab = f["label"][1]
    assert lab[10, 2] == 0 and lab[10, DW - 2] == 4           # wall -> 0, chair (nyu40 5) -> 4
    assert (lab[:4] == 255).all() and lab[-1, 0] == 255       # id 0 and unmapped id 999 -> ignore
    # without the tsv labels are refused, with a clear message; missing label files are named
    assert main(["--sens", str(sens), "--labels", str(labels), "--out", str(tmp_path / "x.h5"), "--quiet"]) == 2
    (labels / "2.png").unlink()
    assert main(["--sens", str(sens), "--labels", str(labels), "--label-map", str(tsv),
                 "--out", str(tmp_path / "y.h5"), "--quiet"]) == 2
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "y.h5").exists()


def test_raw_and_png_colour_raw_depth(tmp_path: Path) -> None:
    for color_type in (0, 1):
        sens = write_sens(tmp_path / f"c{color_type}.sens", n=2, color_type=color_type, depth_type=0)
        out = tmp_path / f"c{color_type}.h5"
        assert main(["--sens", str(sens), "--out", str(out), "--quiet"]) == 0
        with h5py.File(out, "r") as f:
            np.testing.assert_array_equal(f["depth"][1], depth_raw(1).astype(np.float32) / np.float32(SHIFT))
            np.testing.assert_array_equal(f["rgb"][1], color(1)[:DH, :DW])   # lossless flat colour, exact


@pytest.mark.parametrize("kind, kwargs, needle", [
    ("bad zlib", {"bad_depth_frame": 3}, "frame 3: depth is not valid zlib data"),
    ("depth", {"depth_type": 2}, "depth compression type 2 (occi_ushort)"),
    ("colour", {"color_type": 7}, "colour compression type 7"),
    ("truncated", {"truncate": 30}, "frame 4 of 5"),
])
def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture, kind: str, kwargs: dict, needle: str) -> None:
    sens = write_sens(tmp_path / "bad.sens", **kwargs)
    out = tmp_path / "o.h5"
    assert main(["--sens", str(sens), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err and "bad.sens" in err
    assert list(tmp_path.iterdir()) == [sens]


@pytest.mark.parametrize("stamps", [[(0, 0)] * N, [(5, 5), (5, 0), (99, 7), (1, 1), (0, 3)]])
def test_frames_pair_by_record_whatever_the_timestamps(tmp_path: Path, stamps: list[tuple[int, int]]) -> None:
    """Colour and depth come paired in each .sens frame: all-zero timestamps (common in ScanNet) or uninitialised,
    repeated and backward ones are kept as they are and change no pair; the file says how frames were paired."""
    out = tmp_path / "out.h5"
    assert main(["--sens", str(write_sens(tmp_path / "s.sens", stamps=stamps)), "--out", str(out), "--quiet"]) == 0
    info = read_info(out)
    assert info.num_samples == N and info.attrs["pairing"].startswith("frame record")
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["timestamp"][()], np.array(stamps, np.uint64))
        for k in range(N):
            np.testing.assert_array_equal(f["depth"][k], depth_raw(k).astype(np.float32) / np.float32(SHIFT))


def test_a_size_of_another_aspect_is_refused_unless_cropped_or_stretched(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    """--size 12x12 on a 24x32 depth camera: refused naming the .sens file, both sizes and the choices, nothing
    written. --aspect crop cuts depth columns 4..27 and the same field of view of the 36x48 colour and labels
    (columns 6..41: the unmapped patch in columns 0..5 goes), cx shifts by 4 then halves; --aspect stretch keeps
    everything (fx, cx scale by 12/32)."""
    sens = write_sens(tmp_path / "s.sens", n=2)
    labels = write_labels(tmp_path / "label-filt", [0, 1])
    tsv = tmp_path / "scannetv2-labels.combined.tsv"
    tsv.write_text(TSV)
    out = tmp_path / "sq.h5"
    base = ["--sens", str(sens), "--labels", str(labels), "--label-map", str(tsv), "--out", str(out), "--quiet",
            "--size", "12x12"]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "s.sens" in err and "24x32 (aspect 4:3)" in err, err
    assert "12x12 (aspect 1:1)" in err and "--aspect crop" in err and "--aspect stretch" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    assert main(base + ["--aspect", "crop"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "crop" and info.shapes["label"] == (12, 12)
    np.testing.assert_allclose(info.attrs["intrinsics"], [15.0, 15.5, 5.5, 5.5])
    with h5py.File(out, "r") as f:
        metres = depth_raw(1).astype(np.float32) / np.float32(SHIFT)
        np.testing.assert_array_equal(f["depth"][1], cv2.resize(metres[:, 4:28], (12, 12),
                                                                interpolation=cv2.INTER_NEAREST))
        assert (f["depth"][1] > 0).all() and (f["label"][1][-1] != 255).all()  # the hole band and 999 patch cut
        assert f["label"][1][-1, 0] == 0 and f["label"][1][-1, -1] == 4
    assert main(base + ["--aspect", "stretch", "--overwrite"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "stretch"
    np.testing.assert_allclose(info.attrs["intrinsics"], [11.25, 15.5, 5.5, 5.5])
    with h5py.File(out, "r") as f:
        assert (f["depth"][1][:, 0] == 0).all() and f["label"][1][-1, 0] == 255
