"""Tests for the NYU labeled-set converter: real .mat v7.3 layout, orientation, label tables, crop, bad inputs."""
from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from crossmodal.data.h5format import read_info
from data_tools import camera, nyu_tables
from data_tools.nyu_labeled import main, read_splits

DATA = Path(__file__).resolve().parents[1] / "data"  # real files copied into the repository (tests/data/SOURCE.md)
META = DATA / "nyu_meta"
FRAME_1407 = DATA / "rgbd_samples" / "nyu_labeled_1407_cropped"
H, W, N = 48, 64, 6


@lru_cache(maxsize=8)
def _string_refs_template(names: tuple[str, ...], scenes: tuple[str, ...]) -> bytes:
    """Bytes of a v7.3-style file holding only 'names' and 'scenes' (refs to uint16 codes); slow to build, so cached."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for key, values in (("names", names), ("scenes", scenes)):
            if not values:
                continue
            ds = f.create_dataset(key, (1, len(values)), dtype=h5py.ref_dtype)
            for k, text in enumerate(values):
                obj = refs.create_dataset(f"{key}{k}", data=np.array([ord(c) for c in text], np.uint16)[:, None])
                obj.attrs["MATLAB_class"] = np.bytes_("char")
                ds[0, k] = obj.ref
    raw = bytearray(buf.getvalue())
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    raw[: len(header)] = header
    return bytes(raw)


def write_mat(path: Path, rgb: np.ndarray, depth: np.ndarray, raw: np.ndarray, labels: np.ndarray, *,
              names: tuple[str, ...] = nyu_tables.NAMES_894, scenes: list[str] | None = None,
              skip: tuple[str, ...] = (), replace: dict | None = None) -> Path:
    """A labeled .mat in NYU's v7.3 layout as h5py sees it (axes reversed, strings as refs to uint16 codes)."""
    data = {"images": rgb.transpose(0, 3, 2, 1), "depths": depth.transpose(0, 2, 1),
            "rawDepths": raw.transpose(0, 2, 1), "labels": labels.transpose(0, 2, 1)}
    data.update(replace or {})
    scenes = scenes if scenes is not None else [f"scene_{k:04d}" for k in range(len(rgb))]
    path.write_bytes(_string_refs_template(() if "names" in skip else tuple(names), tuple(scenes)))
    with h5py.File(path, "r+") as f:
        for key, arr in data.items():
            if key not in skip:
                f.create_dataset(key, data=arr, chunks=(1, *arr.shape[1:]), compression="gzip")
    return path


def write_splits(path: Path, train: list[int], test: list[int]) -> Path:
    """splits.mat like NYU's: MATLAB v5, (n, 1) uint16 1-based indices."""
    scipy.io.savemat(str(path), {"trainNdxs": np.array(train, np.uint16)[:, None],
                                 "testNdxs": np.array(test, np.uint16)[:, None]})
    return path


def frames(n: int = N, h: int = H, w: int = W, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random frames: rgb, in-painted depth, raw depth with holes, NYU labels 0..894 (with void)."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, (n, h, w)).astype(np.float32)
    raw = np.where(rng.random((n, h, w)) < 0.2, 0, depth).astype(np.float32)
    labels = rng.integers(0, 895, (n, h, w)).astype(np.uint16)
    labels[:, :3] = 0
    return rgb, depth, raw, labels


@pytest.fixture()
def small(tmp_path: Path) -> tuple[Path, Path, tuple[np.ndarray, ...]]:
    """A 6-frame 48x64 labeled .mat and a split (train 2, 3, 5; test 1, 4, 6)."""
    data = frames()
    return (write_mat(tmp_path / "labeled.mat", *data), write_splits(tmp_path / "splits.mat", [2, 3, 5], [1, 4, 6]),
            data)


def outputs(folder: Path) -> list[str]:
    """Every file left in an output folder, hidden temporary files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------------------------ tables

def test_embedded_tables_equal_the_shared_metadata() -> None:
    rows = list(csv.DictReader(open(META / "nyu894_to_40_to_13.csv")))
    assert [r["name894"] for r in rows[1:]] == list(nyu_tables.NAMES_894)
    assert [int(r["id40"]) for r in rows] == list(nyu_tables.MAP_894_TO_40)
    np.testing.assert_array_equal(np.load(META / "map894_to_40_with0.npy"), nyu_tables.MAP_894_TO_40)
    np.testing.assert_array_equal(np.load(META / "map40_to_13_with0.npy"), nyu_tables.MAP_40_TO_13)
    np.testing.assert_array_equal(np.load(META / "map894_to_13_with0.npy"),
                                  np.asarray(nyu_tables.MAP_40_TO_13)[list(nyu_tables.MAP_894_TO_40)])
    c40 = list(csv.DictReader(open(META / "nyu40_class_names.csv")))
    assert [r["name40"] for r in c40] == list(nyu_tables.NAMES_40)
    assert [int(r["nyu_superclass4"]) for r in c40] == list(nyu_tables.SUPERCLASS_40)
    assert [int(r["id13"]) for r in csv.DictReader(open(META / "nyu40_to_13.csv"))] == list(nyu_tables.MAP_40_TO_13[1:])
    assert [r["name13"] for r in csv.DictReader(open(META / "nyu13_class_names.csv"))] == list(nyu_tables.NAMES_13)
    m40 = scipy.io.loadmat(str(META / "classMapping40.mat"))
    np.testing.assert_array_equal(m40["mapClass"].ravel(), nyu_tables.MAP_894_TO_40[1:])
    assert [str(x[0]) for x in m40["className"].ravel()] == list(nyu_tables.NAMES_40)
    assert [str(x[0]) for x in m40["allClassName"].ravel()] == list(nyu_tables.NAMES_894)
    m13 = scipy.io.loadmat(str(META / "class13Mapping.mat"))["classMapping13"][0, 0]
    np.testing.assert_array_equal(m13["labels13"].ravel(), nyu_tables.MAP_40_TO_13[1:])
    assert [str(x[0]) for x in m13["classNames"].ravel()] == list(nyu_tables.NAMES_13)


def test_lookup_tables_store_id_minus_one_and_void_as_ignore() -> None:
    m40, m13 = np.load(META / "map894_to_40_with0.npy"), np.load(META / "map894_to_13_with0.npy")
    np.testing.assert_array_equal(nyu_tables.nyu_to_class_ids(40), np.where(m40 == 0, 255, m40.astype(int) - 1))
    np.testing.assert_array_equal(nyu_tables.nyu_to_class_ids(13), np.where(m13 == 0, 255, m13.astype(int) - 1))
    t894 = nyu_tables.nyu_to_class_ids(894)
    assert t894.dtype == np.uint16 and t894[0] == 65535 and t894[1] == 0 and t894[894] == 893
    assert nyu_tables.class_names(40)[0] == "wall" and len(nyu_tables.class_names(13)) == 13


def test_real_splits_mat_reads_as_795_and_654() -> None:
    s = read_splits(META / "splits.mat", 1449)
    assert s["train"].size == 795 and s["test"].size == 654
    rows = list(csv.DictReader(open(META / "nyu_official_split_1based.csv")))
    assert s["train"].tolist() == [int(r["index_1based"]) for r in rows if r["split"] == "train"]
    assert s["test"].tolist() == [int(r["index_1based"]) for r in rows if r["split"] == "test"]


# ------------------------------------------------------------------------------------------------ conversion

def test_train_test_orientation_values_and_attributes(small, tmp_path: Path) -> None:
    mat, splits, (rgb, depth, raw, labels) = small
    rgb[1, 2, 5] = (255, 0, 0)          # an asymmetric marker in frame 2 (train row 0): row 2, column 5
    rgb[1, 40, 60] = (0, 0, 255)
    write_mat(mat, rgb, depth, raw, labels)
    out = tmp_path / "out"
    assert main(["--mat", str(mat), "--splits", str(splits), "--out", str(out), "--quiet"]) == 0
    assert outputs(out) == ["test.h5", "train.h5"]
    lut = np.where(np.load(META / "map894_to_40_with0.npy") == 0, 255,
                   np.load(META / "map894_to_40_with0.npy").astype(int) - 1)
    for split, idx in (("train", [2, 3, 5]), ("test", [1, 4, 6])):
        info = read_info(out / f"{split}.h5")
        assert info.num_samples == 3 and info.modalities == ("rgb", "depth", "raw_depth", "label")
        assert info.class_names == nyu_tables.NAMES_40
        assert info.attrs["nyu_index"] == idx and info.attrs["split"] == split and info.attrs["classes"] == 40
        assert info.attrs["scene"] == [f"scene_{k - 1:04d}" for k in idx]
        assert "--splits splits.mat" in info.attrs["source"]
        np.testing.assert_allclose(info.attrs["intrinsics"], camera.scale_intrinsics(camera.RGB_INTRINSICS,
                                                                                     (480, 640), (H, W)))
        with h5py.File(out / f"{split}.h5") as f:
            assert f["label"].dtype == np.uint8 and f["depth"].dtype == np.float32
            for row, k in enumerate(idx):
                np.testing.assert_array_equal(f["rgb"][row], rgb[k - 1])
                np.testing.assert_array_equal(f["depth"][row], depth[k - 1])
                np.testing.assert_array_equal(f["raw_depth"][row], raw[k - 1])
                np.testing.assert_array_equal(f["label"][row], lut[labels[k - 1]])
                assert (f["label"][row][:3] == 255).all()       # NYU void -> ignore
    with h5py.File(out / "train.h5") as f:
        img = f["rgb"][0]
    assert tuple(img[2, 5]) == (255, 0, 0) and tuple(img[40, 60]) == (0, 0, 255)
    assert not np.array_equal(img, np.rot90(rgb[1], 2))


@pytest.mark.parametrize("classes", [13, 894])
def test_13_and_894_class_labels(small, tmp_path: Path, classes: int) -> None:
    mat, _, (_, _, _, labels) = small
    out = tmp_path / "out"
    assert main(["--mat", str(mat), "--all", "--classes", str(classes), "--out", str(out), "--quiet"]) == 0
    info = read_info(out / "all.h5")
    assert info.attrs["nyu_index"] == list(range(1, N + 1))
    with h5py.File(out / "all.h5") as f:
        got = f["label"][()]
    if classes == 13:
        m13 = np.load(META / "map894_to_13_with0.npy").astype(int)
        np.testing.assert_array_equal(got, np.where(m13 == 0, 255, m13 - 1)[labels])
        assert got.dtype == np.uint8 and info.class_names == nyu_tables.NAMES_13
    else:
        np.testing.assert_array_equal(got, np.where(labels == 0, 65535, labels.astype(int) - 1))
        assert got.dtype == np.uint16 and info.class_names == nyu_tables.NAMES_894


def test_crop_on_full_size_frames(tmp_path: Path) -> None:
    data = frames(n=2, h=480, w=640, seed=3)
    mat = write_mat(tmp_path / "full.mat", *data)
    out = tmp_path / "out"
    assert main(["--mat", str(mat), "--all", "--crop", "--out", str(out), "--quiet"]) == 0
    info = read_info(out / "all.h5")
    assert (info.height, info.width) == (425, 560) and info.attrs["crop"] == [45, 470, 40, 600]
    fx, fy, cx, cy = camera.RGB_INTRINSICS
    np.testing.assert_allclose(info.attrs["intrinsics"], [fx, fy, cx - 40, cy - 45])
    with h5py.File(out / "all.h5") as f:
        np.testing.assert_array_equal(f["rgb"][1], data[0][1, 45:470, 40:600])
        np.testing.assert_array_equal(f["raw_depth"][0], data[2][0, 45:470, 40:600])


def test_real_frame_1407_round_trip_with_crop(tmp_path: Path) -> None:
    """The real cropped frame placed in a 480x640 canvas comes back pixel for pixel (labels through 894->13)."""
    rgb_c = cv2.cvtColor(cv2.imread(str(FRAME_1407 / "rgb.png")), cv2.COLOR_BGR2RGB)
    depth_mm = cv2.imread(str(FRAME_1407 / "depth_mm.png"), cv2.IMREAD_UNCHANGED)
    raw_mm = cv2.imread(str(FRAME_1407 / "rawdepth_mm.png"), cv2.IMREAD_UNCHANGED)
    lab13 = cv2.imread(str(FRAME_1407 / "label13_cropped_DERIVED.png"), cv2.IMREAD_UNCHANGED)
    m13 = np.load(META / "map894_to_13_with0.npy")
    nyu_for_13 = np.array([int(np.flatnonzero(m13 == c)[0]) for c in range(14)])   # one NYU id per 13-class id
    rgb = np.zeros((1, 480, 640, 3), np.uint8)
    depth = np.full((1, 480, 640), 2.0, np.float32)
    raw = np.zeros((1, 480, 640), np.float32)
    labels = np.zeros((1, 480, 640), np.uint16)
    rgb[0, 45:470, 40:600] = rgb_c
    depth[0, 45:470, 40:600] = depth_mm / 1000.0
    raw[0, 45:470, 40:600] = raw_mm / 1000.0
    labels[0, 45:470, 40:600] = nyu_for_13[lab13]
    mat = write_mat(tmp_path / "f1407.mat", rgb, depth, raw, labels, scenes=["frame_1407"])
    out = tmp_path / "out"
    assert main(["--mat", str(mat), "--all", "--crop", "--classes", "13", "--out", str(out), "--quiet"]) == 0
    with h5py.File(out / "all.h5") as f:
        np.testing.assert_array_equal(f["rgb"][0], rgb_c)
        np.testing.assert_allclose(f["depth"][0], depth_mm / 1000.0, atol=1e-3)
        np.testing.assert_allclose(f["raw_depth"][0], raw_mm / 1000.0, atol=1e-3)
        assert ((f["raw_depth"][0] == 0) == (raw_mm == 0)).all()
        np.testing.assert_array_equal(f["label"][0], np.where(lab13 == 0, 255, lab13.astype(int) - 1))


# ------------------------------------------------------------------------------------------------ bad input

def _bad_cases(tmp: Path, mat: Path, data: tuple[np.ndarray, ...]) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (extra argv, strings the error line must contain); writes the broken inputs."""
    rgb, depth, raw, labels = data
    cases: dict[str, tuple[list[str], list[str]]] = {}
    trunc = tmp / "truncated.mat"
    trunc.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    cases["truncated"] = (["--mat", str(trunc), "--all"], ["truncated.mat", "truncated"])
    write_mat(tmp / "nodepth.mat", *data, skip=("depths",))
    cases["missing key"] = (["--mat", str(tmp / "nodepth.mat"), "--all"], ["nodepth.mat", "'depths'", "missing"])
    write_mat(tmp / "shape.mat", *data, replace={"rawDepths": raw[:, :, :-1].transpose(0, 2, 1)})
    cases["misshapen key"] = (["--mat", str(tmp / "shape.mat"), "--all"], ["shape.mat", "'rawDepths'"])
    write_mat(tmp / "dtype.mat", *data, replace={"labels": labels.transpose(0, 2, 1).astype(np.float64)})
    cases["wrong dtype"] = (["--mat", str(tmp / "dtype.mat"), "--all"], ["dtype.mat", "'labels'", "uint16"])
    write_mat(tmp / "names.mat", *data, names=nyu_tables.NAMES_894[:40])
    cases["short names"] = (["--mat", str(tmp / "names.mat"), "--all"], ["names.mat", "'names'"])
    nan_depth = depth.copy()
    nan_depth[-1, 7, 9] = np.nan         # the very last frame: everything before it was already converted
    write_mat(tmp / "nan.mat", rgb, nan_depth, raw, labels)
    cases["nan depth"] = (["--mat", str(tmp / "nan.mat"), "--all"], ["nan.mat", "'depths'", "frame 6", "NaN"])
    big = labels.copy()
    big[-1, 0, 0] = 900
    write_mat(tmp / "label.mat", rgb, depth, raw, big)
    cases["label out of range"] = (["--mat", str(tmp / "label.mat"), "--all"], ["label.mat", "900"])
    for name, (train, test, words) in {
        "index out of range": ([1, 2, 7], [3, 4, 5, 6], ["'trainNdxs'", "1..6"]),
        "index zero": ([0, 1, 2], [3, 4, 5, 6], ["'trainNdxs'", "outside"]),
        "overlap": ([1, 2, 3], [3, 4, 5, 6], ["overlap"]),
        "not covering": ([1, 2], [4, 5, 6], ["cover 5 frames", "all 6"]),
    }.items():
        sp = write_splits(tmp / f"{name.replace(' ', '_')}.mat", train, test)
        cases[name] = (["--mat", str(mat), "--splits", str(sp)], [sp.name, *words])
    scipy.io.savemat(str(tmp / "nokey.mat"), {"trainNdxs": np.array([[1]], np.uint16)})
    cases["splits missing key"] = (["--mat", str(mat), "--splits", str(tmp / "nokey.mat")], ["nokey.mat", "'testNdxs'"])
    (tmp / "garbage.mat").write_bytes(b"not a mat file at all" * 10)
    cases["splits not a mat"] = (["--mat", str(mat), "--splits", str(tmp / "garbage.mat")], ["garbage.mat"])
    cases["splits missing file"] = (["--mat", str(mat), "--splits", str(tmp / "nosuch.mat")], ["nosuch.mat"])
    cases["mat missing file"] = (["--mat", str(tmp / "absent.mat"), "--all"], ["absent.mat", "no such file"])
    cases["crop on small frames"] = (["--mat", str(mat), "--all", "--crop"], ["labeled.mat", "--crop", "480x640"])
    return cases


@pytest.mark.slow
def test_every_bad_input_exits_2_naming_the_file_and_writes_nothing(small, tmp_path: Path, capsys) -> None:
    mat, _, data = small
    for name, (argv, words) in _bad_cases(tmp_path, mat, data).items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        code = main([*argv, "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1, (name, err)
        for word in words:
            assert word in lines[0], (name, word, lines[0])
        assert not [p for p in outputs(out) if p.endswith((".h5", ".tmp"))], (name, outputs(out))


def test_existing_output_refused_without_overwrite(small, tmp_path: Path, capsys) -> None:
    mat, splits, _ = small
    out = tmp_path / "out"
    out.mkdir()
    (out / "test.h5").write_bytes(b"keep me")
    assert main(["--mat", str(mat), "--splits", str(splits), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "test.h5" in err and "--overwrite" in err
    assert outputs(out) == ["test.h5"] and (out / "test.h5").read_bytes() == b"keep me"
    assert main(["--mat", str(mat), "--splits", str(splits), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert read_info(out / "test.h5").num_samples == 3


def test_unwritable_output_folder(small, tmp_path: Path, capsys) -> None:
    mat, _, _ = small
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["--mat", str(mat), "--all", "--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "a_file/sub" in capsys.readouterr().err
    ro = tmp_path / "readonly"
    ro.mkdir(mode=0o500)
    try:
        import os
        if os.access(ro, os.W_OK):   # root ignores permission bits; the blocked path above covers this case
            return
        assert main(["--mat", str(mat), "--all", "--out", str(ro), "--quiet"]) == 2
        assert "readonly" in capsys.readouterr().err and outputs(ro) == []
    finally:
        ro.chmod(0o700)


def test_usage_errors_and_help(capsys) -> None:
    assert main(["--mat", "x.mat", "--out", "o"]) == 2          # neither --splits nor --all
    assert main(["--mat", "x.mat", "--all", "--splits", "s.mat", "--out", "o"]) == 2
    assert main(["--mat", "x.mat", "--all", "--classes", "12", "--out", "o"]) == 2
    capsys.readouterr()
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--mat", "--splits", "--all", "--classes", "--out", "--crop", "--overwrite", "example:"):
        assert option in text


# ------------------------------------------------------------------------------------------------ --val-fraction

SCENES = ["bedroom_0001", "bedroom_0001", "kitchen_0002", "kitchen_0002", "kitchen_0002", "office_0003",
          "office_0003", "bath_0004", "bath_0004", "study_0005"]
TRAIN, TEST = [1, 2, 3, 4, 5, 6, 7, 10], [8, 9]


@pytest.fixture()
def scened(tmp_path: Path) -> tuple[Path, Path, tuple[np.ndarray, ...]]:
    """A 10-frame labeled .mat with several frames per scene and a split (8 train frames in 4 scenes, 2 test)."""
    data = frames(n=len(SCENES), seed=1)
    return (write_mat(tmp_path / "scened.mat", *data, scenes=SCENES),
            write_splits(tmp_path / "scened_splits.mat", TRAIN, TEST), data)


def _run_val(mat: Path, splits: Path, out: Path, *extra: str) -> int:
    """Convert with the official-style split plus extra options."""
    return main(["--mat", str(mat), "--splits", str(splits), "--out", str(out), "--quiet", *extra])


def test_val_fraction_carves_whole_training_scenes(scened, tmp_path: Path, capsys) -> None:
    mat, splits, (rgb, _, _, _) = scened
    out = tmp_path / "out"
    assert _run_val(mat, splits, out, "--val-fraction", "0.3") == 0
    err = capsys.readouterr().err
    assert outputs(out) == ["test.h5", "train.h5", "val.h5"]
    train, val, test = (read_info(out / f"{s}.h5") for s in ("train", "val", "test"))
    assert test.attrs["nyu_index"] == TEST and "val_fraction" not in test.attrs
    assert sorted(train.attrs["nyu_index"] + val.attrs["nyu_index"]) == TRAIN
    train_scenes, val_scenes = set(train.attrs["scene"]), set(val.attrs["scene"])
    assert train_scenes and val_scenes and not train_scenes & val_scenes
    assert train_scenes | val_scenes == {SCENES[k - 1] for k in TRAIN}
    assert val.attrs["scene"] == [SCENES[k - 1] for k in val.attrs["nyu_index"]]
    assert val.num_samples >= round(0.3 * len(TRAIN)) and train.num_samples + val.num_samples == len(TRAIN)
    assert val.attrs["split"] == "val" and val.attrs["carved_from"] == "train"
    assert val.attrs["val_fraction"] == pytest.approx(0.3) and val.attrs["val_seed"] == 0
    assert train.attrs["split"] == "train" and train.attrs["val_fraction"] == pytest.approx(0.3)
    assert val.modalities == train.modalities and val.class_names == train.class_names
    assert set(val.attrs) - {"carved_from"} == set(train.attrs)
    assert "--val-fraction 0.3" in val.attrs["source"]
    assert f"val: {val.num_samples} of {len(TRAIN)} training frames ({len(val_scenes)} scenes)" in err
    with h5py.File(out / "val.h5") as f:
        for row, k in enumerate(val.attrs["nyu_index"]):
            np.testing.assert_array_equal(f["rgb"][row], rgb[k - 1])


def test_val_fraction_is_deterministic_and_seeded(scened, tmp_path: Path) -> None:
    mat, splits, _ = scened
    picks = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1"), ("d", "2"), ("e", "3")):
        assert _run_val(mat, splits, tmp_path / name, "--val-fraction", "0.3", "--val-seed", seed) == 0
        picks.append(read_info(tmp_path / name / "val.h5").attrs["nyu_index"])
    assert picks[0] == picks[1]
    for split in ("train", "val", "test"):
        with h5py.File(tmp_path / "a" / f"{split}.h5") as fa, h5py.File(tmp_path / "b" / f"{split}.h5") as fb:
            for key in ("rgb", "depth", "raw_depth", "label"):
                np.testing.assert_array_equal(fa[key][()], fb[key][()])
    assert len({tuple(p) for p in picks}) > 1          # another seed picks other scenes


def test_val_fraction_zero_writes_no_val_and_the_same_train(scened, tmp_path: Path) -> None:
    mat, splits, _ = scened
    assert _run_val(mat, splits, tmp_path / "plain") == 0
    assert _run_val(mat, splits, tmp_path / "zero", "--val-fraction", "0", "--val-seed", "5") == 0
    assert outputs(tmp_path / "zero") == ["test.h5", "train.h5"]
    for split in ("train", "test"):
        a, b = read_info(tmp_path / "plain" / f"{split}.h5"), read_info(tmp_path / "zero" / f"{split}.h5")
        assert a.attrs == b.attrs and a.num_samples == b.num_samples
        with h5py.File(tmp_path / "plain" / f"{split}.h5") as fa, h5py.File(tmp_path / "zero" / f"{split}.h5") as fb:
            assert sorted(fa.keys()) == sorted(fb.keys())
            for key in fa:
                np.testing.assert_array_equal(fa[key][()], fb[key][()])


def test_val_fraction_refusals_exit_2_and_write_nothing(scened, tmp_path: Path, capsys) -> None:
    mat, splits, data = scened
    no_scenes = write_mat(tmp_path / "noscenes.mat", *data, scenes=[])
    cases = {
        "all": (["--mat", str(mat), "--all", "--val-fraction", "0.2"], ["--val-fraction", "--all"]),
        "no scenes key": (["--mat", str(no_scenes), "--splits", str(splits), "--val-fraction", "0.2"],
                          ["noscenes.mat", "'scenes'"]),
        "selects nothing": (["--mat", str(mat), "--splits", str(splits), "--val-fraction", "0.01"],
                            ["--val-fraction", "selects nothing"]),
        "train left empty": (["--mat", str(mat), "--splits", str(splits), "--val-fraction", "0.99"],
                             ["--val-fraction", "train empty"]),
    }
    for name, (argv, words) in cases.items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        code = main([*argv, "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1 and len(err.strip().splitlines()) == 1, (name, err)
        for word in words:
            assert word in lines[0], (name, word, lines[0])
        assert not [p for p in outputs(out) if p.endswith((".h5", ".tmp"))], (name, outputs(out))
    for bad in ("1", "-0.1", "1.5", "nan", "x"):
        assert main(["--mat", str(mat), "--splits", str(splits), "--val-fraction", bad, "--out", "o"]) == 2
        assert "--val-fraction" in capsys.readouterr().err


def test_existing_val_refused_without_overwrite(scened, tmp_path: Path, capsys) -> None:
    mat, splits, _ = scened
    out = tmp_path / "out"
    out.mkdir()
    (out / "val.h5").write_bytes(b"keep me")
    assert _run_val(mat, splits, out, "--val-fraction", "0.3") == 2
    assert "val.h5" in capsys.readouterr().err and outputs(out) == ["val.h5"]
    assert _run_val(mat, splits, out) == 0                     # fraction 0 leaves val.h5 alone, with a warning
    assert "val.h5" in capsys.readouterr().err and (out / "val.h5").read_bytes() == b"keep me"
