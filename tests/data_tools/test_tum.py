"""Tests for the TUM RGB-D converter: list parsing, TUM association, depth / 5000, intrinsics, errors, CLI."""
from __future__ import annotations

import random
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from conftest import tum_associate
from crossmodal.data.h5format import read_info
from data_tools import camera
from data_tools.tum import INTRINSICS, ROS_DEFAULT, main

H, W = 24, 32


def rgb_frame(k: int) -> np.ndarray:
    """A recognisable RGB frame (R channel = k, so BGR/RGB mix-ups show)."""
    img = np.random.default_rng(k).integers(0, 256, (H, W, 3), dtype=np.uint8)
    img[0, 0] = (k, 0, 255)
    return img


def depth_counts(k: int) -> np.ndarray:
    """A recognisable 16-bit depth frame: 5000 * (1 + k/10) counts, a band of 0 (no reading) and a max value."""
    d = np.full((H, W), 5000 + 500 * k, np.uint16)
    d[:, :3] = 0
    d[-1, -1] = 65535
    return d


def make_sequence(root: Path, name: str = "rgbd_dataset_freiburg1_xyz", n: int = 12, seed: int = 0
                  ) -> tuple[Path, list[float], list[float]]:
    """A fake TUM sequence with jitter, latency, a dropped depth frame and an unsorted depth.txt.

    n RGB frames at 30 Hz with jitter; depth with latency and jitter, one frame dropped; depth.txt unsorted, with
    comment lines. Depth frame k holds depth_counts(k), rgb frame k holds rgb_frame(k).
    """
    rng = random.Random(seed)
    seq = root / name
    (seq / "rgb").mkdir(parents=True)
    (seq / "depth").mkdir()
    t0 = 1305031102.0
    rgb_t = [round(t0 + k / 30 + rng.uniform(-0.003, 0.003), 6) for k in range(n)]
    depth_t = [round(t0 + k / 30 + 0.006 + rng.uniform(-0.006, 0.006), 6) for k in range(n)]
    rgb_lines, depth_lines = [], []
    for k, t in enumerate(rgb_t):
        cv2.imwrite(str(seq / "rgb" / f"{t:.6f}.png"), cv2.cvtColor(rgb_frame(k), cv2.COLOR_RGB2BGR))
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
    kept_depth = []
    for k, t in enumerate(depth_t):
        if k == 5:  # dropped depth frame: neither listed nor written
            continue
        cv2.imwrite(str(seq / "depth" / f"{t:.6f}.png"), depth_counts(k))
        depth_lines.append(f"{t:.6f}\tdepth/{t:.6f}.png")
        kept_depth.append(t)
    rng.shuffle(depth_lines)
    (seq / "rgb.txt").write_text("# color images\n# file: 'fake.bag'\n# timestamp filename\n"
                                 + "\n".join(rgb_lines) + "\n")
    (seq / "depth.txt").write_text("# depth maps\n# timestamp filename\n" + "\n".join(depth_lines[:4])
                                   + "\n# a comment in the middle\n\n" + "\n".join(depth_lines[4:]) + "\n")
    return seq, rgb_t, kept_depth


def test_pairs_match_tum_associate_and_depth_is_metres(tmp_path, capsys):
    seq, rgb_t, depth_t = make_sequence(tmp_path)
    out = tmp_path / "tum.h5"
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet"]) == 0
    want = tum_associate(rgb_t, depth_t, 0.02)
    info = read_info(out)
    assert info.num_samples == len(want) and info.modalities == ("rgb", "depth")
    assert info.shapes == {"rgb": (H, W, 3), "depth": (H, W)}
    # TUM's values are for 640x480: scaled to the (tiny) native size of these frames
    assert info.attrs["intrinsics"] == pytest.approx(camera.scale_intrinsics(INTRINSICS["freiburg1"], (480, 640),
                                                                             (H, W)))
    assert "freiburg1" in info.attrs["intrinsics_source"]
    with h5py.File(out, "r") as f:
        stamps = [tuple(s) for s in f["timestamp"][()]]
        assert stamps == [(a, b) for a, b in want]  # TUM's pairs, in rgb-time order
        names = [n.decode() for n in f["frame_name"][()]]
        assert names == [f"{a:.6f}" for a, _ in want]
        for row, (a, b) in enumerate(want):
            assert np.array_equal(f["rgb"][row], rgb_frame(rgb_t.index(a)))
            assert f["rgb_file"][row].decode() == f"rgb/{a:.6f}.png"
            assert f["depth_file"][row].decode() == f"depth/{b:.6f}.png"
        depth0 = f["depth"][0]
        assert depth0.dtype == np.float32
        assert np.all(depth0[:, :3] == 0)
        assert depth0[-1, -1] == np.float32(65535) / np.float32(5000)
        assert f["depth"].attrs["scale"] == pytest.approx(1 / 5000)
    err = capsys.readouterr().err
    assert f"unpaired: {12 - len(want)} rgb, {11 - len(want)} depth" in err  # one depth frame was dropped


def test_depth_values_of_each_pair(tmp_path):
    seq, rgb_t, depth_t = make_sequence(tmp_path, seed=1)
    out = tmp_path / "tum.h5"
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet", "--every", "2"]) == 0
    want = tum_associate(rgb_t, depth_t, 0.02)[::2]
    with h5py.File(out, "r") as f:
        assert f["depth"].shape[0] == len(want)
        for row, (_, b) in enumerate(want):
            k = [i for i in range(12) if i != 5][depth_t.index(b)]
            expect = depth_counts(k).astype(np.float32) / np.float32(5000)
            assert np.array_equal(f["depth"][row], expect)


def test_size_intrinsics_override_and_ros_default(tmp_path, capsys):
    seq, _, _ = make_sequence(tmp_path, name="my_robot_run")
    out = tmp_path / "small.h5"
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet", "--size", "12x16"]) == 0
    info = read_info(out)
    assert info.shapes["depth"] == (12, 16)
    # the ROS default is for 640x480; scaled to the 24x32 native size, then to 12x16
    fx = ROS_DEFAULT[0] * 32 / 640 * 16 / 32
    assert info.attrs["intrinsics"][0] == pytest.approx(fx)
    assert "ROS default" in info.attrs["intrinsics_source"]
    assert "warning: intrinsics" in capsys.readouterr().err
    with h5py.File(out, "r") as f:  # nearest resizing: only values of the source frames, 0 stays 0
        source_values = {np.float32(v) / np.float32(5000) for k in range(12) for v in np.unique(depth_counts(k))}
        assert set(np.unique(f["depth"][()]).tolist()) <= {float(v) for v in source_values}
    out2 = tmp_path / "k.h5"
    assert main(["--sequence", str(seq), "--out", str(out2), "--quiet", "--intrinsics", "30,31,15.5,11.5"]) == 0
    assert read_info(out2).attrs["intrinsics"] == pytest.approx([30, 31, 15.5, 11.5])


def _error(capsys, argv: list[str], out: Path) -> str:
    assert main(argv) == 2
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_errors_name_file_and_line(tmp_path, capsys):
    seq, rgb_t, _ = make_sequence(tmp_path)
    out = tmp_path / "o.h5"
    argv = ["--sequence", str(seq), "--out", str(out), "--quiet"]
    (seq / "rgb" / f"{rgb_t[3]:.6f}.png").unlink()  # listed on line 7 of rgb.txt (3 comment lines first)
    err = _error(capsys, argv, out)
    assert "rgb.txt line 7" in err and f"rgb/{rgb_t[3]:.6f}.png does not exist" in err

    seq, _, _ = make_sequence(tmp_path / "b")
    text = (seq / "depth.txt").read_text().splitlines()
    text.insert(3, "1305031102.5")
    (seq / "depth.txt").write_text("\n".join(text) + "\n")
    err = _error(capsys, ["--sequence", str(seq), "--out", str(out), "--quiet"], out)
    assert "depth.txt line 4" in err and "malformed" in err

    (seq / "depth.txt").unlink()
    err = _error(capsys, ["--sequence", str(seq), "--out", str(out), "--quiet"], out)
    assert "depth.txt: no such file" in err


def test_no_pair_within_max_dt_reports_median_offset(tmp_path, capsys):
    seq, _, _ = make_sequence(tmp_path)
    shifted = []
    for line in (seq / "depth.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            t, name = line.split("\t")
            line = f"{float(t) + 10:.6f}\t{name}"
        shifted.append(line)
    (seq / "depth.txt").write_text("\n".join(shifted) + "\n")
    out = tmp_path / "o.h5"
    err = _error(capsys, ["--sequence", str(seq), "--out", str(out), "--quiet"], out)
    assert "no rgb.txt / depth.txt pair within --max-dt 0.02" in err and "median offset" in err
    offset = float(err.split("rgb is ")[1].split(" s")[0])
    assert 9 < offset < 10.1  # every depth stamp is ~10 s after the rgb stream


def test_existing_output_refused(tmp_path, capsys):
    seq, _, _ = make_sequence(tmp_path)
    out = tmp_path / "o.h5"
    out.write_bytes(b"keep")
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet"]) == 2
    assert out.read_bytes() == b"keep" and "--overwrite" in capsys.readouterr().err
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet", "--overwrite", "--size", "none"]) == 0
    assert read_info(out).num_samples > 0 and read_info(out).shapes["rgb"] == (H, W, 3)


def _datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a file (and the root attributes) for comparing two conversions."""
    with h5py.File(path, "r") as f:
        data = {key: f[key][()] for key in f}
        data["attrs"] = {k: v for k, v in f.attrs.items() if k != "source"}
    return data


def test_workers_give_identical_arrays(tmp_path):
    seq, _, _ = make_sequence(tmp_path)
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    argv = ["--sequence", str(seq), "--quiet", "--size", "12x16"]
    assert main(argv + ["--out", str(one)]) == 0
    assert main(argv + ["--out", str(two), "--workers", "2"]) == 0
    a, b = _datasets(one), _datasets(two)
    assert a.keys() == b.keys() and read_info(two).num_samples == read_info(one).num_samples > 5
    for key in a:
        if key == "attrs":
            assert a[key].keys() == b[key].keys()
            for k in a[key]:
                assert np.array_equal(np.asarray(a[key][k]), np.asarray(b[key][k])), k
        else:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def test_worker_error_is_one_line_and_interrupt_leaves_nothing(tmp_path, capsys, monkeypatch):
    seq, rgb_t, depth_t = make_sequence(tmp_path)
    out = tmp_path / "o.h5"
    argv = ["--sequence", str(seq), "--out", str(out), "--quiet", "--workers", "2"]
    bad = seq / "depth" / f"{sorted(depth_t)[7]:.6f}.png"  # a late frame: decoded in a worker, not up front
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")
    err = _error(capsys, argv, out)
    assert err.startswith("python -m data_tools.tum: error: ") and f"{bad}: cannot be decoded" in err

    bad.write_bytes(good)
    from crossmodal.data.h5writer import PairedWriter

    original = PairedWriter.write

    def interrupted(self, row, sample):
        if row == 3:
            raise KeyboardInterrupt
        return original(self, row, sample)

    monkeypatch.setattr(PairedWriter, "write", interrupted)
    assert main(argv) == 130
    assert not out.exists() and not list(tmp_path.glob(f".{out.name}*"))
    assert "interrupted; nothing was written" in capsys.readouterr().err


def _restamp(seq: Path, name: str, stamps: list[float]) -> None:
    """Rewrite `name` (rgb.txt or depth.txt) in recording order with new stamps for its files, one per line."""
    files = [ln.split()[1] for ln in (seq / name).read_text().splitlines() if ln and not ln.startswith("#")]
    files.sort()
    (seq / name).write_text("# timestamp filename\n" + "".join(f"{t:.6f} {f}\n" for t, f in zip(stamps, files)))


@pytest.mark.parametrize("fault, words", [
    ("zero", ["rgb.txt: 2 of 12 stamps are zero", "first: line 2, stamp 0.000000000", "does not stamp"]),
    ("repeated", ["rgb.txt: 3 of 12 stamps repeat an earlier stamp", "first: line 8"]),
    ("backward", ["rgb.txt: 4 of 12 stamps go back in time by more than 5 frame periods", "first: line 10",
                  "clock that jumped back"]),
])
def test_bad_list_stamps_are_refused(tmp_path, capsys, fault, words):
    """Stamps that would pair frames by accident: refused naming the list, the count and the first line."""
    seq, _, _ = make_sequence(tmp_path)
    t0 = 1305031102.0
    stamps = [t0 + k / 30 for k in range(12)]
    if fault == "zero":
        stamps[:2] = [0.0, 0.0]
    elif fault == "repeated":
        stamps[6:9] = [stamps[5]] * 3
    else:
        stamps[8:] = [t0 - 1.0 + k / 30 for k in range(4)]  # the clock jumped back 1 s after 8 frames
    _restamp(seq, "rgb.txt", stamps)
    out = tmp_path / "o.h5"
    err = _error(capsys, ["--sequence", str(seq), "--out", str(out), "--quiet"], out)
    assert all(w in err for w in words), err


def test_rates_gaps_and_offset_in_the_summary_and_attributes(tmp_path, capsys):
    """Rates, gaps and offsets are printed and stored.

    rgb at 30 Hz, depth at 15 Hz 4 ms later with one frame missing: 6 rgb frames lack a partner by the rate
    difference, 1 by the gap.
    """
    seq, _, _ = make_sequence(tmp_path)
    t0 = 1305031102.0
    _restamp(seq, "rgb.txt", [t0 + k / 30 for k in range(12)])
    depth = [t0 + k / 15 + 0.004 for k in range(6) if k != 3]
    lines = (seq / "depth.txt").read_text().splitlines()
    files = sorted(ln.split()[1] for ln in lines if ln and not ln.startswith("#"))[:5]
    (seq / "depth.txt").write_text("".join(f"{t:.6f} {f}\n" for t, f in zip(depth, files)))
    out = tmp_path / "o.h5"
    assert main(["--sequence", str(seq), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"rates: rgb 30.00 Hz, no gaps; depth 15.00 Hz, 1 gap (longest 0.133 s after stamp {depth[2]:.6f})" in err
    assert ("depth: 6 rgb frames without a partner by the rate difference, 1 for drops, gaps or offsets beyond "
            "--max-dt 0.02 s; offset depth - rgb median +0.004000 s, 95th percentile |offset| 0.004000 s") in err
    a = read_info(out).attrs
    assert list(a["gap_count"]) == [0, 1] and list(a["unpaired_by_rate"]) == [0, 6]
    assert list(a["unpaired_other"]) == [0, 1]
    assert a["pair_offset_median_s"][1] == pytest.approx(0.004, abs=1e-6)
    assert a["median_rate_hz"] == pytest.approx([30.0, 15.0], rel=1e-4)


def test_a_size_of_another_aspect_is_refused_unless_cropped_or_stretched(tmp_path, capsys):
    """A --size of another aspect is refused unless --aspect crops or stretches.

    --size 12x12 on 24x32 frames, 4:3, is refused naming the first frame, both sizes and aspects, and the two
    choices; nothing is written. --aspect crop keeps the centred 24x24: cx shifts by 4 px, then scales. --aspect
    stretch squeezes x: fx, cx scale by 12/32, fy, cy by 12/24. The root attribute aspect records the choice.
    """
    seq, rgb_t, depth_t = make_sequence(tmp_path)
    out = tmp_path / "sq.h5"
    base = ["--sequence", str(seq), "--out", str(out), "--quiet", "--size", "12x12"]
    err = _error(capsys, base, out)
    first = tum_associate(rgb_t, depth_t, 0.02)[0][0]
    assert f"rgb/{first:.6f}.png" in err and "24x32 (aspect 4:3)" in err and "12x12 (aspect 1:1)" in err
    assert "--aspect crop" in err and "--aspect stretch" in err and "24x24" in err
    err = _error(capsys, ["--sequence", str(seq), "--out", str(out), "--quiet", "--aspect", "crop"], out)
    assert "--aspect crop" in err and "--size" in err

    k_native = camera.scale_intrinsics(INTRINSICS["freiburg1"], (480, 640), (H, W))
    want = tum_associate(rgb_t, depth_t, 0.02)
    assert main(base + ["--aspect", "crop"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "crop" and info.shapes["rgb"] == (12, 12, 3)
    fx, fy, cx, cy = k_native
    assert info.attrs["intrinsics"] == pytest.approx([fx / 2, fy / 2, (cx - 4 + 0.5) / 2 - 0.5,
                                                      (cy + 0.5) / 2 - 0.5])
    with h5py.File(out, "r") as f:
        for row, (a, _) in enumerate(want):
            square = rgb_frame(rgb_t.index(a))[:, 4:28]
            assert np.array_equal(f["rgb"][row], cv2.resize(square, (12, 12), interpolation=cv2.INTER_AREA))
        assert np.all(f["depth"][0][:, 0] > 0)  # the no-reading band (columns 0-2) was cut off

    assert main(base + ["--aspect", "stretch", "--overwrite"]) == 0
    info = read_info(out)
    assert info.attrs["aspect"] == "stretch"
    assert info.attrs["intrinsics"] == pytest.approx([fx * 12 / 32, fy / 2, (cx + 0.5) * 12 / 32 - 0.5,
                                                      (cy + 0.5) / 2 - 0.5])
    with h5py.File(out, "r") as f:
        whole = rgb_frame(rgb_t.index(want[0][0]))
        assert np.array_equal(f["rgb"][0], cv2.resize(whole, (12, 12), interpolation=cv2.INTER_AREA))
        assert np.all(f["depth"][0][:, 0] == 0)  # stretched: the band is still there

    assert main(base[:-1] + ["12x16", "--overwrite"]) == 0  # the frames' own aspect: no choice needed
    assert read_info(out).attrs["aspect"] == "kept (a change refused)"
