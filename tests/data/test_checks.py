"""Start-up data checks of crossmodal/data/checks.py, run through open_data.

Label ids outside the class list, splits stored differently or naming other classes, encodings that do not fit
the stored shape, and the fingerprint cache that keeps the whole-dataset label read to once per file version.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import crossmodal.data.checks as checks
from conftest import add_frame_names
from crossmodal.config import load_config
from crossmodal.data.files import open_data
from crossmodal.data.h5format import FormatError
from crossmodal.data.h5writer import write_paired
from crossmodal.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["wall", "floor", "chair"]
N, H, W = 4, 6, 8
SPLITS = ("unlabeled", "teacher", "train", "test")

pytestmark = pytest.mark.usefixtures("own_cache")  # every test gets an empty check cache of its own


def _write(path: Path, seed: int = 0, names: list[str] = CLASSES, depth_attrs: dict | None = None,
           source: str = "test") -> Path:
    """A tiny valid segmentation split: rgb, depth (metres), label, and frame names."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(names), (N, H, W)).astype(np.uint8)
    label[:, 0, 0] = 255
    data = {"rgb": rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8),
            "depth": rng.uniform(0.5, 5.0, (N, H, W)).astype(np.float32), "label": label}
    write_paired(path, data, class_names=names, source=source, overwrite=True,
                 modality_attrs={"depth": depth_attrs} if depth_attrs else None)
    return add_frame_names(path, N)


def _splits(root: Path, **special: Path) -> dict[str, Path]:
    """Valid files for every split, some replaced by the given ones."""
    root.mkdir(parents=True, exist_ok=True)
    return {s: special.get(s) or _write(root / f"{s}.h5", seed=k) for k, s in enumerate(SPLITS)}


def _config(paths: dict[str, Path], *overrides: str):
    """The smoke config on these split files, without training anything."""
    return load_config(REPO / "configs" / "smoke.yaml", [*(f"data.{s}={p}" for s, p in paths.items()),
                                                         "data.synthetic.enabled=false", "finetune.label_counts=[]",
                                                         "methods=[none]", *overrides])


def _break_label(path: Path, row: int, value: int) -> None:
    """Put an id with no class name into one frame, in place (as a foreign tool might have written it)."""
    with h5py.File(path, "r+") as f:
        lab = f["label"][row]
        lab[2, 3] = value
        f["label"][row] = lab


def test_label_id_outside_class_list_names_file_and_frame(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad_train.h5", seed=5)
    _break_label(bad, 2, 7)
    with pytest.raises(FormatError) as err:
        open_data(_config(_splits(tmp_path, train=bad)))
    msg = str(err.value)
    assert str(bad) in msg and "sample 2" in msg and "rec/0002" in msg and "[7]" in msg and "0..2" in msg
    assert "data.train" in msg


def test_label_check_is_cached_by_fingerprint(tmp_path: Path, own_cache: Path, monkeypatch) -> None:
    paths = _splits(tmp_path)
    cfg = _config(paths)
    calls: list[Path] = []
    real = checks.label_max
    monkeypatch.setattr(checks, "label_max", lambda p: calls.append(p) or real(p))
    open_data(cfg)
    assert sorted(calls) == sorted(paths.values())  # each labeled file read once
    calls.clear()
    open_data(cfg)
    assert calls == []  # cache hit: no label dataset read again
    _break_label(paths["test"], 1, 9)  # edited in place ...
    st = paths["test"].stat()
    os.utime(paths["test"], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # ... and saved a second later
    with pytest.raises(FormatError, match="sample 1"):
        open_data(cfg)
    assert calls == [paths["test"]]
    calls.clear()
    _write(paths["test"], seed=3)  # rewritten (new file renamed over it): valid again
    open_data(cfg)
    assert calls == [paths["test"]]
    for entry in (own_cache / "crossmodal" / "data_checks").iterdir():  # a corrupt cache is ignored
        entry.write_text("{not json")
    calls.clear()
    open_data(cfg)
    assert len(calls) == len(paths)


def test_class_names_differ_between_splits(tmp_path: Path) -> None:
    other = _write(tmp_path / "teacher_other.h5", names=["wall", "floor", "door"])
    with pytest.raises(ConfigError) as err:
        open_data(_config(_splits(tmp_path, teacher=other)))
    msg = str(err.value)
    assert str(other) in msg and "data.teacher" in msg and "id 2" in msg and "'door'" in msg and "'chair'" in msg


def test_units_or_scale_differ_between_splits(tmp_path: Path) -> None:
    mm = _write(tmp_path / "train_mm.h5", depth_attrs={"units": "millimetres"})
    with pytest.raises(ConfigError) as err:
        open_data(_config(_splits(tmp_path / "a", train=mm)))
    assert str(mm) in str(err.value) and "'millimetres'" in str(err.value) and "'metres'" in str(err.value)
    tool = "data_tools.pairs --target depth=rec/depth"
    root = tmp_path / "b"
    root.mkdir()
    a = _write(root / "test.h5", seed=10, depth_attrs={"scale": 0.001}, source=tool)  # frames of its own
    b = _write(root / "train.h5", depth_attrs={"scale": 0.0001}, source=tool)
    with pytest.raises(ConfigError) as err:
        open_data(_config(_splits(root, test=a, train=b)))
    assert str(a) in str(err.value) and str(b) in str(err.value) and "scale 0.0001 vs 0.001" in str(err.value)
    tum = _write(root / "unlabeled.h5", seed=12, depth_attrs={"scale": 0.0002}, source="data_tools.tum --sequence s")
    open_data(_config(_splits(root, test=a, unlabeled=tum)))  # another tool's documented factor: same metres


def test_encoding_shape_reported_before_mean_std(tmp_path: Path) -> None:
    cfg = _config(_splits(tmp_path), "data.target_encoding=rgb", "data.target_mean=[0.5]", "data.target_std=[1.0]")
    with pytest.raises(UserError) as err:
        open_data(cfg)
    assert "per-sample shape (6, 8)" in str(err.value) and "needs (H, W, 3)" in str(err.value)
    assert "mean/std" not in str(err.value)
