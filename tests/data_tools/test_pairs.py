"""Tests for data_tools.pairs: matching stems across folders of PNG/TIFF/.npy, scaling, sizes, labels, errors."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools.pairs import main

H, W = 12, 16


def _rgb(k: int) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 256, (H, W, 3)).astype(np.uint8)


def _counts(k: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(100 + k).integers(28000, 31000, (h, w)).astype(np.uint16)


def _label(k: int) -> np.ndarray:
    lab = np.random.default_rng(200 + k).integers(0, 3, (H, W)).astype(np.uint8)
    lab[0, :4] = 255
    return lab


def _events(k: int) -> np.ndarray:
    return np.random.default_rng(300 + k).normal(size=(H, W, 2)).astype(np.float32)


def _recording(root: Path, n: int = 3) -> Path:
    """rgb PNGs, 16-bit thermal PNGs, 8-bit TIFF infrared, .npy event frames, labels for all but frame 0."""
    for d in ("rgb", "thermal", "ir", "events", "labels"):
        (root / d).mkdir(parents=True)
    for k in range(n):
        stem = f"{k:04d}"
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), _rgb(k)[..., ::-1])
        cv2.imwrite(str(root / "thermal" / f"{stem}.png"), _counts(k))
        cv2.imwrite(str(root / "ir" / f"{stem}.tiff"), _rgb(k)[..., 0])
        np.save(root / "events" / f"{stem}.npy", _events(k))
        if k:
            cv2.imwrite(str(root / "labels" / f"{stem}.png"), _label(k))
    cv2.imwrite(str(root / "rgb" / "9999.png"), _rgb(9))  # no partner anywhere
    (root / "classes.txt").write_text("wall\nfloor\nperson\n")
    return root


def _read(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        out = {k: f[k][...] for k in f.keys()}
        out["attrs"] = {k: dict(f[k].attrs) for k in f.keys()}
    return out


def test_pairs_all_kinds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _recording(tmp_path / "rec")
    out = tmp_path / "test.h5"
    argv = ["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}", "--target", f"ir={rec / 'ir'}",
            "--target", f"events={rec / 'events'}", "--label", str(rec / "labels"),
            "--class-names", str(rec / "classes.txt"), "--scale", "thermal=0.01", "--units", "thermal=kelvin",
            "--channels", "thermal=brightness temperature", "--units", "events=counts", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "9999.png" in printed and "0000.png" in printed  # unmatched: rgb 9999 and frame 0 (no label)
    info = read_info(out)
    assert info.modalities == ("rgb", "thermal", "ir", "events", "label")
    assert info.num_samples == 2 and info.class_names == ("wall", "floor", "person")
    data = _read(out)
    assert [s.decode() for s in data["frame_name"]] == ["0001", "0002"]
    for i, k in enumerate((1, 2)):
        np.testing.assert_array_equal(data["rgb"][i], _rgb(k))
        np.testing.assert_array_equal(data["thermal"][i], (_counts(k).astype(np.float64) * 0.01).astype(np.float32))
        np.testing.assert_array_equal(data["ir"][i], _rgb(k)[..., 0].astype(np.float32))
        np.testing.assert_array_equal(data["events"][i], _events(k))
        np.testing.assert_array_equal(data["label"][i], _label(k))
    assert data["thermal"].dtype == np.float32 and data["label"].dtype == np.uint8
    t = info.modality_attrs["thermal"]
    assert t["units"] == "kelvin" and t["scale"] == pytest.approx(0.01) and t["channels"] == "brightness temperature"
    events = info.modality_attrs["events"]
    assert events["units"] == "counts" and "2 channels" in events["channels"]
    assert info.modality_attrs["ir"]["units"] == "file values"


def test_splits_without_source_and_default_class_names(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "rec")
    out = tmp_path / "train.h5"
    assert main(["--target", f"thermal={rec / 'thermal'}", "--label", str(rec / "labels"), "--out", str(out)]) == 0
    info = read_info(out)
    assert info.modalities == ("thermal", "label") and info.class_names == ("class_0", "class_1", "class_2")
    out2 = tmp_path / "teacher.h5"
    assert main(["--source", f"rgb={rec / 'rgb'}", "--label", str(rec / "labels"), "--out", str(out2)]) == 0
    assert read_info(out2).modalities == ("rgb", "label")


def test_size_mismatch_refused_then_resized(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = tmp_path / "rec"
    for d in ("rgb", "depth", "labels"):
        (rec / d).mkdir(parents=True)
    depth_mm = np.random.default_rng(1).integers(500, 5000, (H * 2, W * 2)).astype(np.uint16)
    depth_mm[:3, :3] = 0
    cv2.imwrite(str(rec / "rgb" / "a.png"), _rgb(0))
    cv2.imwrite(str(rec / "depth" / "a.png"), depth_mm)
    cv2.imwrite(str(rec / "labels" / "a.png"), np.kron(_label(1), np.ones((2, 2), np.uint8)))
    out = tmp_path / "o.h5"
    base = ["--source", f"rgb={rec / 'rgb'}", "--target", f"depth={rec / 'depth'}", "--label", str(rec / "labels"),
            "--scale", "depth=0.001", "--out", str(out)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "different sizes" in err and "a.png" in err and "--resize" in err and not out.exists()
    assert main(base + ["--resize", "target", "--intrinsics", "100,100,8,6"]) == 0
    data = _read(out)
    metres = (depth_mm.astype(np.float64) * 0.001).astype(np.float32)
    np.testing.assert_array_equal(data["depth"][0], cv2.resize(metres, (W, H), interpolation=cv2.INTER_NEAREST))
    np.testing.assert_array_equal(data["label"][0], _label(1))  # nearest keeps ids exact
    assert read_info(out).attrs["intrinsics"] == [100.0, 100.0, 8.0, 6.0]
    assert read_info(out).modality_attrs["depth"]["units"] == "metres"
    assert main(base + ["--resize", "source", "--overwrite"]) == 0
    data = _read(out)
    assert data["rgb"].shape == (1, H * 2, W * 2, 3) and data["label"].shape == (1, H * 2, W * 2)
    np.testing.assert_array_equal(data["rgb"][0], cv2.resize(_rgb(0)[..., ::-1], (W * 2, H * 2),
                                                             interpolation=cv2.INTER_LINEAR))
    np.testing.assert_array_equal(data["depth"][0], metres)
    assert main(base[:-2] + ["--units", "depth=mm", "--out", str(tmp_path / "x.h5")]) == 2
    assert "metres" in capsys.readouterr().err


def test_errors_leave_no_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _recording(tmp_path / "rec")
    out = tmp_path / "o.h5"
    bad = np.random.default_rng(0).normal(size=(H, W)).astype(np.float32)
    bad[2, 3] = np.nan
    np.save(rec / "events" / "0001.npy", bad)
    events = ["--source", f"rgb={rec / 'rgb'}", "--target", f"events={rec / 'events'}", "--out", str(out)]
    assert main(events) == 2
    err = capsys.readouterr().err
    assert "0001.npy" in err and "NaN" in err and "--nan-as-zero" in err and not out.exists()
    assert main(events + ["--nan-as-zero"]) == 2  # now frame 1 is (H, W) where frame 0 was (H, W, 2)
    assert "0001.npy" in capsys.readouterr().err and not out.exists()
    for k in (0, 2):
        np.save(rec / "events" / f"{k:04d}.npy", bad)
    assert main(events + ["--nan-as-zero"]) == 0
    assert _read(out)["events"][1][2, 3] == 0 and np.isfinite(_read(out)["events"]).all()
    assert main(events) == 2 and "already exists" in capsys.readouterr().err

    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "zzz.png"), _rgb(0))
    assert main(["--source", f"rgb={rec / 'rgb'}", "--target", f"t={other}", "--out", str(tmp_path / "n.h5")]) == 2
    assert "no frame is present in every folder" in capsys.readouterr().err
    cv2.imwrite(str(rec / "labels" / "0002.png"), np.full((H, W), 7, np.uint8))
    assert main(["--source", f"rgb={rec / 'rgb'}", "--label", str(rec / "labels"), "--class-names",
                 str(rec / "classes.txt"), "--out", str(tmp_path / "l.h5")]) == 2
    err = capsys.readouterr().err
    assert "0002.png" in err and "[7]" in err
    (rec / "thermal" / "0001.png").write_bytes(b"not a png")
    assert main(["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}",
                 "--out", str(tmp_path / "t.h5")]) == 2
    assert "0001.png" in capsys.readouterr().err
    assert main(["--target", f"thermal={rec / 'thermal'}", "--scale", "ir=2", "--out", str(tmp_path / "s.h5")]) == 2
    assert main(["--label", str(rec / "labels"), "--out", str(tmp_path / "s.h5")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.h5", "other", "rec"]  # no partial or temp files


def test_frames_list_and_statistics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _recording(tmp_path / "rec", n=4)
    (tmp_path / "list.txt").write_text("0002\n0000\n0007\n")
    out = tmp_path / "o.h5"
    assert main(["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}", "--scale",
                 "thermal=0.01", "--frames", str(tmp_path / "list.txt"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0007" in printed and "9999" not in printed  # only listed frames count
    data = _read(out)
    assert [s.decode() for s in data["frame_name"]] == ["0000", "0002"]
    values = np.stack([_counts(0), _counts(2)]).astype(np.float64) * 0.01
    attrs = read_info(out).modality_attrs["thermal"]
    np.testing.assert_allclose(attrs["channel_mean"], [values.astype(np.float32).mean()], rtol=1e-6)
    np.testing.assert_allclose(attrs["channel_std"], [values.astype(np.float32).std()], rtol=1e-4)
    assert f"{values.mean():.4g}" in printed
    (tmp_path / "none.txt").write_text("x\n")
    assert main(["--source", f"rgb={rec / 'rgb'}", "--frames", str(tmp_path / "none.txt"),
                 "--out", str(tmp_path / "n.h5")]) == 2
    assert "no listed frame" in capsys.readouterr().err


def _sessions(root: Path, sizes: dict[str, int]) -> Path:
    """rgb, thermal and label frames in one subfolder per session (session/0000.png ...)."""
    k = 0
    for session, n in sizes.items():
        for d in ("rgb", "thermal", "labels"):
            (root / d / session).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / "rgb" / session / f"{i:04d}.png"), _rgb(k)[..., ::-1])
            cv2.imwrite(str(root / "thermal" / session / f"{i:04d}.png"), _counts(k))
            cv2.imwrite(str(root / "labels" / session / f"{i:04d}.png"), _label(k))
            k += 1
    (root / "classes.txt").write_text("wall\nfloor\nperson\n")
    return root


def test_val_fraction_keeps_subfolders_whole(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _sessions(tmp_path / "rec", {"a": 2, "b": 3, "c": 1, "d": 2})
    base = ["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}", "--label", str(rec / "labels"),
            "--class-names", str(rec / "classes.txt")]
    assert main([*base, "--out", str(tmp_path / "plain" / "train.h5")]) == 0
    assert main([*base, "--val-fraction", "0", "--out", str(tmp_path / "zero" / "train.h5")]) == 0
    assert sorted(p.name for p in (tmp_path / "zero").iterdir()) == ["train.h5"]
    plain, zero = _read(tmp_path / "plain" / "train.h5"), _read(tmp_path / "zero" / "train.h5")
    for key in plain:
        if key != "attrs":
            np.testing.assert_array_equal(plain[key], zero[key])
    capsys.readouterr()
    for name in ("x", "y"):
        assert main([*base, "--val-fraction", "0.25", "--out", str(tmp_path / name / "train.h5")]) == 0
    assert "val: " in capsys.readouterr().out
    train, val = _read(tmp_path / "x" / "train.h5"), _read(tmp_path / "x" / "val.h5")
    names = lambda d: [s.decode() for s in d["frame_name"]]  # noqa: E731
    groups = lambda d: {n.split("/")[0] for n in names(d)}  # noqa: E731
    assert groups(train) and groups(val) and not groups(train) & groups(val)
    assert sorted(names(train) + names(val)) == sorted(names(plain)) and len(names(val)) >= 2
    info = read_info(tmp_path / "x" / "val.h5")
    assert info.attrs["split"] == "val" and info.attrs["val_seed"] == 0 and info.class_names == ("wall", "floor",
                                                                                                    "person")
    again = _read(tmp_path / "y" / "val.h5")
    for key in val:
        if key != "attrs":
            np.testing.assert_array_equal(val[key], again[key])
    rows = {n: k for k, n in enumerate(names(plain))}
    for part in (train, val):
        for row, n in enumerate(names(part)):
            np.testing.assert_array_equal(part["label"][row], plain["label"][rows[n]])


def test_val_fraction_refusals_leave_no_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _sessions(tmp_path / "rec", {"a": 2, "b": 2})
    pair = ["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}"]
    out = tmp_path / "o" / "train.h5"
    cases = {"--label": [*pair, "--val-fraction", "0.5"],
             "selects nothing": [*pair, "--label", str(rec / "labels"), "--val-fraction", "0.1"],
             "train empty": [*pair, "--label", str(rec / "labels"), "--val-fraction", "0.9"]}
    for word, argv in cases.items():
        assert main([*argv, "--out", str(out)]) == 2, word
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, err
        assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert main([*pair, "--label", str(rec / "labels"), "--val-fraction", "1", "--out", str(out)]) == 2
    assert "--val-fraction" in capsys.readouterr().err


def test_mixed_bit_depths_in_one_folder_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _recording(tmp_path / "rec")
    cv2.imwrite(str(rec / "thermal" / "0001.png"), (_counts(1) // 256).astype(np.uint8))  # one 8-bit among 16-bit
    out = tmp_path / "o.h5"
    assert main(["--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "0001.png: uint8 (8-bit)" in err and "0000.png" in err and "uint16 (16-bit)" in err and not out.exists()


def test_integer_depth_needs_a_stated_scale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec = _recording(tmp_path / "rec")
    out = tmp_path / "o.h5"
    base = ["--source", f"rgb={rec / 'rgb'}", "--target", f"depth={rec / 'thermal'}", "--out", str(out)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "0000.png: integer depth (uint16)" in err and "--scale depth=" in err and not out.exists()
    assert "0.001 (millimetres" in err and "0.0001 (0.1 mm)" in err and "0.0002 (1/5000 m" in err
    float_depth = tmp_path / "metres"
    float_depth.mkdir()
    for k in range(3):  # float depth files are metres already: no scale needed
        np.save(float_depth / f"{k:04d}.npy", _counts(k).astype(np.float32) / 10000)
    assert main(["--source", f"rgb={rec / 'rgb'}", "--target", f"depth={float_depth}", "--out", str(out)]) == 0
    old = os.umask(0o022)
    try:
        assert main(base + ["--scale", "depth=0.0001", "--overwrite"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644  # like every other output, not mkstemp's 0600


def _wide_depth_recording(root: Path) -> tuple[Path, np.ndarray]:
    """4:3 colour (12x16) with a 16:9 depth folder (18x32, millimetres), two frames."""
    for d in ("rgb", "depth"):
        (root / d).mkdir(parents=True)
    mm = np.random.default_rng(3).integers(500, 5000, (18, 32)).astype(np.uint16)
    for k in range(2):
        cv2.imwrite(str(root / "rgb" / f"{k}.png"), _rgb(k))
        cv2.imwrite(str(root / "depth" / f"{k}.png"), mm)
    return root, (mm.astype(np.float64) * 0.001).astype(np.float32)


def test_a_resize_that_changes_the_aspect_is_refused_unless_cropped_or_stretched(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec, metres = _wide_depth_recording(tmp_path / "rec")
    out = tmp_path / "o.h5"
    base = ["--source", f"rgb={rec / 'rgb'}", "--target", f"depth={rec / 'depth'}", "--scale", "depth=0.001",
            "--out", str(out)]
    assert main(base + ["--resize", "target"]) == 2
    err = capsys.readouterr().err
    assert "18x32 (aspect 16:9)" in err and "12x16 (aspect 4:3)" in err and "0.png" in err
    assert "--aspect crop" in err and "--aspect stretch" in err and not out.exists()
    assert main(base + ["--resize", "target", "--aspect", "crop"]) == 0
    data = _read(out)
    np.testing.assert_array_equal(data["depth"][0],
                                  cv2.resize(metres[:, 4:28], (W, H), interpolation=cv2.INTER_NEAREST))
    assert read_info(out).attrs["aspect"] == "crop" and read_info(out).attrs["resize"] == "target"
    assert main(base + ["--resize", "target", "--aspect", "stretch", "--overwrite"]) == 0
    np.testing.assert_array_equal(_read(out)["depth"][0], cv2.resize(metres, (W, H), interpolation=cv2.INTER_NEAREST))
    assert read_info(out).attrs["aspect"] == "stretch"
    assert main(base + ["--resize", "source", "--aspect", "crop", "--overwrite"]) == 0  # rgb: 9 of 12 rows kept
    data = _read(out)
    assert data["rgb"].shape == (2, 18, 32, 3)
    np.testing.assert_array_equal(data["rgb"][1], cv2.resize(_rgb(1)[1:10, :, ::-1], (32, 18),
                                                             interpolation=cv2.INTER_LINEAR))
    assert main(base + ["--aspect", "crop", "--overwrite"]) == 2
    assert "--resize" in capsys.readouterr().err


def test_millimetres_stored_as_metres_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rec, _ = _wide_depth_recording(tmp_path / "rec")
    out = tmp_path / "o.h5"
    base = ["--target", f"depth={rec / 'depth'}", "--out", str(out)]
    assert main(base + ["--scale", "depth=1"]) == 2
    err = capsys.readouterr().err
    assert str(rec / "depth") in err and "'depth'" in err and "median depth" in err and "millimetres" in err
    assert "--scale depth=0.001 (now 1)" in err and not out.exists() and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]  # nothing staged left behind
    assert main(base + ["--scale", "depth=0.001"]) == 0


def test_bad_frames_are_named_and_left_out_of_the_statistics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Bad frames are named and do not move the printed statistics.

    One all-zero and one saturated 16-bit thermal frame among 30, with a std of about 1.5 K: the printed std stays at
    the clean frames' value and the bad frames are named; a constant colour frame is named too.
    """
    for d in ("rgb", "thermal"):
        (tmp_path / d).mkdir()
    rng = np.random.default_rng(0)
    clean = []
    for k in range(30):
        counts = np.clip(rng.normal(29400, 150, (H, W)), 0, 65535).astype(np.uint16)
        if k == 4:
            counts[:] = 0
        elif k == 9:
            counts[:] = 65535
        else:
            clean.append(counts)
        cv2.imwrite(str(tmp_path / "thermal" / f"{k:04d}.png"), counts)
        cv2.imwrite(str(tmp_path / "rgb" / f"{k:04d}.png"), np.full((H, W, 3), 128, np.uint8) if k == 7 else _rgb(k))
    out = tmp_path / "o.h5"
    assert main(["--source", f"rgb={tmp_path / 'rgb'}", "--target", f"thermal={tmp_path / 'thermal'}",
                 "--scale", "thermal=0.01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    want = np.stack(clean).astype(np.float64) * 0.01
    attrs = read_info(out).modality_attrs["thermal"]
    np.testing.assert_allclose(attrs["channel_std"], [want.astype(np.float32).std()], rtol=1e-4)
    np.testing.assert_allclose(attrs["channel_mean"], [want.astype(np.float32).mean()], rtol=1e-6)
    every = _read(out)["thermal"].astype(np.float64)
    assert every.std() > 50 * attrs["channel_std"][0]  # what the two frames did to the plain statistics
    assert attrs["channel_statistics_frames"] == 28
    np.testing.assert_allclose(np.asarray(attrs["channel_percentiles"])[:, 0], np.percentile(want, [1, 50, 99]),
                               rtol=1e-3)
    warning = next(line for line in printed.splitlines() if line.startswith("warning:") and "'thermal'" in line)
    assert "2 of 30 frames" in warning and "all-zero 1: frame 4 ('0004')" in warning
    assert "saturated 1: frame 9 ('0009')" in warning and "left out of the statistics" in warning
    rgb_warning = next(line for line in printed.splitlines() if line.startswith("warning:") and "'rgb'" in line)
    assert "constant 1: frame 7 ('0007'): every value (128, 128, 128)" in rgb_warning
    assert f"std [{attrs['channel_std'][0]:.4g}]" in printed and "percentiles 1%:" in printed


def test_class_names_read_crossmodal_predict_classes_txt(tmp_path: Path) -> None:
    from data_tools.pairs import _class_names

    (tmp_path / "classes.txt").write_text("wall\t#f3c300\nfloor\t#875692\n\ntable\n")
    assert _class_names(tmp_path / "classes.txt", [], []) == ["wall", "floor", "table"]
