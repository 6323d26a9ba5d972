"""Tests for data_tools.lab: image folders, STL-10 binaries and CIFAR batches -> exact L/ab pairs."""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools.lab import main


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2Lab)


def _asymmetric(h: int, w: int, seed: int) -> np.ndarray:
    """An image whose every flip or transpose differs: a red top-left block over x/y gradients and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), rng.integers(0, 256, (h, w))], -1)
    img[: h // 3, : w // 4] = (255, 0, 0)
    return img.astype(np.uint8)


def _read(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        out = {k: f[k][...] for k in f.keys()}
        out["attrs"] = dict(f.attrs)
    return out


def _check_lab(data: dict) -> None:
    """L and ab must equal OpenCV's conversion of the stored rgb, pixel for pixel."""
    for i, rgb in enumerate(data["rgb"]):
        lab = _lab(rgb)
        np.testing.assert_array_equal(data["L"][i], lab[..., 0])
        np.testing.assert_array_equal(data["ab"][i], lab[..., 1:])
    assert data["L"].dtype == np.float32 and data["ab"].dtype == np.float32
    assert 0 <= data["L"].min() and data["L"].max() <= 100


def _names(value) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


def test_folder_with_classes(tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    images = {"cat/a.png": _asymmetric(12, 16, 0), "cat/sub/b.bmp": _asymmetric(12, 16, 1),
              "dog/c.tiff": _asymmetric(12, 16, 2), "dog/d.png": _asymmetric(12, 16, 3)}
    for rel, img in images.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(src / rel), img[..., ::-1])
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "lab.h5"
    assert main(["--images", str(src), "--out", str(out)]) == 0
    info = read_info(out)
    assert info.modalities == ("rgb", "L", "ab") and info.num_samples == 4
    assert info.shapes == {"rgb": (12, 16, 3), "L": (12, 16), "ab": (12, 16, 2)}
    assert info.modality_attrs["L"]["units"].startswith("CIE-L*")
    data = _read(out)
    for i, rel in enumerate(sorted(images)):  # sorted by path
        np.testing.assert_array_equal(data["rgb"][i], images[rel])
    _check_lab(data)
    np.testing.assert_array_equal(data["class_id"], [0, 0, 1, 1])
    assert data["class_id"].dtype == np.int64
    assert _names(data["attrs"]["image_class_names"]) == ["cat", "dog"]
    assert "label" not in data and "class_names" not in data["attrs"]


def test_flat_folder_sizes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "flat"
    src.mkdir()
    cv2.imwrite(str(src / "0.png"), _asymmetric(10, 14, 0))
    cv2.imwrite(str(src / "1.png"), _asymmetric(20, 28, 1))
    out = tmp_path / "out.h5"
    assert main(["--images", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1.png" in err and "--size" in err and not out.exists()
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    assert main(["--images", str(src), "--out", str(out), "--size", "10x14"]) == 0
    data = _read(out)
    assert data["rgb"].shape == (2, 10, 14, 3) and "class_id" not in data
    np.testing.assert_array_equal(data["rgb"][0], _asymmetric(10, 14, 0)[..., ::-1])
    np.testing.assert_array_equal(data["rgb"][1], cv2.resize(_asymmetric(20, 28, 1)[..., ::-1], (14, 10),
                                                             interpolation=cv2.INTER_AREA))
    _check_lab(data)


def test_stl10_orientation_and_labels(tmp_path: Path) -> None:
    src = tmp_path / "stl10_binary"
    src.mkdir()
    images = np.stack([_asymmetric(96, 96, k) for k in range(3)])
    # STL-10 stores each image channel by channel, each channel column-major.
    (src / "train_X.bin").write_bytes(images.transpose(0, 3, 2, 1).tobytes())
    np.array([1, 10, 4], np.uint8).tofile(src / "train_y.bin")
    (src / "unlabeled_X.bin").write_bytes(images[:2].transpose(0, 3, 2, 1).tobytes())
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (src / "class_names.txt").write_text("\n".join(names) + "\n")
    out = tmp_path / "stl.h5"
    assert main(["--images", str(src), "--out", str(out)]) == 0
    data = _read(out)
    np.testing.assert_array_equal(data["rgb"], images)
    assert (data["rgb"][:, :32, :24] == (255, 0, 0)).all()  # the red block is top-left
    _check_lab(data)
    np.testing.assert_array_equal(data["class_id"], [0, 9, 3])
    assert _names(data["attrs"]["image_class_names"]) == names
    out2 = tmp_path / "unl.h5"
    assert main(["--images", str(src), "--split", "unlabeled", "--out", str(out2)]) == 0
    data = _read(out2)
    np.testing.assert_array_equal(data["rgb"], images[:2])
    assert "class_id" not in data


def _cifar_batch(path: Path, images: np.ndarray, labels: list[int], key: str = "labels") -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R plane, G plane, B plane; rows first
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"data": data, key.encode(): labels}, f, protocol=2)


def test_cifar10_and_cifar100(tmp_path: Path) -> None:
    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    imgs = np.stack([_asymmetric(32, 32, k) for k in range(5)])
    _cifar_batch(src / "data_batch_1", imgs[:2], [3, 1])
    _cifar_batch(src / "data_batch_2", imgs[2:4], [0, 9])
    _cifar_batch(src / "test_batch", imgs[4:], [7])
    with open(src / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f, protocol=2)
    out = tmp_path / "c10.h5"
    assert main(["--images", str(src), "--out", str(out)]) == 0
    data = _read(out)
    np.testing.assert_array_equal(data["rgb"], imgs[:4])
    np.testing.assert_array_equal(data["class_id"], [3, 1, 0, 9])
    assert _names(data["attrs"]["image_class_names"])[9] == "c9"
    _check_lab(data)
    assert main(["--images", str(src), "--split", "test", "--out", str(tmp_path / "t.h5")]) == 0
    np.testing.assert_array_equal(_read(tmp_path / "t.h5")["class_id"], [7])

    src100 = tmp_path / "cifar-100-python"
    src100.mkdir()
    _cifar_batch(src100 / "train", imgs[:3], [99, 0, 42], key="fine_labels")
    with open(src100 / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, f, protocol=2)
    assert main(["--images", str(src100), "--out", str(tmp_path / "c100.h5")]) == 0
    data = _read(tmp_path / "c100.h5")
    np.testing.assert_array_equal(data["rgb"], imgs[:3])
    np.testing.assert_array_equal(data["class_id"], [99, 0, 42])
    assert len(data["attrs"]["image_class_names"]) == 100


def test_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "o.h5"
    assert main(["--images", str(empty), "--out", str(out)]) == 2
    assert "no images" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    cv2.imwrite(str(bad / "a.png"), _asymmetric(8, 8, 0))
    (bad / "b.png").write_bytes(b"\x89PNG garbage")
    assert main(["--images", str(bad), "--out", str(out)]) == 2
    assert "b.png" in capsys.readouterr().err and not out.exists()
    (bad / "b.png").unlink()
    assert main(["--images", str(bad), "--out", str(out)]) == 0
    before = out.read_bytes()
    assert main(["--images", str(bad), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["--images", str(bad), "--out", str(out), "--overwrite"]) == 0
    evil = tmp_path / "evil"
    evil.mkdir()
    with open(evil / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Path("x")}, f)  # a pickle naming a non-numpy class
    assert main(["--images", str(evil), "--out", str(tmp_path / "e.h5")]) == 2
    assert "refusing" in capsys.readouterr().err
    assert main(["--images", str(bad), "--split", "train", "--out", str(tmp_path / "s.h5")]) == 2
    assert not list(tmp_path.glob(".*"))


def test_an_image_whose_aspect_size_would_change_is_refused_unless_cropped_or_stretched(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """10x14 and 20x28 images fit --size 10x14; a square 20x20 after them is refused by name, nothing written.
    --aspect crop keeps its centred 14x20 rows 3..16, --aspect stretch squeezes it whole; the attribute says which."""
    src = tmp_path / "flat"
    src.mkdir()
    images = {"0.png": _asymmetric(10, 14, 0), "1.png": _asymmetric(20, 28, 1), "2.png": _asymmetric(20, 20, 2)}
    for name, img in images.items():
        cv2.imwrite(str(src / name), img[..., ::-1])
    out = tmp_path / "out.h5"
    assert main(["--images", str(src), "--out", str(out), "--size", "10x14"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2.png" in err and "20x20 (aspect 1:1)" in err, err
    assert "10x14 (aspect 7:5)" in err and "--aspect crop" in err and "--aspect stretch" in err
    assert not out.exists() and not list(tmp_path.glob(".*"))
    square = images["2.png"]  # written as BGR, so read back as this RGB
    assert main(["--images", str(src), "--out", str(out), "--size", "10x14", "--aspect", "crop"]) == 0
    data = _read(out)
    assert data["attrs"]["aspect"] == "crop"
    np.testing.assert_array_equal(data["rgb"][2], cv2.resize(square[3:17], (14, 10), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(data["rgb"][0], images["0.png"])  # its own aspect and size: untouched
    _check_lab(data)
    assert main(["--images", str(src), "--out", str(out), "--size", "10x14", "--aspect", "stretch",
                 "--overwrite"]) == 0
    data = _read(out)
    assert data["attrs"]["aspect"] == "stretch"
    np.testing.assert_array_equal(data["rgb"][2], cv2.resize(square, (14, 10), interpolation=cv2.INTER_AREA))
    capsys.readouterr()
    assert main(["--images", str(src), "--out", str(tmp_path / "x.h5"), "--aspect", "crop"]) == 2
    assert "--size" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()
