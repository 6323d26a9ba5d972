"""The run's plausibility check of its data: crossmodal/data/plausibility.py, run through open_data.

Depth stored as metres with an implausible median is refused naming the likely unit; all-zero, constant and
saturated frames are named in a warning and the run's log; results are cached by the file's fingerprint.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import crossmodal.data.plausibility as plausibility
from conftest import add_frame_names
from crossmodal.config import load_config
from crossmodal.data.files import open_data
from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.h5writer import write_paired
from crossmodal.data.plausibility import check_plausibility, frame_faults, implausible, log_data_warnings

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["wall", "floor", "chair"]
N, H, W = 6, 6, 8
SPLITS = ("unlabeled", "teacher", "train", "test")

pytestmark = pytest.mark.usefixtures("own_cache")  # every test gets an empty check cache of its own


def _write(path: Path, seed: int = 0, depth_scale: float = 1.0, zero_depth: int | None = None,
           grey_rgb: int | None = None) -> Path:
    """A tiny segmentation split (depth in metres by the format's default units) with frame names."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 5.0, (N, H, W)).astype(np.float32) * np.float32(depth_scale)
    rgb = rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8)
    if zero_depth is not None:
        depth[zero_depth] = 0
    if grey_rgb is not None:
        rgb[grey_rgb] = 255
    label = rng.integers(0, len(CLASSES), (N, H, W)).astype(np.uint8)
    write_paired(path, {"rgb": rgb, "depth": depth, "label": label}, class_names=CLASSES, source="test",
                 overwrite=True)
    return add_frame_names(path, N)


def _splits(root: Path, **special: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    return {s: special.get(s) or _write(root / f"{s}.h5", seed=k) for k, s in enumerate(SPLITS)}


def _overrides(paths: dict[str, Path]) -> list[str]:
    return [*(f"data.{s}={p}" for s, p in paths.items()), "data.synthetic.enabled=false",
            "finetune.label_counts=[]", "methods=[none]"]


def test_frame_faults_name_zero_constant_and_saturated_frames() -> None:
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, (5, 10, 10, 3)).astype(np.uint8)
    block[1] = 0
    block[2] = (255, 0, 0)  # one colour everywhere: constant, although its channels differ
    block[3] = 255
    block[4, :, :] = 200
    block[4, 0, 0] = 3  # 99.0% of the pixels at one value: not more than 99%, not flagged
    got = frame_faults(block, ceiling=255)
    assert got == [(1, "all-zero", "every value 0"), (2, "constant", "every value (255, 0, 0)"),
                   (3, "saturated", "every value (255, 255, 255) (the maximum)")]
    thermal = np.full((1, 20, 20), 300.0, np.float32)
    thermal[0, 0, :2] = 1.0
    assert frame_faults(thermal) == [(0, "saturated", "99.5% of the values at 300")]
    assert frame_faults(rng.normal(size=(2, 8, 8))) == []


def test_the_likely_unit_and_its_scale() -> None:
    assert implausible(2.5, 1.0) is None and implausible(None, 1.0) is None
    text, fix = implausible(3000.0, 1.0)
    assert "3000" in text and "millimetres" in text and fix == 0.001
    text = implausible(15000.0, None)[0]  # 0.1 mm or 1/5000 m: both named
    assert "0.1 mm" in text and "or 1/5000 m (5000 counts per metre)" in text
    text, fix = implausible(0.003, 0.001)  # metres scaled by 0.001 although they were metres already
    assert "once too often" in text and fix == pytest.approx(1.0)
    assert implausible(1e9, 1.0)[1] is None


def test_millimetres_stored_as_metres_are_refused_by_the_run(tmp_path: Path) -> None:
    mm = _write(tmp_path / "train_mm.h5", depth_scale=1000.0)
    assert read_info(mm).modality_attrs["depth"]["units"] == "metres"
    cfg = load_config(REPO / "configs" / "smoke.yaml", _overrides(_splits(tmp_path / "s", train=mm)))
    with pytest.raises(FormatError) as err:
        open_data(cfg)
    msg = str(err.value)
    assert msg.startswith(f"{mm}: modality 'depth' (data.train) is stored as metres but its median depth")
    assert "millimetres" in msg and "reconvert it with --scale depth=0.001" in msg
    with pytest.raises(FormatError, match="millimetres"):
        check_plausibility({"unlabeled": read_info(mm)}, ["depth"])


def test_the_depth_median_is_sampled_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "a.h5")
    calls = []
    real = plausibility.sampled_depth_median
    monkeypatch.setattr(plausibility, "sampled_depth_median", lambda p, n: calls.append(p) or real(p, n))
    infos = {"train": read_info(path)}
    assert check_plausibility(infos, ["depth"]) == [] and calls == [path]
    assert check_plausibility(infos, ["depth"]) == [] and calls == [path]  # cache hit
    _write(path, depth_scale=1000.0)  # rewritten in millimetres at the same path: read again, refused
    with pytest.raises(FormatError, match="millimetres"):
        check_plausibility({"train": read_info(path)}, ["depth"])
    assert calls == [path, path]
    assert real(path, "depth") == pytest.approx(np.median(np.median(h5py.File(path)["depth"][...].reshape(N, -1),
                                                                    axis=1)), rel=1e-6)


def test_suspicious_frames_are_named_in_the_output_and_the_log(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    odd = _write(tmp_path / "unlabeled_odd.h5", zero_depth=2, grey_rgb=4)
    cfg = load_config(REPO / "configs" / "smoke.yaml", _overrides(_splits(tmp_path / "s", unlabeled=odd)))
    data = open_data(cfg)  # not refused
    printed = capsys.readouterr().out
    assert (f"warning: {odd} (data.unlabeled): modality 'depth': 1 of {N} frames look wrong (all-zero 1: sample 2 "
            f"(frame 'rec/0002'): every value 0)") in printed
    assert "modality 'rgb': 1 of 6 frames look wrong (saturated 1: sample 4 (frame 'rec/0004'): every value " \
           "(255, 255, 255) (the maximum))" in printed
    records: list[str] = []
    log_data_warnings(data, ("rgb", "depth"), records.append)
    assert len(records) == 2 and all(str(odd) in r and "not refused" in r for r in records)
    with caplog.at_level(logging.WARNING, logger="test_plausibility"):
        log_data_warnings(data, ("rgb", "depth"), logging.getLogger("test_plausibility").warning)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]


def test_run_transfer_refuses_millimetres_before_the_run_folder(tmp_path: Path) -> None:
    mm = _write(tmp_path / "unlabeled_mm.h5", depth_scale=1000.0)
    paths = _splits(tmp_path / "s", unlabeled=mm)
    r = subprocess.run([sys.executable, "run_transfer.py", "--config", "configs/smoke.yaml", *_overrides(paths),
                        f"output_dir={tmp_path / 'runs'}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"error: {mm}: modality 'depth' (data.unlabeled) is stored as metres" in r.stderr
    assert "millimetres" in r.stderr and not (tmp_path / "runs").exists()
