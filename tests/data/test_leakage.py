"""No leakage between splits: crossmodal/data/leakage.py, run through open_data.

The same file, or the same frame in a split learned from and one measured on, is refused naming both split keys,
their files and the first shared frame. Frames holding one value throughout are not compared. The report's
sentence about val is the check's result.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from crossmodal.config import load_config
from crossmodal.data.content import CONSTANT_DATASET, HASH_DATASET
from crossmodal.data.files import open_data
from crossmodal.data.h5writer import write_paired
from crossmodal.data.leakage import LeakageCheck, PairCheck
from crossmodal.errors import ConfigError
from eval.run_summary import val_overlap

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["wall", "floor", "chair"]
N, H, W = 6, 6, 8
SPLITS = ("unlabeled", "teacher", "train", "val", "test")

pytestmark = pytest.mark.usefixtures("own_cache")  # every test gets an empty check cache of its own


def _frames(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"rgb": rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8),
            "depth": rng.uniform(0.5, 5.0, (N, H, W)).astype(np.float32),
            "label": rng.integers(0, len(CLASSES), (N, H, W)).astype(np.uint8)}


def _write(path: Path, data: dict[str, np.ndarray], labeled: bool = True) -> Path:
    """A split file with frame names '<stem>/<row>'."""
    data = {k: v for k, v in data.items() if labeled or k != "label"}
    write_paired(path, data, class_names=CLASSES, source="test", overwrite=True)
    with h5py.File(path, "r+") as f:
        f.create_dataset("frame_name", data=np.array([f"{path.stem}/{i}" for i in range(N)],
                                                     dtype=h5py.string_dtype("utf-8")))
    return path


def _splits(root: Path) -> tuple[dict[str, Path], dict[str, dict[str, np.ndarray]]]:
    """Disjoint files for every split (unlabeled without labels) and their arrays."""
    root.mkdir(parents=True, exist_ok=True)
    arrays = {s: _frames(k) for k, s in enumerate(SPLITS)}
    return {s: _write(root / f"{s}.h5", arrays[s], labeled=s != "unlabeled") for s in SPLITS}, arrays


def _open(paths: dict[str, Path]):
    cfg = load_config(REPO / "configs" / "smoke.yaml", [*(f"data.{s}={p}" for s, p in paths.items()),
                                                        "data.synthetic.enabled=false", "finetune.label_counts=[]",
                                                        "methods=[none]"])
    return open_data(cfg)


def test_disjoint_splits_pass_and_the_report_says_what_was_compared(tmp_path: Path) -> None:
    paths, _ = _splits(tmp_path)
    data = _open(paths)
    assert {(p.first, p.second) for p in data.leakage.pairs} == {
        ("unlabeled", "val"), ("unlabeled", "test"), ("train", "val"), ("train", "test"), ("val", "test"),
        ("teacher", "val"), ("teacher", "test")}
    assert val_overlap(data) == ("no frame shared with unlabeled, train, test and teacher (every frame's content "
                                 "compared: rgb, depth; frames holding one value throughout left out)")
    assert set(data.fingerprints) == set(SPLITS) and len(set(data.fingerprints.values())) == len(SPLITS)


def test_the_statement_names_splits_that_could_not_be_compared() -> None:
    check = LeakageCheck((PairCheck("train", "val", ("depth",)), PairCheck("val", "test", ())))
    assert check.statement("val") == ("no frame shared with train (every frame's content compared: depth; frames "
                                      "holding one value throughout left out); not compared with test (no modality "
                                      "in common besides labels)")


def test_the_same_file_for_two_splits_is_refused(tmp_path: Path) -> None:
    paths, _ = _splits(tmp_path)
    with pytest.raises(ConfigError) as err:
        _open({**paths, "val": paths["test"]})
    assert str(err.value).startswith(f"data.val and data.test are the same file ({paths['test']})")
    link = tmp_path / "other" / "val.h5"  # another name for the same file (a hard link: the same inode)
    link.parent.mkdir()
    os.link(paths["test"], link)
    with pytest.raises(ConfigError, match=f"data.val and data.test are the same file \\({link} and {paths['test']}\\)"):
        _open({**paths, "val": link})
    _open({**paths, "teacher": paths["train"]})  # the teacher learning on the labeled training frames is allowed


def test_frames_shared_between_unlabeled_and_test_are_refused(tmp_path: Path) -> None:
    paths, arrays = _splits(tmp_path)
    leaked = {k: v.copy() for k, v in arrays["unlabeled"].items()}
    for k in ("rgb", "depth"):
        leaked[k][4] = arrays["test"][k][2]
        leaked[k][5] = arrays["test"][k][0]
    _write(paths["unlabeled"], leaked, labeled=False)
    with pytest.raises(ConfigError) as err:
        _open(paths)
    assert str(err.value) == (
        f"data.unlabeled ({paths['unlabeled']}) and data.test ({paths['test']}) share 2 frame(s): sample 4 (frame "
        f"'unlabeled/4') of data.unlabeled is sample 2 (frame 'test/2') of data.test (rgb, depth identical); the "
        f"splits of a run must not share frames: rebuild them from separate frames (frames holding one value "
        f"throughout are not compared)")


def test_val_and_test_sharing_a_frame_labeled_differently_are_refused(tmp_path: Path) -> None:
    paths, arrays = _splits(tmp_path)
    val = {k: v.copy() for k, v in arrays["val"].items()}
    val["rgb"][1], val["depth"][1] = arrays["test"]["rgb"][3], arrays["test"]["depth"][3]
    val["label"][1] = (arrays["test"]["label"][3] + 1) % len(CLASSES)  # labels are not compared
    _write(paths["val"], val)
    with pytest.raises(ConfigError, match=r"data.val \(.*\) and data.test \(.*\) share 1 frame\(s\): sample 1 "
                                          r"\(frame 'val/1'\) of data.val is sample 3 \(frame 'test/3'\)"):
        _open(paths)


def test_the_teacher_split_is_checked_against_test_in_a_file_without_stored_digests(tmp_path: Path) -> None:
    paths, arrays = _splits(tmp_path)
    teacher = {k: v.copy() for k, v in arrays["teacher"].items()}
    teacher["rgb"][0], teacher["depth"][0] = arrays["test"]["rgb"][5], arrays["test"]["depth"][5]
    _write(paths["teacher"], teacher)
    with h5py.File(paths["teacher"], "r+") as f:  # as written before the writers stored digests
        del f[HASH_DATASET], f[CONSTANT_DATASET]
    with pytest.raises(ConfigError, match=r"data.teacher .* share 1 frame\(s\): sample 0 .* is sample 5 "):
        _open(paths)


def test_constant_frames_are_not_compared_and_unlabeled_may_hold_train(tmp_path: Path) -> None:
    paths, arrays = _splits(tmp_path)
    blank = {s: {k: v.copy() for k, v in arrays[s].items()} for s in ("unlabeled", "test")}
    for s, row in (("unlabeled", 2), ("test", 4)):  # an all-black, all-zero-depth frame in each: not the same frame
        blank[s]["rgb"][row], blank[s]["depth"][row] = 0, 0
    blank["unlabeled"]["rgb"][3] = arrays["train"]["rgb"][1]  # train's frames among the unlabeled pairs: allowed
    blank["unlabeled"]["depth"][3] = arrays["train"]["depth"][1]
    _write(paths["unlabeled"], blank["unlabeled"], labeled=False)
    _write(paths["test"], blank["test"])
    _open(paths)
    blank["unlabeled"]["depth"][2] = arrays["test"]["depth"][1]  # black rgb, but the depth is test's frame 1
    blank["unlabeled"]["rgb"][2] = blank["test"]["rgb"][1] = 0
    _write(paths["unlabeled"], blank["unlabeled"], labeled=False)
    _write(paths["test"], blank["test"])
    with pytest.raises(ConfigError, match=r"share 1 frame\(s\): sample 2 .* is sample 1 "):
        _open(paths)
