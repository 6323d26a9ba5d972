"""Tests for the SUN RGB-D converter: bit-rotated depth, 37-class labels, intrinsics, sizes, split files, errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools import camera
from data_tools.sunrgbd import SEG37, main, split_entry
from data_tools.sunrgbd_frames import unrotate

KV1 = (24, 32)
KV2 = (30, 40)
K_KV1 = (20.0, 21.0, 16.5, 12.5)   # fx, fy, cx, cy as written in intrinsics.txt (MATLAB 1-based)
K_KV2 = (26.0, 26.5, 20.0, 15.0)
SCENES = {  # relative path -> (size, K, seed)
    "kv1/NYUdata/NYU0001": (KV1, K_KV1, 1),
    "kv1/NYUdata/NYU0002": (KV1, K_KV1, 2),
    "kv2/kinect2data/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize": (KV2, K_KV2, 3),
}


def rotate(mm: np.ndarray) -> np.ndarray:
    """What SUN RGB-D stores for millimetres mm: the bits rotated left by 3 (inverse of (d >> 3) | (d << 13))."""
    v = mm.astype(np.uint32)
    return (((v << 3) | (v >> 13)) & 0xFFFF).astype(np.uint16)


def millimetres(size: tuple[int, int], seed: int, offset: int = 0) -> np.ndarray:
    """Depth in millimetres with holes (0), far values and values using the top bits."""
    rng = np.random.default_rng(seed)
    mm = rng.integers(500, 9000, size, dtype=np.uint16) + offset
    mm[0, :] = 0
    mm[1, :4] = [8191, 8192, 65535, 1]
    return mm.astype(np.uint16)


def labels37(size: tuple[int, int], seed: int) -> np.ndarray:
    """Toolbox ids 0 (void) .. 37."""
    lab = np.random.default_rng(seed + 100).integers(0, 38, size, dtype=np.uint8)
    lab[0, :2] = [0, 37]
    return lab


def make_tree(root: Path, with_bfx: bool = True) -> Path:
    """A tiny SUNRGBD/ tree: 2 sensors, 3 scenes, each with image, depth (and depth_bfx), intrinsics, seg37.png."""
    for rel, (size, k, seed) in SCENES.items():
        d = root / rel
        name = Path(rel).name[:7]
        for sub in ("image", "depth", "depth_bfx"):
            (d / sub).mkdir(parents=True)
        rgb = np.zeros((*size, 3), np.uint8)
        rgb[:] = (10 * seed, 100, 200)  # flat colour: JPEG keeps it nearly exact
        cv2.imwrite(str(d / "image" / f"{name}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(d / "depth" / f"{name}.png"), rotate(millimetres(size, seed)))
        if with_bfx:
            cv2.imwrite(str(d / "depth_bfx" / f"{name}.png"), rotate(millimetres(size, seed, offset=7)))
        fx, fy, cx, cy = k
        (d / "intrinsics.txt").write_text(f"{fx} 0 {cx}\n0 {fy} {cy}\n0 0 1\n")
        cv2.imwrite(str(d / "seg37.png"), labels37(size, seed))
        (d / "scene.txt").write_text("bedroom")
    return root


def _k0(k: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """intrinsics.txt values -> 0-based principal point."""
    return k[0], k[1], k[2] - 1, k[3] - 1


def test_unrotate_every_uint16_value():
    raw = np.arange(65536, dtype=np.uint16)
    want = np.array([((v >> 3) | (v << 13)) & 0xFFFF for v in range(65536)], np.uint16)
    assert np.array_equal(unrotate(raw), want)
    assert np.array_equal(unrotate(rotate(raw)), raw)  # rotate is its inverse


def test_one_sensor_depth_labels_intrinsics(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    out = tmp_path / "kv1.h5"
    assert main(["--root", str(root), "--sensor", "kv1", "--labels", "seg37.png", "--out", str(out), "--quiet"]) == 0
    info = read_info(out)
    assert info.num_samples == 2 and info.modalities == ("rgb", "depth", "label")
    assert info.shapes == {"rgb": (*KV1, 3), "depth": KV1, "label": KV1}
    assert info.class_names == SEG37 and len(SEG37) == 37
    assert info.attrs["intrinsics"] == pytest.approx(_k0(K_KV1))
    with h5py.File(out, "r") as f:
        assert [s.decode() for s in f["scene"][()]] == ["kv1/NYUdata/NYU0001", "kv1/NYUdata/NYU0002"]
        assert [s.decode() for s in f["sensor"][()]] == ["kv1", "kv1"]
        for row, seed in enumerate((1, 2)):
            mm = millimetres(KV1, seed)
            assert np.array_equal(f["depth"][row], mm.astype(np.float32) / np.float32(1000))
            assert f["depth"][row][1, 2] == np.float32(65.535) and np.all(f["depth"][row][0] == 0)
            lab = labels37(KV1, seed)
            got = f["label"][row]
            assert np.all(got[lab == 0] == 255)
            assert np.array_equal(got[lab > 0], lab[lab > 0] - 1)
            assert got[0, 1] == 36 and SEG37[36] == "bag"
            assert np.abs(f["rgb"][row].astype(int) - (10 * seed, 100, 200)).max() <= 3
        assert f["intrinsics"][()] == pytest.approx(np.array([_k0(K_KV1)] * 2))
    err = capsys.readouterr().err
    far = sum(int((millimetres(KV1, seed) > 8000).sum()) for seed in (1, 2))
    assert "wrote" in err and f"warning: {far} depth pixels" in err and "--max-depth 8" in err
    out2 = tmp_path / "kv1_8m.h5"
    assert main(["--root", str(root), "--sensor", "kv1", "--max-depth", "8", "--out", str(out2), "--quiet"]) == 0
    with h5py.File(out2, "r") as f:
        assert f["depth"][0][1, 2] == 0 and f["depth"][0][1, 0] == 0  # 65.535 m and 8.191 m: beyond 8 m
        mm = millimetres(KV1, 1).astype(np.float32) / np.float32(1000)
        mm[mm > 8] = 0
        assert np.array_equal(f["depth"][0], mm)
    assert "warning" not in capsys.readouterr().err


def test_mixed_sizes_refused_then_resized(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    out = tmp_path / "all.h5"
    assert main(["--root", str(root), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "kv1 24x32 (2 scenes)" in err and "kv2 30x40 (1 scenes)" in err
    assert "--size" in err and "--sensor" in err and not out.exists()

    assert main(["--root", str(root), "--out", str(out), "--quiet", "--size", "12x16", "--depth", "bfx",
                 "--labels", "seg37.png"]) == 0
    info = read_info(out)
    assert info.num_samples == 3 and info.shapes["depth"] == (12, 16)
    assert "intrinsics" not in info.attrs  # two cameras: per row only
    with h5py.File(out, "r") as f:
        ks = f["intrinsics"][()]
        assert ks[0] == pytest.approx(camera.scale_intrinsics(_k0(K_KV1), KV1, (12, 16)))
        assert ks[2] == pytest.approx(camera.scale_intrinsics(_k0(K_KV2), KV2, (12, 16)))
        for row, (size, _, seed) in enumerate(SCENES.values()):  # nearest: only source values (bfx: +7 mm)
            src = millimetres(size, seed, offset=7).astype(np.float32) / np.float32(1000)
            assert set(np.unique(f["depth"][row]).tolist()) <= set(np.unique(src).tolist())
            assert set(np.unique(f["label"][row]).tolist()) <= set(range(37)) | {255}


def test_split_file_order_prefixes_and_unknown_scene(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    rels = list(SCENES)
    split = tmp_path / "split.txt"
    split.write_text(f"# test scenes\n/n/fs/sun3d/data/SUNRGBD/{rels[1]}/\n\n{rels[0]}/image/NYU0001.jpg\n{rels[1]}\n")
    out = tmp_path / "s.h5"
    assert main(["--root", str(root), "--split-file", str(split), "--out", str(out), "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        assert [s.decode() for s in f["scene"][()]] == [rels[1], rels[0]]
    capsys.readouterr()
    assert split_entry("SUNRGBD\\kv2\\a\\b") == "kv2/a/b"
    split.write_text(f"{rels[0]}\n#\nkv1/NYUdata/NYU9999\n")
    out2 = tmp_path / "s2.h5"
    assert main(["--root", str(root), "--split-file", str(split), "--out", str(out2), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "split.txt line 3" in err and "NYU9999" in err and len(err.splitlines()) == 1 and not out2.exists()


def _fails(capsys, argv: list[str], out: Path) -> str:
    assert main(argv) == 2
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_errors(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    out = tmp_path / "o.h5"
    base = ["--root", str(root), "--sensor", "kv1", "--out", str(out), "--quiet"]
    assert "seglabel" in _fails(capsys, base + ["--labels", "seg.mat"], out)
    assert "nothing matches" in _fails(capsys, base + ["--labels", "label37/*.png"], out)
    scene = root / "kv1/NYUdata/NYU0002"
    bad = labels37(KV1, 2)
    bad[5, 5] = 40
    cv2.imwrite(str(scene / "seg37.png"), bad)
    err = _fails(capsys, base + ["--labels", "seg37.png"], out)
    assert "seg37.png" in err and "reach 40" in err
    cv2.imwrite(str(scene / "depth" / "NYU0002.png"), np.zeros(KV1, np.uint8))
    err = _fails(capsys, base, out)
    assert "NYU0002.png" in err and "16-bit" in err
    (scene / "intrinsics.txt").write_text("1 2 3\n")
    assert "intrinsics.txt" in _fails(capsys, base, out)
    (scene / "intrinsics.txt").unlink()
    assert "intrinsics.txt: no such file" in _fails(capsys, base, out)
    assert "no SUN RGB-D scene folders" in _fails(capsys, ["--root", str(root), "--sensor", "xtion", "--out",
                                                           str(out), "--quiet"], out)


def test_workers_give_identical_arrays_and_worker_errors(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    argv = ["--root", str(root), "--size", "12x16", "--labels", "seg37.png", "--quiet"]
    assert main(argv + ["--out", str(one)]) == 0
    warn_one = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert main(argv + ["--out", str(two), "--workers", "2"]) == 0
    warn_two = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warn_one) == 1 and warn_two == warn_one  # far-pixel counts add up the same from the workers
    with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
        assert set(a) == set(b) and a["rgb"].shape[0] == 3
        for key in a:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key][()], b[key][()]), key

    kv2 = next(rel for rel in SCENES if rel.startswith("kv2"))  # the last scene: decoded in a worker
    (bad,) = (root / kv2 / "depth").iterdir()
    cv2.imwrite(str(bad), np.zeros(KV2, np.uint8))  # right size in the header (checked up front), wrong depth
    out = tmp_path / "o.h5"
    err = _fails(capsys, argv + ["--out", str(out), "--workers", "2"], out)
    assert err.startswith("python -m data_tools.sunrgbd: error: ") and f"{bad}: depth image is uint8" in err


# ------------------------------------------------------------------------------------------------ toolbox labels

def make_toolbox(folder: Path, entries: list[tuple[str, np.ndarray]], blank: tuple[int, ...] = ()
                 ) -> tuple[Path, Path]:
    """A fake SUNRGBDtoolbox/Metadata: SUNRGBD2Dseg.mat laid out as MATLAB v7.3 writes it (HDF5; group
    SUNRGBD2Dseg, dataset seglabel (N, 1) of object references into '#refs#', each label stored transposed (W, H))
    and SUNRGBDMeta.mat (MATLAB v5, a 1xN struct array with sequenceName and rgbpath). entries: (sequenceName,
    (H, W) toolbox ids); entries numbered in blank get an empty sequenceName (the scene is then in rgbpath)."""
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    seg, meta = folder / "SUNRGBD2Dseg.mat", folder / "SUNRGBDMeta.mat"
    with h5py.File(seg, "w") as f:
        refs = f.create_group("#refs#")
        labels = f.create_group("SUNRGBD2Dseg").create_dataset("seglabel", (len(entries), 1), dtype=h5py.ref_dtype)
        for k, (_, lab) in enumerate(entries):
            ds = refs.create_dataset(f"r{k}", data=lab.T.astype(np.float64 if k % 2 else np.uint8))  # doubles too
            ds.attrs["MATLAB_class"] = np.bytes_("double" if k % 2 else "uint8")
            labels[k, 0] = ds.ref
    struct = np.zeros((1, len(entries)), dtype=[("sequenceName", object), ("rgbpath", object)])
    for k, (name, _) in enumerate(entries):
        rel = name if name.startswith("SUNRGBD/") else "SUNRGBD/" + name
        struct[0, k] = ("" if k in blank else name, f"/n/fs/sun3d/data/{rel}/image/x.jpg")
    scipy.io.savemat(meta, {"SUNRGBDMeta": struct})
    return seg, meta


def _toolbox_entries() -> list[tuple[str, np.ndarray]]:
    """The fake tree's scenes in a different order than the tree, with and without the 'SUNRGBD/' prefix, one
    empty sequenceName (found through rgbpath) and one image that is not in the tree."""
    rels = list(SCENES)
    return [("SUNRGBD/" + rels[2], labels37(KV2, 3)), ("SUNRGBD/xtion/other/scene9", labels37((5, 7), 9)),
            (rels[0], labels37(KV1, 1)), ("SUNRGBD/" + rels[1], labels37(KV1, 2))]


def test_toolbox_seg_mat_labels(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    entries = _toolbox_entries()
    seg, meta = make_toolbox(tmp_path / "Metadata", entries, blank=(3,))  # entry 3 named by rgbpath only
    for (sub, extra), workers in zip(((root, []), (root / "kv1", ["--sensor", "kv1"])), ("1", "2")):
        out = tmp_path / f"seg{workers}.h5"
        assert main(["--root", str(sub), "--seg-mat", str(seg), "--meta", str(meta), "--size", "12x16", "--out",
                     str(out), "--quiet", "--workers", workers] + extra) == 0, capsys.readouterr().err
        native = tmp_path / f"native{workers}.h5"
        assert main(["--root", str(root), "--sensor", "kv1", "--seg-mat", str(seg), "--meta", str(meta), "--out",
                     str(native), "--quiet", "--workers", workers]) == 0
        info = read_info(native)
        assert info.modalities == ("rgb", "depth", "label") and info.class_names == SEG37
        with h5py.File(native, "r") as f:
            assert "SUNRGBD2Dseg.mat" in f["label"].attrs["description"]
            for row, seed in enumerate((1, 2)):  # toolbox ids 1..37 -> 0..36, 0 -> 255, exactly as the PNG path
                lab = labels37(KV1, seed)
                want = np.where(lab == 0, 255, lab.astype(np.int64) - 1).astype(np.uint8)
                assert np.array_equal(f["label"][row], want)
        with h5py.File(out, "r") as f:
            scenes = [s.decode() for s in f["scene"][()]]
            assert len(scenes) == (3 if workers == "1" else 2) and f["label"].shape[1:] == (12, 16)
    # the same file as the per-scene PNG route
    png = tmp_path / "png.h5"
    assert main(["--root", str(root), "--labels", "seg37.png", "--size", "12x16", "--out", str(png), "--quiet"]) == 0
    with h5py.File(png, "r") as a, h5py.File(tmp_path / "seg1.h5", "r") as b:
        assert np.array_equal(a["label"][()], b["label"][()]) and np.array_equal(a["depth"][()], b["depth"][()])


def test_toolbox_seg_mat_errors(tmp_path, capsys, monkeypatch):
    import sys

    root = make_tree(tmp_path / "SUNRGBD")
    out = tmp_path / "o.h5"
    base = ["--root", str(root), "--sensor", "kv1", "--out", str(out), "--quiet"]
    entries = _toolbox_entries()
    seg, meta = make_toolbox(tmp_path / "Metadata", entries)
    assert "go together" in _fails(capsys, base + ["--seg-mat", str(seg)], out)
    assert "pass one" in _fails(capsys, base + ["--seg-mat", str(seg), "--meta", str(meta), "--labels", "seg37.png"],
                                out)
    assert "--seg-mat" in _fails(capsys, base + ["--labels", "SUNRGBD2Dseg.mat"], out)
    # a selected scene that SUNRGBDMeta.mat does not list
    missing = [e for e in entries if not e[0].endswith("NYU0002")]
    seg2, meta2 = make_toolbox(tmp_path / "Missing", missing)
    err = _fails(capsys, base + ["--seg-mat", str(seg2), "--meta", str(meta2)], out)
    assert "scene kv1/NYUdata/NYU0002 is not in" in err and "SUNRGBDMeta.mat" in err
    # the two files disagree on the number of images
    err = _fails(capsys, base + ["--seg-mat", str(seg2), "--meta", str(meta)], out)
    assert "holds 3 labels" in err and "4 images" in err
    # a label of another size than the scene's image
    wrong = [(n, labels37(KV2, 3) if n.endswith("NYU0001") else lab) for n, lab in entries]
    seg3, meta3 = make_toolbox(tmp_path / "Wrong", wrong)
    err = _fails(capsys, base + ["--seg-mat", str(seg3), "--meta", str(meta3)], out)
    assert "NYU0001" in err and "is 24x32 but its label" in err and "is 30x40" in err
    # ids beyond 37, a file that is not HDF5, a meta without sequenceName, no scipy
    bad = [(n, np.where(lab == 37, 40, lab) if "NYU" in n else lab) for n, lab in entries]
    seg4, meta4 = make_toolbox(tmp_path / "Bad", bad)
    assert "reach 40" in _fails(capsys, base + ["--seg-mat", str(seg4), "--meta", str(meta4)], out)
    err = _fails(capsys, base + ["--seg-mat", str(meta), "--meta", str(meta)], out)
    assert "MATLAB v7.3 (HDF5)" in err
    import scipy.io

    nometa = tmp_path / "nometa.mat"
    scipy.io.savemat(nometa, {"other": np.zeros(3)})
    assert "sequenceName" in _fails(capsys, base + ["--seg-mat", str(seg), "--meta", str(nometa)], out)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    assert "pip install scipy" in _fails(capsys, base + ["--seg-mat", str(seg), "--meta", str(meta)], out)


def _frames(path: Path) -> tuple[dict, dict]:
    """Every dataset and the root attributes of a file (source aside, which repeats the command line)."""
    with h5py.File(path, "r") as f:
        data = {k: f[k][()] for k in f}
    attrs = dict(read_info(path).attrs)
    attrs.pop("source", None)
    return data, attrs


def test_val_fraction_moves_whole_scene_folders_to_val(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    base = ["--root", str(root), "--size", "24x32", "--labels", "seg37.png", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain" / "train.h5")]) == 0
    assert main([*base, "--val-fraction", "0", "--out", str(tmp_path / "zero" / "train.h5")]) == 0
    assert sorted(p.name for p in (tmp_path / "zero").iterdir()) == ["train.h5"]
    plain, zero = _frames(tmp_path / "plain" / "train.h5"), _frames(tmp_path / "zero" / "train.h5")
    assert plain[1] == zero[1] and plain[0].keys() == zero[0].keys()
    for key in plain[0]:
        assert np.array_equal(plain[0][key], zero[0][key]), key
    capsys.readouterr()
    for name in ("a", "b"):
        out = tmp_path / name / "train.h5"
        assert main([*base, "--val-fraction", "0.34", "--out", str(out)]) == 0
        assert sorted(p.name for p in out.parent.iterdir()) == ["train.h5", "val.h5"]
    assert "val.h5 (1 frames = 1 scene folders carved from the 3 selected" in capsys.readouterr().err
    train, val = _frames(tmp_path / "a" / "train.h5"), _frames(tmp_path / "a" / "val.h5")
    train_scenes = {s.decode() for s in train[0]["scene"]}
    val_scenes = {s.decode() for s in val[0]["scene"]}
    assert len(val_scenes) == 1 and not train_scenes & val_scenes and train_scenes | val_scenes == set(SCENES)
    assert val[1]["split"] == "val" and val[1]["carved_from"] == "train.h5" and val[1]["val_seed"] == 0
    assert val[1]["val_fraction"] == pytest.approx(0.34) and train[1]["val_fraction"] == pytest.approx(0.34)
    assert read_info(tmp_path / "a" / "val.h5").class_names == SEG37
    rows = {s.decode(): k for k, s in enumerate(plain[0]["scene"])}
    for part in (train[0], val[0]):
        for row, scene in enumerate(part["scene"]):
            assert np.array_equal(part["label"][row], plain[0]["label"][rows[scene.decode()]])
    again = _frames(tmp_path / "b" / "val.h5")
    for key in val[0]:
        assert np.array_equal(val[0][key], again[0][key]), key


def test_val_fraction_refusals(tmp_path, capsys):
    root = make_tree(tmp_path / "SUNRGBD")
    out = tmp_path / "o" / "train.h5"
    base = ["--root", str(root), "--size", "24x32", "--quiet", "--out", str(out)]
    assert "labels" in _fails(capsys, [*base, "--val-fraction", "0.5"], out)
    assert "selects nothing" in _fails(capsys, [*base, "--labels", "seg37.png", "--val-fraction", "0.1"], out)
    assert "train empty" in _fails(capsys, [*base, "--labels", "seg37.png", "--val-fraction", "0.9"], out)
    assert not (out.parent / "val.h5").exists()
    for bad in ("1", "-0.2", "abc"):      # argparse: usage, then one error line naming the option
        assert main([*base, "--labels", "seg37.png", "--val-fraction", bad]) == 2
        assert "error: argument --val-fraction" in capsys.readouterr().err and not out.exists()
    val_out = tmp_path / "o" / "val.h5"
    assert "val.h5" in _fails(capsys, ["--root", str(root), "--size", "24x32", "--labels", "seg37.png", "--quiet",
                                       "--val-fraction", "0.34", "--out", str(val_out)], val_out)


def _add_scene(root: Path, rel: str, size: tuple[int, int], k: tuple[float, float, float, float], seed: int) -> None:
    """One more scene folder like make_tree's (image, depth, intrinsics.txt, seg37.png)."""
    d = root / rel
    for sub in ("image", "depth"):
        (d / sub).mkdir(parents=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    cv2.imwrite(str(d / "image" / "frame.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # lossless, to compare
    cv2.imwrite(str(d / "depth" / "frame.png"), rotate(millimetres(size, seed)))
    (d / "intrinsics.txt").write_text(f"{k[0]} 0 {k[2]}\n0 {k[1]} {k[3]}\n0 0 1\n")
    cv2.imwrite(str(d / "seg37.png"), labels37(size, seed))


def test_a_scene_whose_aspect_size_would_change_is_refused_unless_cropped_or_stretched(tmp_path, capsys):
    """kv1 24x32 and kv2 30x40 (4:3) fit --size 12x16; a 24x40 (5:3) realsense scene after them is refused by
    name before anything is written. --aspect crop keeps its centred 24x32 (columns 4..35; cx shifts by 4, then
    halves), --aspect stretch squeezes it (fx, cx scale by 16/40); the 4:3 scenes are the same either way."""
    root = make_tree(tmp_path / "SUNRGBD")
    rel, size, k = "realsense/sa/2014_10_21-18_20_11-1311000073", (24, 40), (22.0, 23.0, 20.5, 12.5)
    _add_scene(root, rel, size, k, 7)
    out = tmp_path / "all.h5"
    base = ["--root", str(root), "--out", str(out), "--quiet", "--size", "12x16", "--labels", "seg37.png"]
    err = _fails(capsys, base, out)
    assert rel in err and "realsense" in err and "24x40 (aspect 5:3)" in err and "12x16 (aspect 4:3)" in err
    assert "--aspect crop" in err and "--aspect stretch" in err and "NYU" not in err

    assert main(base + ["--aspect", "crop"]) == 0
    info = read_info(out)
    assert info.num_samples == 4 and info.attrs["aspect"] == "crop"
    fx, fy, cx, cy = _k0(k)
    with h5py.File(out, "r") as f:
        ks = f["intrinsics"][()]
        assert ks[3] == pytest.approx([fx / 2, fy / 2, (cx - 4 + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5])
        assert ks[0] == pytest.approx(camera.scale_intrinsics(_k0(K_KV1), KV1, (12, 16)))
        rgb = np.random.default_rng(7).integers(0, 256, (*size, 3), dtype=np.uint8)[:, 4:36]
        assert np.array_equal(f["rgb"][3], cv2.resize(rgb, (16, 12), interpolation=cv2.INTER_AREA))
        depth = millimetres(size, 7).astype(np.float32)[:, 4:36] / np.float32(1000)
        assert np.array_equal(f["depth"][3], cv2.resize(depth, (16, 12), interpolation=cv2.INTER_NEAREST_EXACT))
        cropped = f["depth"][()]

    assert main(base + ["--aspect", "stretch", "--overwrite"]) == 0
    assert read_info(out).attrs["aspect"] == "stretch"
    with h5py.File(out, "r") as f:
        assert f["intrinsics"][3] == pytest.approx([fx * 16 / 40, fy / 2, (cx + 0.5) * 16 / 40 - 0.5,
                                                    (cy + 0.5) / 2 - 0.5])
        assert np.array_equal(f["depth"][:3], cropped[:3])  # the 4:3 scenes: no crop, no stretch
        assert not np.array_equal(f["depth"][3], cropped[3])
    capsys.readouterr()
    assert "--size" in _fails(capsys, ["--root", str(root), "--sensor", "kv1", "--out", str(tmp_path / "k.h5"),
                                       "--quiet", "--aspect", "stretch"], tmp_path / "k.h5")
