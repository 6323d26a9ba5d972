"""docs/recordings.md: its bag conversion command, verbatim, on two tiny ROS 2 bags with the RealSense topics it
names, writes the file configs/robot_example.yaml reads, with pairs, metres and intrinsics."""
from __future__ import annotations

import re
import shlex

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from conftest import REPO
from crossmodal.config import load_config
from crossmodal.data.h5format import read_info
from data_tools import rosbag

GUIDE = REPO / "docs" / "recordings.md"
COLOR, DEPTH, INFO = ("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                      "/camera/color/camera_info")
H, W, FRAMES = 24, 32, 10


def _command() -> str:
    block = re.search(r"```bash\n(python -m data_tools\.rosbag .*?)```", GUIDE.read_text(), re.S)
    assert block, "docs/recordings.md lost its data_tools.rosbag command"
    return block.group(1).replace("\\\n", " ")


def _write_bag(path, t0: float) -> None:
    """FRAMES colour (rgb8) + depth (16UC1 mm, 5 ms later) messages and one CameraInfo, ROS 2 MCAP."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    t = store.types

    def header(stamp: float):
        sec = int(stamp)
        return t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](
            sec=sec, nanosec=int(round((stamp - sec) * 1e9))), frame_id="camera_color_optical_frame")

    def image(stamp: float, arr: np.ndarray, encoding: str):
        rows = np.ascontiguousarray(arr).reshape(H, -1).view(np.uint8)
        return t["sensor_msgs/msg/Image"](header=header(stamp), height=H, width=W, encoding=encoding,
                                          is_bigendian=0, step=rows.shape[1], data=rows.ravel())

    roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    info = t["sensor_msgs/msg/CameraInfo"](header=header(t0), height=H, width=W, distortion_model="plumb_bob",
                                           d=np.zeros(5), k=np.array([30.0, 0, 15.5, 0, 31.0, 11.5, 0, 0, 1]),
                                           r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0, roi=roi)
    rng = np.random.default_rng(int(t0))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {topic: w.add_connection(topic, typ, typestore=store) for topic, typ in (
            (COLOR, "sensor_msgs/msg/Image"), (DEPTH, "sensor_msgs/msg/Image"), (INFO, "sensor_msgs/msg/CameraInfo"))}
        w.write(conns[INFO], int(t0 * 1e9), store.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))
        for i in range(FRAMES):
            s = t0 + i / 30
            rgb = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
            mm = rng.integers(400, 6000, (H, W)).astype(np.uint16)
            w.write(conns[COLOR], int((s + 0.03) * 1e9), store.serialize_cdr(image(s, rgb, "rgb8"),
                                                                              "sensor_msgs/msg/Image"))
            w.write(conns[DEPTH], int((s + 0.04) * 1e9), store.serialize_cdr(image(s + 0.005, mm, "16UC1"),
                                                                              "sensor_msgs/msg/Image"))


def test_guide_command_writes_what_the_example_config_reads(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recordings").mkdir()
    _write_bag(tmp_path / "recordings" / "run1", 1_700_000_000.0)
    _write_bag(tmp_path / "recordings" / "run2", 1_700_000_100.0)
    args = shlex.split(_command())
    assert args[:3] == ["python", "-m", "data_tools.rosbag"]
    assert rosbag.main(args[3:] + ["--no-progress"]) == 0
    out = args[args.index("--out") + 1]
    cfg = load_config(REPO / "configs" / "robot_example.yaml")
    assert cfg.data.unlabeled == out and (cfg.data.source, cfg.data.target) == ("rgb", "depth")
    info = read_info(out)
    every = int(args[args.index("--every") + 1])
    assert info.num_samples == len(range(0, 2 * FRAMES, every))  # both bags merged by time, then every 3rd pair
    assert info.shapes == {"rgb": (H, W, 3), "depth": (H, W)} and info.dtypes["depth"] == np.float32
    assert list(info.attrs["intrinsics"]) == [30.0, 31.0, 15.5, 11.5]
    import h5py

    with h5py.File(out, "r") as f:  # rows are named by the colour message's header stamp, in stamp order
        names = [float(v) for v in f["frame_name"].asstr()[()]]
        assert names == sorted(names) and names == list(f["timestamp"][:, 0])
