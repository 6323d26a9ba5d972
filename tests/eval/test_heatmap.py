"""Tests for eval.plots.heatmap and the per-class IoU figure's choice between grouped bars and the heatmap.

The full study's 15 rows x 18 classes and a 3-row run of 40 classes give PNGs sized to their text; missing values are
hatched cells; up to five series keep the grouped bars, more get the heatmap, in a run's figures and in a comparison.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from eval.plots.heatmap import cell_decimals, heatmap, heatmap_size

CLASSES = ["wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
           "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow"]
METHODS = ["none", "kd", "fitnet", "at", "nst", "pkt", "rkd", "cc", "vid", "sp", "crd", "crd_dense", "cwd",
           "crd_dense+kd"]
HATCH = (242, 242, 242)  # a missing cell's grey


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cv2 could not read {path}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _hatched_px(img: np.ndarray) -> int:
    """Pixels of a missing cell's grey: a hatched cell has hundreds, anti-aliased text a few."""
    return int((np.abs(img.astype(int) - np.array(HATCH)).max(axis=-1) == 0).sum())


def _rows(methods: list[str], classes: list[str], seed: int = 0) -> dict[str, dict[str, float | None]]:
    rng = np.random.default_rng(seed)
    return {m: {c: float(rng.uniform(0.02, 0.9)) for c in classes} for m in methods}


def test_heatmap_of_the_full_study_and_of_forty_classes(tmp_path: Path) -> None:
    rows = _rows([*METHODS, "teacher_rgb"], CLASSES)
    img = _read_rgb(heatmap(rows, tmp_path / "study.png", title="Per-class IoU on the test split", label="IoU (%)",
                            reference=["teacher_rgb"]))
    assert 800 <= img.shape[1] <= 1300 and 420 <= img.shape[0] <= 720, img.shape
    assert _hatched_px(img) < 300  # nothing missing: no hatched cell (one has some 700 such pixels)
    classes40 = [f"{c}_{k}" for k in range(3) for c in CLASSES][:40]
    wide = _read_rgb(heatmap(_rows(["none", "crd_dense", "teacher_rgb"], classes40, 1), tmp_path / "wide.png",
                             title="Per-class IoU: the 40 most frequent of 300 classes", label="IoU (%)",
                             reference=["teacher_rgb"]))
    assert 1500 <= wide.shape[1] <= 2300 and 250 <= wide.shape[0] <= 450, wide.shape
    (w, h), (cell_w, cell_h) = heatmap_size([*METHODS, "teacher_rgb"], CLASSES, ["100", "88"], 1, "t")
    assert cell_w >= 30 and cell_h >= 24 and w >= 18 * cell_w and h >= 15 * cell_h  # every cell fits its number
    assert not list(tmp_path.glob("*.tmp"))


def test_heatmap_shows_missing_values_and_rejects_bad_input(tmp_path: Path) -> None:
    rows = _rows(["none", "kd", "teacher_rgb"], ["a", "b", "c"])
    rows["kd"]["b"] = None
    rows["teacher_rgb"].pop("c")  # a class a row lacks is missing too
    img = _read_rgb(heatmap(rows, tmp_path / "gaps.png", title="t", label="IoU (%)", reference=["teacher_rgb"]))
    assert _hatched_px(img) > 2 * 400  # two hatched cells
    with pytest.raises(ValueError, match="empty"):
        heatmap({}, tmp_path / "x.png", title="t", label="l")
    with pytest.raises(ValueError, match="None"):
        heatmap({"a": {"c": None}}, tmp_path / "x.png", title="t", label="l")
    with pytest.raises(ValueError, match="finite"):
        heatmap({"a": {"c": float("nan")}}, tmp_path / "x.png", title="t", label="l")
    with pytest.raises(ValueError, match="reference"):
        heatmap({"a": {"c": 0.5}}, tmp_path / "x.png", title="t", label="l", reference=["teacher_rgb"])
    with pytest.raises(ValueError, match="limits"):
        heatmap({"a": {"c": 0.5}}, tmp_path / "x.png", title="t", label="l", limits=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"\.png"):
        heatmap({"a": {"c": 0.5}}, tmp_path / "x.jpg", title="t", label="l")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gaps.png"]


def test_cell_decimals_add_one_where_whole_numbers_hide_the_differences() -> None:
    assert cell_decimals(np.array([5.0, 62.0, np.nan])) == 0
    assert cell_decimals(np.array([41.2, 44.9, np.nan])) == 1


@pytest.mark.parametrize("n, heat", [(3, False), (5, False), (6, True), (15, True)])
def test_per_class_figure_is_bars_up_to_five_series_and_a_heatmap_beyond(tmp_path: Path, n: int, heat: bool,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import eval.run_figures as rf

    drawn: list[str] = []
    for name in ("heatmap", "grouped_bar_chart"):
        monkeypatch.setattr(rf, name, lambda *a, _name=name, **k: drawn.append(_name) or Path(a[1]))
    per_class = _rows([*METHODS[:n - 1], "teacher_rgb"], CLASSES[:4])
    rf.per_class_figure(per_class, CLASSES[:4], tmp_path / "per_class_iou.png", "Per-class IoU")
    assert drawn == ["heatmap" if heat else "grouped_bar_chart"]


def test_comparison_of_many_methods_draws_the_heatmap(tmp_path: Path) -> None:
    from crossmodal.config import load_config, to_dict
    from eval.compare import compare_runs

    runs = []
    for seed in (0, 1):
        folder = tmp_path / f"s{seed}"
        cfg = to_dict(load_config(None, [f"seed={seed}", f"name={folder.name}", f"output_dir={tmp_path}"]))
        methods = {m: {"miou": 0.4, "pixel_acc": 0.8, "mean_acc": 0.5, "per_class_iou": {"a": 0.3 + seed / 10,
                                                                                         "b": None}}
                   for m in [*METHODS[:6], "teacher_rgb"]}
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"task": "segmentation", "class_names": ["a", "b"],
                                                         "seed": seed, "seeds": [seed], "config": cfg,
                                                         "methods": methods}))
        runs.append(folder)
    compare_runs(runs, tmp_path / "out")
    img = _read_rgb(tmp_path / "out" / "per_class_iou.png")
    assert img.shape != (560, 1200, 3) and _hatched_px(img) > 7 * 400  # not the grouped bars' size; b is missing
    assert "![per-class IoU](per_class_iou.png)" in (tmp_path / "out" / "report.md").read_text()
