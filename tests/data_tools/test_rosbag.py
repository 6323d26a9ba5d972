"""Tests for data_tools.rosbag: tiny ROS 1 / ROS 2 (mcap, sqlite3) bags written with the rosbags writers."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_typestore

from crossmodal.data.h5format import read_info
from data_tools.associate import associate
from data_tools.rosbag import main

H, W = 16, 24
T0 = 1_700_000_000.0
RGB, DEPTH, THERMAL, INFO = "/cam/color", "/cam/depth", "/cam/thermal", "/cam/color/info"
IMAGE, COMPRESSED, CAMINFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"


class Bag:
    """Collects messages (topic, type, receive time, fields) and writes them as ROS 1 / ROS 2 mcap / sqlite3."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.store = get_typestore(Stores.ROS1_NOETIC if kind == "ros1" else Stores.ROS2_HUMBLE)
        self.msgs: list[tuple[float, str, str, object]] = []

    def _header(self, stamp: float):
        t = self.store.types
        sec = int(np.floor(stamp))
        time = t["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((stamp - sec) * 1e9)))
        if self.kind == "ros1":
            return t["std_msgs/msg/Header"](seq=0, stamp=time, frame_id="cam")
        return t["std_msgs/msg/Header"](stamp=time, frame_id="cam")

    def image(self, topic: str, recv: float, stamp: float, arr: np.ndarray, encoding: str,
              bigendian: bool = False, pad: int = 0) -> None:
        a = np.ascontiguousarray(arr)
        a = a.astype(a.dtype.newbyteorder(">" if bigendian else "<"))
        rows = a.reshape(a.shape[0], -1).view(np.uint8)
        if pad:
            rows = np.concatenate([rows, np.full((rows.shape[0], pad), 7, np.uint8)], axis=1)
        msg = self.store.types[IMAGE](header=self._header(stamp), height=a.shape[0], width=a.shape[1],
                                      encoding=encoding, is_bigendian=int(bigendian), step=rows.shape[1],
                                      data=np.ascontiguousarray(rows).ravel())
        self.msgs.append((recv, topic, IMAGE, msg))

    def compressed(self, topic: str, recv: float, stamp: float, fmt: str, data: bytes) -> None:
        msg = self.store.types[COMPRESSED](header=self._header(stamp), format=fmt,
                                           data=np.frombuffer(data, np.uint8))
        self.msgs.append((recv, topic, COMPRESSED, msg))

    def info(self, topic: str, recv: float, stamp: float, k: list[float], h: int = H, w: int = W) -> None:
        t = self.store.types
        roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        kw = dict(header=self._header(stamp), height=h, width=w, distortion_model="plumb_bob", binning_x=0,
                  binning_y=0, roi=roi)
        arrays = dict(D=np.zeros(5), K=np.array(k, float), R=np.eye(3).ravel(), P=np.zeros(12))
        kw.update({(n if self.kind == "ros1" else n.lower()): v for n, v in arrays.items()})
        self.msgs.append((recv, topic, CAMINFO, t[CAMINFO](**kw)))

    def write(self, path: Path) -> Path:
        """Write in receive-time order; returns the path to pass to --bag."""
        ros1 = self.kind == "ros1"
        if ros1:
            writer = Writer1(path)
        else:
            plugin = StoragePlugin.MCAP if self.kind.startswith("mcap") else StoragePlugin.SQLITE3
            writer = Writer2(path, version=9, storage_plugin=plugin)
        conns = {}
        with writer:
            for recv, topic, typ, msg in sorted(self.msgs, key=lambda m: m[0]):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, typ, typestore=self.store)
                data = self.store.serialize_ros1(msg, typ) if ros1 else self.store.serialize_cdr(msg, typ)
                writer.write(conns[topic], int(recv * 1e9), data)
        if self.kind.endswith("-file"):  # a bare .mcap / .db3 file
            return next(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        return path


def _rgb(k: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 256, (h, w, 3)).astype(np.uint8)


def _mm(k: int, h: int = H, w: int = W) -> np.ndarray:
    d = np.random.default_rng(1000 + k).integers(300, 5000, (h, w)).astype(np.uint16)
    d[0, :3] = 0
    return d


def _read(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        out = {k: f[k][...] for k in f.keys()}
        out["attrs"] = dict(f.attrs)
        out["mod"] = {k: dict(f[k].attrs) for k in f.keys()}
    return out


def _run(args: list, capsys=None) -> int:
    return main([str(a) for a in args] + ["--no-progress"])


def _no_output(folder: Path, out: Path) -> None:
    assert not out.exists()
    assert not [p for p in folder.iterdir() if "staging" in p.name or p.name.endswith(".tmp")]


def _recording(kind: str, n: int = 10) -> tuple[Bag, list[float], list[float]]:
    """rgb8 colour + 16UC1 depth (mm) with 7 ms latency, jittered receive times that reorder messages, drops."""
    bag = Bag(kind)
    rng = np.random.default_rng(5)
    s_stamps, t_stamps = [], []
    for i in range(n):
        s = T0 + 0.1 * i
        bag.image(RGB, s + 0.02 + rng.uniform(0, 0.25), s, _rgb(i), "rgb8")  # receive order != stamp order
        s_stamps.append(s)
        if i in (3, 7):
            continue  # depth frame dropped
        t = s + 0.007 + (0.015 if i == 5 else 0.0)  # frame 5: 22 ms apart -> no partner within 20 ms
        bag.image(DEPTH, t + 0.03 + rng.uniform(0, 0.25), t, _mm(i), "16UC1")
        t_stamps.append(t)
    bag.image(DEPTH, T0 + 5.0, T0 + 4.0, _mm(99), "16UC1")  # far away, no partner
    t_stamps.append(T0 + 4.0)
    bag.info(INFO, T0, T0, [20.0, 0, 11.5, 0, 21.0, 7.5, 0, 0, 1])
    bag.info(INFO, T0 + 1, T0 + 1, [99.0, 0, 1, 0, 99.0, 1, 0, 0, 1])
    return bag, s_stamps, t_stamps


@pytest.mark.parametrize("kind", ["ros1", "mcap", "sqlite-file"])
def test_pairs_by_header_stamp(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    bag, s_stamps, t_stamps = _recording(kind)
    path = bag.write(tmp_path / ("run.bag" if kind == "ros1" else "run"))
    out = tmp_path / "out.h5"
    rc = _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--camera-info", INFO,
               "--out", out])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "10 rgb frames in range, 7 paired with every target, 3 dropped" in printed
    expected = associate(s_stamps, t_stamps, 0.02).pairs
    assert [i for i, _ in expected] == [0, 1, 2, 4, 6, 8, 9]
    d = _read(out)
    info = read_info(out)
    assert info.num_samples == len(expected) and info.modalities == ("rgb", "depth")
    np.testing.assert_allclose(d["timestamp"] - T0, [[s_stamps[i] - T0, t_stamps[j] - T0] for i, j in expected],
                               rtol=0, atol=1e-6)
    for row, (i, j) in enumerate(expected):
        k = [0, 1, 2, 4, 5, 6, 8, 9][j] if j < 8 else 99  # depth stamp index -> frame number
        assert k == i
        np.testing.assert_array_equal(d["rgb"][row], _rgb(i))
        np.testing.assert_array_equal(d["depth"][row], (_mm(i).astype(np.float64) * 0.001).astype(np.float32))
    assert d["depth"].dtype == np.float32 and d["rgb"].dtype == np.uint8
    np.testing.assert_allclose(d["attrs"]["intrinsics"], [20.0, 21.0, 11.5, 7.5])
    assert list(d["attrs"]["modality_topics"]) == [f"rgb={RGB}", f"depth={DEPTH}"]
    assert list(d["attrs"]["bags"]) == [path.name]
    assert d["mod"]["depth"]["scale"] == pytest.approx(0.001)


def test_encodings_multi_target_every(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """bgr8 with row padding; 32FC1 big-endian with NaN and padding; mono16 big-endian x --scale; bare .mcap file."""
    bag = Bag("mcap-file")
    depths, thermals = {}, {}
    for i in range(6):
        s = T0 + 0.1 * i
        bag.image(RGB, s + 0.2 - 0.03 * i, s, _rgb(i)[..., ::-1], "bgr8", pad=5)
        d = (_mm(i) * 0.001).astype(np.float32)
        d[1, 1:4] = np.nan
        depths[i] = d
        bag.image(DEPTH, s + 0.01, s + 0.004, d, "32FC1", bigendian=True, pad=4)
        if i != 2:
            thermals[i] = np.random.default_rng(50 + i).integers(27000, 31000, (H, W)).astype(np.uint16)
            bag.image(THERMAL, s + 0.05, s - 0.006, thermals[i], "mono16", bigendian=True, pad=2)
    path = bag.write(tmp_path / "run")
    assert path.suffix == ".mcap"
    out = tmp_path / "out.h5"
    rc = _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--target",
               f"thermal={THERMAL}", "--scale", "thermal=0.01", "--every", "2", "--out", out])
    assert rc == 0, capsys.readouterr().err
    assert "6 rgb frames in range, 5 paired with every target, 1 dropped" in capsys.readouterr().out
    d = _read(out)
    kept = [0, 3, 5]  # paired frames 0, 1, 3, 4, 5; every 2nd
    assert d["rgb"].shape == (3, H, W, 3)
    for row, i in enumerate(kept):
        np.testing.assert_array_equal(d["rgb"][row], _rgb(i))
        np.testing.assert_array_equal(d["depth"][row], np.nan_to_num(depths[i], nan=0.0))
        np.testing.assert_allclose(d["thermal"][row], thermals[i] * 0.01, rtol=1e-6)
    assert d["depth"][0][1, 1] == 0.0
    assert d["thermal"].dtype == np.float32 and d["mod"]["thermal"]["scale"] == pytest.approx(0.01)


def _depth_header(quant_a: float = 0.0, quant_b: float = 0.0) -> bytes:
    return struct.pack("<iff", 0, quant_a, quant_b)


def test_compressed_images(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """png colour (exact), compressedDepth png 16UC1 and 32FC1 (inverse-depth quantised, as the ROS codec)."""
    bag = Bag("sqlite")
    q, dmax = 100.0, 10.0
    qa, qb = q * (q + 1.0), 1.0 - q * (q + 1.0) / dmax
    inv_expected = {}
    for i in range(3):
        s = T0 + 0.1 * i
        bag.compressed(RGB, s + 0.01, s, "rgb8; png compressed bgr8", cv2.imencode(".png", _rgb(i)[..., ::-1])[1]
                       .tobytes())
        bag.compressed(DEPTH, s + 0.02, s + 0.001, "16UC1; compressedDepth png",
                       _depth_header() + cv2.imencode(".png", _mm(i))[1].tobytes())
        metres = _mm(i) * 0.001
        inv = np.where(metres > 0, qa / np.maximum(metres, 1e-9) + qb, 0).astype(np.uint16)
        inv_expected[i] = np.where(inv > 0, qa / (inv.astype(np.float32) - np.float32(qb)), 0).astype(np.float32)
        bag.compressed("/cam/far", s + 0.02, s + 0.002, "32FC1; compressedDepth png",
                       _depth_header(qa, qb) + cv2.imencode(".png", inv)[1].tobytes())
    path = bag.write(tmp_path / "run")
    out = tmp_path / "out.h5"
    rc = _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--target",
               "far_depth=/cam/far", "--out", out])
    assert rc == 0, capsys.readouterr().err
    d = _read(out)
    for i in range(3):
        np.testing.assert_array_equal(d["rgb"][i], _rgb(i))
        np.testing.assert_allclose(d["depth"][i], _mm(i) * 0.001, rtol=1e-6)
        np.testing.assert_allclose(d["far_depth"][i], inv_expected[i], rtol=1e-5)
        np.testing.assert_allclose(d["far_depth"][i], _mm(i) * 0.001, atol=0.01)  # quantisation error
        assert (d["far_depth"][i][_mm(i) == 0] == 0).all()
    assert d["mod"]["depth"]["scale"] == pytest.approx(0.001) and d["mod"]["far_depth"]["scale"] == 1.0


def test_jpeg_resize_and_workers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """jpeg source at twice the depth size, --resize source, intrinsics rescaled; --workers 2 gives the same file."""
    bag = Bag("mcap")
    expected = {}
    for i in range(4):
        s = T0 + 0.1 * i
        big = cv2.resize(_rgb(i), (2 * W, 2 * H), interpolation=cv2.INTER_NEAREST)
        jpeg = cv2.imencode(".jpg", big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes()
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        expected[i] = cv2.resize(decoded, (W, H), interpolation=cv2.INTER_AREA)
        bag.compressed(RGB, s, s, "jpeg", jpeg)
        bag.image(DEPTH, s, s + 0.003, _mm(i), "16UC1")
    bag.info(INFO, T0, T0, [40.0, 0, 23.5, 0, 42.0, 15.5, 0, 0, 1], h=2 * H, w=2 * W)
    path = bag.write(tmp_path / "run")
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.h5"
        rc = _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--camera-info", INFO,
                   "--resize", "source", "--workers", workers, "--out", out])
        assert rc == 0, capsys.readouterr().err
        outs.append(_read(out))
    d = outs[0]
    assert d["rgb"].shape == (4, H, W, 3)
    for i in range(4):
        np.testing.assert_array_equal(d["rgb"][i], expected[i])
        np.testing.assert_array_equal(d["depth"][i], (_mm(i) * 0.001).astype(np.float32))
    np.testing.assert_allclose(d["attrs"]["intrinsics"], [20.0, 21.0, 11.5, 7.5])
    for k in ("rgb", "depth", "timestamp"):
        np.testing.assert_array_equal(outs[1][k], d[k])


def test_start_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag, _, _ = _recording("ros1")
    path = bag.write(tmp_path / "run.bag")
    out = tmp_path / "out.h5"
    assert _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--start", "0.15",
                 "--end", "0.65", "--out", out]) == 0
    assert "5 rgb frames in range, 3 paired" in capsys.readouterr().out  # frames 2..6; 3 and 5 unpaired
    np.testing.assert_allclose(_read(out)["timestamp"][:, 0] - T0, [0.2, 0.4, 0.6], rtol=0, atol=1e-6)


def _error(tmp_path: Path, capsys: pytest.CaptureFixture, bag_path: Path, *extra: str,
           target: str = f"depth={DEPTH}") -> str:
    out = tmp_path / "out.h5"
    rc = _run(["--bag", bag_path, "--source", f"rgb={RGB}", "--target", target, *extra, "--out", out])
    err = capsys.readouterr().err
    assert rc == 2, err
    _no_output(tmp_path, out)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    return lines[0]


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag, _, _ = _recording("ros1")
    good = bag.write(tmp_path / "good.bag")
    msg = _error(tmp_path, capsys, good, target="depth=/nope")
    assert "/nope" in msg and "not in the bag" in msg and f"{DEPTH} ({IMAGE})" in msg and INFO in msg
    msg = _error(tmp_path, capsys, good, target=f"depth={INFO}")
    assert INFO in msg and CAMINFO in msg and "expected" in msg
    msg = _error(tmp_path, capsys, good, "--camera-info", RGB)
    assert RGB in msg and CAMINFO in msg
    truncated = tmp_path / "trunc.bag"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    msg = _error(tmp_path, capsys, truncated)
    assert "trunc.bag" in msg and "cannot read" in msg
    msg = _error(tmp_path, capsys, tmp_path / "missing.bag")
    assert "missing.bag" in msg

    late = Bag("mcap")  # depth stamped 0.5 s after the colour: nothing within --max-dt
    for i in range(4):
        late.image(RGB, T0 + i, T0 + i, _rgb(i), "rgb8")
        late.image(DEPTH, T0 + i, T0 + i + 0.5, _mm(i), "16UC1")
    msg = _error(tmp_path, capsys, late.write(tmp_path / "late"))
    assert "median offset" in msg and "+0.5" in msg and "--max-dt" in msg

    odd = Bag("ros1")
    odd.image(RGB, T0, T0, _rgb(0), "rgb8")
    odd.image(DEPTH, T0, T0, _mm(0).view(np.uint8).reshape(H, W, 2), "yuv422")
    msg = _error(tmp_path, capsys, odd.write(tmp_path / "odd.bag"))
    assert "yuv422" in msg and DEPTH in msg

    resized = Bag("sqlite")
    for i in range(3):
        resized.image(RGB, T0 + i, T0 + i, _rgb(i), "rgb8")
        resized.image(DEPTH, T0 + i, T0 + i, _mm(i, *((H, W) if i < 2 else (8, 12))), "16UC1")
    msg = _error(tmp_path, capsys, resized.write(tmp_path / "resized"))
    assert "change size" in msg and DEPTH in msg and "8x12" in msg

    sizes = Bag("mcap")
    sizes.image(RGB, T0, T0, _rgb(0), "rgb8")
    sizes.image(DEPTH, T0, T0, _mm(0, 8, 12), "16UC1")
    msg = _error(tmp_path, capsys, sizes.write(tmp_path / "sizes"))
    assert "--resize" in msg

    cdepth = Bag("mcap")
    cdepth.image(RGB, T0, T0, _rgb(0), "rgb8")
    cdepth.compressed(DEPTH, T0, T0, "16UC1; compressedDepth rvl", b"\0" * 20)
    msg = _error(tmp_path, capsys, cdepth.write(tmp_path / "rvl"))
    assert "rvl" in msg and DEPTH in msg


def test_topics_split_over_two_bags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two ROS 1 bags (colour in one, depth in the other) are read together, merged by time."""
    colour, depth = Bag("ros1"), Bag("ros1")
    for i in range(3):
        colour.image(RGB, T0 + i, T0 + i, _rgb(i), "rgb8")
        depth.image(DEPTH, T0 + i + 0.01, T0 + i + 0.005, _mm(i), "mono16")
    a, b = colour.write(tmp_path / "a.bag"), depth.write(tmp_path / "b.bag")
    out = tmp_path / "out.h5"
    assert _run(["--bag", a, "--bag", b, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--out", out]) == 0
    d = _read(out)
    assert list(d["attrs"]["bags"]) == ["a.bag", "b.bag"]
    for i in range(3):
        np.testing.assert_array_equal(d["rgb"][i], _rgb(i))
        np.testing.assert_array_equal(d["depth"][i], (_mm(i) * 0.001).astype(np.float32))


def test_more_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A garbage .mcap, a truncated ROS 2 mcap, compressed images changing size, an existing output."""
    garbage = tmp_path / "junk.mcap"
    garbage.write_bytes(b"not a bag at all" * 10)
    assert "junk.mcap" in _error(tmp_path, capsys, garbage)

    bag, _, _ = _recording("mcap-file")
    full = bag.write(tmp_path / "full")
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    msg = _error(tmp_path, capsys, cut)
    assert "cut.mcap" in msg and "cannot read" in msg

    grows = Bag("mcap")
    for i in range(3):
        h, w = (H, W) if i < 2 else (2 * H, 2 * W)
        grows.compressed(RGB, T0 + i, T0 + i, "png", cv2.imencode(".png", _rgb(i, h, w))[1].tobytes())
        grows.image(DEPTH, T0 + i, T0 + i, _mm(i), "16UC1")
    msg = _error(tmp_path, capsys, grows.write(tmp_path / "grows"), "--resize", "target")
    assert "change size" in msg and RGB in msg

    out = tmp_path / "exists.h5"
    out.write_bytes(b"keep me")
    rc = _run(["--bag", full, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--out", out])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"


def test_interrupted_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import data_tools.rosbag as rosbag

    bag, _, _ = _recording("mcap")
    path = bag.write(tmp_path / "run")
    real, calls = rosbag.decode_frame, []

    def interrupt(job):
        calls.append(job[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(rosbag, "decode_frame", interrupt)
    out = tmp_path / "out.h5"
    assert _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--out", out]) == 130
    _no_output(tmp_path, out)
    assert "interrupted; nothing was written" in capsys.readouterr().err
    monkeypatch.setattr(rosbag, "decode_frame", real)
    assert "twice" in _error(tmp_path, capsys, path, target=f"depth={RGB}")
    assert "twice" in _error(tmp_path, capsys, path, target="rgb=/x")
    assert "--end" in _error(tmp_path, capsys, path, "--start", "2", "--end", "1")
    assert "not a --target" in _error(tmp_path, capsys, path, "--scale", "thermal=2")


def test_a_camera_matrix_without_focal_lengths_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A driver that never calibrated publishes K all zero: refused before anything is written, naming the topic."""
    bag, _, _ = _recording("ros2")
    bag.msgs = [m for m in bag.msgs if m[1] != INFO]
    bag.info(INFO, T0, T0, [0.0] * 9)
    msg = _error(tmp_path, capsys, bag.write(tmp_path / "uncalibrated"), "--camera-info", INFO)
    assert INFO in msg and "positive focal lengths" in msg and "K = [0.0" in msg



def _stamped(stamps: list[float]) -> Bag:
    """A ROS 2 bag whose colour and depth header stamps are `stamps` (received in that order, 10 ms apart)."""
    bag = Bag("mcap")
    for i, s in enumerate(stamps):
        recv = T0 + 0.01 * i
        bag.image(RGB, recv, s, _rgb(i), "rgb8")
        bag.image(DEPTH, recv + 0.001, s + 0.002 if s else 0.0, _mm(i), "16UC1")
    return bag


@pytest.mark.parametrize("stamps, words", [
    ([0.0] * 8, ["8 of 8 header stamps are zero", "message 0", "does not stamp"]),
    ([T0 + 0.1 * (i // 2) for i in range(8)], ["4 of 8 header stamps repeat an earlier stamp", "message 1"]),
    ([T0 + 0.1 * i for i in range(5)] + [T0 - 0.6 + 0.1 * i for i in range(3)],
     ["3 of 8 header stamps go back in time", "message 5", "clock that jumped back"]),
])
def test_bad_header_stamps_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture, stamps, words) -> None:
    """Bad header stamps are refused before anything is written.

    A driver that does not stamp, stamps frames alike, or whose clock jumps back 1 s: pairing by such stamps pairs
    frames by accident. The message names the topic, the count and the first message.
    """
    msg = _error(tmp_path, capsys, _stamped(stamps).write(tmp_path / "bad"))
    assert RGB in msg and all(w in msg for w in words), msg


def test_the_same_bag_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag, _, _ = _recording("ros1")
    path = bag.write(tmp_path / "run.bag")
    msg = _error(tmp_path, capsys, path, "--bag", str(tmp_path / "." / "run.bag"))
    assert "given twice" in msg and "run.bag" in msg


def _same_time(kind: str, start: float, n: int = 10) -> Bag:
    """Colour and depth at 10 Hz from `start` (depth 3 ms later), received as stamped."""
    bag = Bag(kind)
    for i in range(n):
        s = start + 0.1 * i
        bag.image(RGB, s + 0.01, s, _rgb(i), "rgb8")
        bag.image(DEPTH, s + 0.012, s + 0.003, _mm(i), "16UC1")
    return bag


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_bags_that_overlap_in_time_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture, kind: str) -> None:
    """Bags that overlap in time are refused, naming both bags, the topic and the overlap.

    The same recording under two names, and two recordings of the same stretch of time, would interleave; nothing is
    written.
    """
    ext = ".bag" if kind == "ros1" else ""
    bag = _same_time(kind, T0)
    a, b = bag.write(tmp_path / f"a{ext}"), bag.write(tmp_path / f"copy{ext}")
    msg = _error(tmp_path, capsys, a, "--bag", str(b))
    assert f"--bag {a} and --bag {b} overlap in time" in msg and f"topic {RGB} (rgb)" in msg
    assert f"from {T0:.9f} to {T0 + 0.9:.9f} (0.900 s)" in msg and "Convert each separately" in msg

    later = _same_time(kind, T0 + 0.3).write(tmp_path / f"later{ext}")  # overlaps by 6 frame periods
    msg = _error(tmp_path, capsys, a, "--bag", str(later))
    assert f"--bag {a} and --bag {later} overlap in time" in msg and "(0.600 s)" in msg


def test_a_recording_split_in_two_bags_is_not_an_overlap(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A recording split in two bags is not an overlap.

    Split bags follow each other; a message stamped just before the split but received after it, within 5 frame
    periods, is transport jitter.
    """
    first, second = _same_time("ros1", T0, 5), _same_time("ros1", T0 + 0.5, 5)
    first.msgs = [m for m in first.msgs if not (m[1] == DEPTH and m[0] > T0 + 0.4)]
    second.image(DEPTH, T0 + 0.5, T0 + 0.403, _mm(4), "16UC1")  # stamped in the first bag's time, received late
    a, b = first.write(tmp_path / "run_0.bag"), second.write(tmp_path / "run_1.bag")
    out = tmp_path / "out.h5"
    assert _run(["--bag", a, "--bag", b, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--out", out]) == 0
    np.testing.assert_allclose(_read(out)["timestamp"][:, 0] - T0, 0.1 * np.arange(10), rtol=0, atol=1e-6)


def test_pair_by_receive_time_for_a_driver_without_stamps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A driver without stamps: refused by default, paired by receive time on request.

    With header stamps all zero the refusal names --pair-by receive. With --pair-by receive the frames pair by the
    bag's receive times, the header-stamp check only warns, and the file says how it was paired.
    """
    bag = Bag("mcap")
    for i in range(6):
        recv = T0 + 0.1 * i
        bag.image(RGB, recv, 0.0, _rgb(i), "rgb8")
        bag.image(DEPTH, recv + 0.004, 0.0, _mm(i), "16UC1")
    path = bag.write(tmp_path / "unstamped")
    msg = _error(tmp_path, capsys, path)
    assert "6 of 6 header stamps are zero" in msg and "--pair-by receive" in msg
    out = tmp_path / "out.h5"
    rc = _run(["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", "--pair-by", "receive",
               "--out", out])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    warnings = [line for line in captured.err.splitlines() if "warning:" in line]
    assert len(warnings) == 2 and all("6 of 6 header stamps are zero" in w and "pairing by receive time" in w
                                      for w in warnings)
    assert f"topic {RGB}" in warnings[0] and f"topic {DEPTH}" in warnings[1]
    d = _read(out)
    assert d["attrs"]["pair_by"] == "receive" and d["attrs"]["pairing"].startswith("bag receive times")
    np.testing.assert_allclose(d["timestamp"] - T0, [[0.1 * i, 0.1 * i + 0.004] for i in range(6)], rtol=0,
                               atol=1e-6)
    for i in range(6):
        np.testing.assert_array_equal(d["rgb"][i], _rgb(i))
        np.testing.assert_array_equal(d["depth"][i], (_mm(i) * 0.001).astype(np.float32))
    header = tmp_path / "header.h5"
    assert _run(["--bag", _same_time("mcap", T0).write(tmp_path / "stamped"), "--source", f"rgb={RGB}",
                 "--target", f"depth={DEPTH}", "--out", header]) == 0
    assert _read(header)["attrs"]["pair_by"] == "header"


def test_rates_gaps_and_pairing_offsets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Rates, gaps and pairing offsets are in the summary and the root attributes.

    Colour at 30 Hz, depth at 15 Hz 2 ms later with one frame dropped, a 133 ms hole: 15 colour frames lack a partner
    by the rate difference and 1 by the drop.
    """
    bag = Bag("ros1")
    for i in range(30):
        bag.image(RGB, T0 + i / 30 + 0.01, T0 + i / 30, _rgb(i), "rgb8")
    for k in range(15):
        if k != 7:
            bag.image(DEPTH, T0 + k / 15 + 0.012, T0 + k / 15 + 0.002, _mm(k), "16UC1")
    out = tmp_path / "out.h5"
    assert _run(["--bag", bag.write(tmp_path / "run.bag"), "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}",
                 "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "30 rgb frames in range, 14 paired with every target, 16 dropped" in printed
    assert (f"rates: rgb 30.00 Hz, no gaps; depth 15.00 Hz, 1 gap (longest 0.133 s after stamp "
            f"{T0 + 6 / 15 + 0.002:.6f})") in printed
    assert ("depth: 15 rgb frames without a partner by the rate difference, 1 for drops, gaps or offsets beyond "
            "--max-dt 0.02 s; offset depth - rgb median +0.002000 s, 95th percentile |offset| 0.002000 s") in printed
    a = _read(out)["attrs"]
    assert list(a["stamp_modalities"]) == ["rgb", "depth"]
    np.testing.assert_allclose(a["median_rate_hz"], [30.0, 15.0], rtol=1e-5)
    assert list(a["gap_count"]) == [0, 1]
    np.testing.assert_allclose(a["longest_gap_s"], [1 / 30, 2 / 15], rtol=0, atol=1e-6)
    assert a["longest_gap_after"][1] == pytest.approx(T0 + 6 / 15 + 0.002, abs=1e-6)
    assert list(a["unpaired_by_rate"]) == [0, 15] and list(a["unpaired_other"]) == [0, 1]
    np.testing.assert_allclose(a["pair_offset_median_s"], [0.0, 0.002], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a["pair_offset_p95_s"], [0.0, 0.002], rtol=0, atol=1e-6)


def _wide_depth_bag(info_hw: tuple[int, int], zero_frame: int | None = None) -> Bag:
    """4:3 colour (24x32) with an unregistered 16:9 depth topic (18x32, millimetres); CameraInfo K for info_hw."""
    bag = Bag("mcap")
    for i in range(3):
        s = T0 + 0.1 * i
        bag.image(RGB, s, s, _rgb(i, 24, 32), "rgb8")
        bag.image(DEPTH, s, s + 0.002, _mm(i, 18, 32) * (i != zero_frame), "16UC1")
    bag.info(INFO, T0, T0, [30.0, 0, 15.5, 0, 31.0, 8.5, 0, 0, 1], h=info_hw[0], w=info_hw[1])
    return bag


def test_a_16_9_depth_topic_with_4_3_colour_is_refused_cropped_or_stretched(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _wide_depth_bag((18, 32), zero_frame=2).write(tmp_path / "wide")  # K of the depth camera (18x32)
    opts = ["--camera-info", INFO, "--resize", "target"]
    msg = _error(tmp_path, capsys, path, *opts)
    assert "18x32 (aspect 16:9)" in msg and "24x32 (aspect 4:3)" in msg and DEPTH in msg
    assert "--aspect crop" in msg and "--aspect stretch" in msg and "/camera/aligned_depth_to_color/image_raw" in msg
    metres = (_mm(0, 18, 32) * 0.001).astype(np.float32)
    out = tmp_path / "crop.h5"
    argv = ["--bag", path, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", *opts, "--out", out]
    assert _run(argv + ["--aspect", "crop"]) == 0
    d = _read(out)
    np.testing.assert_array_equal(d["depth"][0], cv2.resize(metres[:, 4:28], (32, 24), interpolation=cv2.INTER_NEAREST))
    s = 32 / 24  # the 18x24 window (4 columns off the left) scaled to 24x32
    np.testing.assert_allclose(d["attrs"]["intrinsics"], [30 * s, 31 * s, (15.5 - 4 + 0.5) * s - 0.5,
                                                          (8.5 + 0.5) * s - 0.5])
    assert d["attrs"]["aspect"] == "crop" and d["attrs"]["resize"] == "target"
    printed = capsys.readouterr().out
    assert f"all-zero 1: frame 2 ('{T0 + 0.2:.9f}')" in printed and "'depth'" in printed  # named, not refused
    assert _run(argv + ["--aspect", "stretch", "--overwrite"]) == 0
    d = _read(out)
    np.testing.assert_array_equal(d["depth"][0], cv2.resize(metres, (32, 24), interpolation=cv2.INTER_NEAREST))
    np.testing.assert_allclose(d["attrs"]["intrinsics"], [30.0, 31 * 24 / 18, 15.5, (8.5 + 0.5) * 24 / 18 - 0.5])
    assert d["attrs"]["aspect"] == "stretch"
    colour_k = _wide_depth_bag((24, 32)).write(tmp_path / "colour_k")  # K of the colour camera: kept as it is
    assert _run(["--bag", colour_k, "--source", f"rgb={RGB}", "--target", f"depth={DEPTH}", *opts, "--aspect", "crop",
                 "--out", tmp_path / "k.h5"]) == 0
    np.testing.assert_allclose(_read(tmp_path / "k.h5")["attrs"]["intrinsics"], [30.0, 31.0, 15.5, 8.5])


def test_millimetre_depth_with_scale_1_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag, _, _ = _recording("ros1")
    path = bag.write(tmp_path / "run.bag")
    msg = _error(tmp_path, capsys, path, "--scale", "depth=1")
    assert DEPTH in msg and "'depth'" in msg and "median depth" in msg and "millimetres" in msg
    assert "--scale depth=0.001 (now 1)" in msg and "nothing written" in msg


def test_camera_info_for_images_of_another_aspect_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag = Bag("ros1")
    for i in range(3):
        bag.image(RGB, T0 + 0.1 * i, T0 + 0.1 * i, _rgb(i), "rgb8")
        bag.image(DEPTH, T0 + 0.1 * i, T0 + 0.1 * i, _mm(i), "16UC1")
    bag.info(INFO, T0, T0, [30.0, 0, 15.5, 0, 31.0, 8.5, 0, 0, 1], h=18, w=32)  # 16:9, the frames are 16x24 (3:2)
    msg = _error(tmp_path, capsys, bag.write(tmp_path / "run.bag"), "--camera-info", INFO)
    assert INFO in msg and "18x32 (aspect 16:9)" in msg and f"{H}x{W} (aspect 3:2)" in msg and "another camera" in msg
