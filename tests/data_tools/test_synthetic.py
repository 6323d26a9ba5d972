"""Tests for the procedural RGB-D generator: determinism, value ranges, classes and the command line."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools.synthetic import (
    CLASS_NAMES,
    NYU40_IDS,
    SPLITS,
    generate_frame,
    generate_split,
    intrinsics,
    main,
)

H, W = 48, 64


def test_frame_is_deterministic_and_well_typed() -> None:
    a = generate_frame(np.random.default_rng([1, 2, 3]), H, W)
    b = generate_frame(np.random.default_rng([1, 2, 3]), H, W)
    c = generate_frame(np.random.default_rng([1, 2, 4]), H, W)
    assert set(a) == {"rgb", "depth", "label"}
    assert a["rgb"].shape == (H, W, 3) and a["rgb"].dtype == np.uint8
    assert a["depth"].shape == (H, W) and a["depth"].dtype == np.float32
    assert a["label"].shape == (H, W) and a["label"].dtype == np.uint8
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["depth"], c["depth"])


def test_split_same_for_any_worker_count() -> None:
    one = generate_split(10, H, W, seed=5, split_id=SPLITS["train"], workers=1)
    two = generate_split(10, H, W, seed=5, split_id=SPLITS["train"], workers=2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])
    other_seed = generate_split(3, H, W, seed=6, split_id=SPLITS["train"], workers=1)
    other_split = generate_split(3, H, W, seed=5, split_id=SPLITS["test"], workers=1)
    for k in range(3):
        assert not np.array_equal(one["rgb"][k], other_seed["rgb"][k])
        assert not np.array_equal(one["rgb"][k], other_split["rgb"][k])
    np.testing.assert_array_equal(one["label"][2], generate_frame(np.random.default_rng([5, 2, 2]), H, W)["label"])


def test_value_ranges_and_class_coverage() -> None:
    data = generate_split(36, 60, 80, seed=0, split_id=SPLITS["test"], workers=2)
    depth, label = data["depth"], data["label"]
    valid = depth > 0
    assert np.all((depth == 0) | ((depth >= 0.5) & (depth <= 10.0)))
    assert np.isfinite(depth).all()
    holes = 1 - valid.mean()
    assert 0.005 < holes < 0.15, holes
    assert label.max() < len(CLASS_NAMES)
    present = np.unique(label)
    assert len(present) >= 8, [CLASS_NAMES[i] for i in present]
    # Depth spans room-scale geometry and the RGB is not flat.
    assert depth[valid].std() > 0.3
    assert data["rgb"].std() > 10


def test_intrinsics_scale_with_size() -> None:
    fx, fy, cx, cy = intrinsics(120, 160)
    assert fx == pytest.approx(518.8579 / 4) and fy == pytest.approx(519.4696 / 4)
    assert cx == pytest.approx(325.5824 / 4) and cy == pytest.approx(253.7362 / 4)


def _args(out: Path, *extra: str) -> list[str]:
    return ["--out", str(out), "--num", "4", "--num-teacher", "3", "--num-train", "2", "--num-test", "2",
            "--num-val", "2", "--size", "32x40", "--seed", "11", "--workers", "1", *extra]


def test_main_writes_five_documented_files(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    assert main(_args(out)) == 0
    assert sorted(os.listdir(out)) == ["teacher.h5", "test.h5", "train.h5", "unlabeled.h5", "val.h5"]
    counts = {"unlabeled": 4, "teacher": 3, "train": 2, "test": 2, "val": 2}
    for split, n in counts.items():
        info = read_info(out / f"{split}.h5")
        assert info.num_samples == n and (info.height, info.width) == (32, 40)
        expected = ("rgb", "depth") if split == "unlabeled" else ("rgb", "depth", "label")
        assert info.modalities == expected
        assert info.class_names == CLASS_NAMES
        assert info.attrs["nyu40_ids"] == list(NYU40_IDS)
        assert info.attrs["seed"] == 11 and info.attrs["split"] == split
        assert info.attrs["source"] == f"data_tools.synthetic seed=11 size=32x40 split={split}"
        assert info.attrs["intrinsics"] == pytest.approx(list(intrinsics(32, 40)))
        assert info.modality_attrs["depth"]["units"] == "metres"
    test = generate_split(2, 32, 40, seed=11, split_id=SPLITS["test"], workers=1)
    with h5py.File(out / "test.h5", "r") as f:
        np.testing.assert_array_equal(f["label"][...], test["label"])


def test_val_split_is_its_own_frames_and_leaves_the_others_unchanged(tmp_path: Path) -> None:
    """val.h5 comes from its own random stream: no frame equals a train or test frame, and adding it (or changing
    its size) changes no byte of the other splits' data."""
    assert main(_args(tmp_path / "a")) == 0
    assert main(_args(tmp_path / "b", "--num-val", "3")) == 0
    frames = {}
    for split in ("train", "test", "val"):
        with h5py.File(tmp_path / "a" / f"{split}.h5", "r") as f:
            frames[split] = f["depth"][...]
    for v in frames["val"]:
        assert not any(np.array_equal(v, o) for split in ("train", "test") for o in frames[split])
    for split in ("unlabeled", "teacher", "train", "test"):
        with h5py.File(tmp_path / "a" / f"{split}.h5", "r") as fa, h5py.File(tmp_path / "b" / f"{split}.h5", "r") as fb:
            for key in fa:
                np.testing.assert_array_equal(fa[key][...], fb[key][...])
    with h5py.File(tmp_path / "b" / "val.h5", "r") as f:
        np.testing.assert_array_equal(f["depth"][:2], frames["val"])  # frame k of val does not depend on --num-val


def test_main_refuses_existing_output_and_bad_args(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "syn"
    assert main(_args(out)) == 0
    stamp = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(_args(out)) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    assert main(_args(out, "--overwrite")) == 0

    fresh = tmp_path / "fresh"
    assert main(["--out", str(fresh), "--size", "120by160"]) == 2
    assert "120x160" in capsys.readouterr().err
    assert main(["--out", str(fresh), "--num", "0"]) == 2
    assert main(["--out", str(fresh), "--workers", "0"]) == 2
    assert not fresh.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--out", str(blocker / "sub"), "--num", "1"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "example:" in capsys.readouterr().out


def test_rare_objects_add_six_classes_in_few_frames(tmp_path: Path) -> None:
    """--rare-objects: the files name 18 classes (the 12, then the rare six with their NYU-40 ids); the rare
    classes appear, each in a small share of frames; without the flag the frames are unchanged."""
    from data_tools.synthetic.scene import RARE_CLASSES, class_table

    names, ids = class_table(True)
    assert names[:12] == CLASS_NAMES and names[12:] == tuple(n for n, _ in RARE_CLASSES)
    assert ids[12:] == (14, 24, 25, 33, 35, 36)
    data = generate_split(60, 60, 80, seed=0, split_id=SPLITS["teacher"], workers=2, rare_objects=True)
    present = np.array([[np.count_nonzero(lab == c) > 5 for c in range(len(names))] for lab in data["label"]])
    share = present[:, 12:].mean(axis=0)
    assert share.sum() > 0 and share.max() < 0.3, dict(zip(names[12:], share))
    assert int(present[:, 12:].any(axis=1).sum()) >= 4
    plain = generate_split(3, H, W, seed=5, split_id=SPLITS["train"], workers=1)
    np.testing.assert_array_equal(plain["label"][2], generate_frame(np.random.default_rng([5, 2, 2]), H, W)["label"])
    out = tmp_path / "rare"
    assert main(_args(out, "--rare-objects")) == 0
    info = read_info(out / "train.h5")
    assert info.class_names == names and info.attrs["nyu40_ids"] == list(ids)
    assert info.attrs["rare_objects"] == 1 and info.attrs["source"].endswith("split=train rare_objects")
