"""Tests for the raw NYU converter: dump decoding, toolbox sync, metres, registration into the RGB camera, CLI."""
from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools import camera
from data_tools.nyu_raw import decode_depth, decode_rgb, main, sync_frames

H, W = 480, 640
HEADER_D = b"P5 640 480 65535\n"   # exactly what NYU's recorder (libfreenect record) writes
HEADER_R = b"P6 640 480 255\n"


def pgm(raw: np.ndarray, big_endian: bool = False, header: bytes = HEADER_D) -> bytes:
    """A depth dump: PGM header, then the uint16 payload little-endian (as NYU) or big-endian."""
    return header + raw.astype(">u2" if big_endian else "<u2").tobytes()


def ppm(rgb: np.ndarray) -> bytes:
    """An RGB dump."""
    return HEADER_R + rgb.astype(np.uint8).tobytes()


def name(kind: str, t: float, n: int) -> str:
    """Dump file name as the recorder writes it: <kind>-<%f time>-<counter>.<ext>."""
    return f"{kind}-{t:.6f}-{n}.{'pgm' if kind == 'd' else 'ppm' if kind == 'r' else 'dump'}"


def depth_raw(k: int) -> np.ndarray:
    """A recognisable raw depth frame: a wall at raw 900 + 10k with a 2047 (no reading) band and a near band."""
    raw = np.full((H, W), 900 + 10 * k, np.uint16)
    raw[:, :20] = 2047
    raw[400:, :] = 300
    return raw


def rgb_frame(k: int) -> np.ndarray:
    """A recognisable RGB frame."""
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


SCENE_A = ("bookstore_0001a", [10.00, 10.10, 10.20, 10.30], [9.98, 10.04, 10.06, 10.31, 10.50])
SCENE_B = ("cafe_0001", [20.0, 20.05, 20.1], [20.01, 20.06, 20.11])


def files_for(scene: tuple[str, list[float], list[float]], base: int) -> dict[str, bytes]:
    """Dump files of one scene: depth k is depth_raw(base + k), RGB j is rgb_frame(base + j)."""
    _, dts, rts = scene
    out = {name("d", t, 100 + k): pgm(depth_raw(base + k)) for k, t in enumerate(dts)}
    out.update({name("r", t, 200 + j): ppm(rgb_frame(base + j)) for j, t in enumerate(rts)})
    out[name("a", dts[0], 1)] = b"\x00" * 16
    out["INDEX.txt"] = "\n".join(sorted(out)).encode()
    return out


@pytest.fixture()
def raw_root(tmp_path: Path) -> Path:
    """Scene A as a folder, scene B inside a .zip archive (under its scene folder, as the downloads hold them)."""
    root = tmp_path / "raw"
    (root / SCENE_A[0]).mkdir(parents=True)
    for fname, data in files_for(SCENE_A, 0).items():
        (root / SCENE_A[0] / fname).write_bytes(data)
    with zipfile.ZipFile(root / "cafes.zip", "w") as zf:
        for fname, data in files_for(SCENE_B, 10).items():
            zf.writestr(f"{SCENE_B[0]}/{fname}", data)
    return root


# ------------------------------------------------------------------------------------------------ pieces

def test_sync_is_the_toolbox_forward_pointer() -> None:
    assert sync_frames(SCENE_A[1], SCENE_A[2]) == [0, 2, 3, 3]
    assert sync_frames([1.0], [0.5, 1.5]) == [1]            # a tie advances the pointer, like the toolbox
    assert sync_frames([1.0, 2.0], []) == []
    rng = np.random.default_rng(0)
    d, r = np.sort(rng.uniform(0, 100, 300)), np.sort(rng.uniform(0, 100, 250))
    assert sync_frames(d.tolist(), r.tolist()) == [int(np.argmin(np.abs(r - t))) for t in d]


def test_metres_formula_and_invalid_values() -> None:
    raw = np.array([0, 599, 600, 1000, 1050, 1080, 1100, 2046, 2047], np.uint16)
    m = camera.raw_to_metres(raw)
    expect = [0, 0, 351.3 / 492.5, 351.3 / 92.5, 351.3 / 42.5, 10.0, 0, 0, 0]
    np.testing.assert_allclose(m, expect, rtol=1e-6)
    assert m.dtype == np.float32


def test_pnm_decoding_and_byte_order() -> None:
    raw = depth_raw(3)
    got, swapped = decode_depth(pgm(raw), "x.pgm")
    assert not swapped and np.array_equal(got, raw)
    got, swapped = decode_depth(pgm(raw, big_endian=True), "x.pgm")     # the byte order the PGM header claims
    assert swapped and np.array_equal(got, raw)
    got, _ = decode_depth(pgm(raw, header=b"P5\n# kinect\n640 480\n65535\n"), "x.pgm")
    assert np.array_equal(got, raw)
    noisy = np.full((H, W), 0x0909, np.uint16)    # > 2047 in both byte orders
    with pytest.raises(ValueError, match=r"noisy\.pgm.*0\.\.2047"):
        decode_depth(pgm(noisy), "noisy.pgm")
    with pytest.raises(ValueError, match=r"short\.pgm.*truncated"):
        decode_depth(pgm(raw)[:-10], "short.pgm")
    with pytest.raises(ValueError, match=r"small\.pgm.*320x240"):
        decode_depth(b"P5 320 240 65535\n" + bytes(320 * 240 * 2), "small.pgm")
    rgb = rgb_frame(1)
    assert np.array_equal(decode_rgb(ppm(rgb), "x.ppm"), rgb)
    with pytest.raises(ValueError, match=r"x\.ppm.*PPM"):
        decode_rgb(pgm(raw), "x.ppm")


def test_rotation_is_proper_and_close_to_identity() -> None:
    r = camera.depth_to_rgb_rotation()
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    assert abs(np.linalg.det(r) - 1) < 1e-6 and np.abs(r - np.eye(3)).max() < 0.01
    v = np.asarray(camera.ROTATION_VALUES)
    toolbox = np.linalg.inv(np.reshape(-v, (3, 3), order="F").T)          # camera_params.m, literally
    np.testing.assert_allclose(toolbox, -r, atol=1e-12)


def _reference_registration(metres: np.ndarray) -> np.ndarray:
    """Per-pixel loop with the toolbox's literal matrices: P' = R_tb P + T (R_tb = -rotation), project P'."""
    v = np.asarray(camera.ROTATION_VALUES)
    r_tb = np.linalg.inv(np.reshape(-v, (3, 3), order="F").T)
    t_tb = np.asarray(camera.TRANSLATION)
    k_d, dist_d = camera.camera_matrix(camera.DEPTH_INTRINSICS), np.asarray(camera.DEPTH_DISTORTION)
    fx, fy, cx, cy = camera.RGB_INTRINSICS
    out = np.zeros((H, W))
    for y, x in zip(*np.nonzero(metres)):
        xn, yn = cv2.undistortPoints(np.array([[[x, y]]], np.float64), k_d, dist_d, None, None,
                                     criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12))[0, 0]
        z = float(metres[y, x])
        p = r_tb @ np.array([xn * z, yn * z, z]) + t_tb
        u, w = int(np.floor(p[0] * fx / p[2] + cx + 0.5)), int(np.floor(p[1] * fy / p[2] + cy + 0.5))
        if 0 <= u < W and 0 <= w < H:
            zr = -p[2]                                   # P' = -P_rgb, so the RGB camera's z is -P'_z
            if out[w, u] == 0 or zr < out[w, u]:
                out[w, u] = zr
    return out


def test_registration_of_a_wall_patch_matches_reference_and_geometry() -> None:
    raw = np.full((H, W), 2047, np.uint16)
    raw[200:260, 290:350] = 1000                                  # a fronto-parallel wall patch
    raw[225:235, 315:325] = 800                                   # a nearer square in front of it
    metres = camera.raw_to_metres(raw)
    z0 = 351.3 / (1092.5 - 1000)
    out = camera.register_depth(metres)
    ref = _reference_registration(metres)
    assert np.array_equal(out > 0, ref > 0)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    # geometry, independently: where the patch centre lands and at what depth
    rot, t = camera.depth_to_rgb_rotation(), camera.translation()
    k_d, dist_d = camera.camera_matrix(camera.DEPTH_INTRINSICS), np.asarray(camera.DEPTH_DISTORTION)
    xn, yn = cv2.undistortPoints(np.array([[[319.5, 229.5]]]), k_d, dist_d)[0, 0]
    fx, fy, cx, cy = camera.RGB_INTRINSICS
    wall = (out > 0) & (np.abs(out - z0) < 0.05)
    only_wall = raw.copy()
    only_wall[225:235, 315:325] = 1000
    vs, us = np.nonzero(camera.register_depth(camera.raw_to_metres(only_wall)))
    for sign, should_match in ((-1, True), (+1, False)):         # P_rgb = R P - T, not R P + T
        p = rot @ np.array([xn * z0, yn * z0, z0]) + sign * t
        u_exp, v_exp = p[0] * fx / p[2] + cx, p[1] * fy / p[2] + cy
        close = abs(us.mean() - u_exp) < 0.75 and abs(vs.mean() - v_exp) < 0.75
        assert close == should_match, (sign, us.mean(), u_exp, vs.mean(), v_exp)
    # depth along each RGB ray through the plane z_depth = z0:  s = (z0 - r3.T) / (r3 . (x, y, 1))
    r3 = rot[:, 2]
    vv, uu = np.nonzero(wall)
    rays = np.stack([(uu - cx) / fx, (vv - cy) / fy, np.ones(uu.size)], -1)
    np.testing.assert_allclose(out[vv, uu], (z0 - r3 @ t) / (rays @ r3), rtol=5e-4)
    near = (out > 0) & ~wall
    assert near.sum() > 60 and np.allclose(out[near], 351.3 / (1092.5 - 800), rtol=0.01)
    assert (out[:150] == 0).all() and (out[320:] == 0).all()     # holes stay 0


def test_full_wall_has_no_interior_holes() -> None:
    out = camera.register_depth(camera.raw_to_metres(np.full((H, W), 1000, np.uint16)))
    from scipy import ndimage

    holes, count = ndimage.label(out == 0)                       # every hole must reach the image border
    border = set(np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))) - {0}
    assert count >= 1 and border == set(range(1, count + 1))
    assert 0.7 < (out > 0).mean() < 0.95                         # the depth camera sees less than the RGB one


# ------------------------------------------------------------------------------------------------ command line

def test_folder_and_zip_scenes_end_to_end(raw_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "unlabeled.h5"
    assert main(["--scenes", str(raw_root), "--out", str(out), "--quiet"]) == 0
    info = read_info(out)
    assert info.num_samples == 7 and info.modalities == ("rgb", "depth")
    assert info.shapes == {"rgb": (H, W, 3), "depth": (H, W)}
    np.testing.assert_allclose(info.attrs["intrinsics"], camera.RGB_INTRINSICS)
    assert info.attrs["scenes"] == ["bookstore_0001a", "cafe_0001"]
    expect_rgb = [0, 2, 3, 3] + [10, 11, 12]                     # synced RGB frame per depth frame
    with h5py.File(out) as f:
        scenes = [s.decode() for s in f["scene"][()]]
        assert scenes == ["bookstore_0001a"] * 4 + ["cafe_0001"] * 3
        times = f["timestamp"][()]
        np.testing.assert_allclose(times[:, 0], SCENE_A[1] + SCENE_B[1])
        np.testing.assert_allclose(times[:4, 1], [SCENE_A[2][j] for j in (0, 2, 3, 3)])
        assert f["depth_file"][0].decode() == name("d", 10.0, 100)
        assert f["rgb_file"][4].decode() == f"{SCENE_B[0]}/{name('r', 20.01, 200)}"
        k = camera.camera_matrix(camera.RGB_INTRINSICS)
        for row, (d, r) in enumerate(zip([0, 1, 2, 3, 10, 11, 12], expect_rgb)):
            np.testing.assert_array_equal(f["rgb"][row],
                                          cv2.undistort(rgb_frame(r), k, np.asarray(camera.RGB_DISTORTION)))
            np.testing.assert_array_equal(f["depth"][row], camera.register_depth(camera.raw_to_metres(depth_raw(d))))
        depth = f["depth"][()]
    assert depth.max() <= 10 and (depth == 0).any()


def test_every_and_size(raw_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.h5"
    assert main(["--scenes", str(raw_root), "--out", str(out), "--every", "2", "--size", "240x320", "--quiet"]) == 0
    info = read_info(out)
    assert info.num_samples == 4 and info.shapes["depth"] == (240, 320)     # depth frames 0, 2 of each scene
    assert info.attrs["every"] == 2
    fx, fy, cx, cy = camera.RGB_INTRINSICS
    np.testing.assert_allclose(info.attrs["intrinsics"], [fx / 2, fy / 2, (cx + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5])
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["timestamp"][:, 0], [10.0, 10.2, 20.0, 20.1])
        full = camera.register_depth(camera.raw_to_metres(depth_raw(2)))
        small = f["depth"][1]
        assert set(np.unique(small)) <= set(np.unique(full))             # nearest: no blended depths


def test_byte_swapped_files_are_flipped_with_a_warning(tmp_path: Path, capsys) -> None:
    scene = tmp_path / "raw" / "office_0001"
    scene.mkdir(parents=True)
    (scene / name("d", 1.0, 1)).write_bytes(pgm(depth_raw(0), big_endian=True))
    (scene / name("r", 1.01, 2)).write_bytes(ppm(rgb_frame(0)))
    out = tmp_path / "o.h5"
    assert main(["--scenes", str(tmp_path / "raw"), "--out", str(out), "--quiet"]) == 0
    assert "byte-swapped" in capsys.readouterr().err
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["depth"][0], camera.register_depth(camera.raw_to_metres(depth_raw(0))))


def _corrupt(raw_root: Path, how: str) -> Path:
    """Damage depth frame 1 of the folder scene; returns the damaged file."""
    bad = raw_root / SCENE_A[0] / name("d", SCENE_A[1][1], 101)
    data = bad.read_bytes()
    bad.write_bytes(data[:1000] if how == "truncated" else pgm(np.full((H, W), 0x0909, np.uint16)))
    return bad


@pytest.mark.parametrize("how", ["truncated", "garbage values"])
def test_corrupt_frame_errors_or_is_skipped(raw_root: Path, tmp_path: Path, capsys, how: str) -> None:
    bad = _corrupt(raw_root, how)
    out = tmp_path / "o" / "u.h5"
    assert main(["--scenes", str(raw_root), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert bad.name in err and err.count("error:") == 1
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert main(["--scenes", str(raw_root), "--out", str(out), "--quiet", "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 corrupt frame" in err and bad.name in err
    with h5py.File(out) as f:
        assert f["depth"].shape[0] == 6 and bad.name not in [s.decode() for s in f["depth_file"][()]]
        np.testing.assert_allclose(f["timestamp"][:4, 0], [10.0, 10.2, 10.3, 20.0])
        np.testing.assert_array_equal(f["depth"][1], camera.register_depth(camera.raw_to_metres(depth_raw(2))))
    assert sorted(p.name for p in out.parent.iterdir()) == ["u.h5"]


def test_bad_inputs_exit_2(raw_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "u.h5"
    out.write_bytes(b"keep")
    assert main(["--scenes", str(raw_root), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "u.h5" in err and "--overwrite" in err and out.read_bytes() == b"keep"
    assert main(["--scenes", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.h5")]) == 2
    assert "nowhere" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--scenes", str(empty), "--out", str(tmp_path / "x.h5")]) == 2
    assert "no synced depth/RGB frames" in capsys.readouterr().err
    (empty / "broken.zip").write_bytes(b"PK not really")
    assert main(["--scenes", str(empty), "--out", str(tmp_path / "x.h5")]) == 2
    assert "broken.zip" in capsys.readouterr().err
    assert main(["--scenes", str(raw_root), "--out", str(tmp_path / "x.h5"), "--size", "12"]) == 2
    assert main(["--scenes", str(raw_root), "--out", str(tmp_path / "x.h5"), "--every", "0"]) == 2
    assert not (tmp_path / "x.h5").exists()
    capsys.readouterr()
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--scenes", "--out", "--every", "--size", "--skip-bad", "--overwrite", "example:"):
        assert option in text


def test_a_size_of_another_aspect_is_refused_unless_cropped_or_stretched(raw_root: Path, tmp_path: Path,
                                                                         capsys) -> None:
    """--size 240x240 on 480x640 frames: refused naming a frame, both sizes and the choices, nothing written;
    --aspect crop keeps the centred 480x480 (cx shifts by 80 px, then all scale by 1/2), --aspect stretch scales
    x by 3/8 and y by 1/2; the root attribute aspect records it."""
    out = tmp_path / "sq.h5"
    base = ["--scenes", str(raw_root), "--out", str(out), "--every", "4", "--size", "240x240", "--quiet"]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ".ppm" in err and "480x640 (aspect 4:3)" in err, err
    assert "240x240 (aspect 1:1)" in err and "--aspect crop" in err and "--aspect stretch" in err
    assert not out.exists() and not list(tmp_path.glob(".sq.h5*"))
    fx, fy, cx, cy = camera.RGB_INTRINSICS
    assert main(base + ["--aspect", "crop"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "crop" and info.shapes["depth"] == (240, 240)
    np.testing.assert_allclose(info.attrs["intrinsics"],
                               [fx / 2, fy / 2, (cx - 80 + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5])
    with h5py.File(out) as f:
        rgb = cv2.undistort(rgb_frame(0), camera.camera_matrix(camera.RGB_INTRINSICS),
                            np.asarray(camera.RGB_DISTORTION))[:, 80:560]
        np.testing.assert_array_equal(f["rgb"][0], cv2.resize(rgb, (240, 240), interpolation=cv2.INTER_AREA))
        depth = camera.register_depth(camera.raw_to_metres(depth_raw(0)))[:, 80:560]
        np.testing.assert_array_equal(f["depth"][0], cv2.resize(depth, (240, 240),
                                                                interpolation=cv2.INTER_NEAREST_EXACT))
    assert main(base + ["--aspect", "stretch", "--overwrite"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "stretch"
    np.testing.assert_allclose(info.attrs["intrinsics"],
                               [fx * 3 / 8, fy / 2, (cx + 0.5) * 3 / 8 - 0.5, (cy + 0.5) / 2 - 0.5])
    assert main(["--scenes", str(raw_root), "--out", str(tmp_path / "x.h5"), "--aspect", "crop"]) == 2
    assert "--size" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()
