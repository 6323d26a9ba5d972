"""Tests for the HHA encoder (against Gupta et al.'s MATLAB output on NYU), add_hha and the 'hha' encoding."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from crossmodal.data.h5writer import write_paired
from crossmodal.data.hha import depth_to_hha
from crossmodal.modalities import InputSpec
from data_tools.add_hha import main as add_hha_main

NYU = Path(__file__).resolve().parent / "data" / "rgbd_samples" / "nyu_labeled_0001_depth_only"  # tests/data/SOURCE.md
NYU_K = (518.857901, 519.469611, 325.582449, 253.736166)


def _nyu() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    assert (NYU / "hha_reference_matlab.png").is_file(), f"the NYU sample is missing: {NYU}"
    depth = cv2.imread(str(NYU / "depth_0p1mm.png"), cv2.IMREAD_UNCHANGED) / 10000.0
    raw = cv2.imread(str(NYU / "rawdepth_0p1mm.png"), cv2.IMREAD_UNCHANGED) / 10000.0
    ref = cv2.imread(str(NYU / "hha_reference_matlab.png"))[..., ::-1]  # BGR file -> R disparity, G height, B angle
    return depth, raw, ref


def _mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(0, 1))


def test_matches_matlab_reference_on_nyu() -> None:
    depth, _, ref = _nyu()
    t0 = time.perf_counter()
    hha = depth_to_hha(depth, NYU_K, pixel_origin=1)
    elapsed = time.perf_counter() - t0
    assert hha.shape == (480, 640, 3) and hha.dtype == np.uint8
    # The MATLAB convention (1-based pixel centres): bit-identical (measured MAD 0, 0, 0).
    assert (_mad(hha, ref) <= 0.01).all(), _mad(hha, ref)
    # This project's 0-based convention: measured MAD 0, 0.057, 0.018 (a few pixels off by one level).
    mad0 = _mad(depth_to_hha(depth, NYU_K), ref)
    assert (mad0 <= [0.01, 0.08, 0.04]).all(), mad0
    assert elapsed < 5.0, f"HHA of 640x480 took {elapsed:.2f} s"  # about 0.5 s when the machine is idle


def test_raw_depth_mask_is_not_what_the_reference_used() -> None:
    depth, raw, ref = _nyu()
    hha = depth_to_hha(depth, NYU_K, raw, pixel_origin=1)
    mad = _mad(hha, ref)
    assert mad[0] == 0 and mad[1] < 0.3 and mad[2] > 10  # normals vanish inside large raw holes (angle 180)


def _room(pitch_deg: float, h: int = 96, w: int = 128) -> tuple[np.ndarray, tuple, np.ndarray, np.ndarray]:
    """A camera 1.5 m above a floor facing a wall 4 m away, pitched down: depth, K, floor mask, world height."""
    fx = fy = 100.0
    cx, cy = (w - 1) / 2, (h - 1) / 2
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1)  # camera: x right, y down, z forward
    p = np.deg2rad(pitch_deg)
    rot = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])  # camera -> world (y down)
    world = rays @ rot.T
    with np.errstate(divide="ignore"):
        t_floor = np.where(world[..., 1] > 0, 1.5 / world[..., 1], np.inf)
        t_wall = np.where(world[..., 2] > 0, 4.0 / world[..., 2], np.inf)
    t = np.minimum(t_floor, t_wall)
    height = 1.5 - t * world[..., 1]
    return t.astype(np.float32), (fx, fy, cx, cy), t_floor < t_wall, height


@pytest.mark.parametrize("pitch", [0.0, 15.0])
def test_geometry_of_a_simple_room(pitch: float) -> None:
    depth, k, floor, height = _room(pitch)
    hha = depth_to_hha(depth, k).astype(np.float64)
    inner = np.zeros_like(floor)
    inner[4:-4, 4:-4] = True
    edge = cv2.dilate(floor.astype(np.uint8), np.ones((9, 9))) != cv2.erode(floor.astype(np.uint8), np.ones((9, 9)))
    f, wl = floor & inner & ~edge, ~floor & inner & ~edge
    assert f.sum() > 200 and wl.sum() > 200
    np.testing.assert_array_equal(hha[..., 0], np.floor(31000 / np.maximum(depth * 100.0, 100) + 0.5))
    assert np.abs(hha[..., 2][f] - 38).max() <= 2  # floor normal parallel to gravity
    assert np.abs(hha[..., 2][wl] - 128).max() <= 2  # wall normal orthogonal to it
    assert np.abs(hha[..., 1] - np.clip(np.floor(height * 100 + 0.5), 0, 255))[inner].max() <= 2


def test_holes_and_bad_input() -> None:
    depth, k, _, _ = _room(10.0)
    depth[10:20, 30:50] = 0
    hha = depth_to_hha(depth, k)
    assert (hha[10:20, 30:50] == 0).all() and (hha[30:] > 0).any()
    assert (depth_to_hha(np.zeros((8, 8)), k) == 0).all()
    with pytest.raises(ValueError, match="finite"):
        depth_to_hha(-depth, k)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        depth_to_hha(depth[None], k)
    with pytest.raises(ValueError, match="intrinsics"):
        depth_to_hha(depth, (0, 1, 2, 3))


def _paired(path: Path, with_intrinsics: bool = True) -> tuple[np.ndarray, tuple]:
    depths, k = [], None
    for pitch in (0.0, 10.0, 20.0):
        d, k, _, _ = _room(pitch, 48, 64)
        depths.append(d)
    depth = np.stack(depths)
    rgb = np.zeros(depth.shape + (3,), np.uint8)
    write_paired(path, {"rgb": rgb, "depth": depth}, class_names=None, source="test",
                 attrs={"intrinsics": list(k)} if with_intrinsics else None)
    return depth, k


def test_add_hha_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "pairs.h5"
    depth, k = _paired(src)
    before = src.read_bytes()
    out = tmp_path / "with_hha.h5"
    assert add_hha_main([str(src), "--out", str(out)]) == 0
    assert src.read_bytes() == before
    info = read_info(out)
    assert info.modalities == ("rgb", "depth", "hha") and info.shapes["hha"] == (48, 64, 3)
    assert info.dtypes["hha"] == np.uint8 and info.modality_attrs["hha"]["units"] == "hha-uint8"
    with h5py.File(out, "r") as f:
        for i in range(3):
            np.testing.assert_array_equal(f["hha"][i], depth_to_hha(depth[i], k))
        np.testing.assert_array_equal(f["depth"][...], depth)
    assert add_hha_main([str(src), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert add_hha_main([str(src), "--in-place"]) == 0
    assert read_info(src).modalities == ("rgb", "depth", "hha")
    assert add_hha_main([str(src), "--in-place"]) == 2  # already has hha
    assert add_hha_main([str(src), "--in-place", "--overwrite"]) == 0
    capsys.readouterr()

    bare = tmp_path / "bare.h5"
    _paired(bare, with_intrinsics=False)
    assert add_hha_main([str(bare), "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert str(bare) in err and "intrinsics" in err
    assert add_hha_main([str(src), "--depth", "nope", "--out", str(tmp_path / "y.h5")]) == 2
    assert add_hha_main([str(src)]) == 2  # --out or --in-place is required
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.h5", "pairs.h5", "with_hha.h5"]


def test_hha_encoding() -> None:
    x = np.array([[[0, 128, 255]]], np.uint8)
    out = InputSpec("hha")(x)
    assert out.shape == (3, 1, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-0.5, 128 / 255 - 0.5, 0.5], atol=1e-6)
