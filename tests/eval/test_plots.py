"""Tests for eval.plots: every figure is a readable, non-blank PNG of the right size.

Also colouring and input checks; matplotlib stays out of the import and keeps no figure alive.
"""
from __future__ import annotations

import gc
import math
import subprocess
import sys
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from crossmodal.colours import class_palette, colorize_depth, colorize_label
from eval.plots.bars import bar_chart, grouped_bar_chart
from eval.plots.chart import wrap_chars
from eval.plots.lines import line_plot
from eval.plots.sheet import image_sheet


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cv2 could not read {path}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _n_colours(img: np.ndarray) -> int:
    packed = img.reshape(-1, 3).astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)
    return len(np.unique(packed))


def _has_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 8) -> bool:
    return bool((np.abs(img.astype(int) - np.array(rgb)).max(axis=-1) <= tol).any())


def _loss_curves() -> dict[str, list[tuple[float, float]]]:
    steps = np.arange(200)
    return {
        name: [(float(s), float(f + 2.0 * math.exp(-s / tau))) for s in steps]
        for name, tau, f in (("none", 60, 0.6), ("KD", 45, 0.45), ("CRD", 30, 0.35))
    }


def test_line_plot_writes_png_of_requested_size(tmp_path: Path) -> None:
    out = line_plot(_loss_curves(), tmp_path / "loss.png", title="Training loss", xlabel="step", ylabel="loss")
    assert out == tmp_path / "loss.png"
    img = _read_rgb(out)
    assert img.shape == (540, 900, 3)
    assert _n_colours(img) > 20
    for colour in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):  # one distinct colour per curve
        assert _has_colour(img, colour)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file


def test_line_plot_edge_cases(tmp_path: Path) -> None:
    series = {
        "one point": [(3.0, 0.5)],
        "constant": [(0.0, 2.0), (10.0, 2.0)],
        "with nan": [(0.0, 1.0), (1.0, float("nan")), (2.0, 3.0), (3.0, 2.5)],
        "empty": [],
    }
    img = _read_rgb(line_plot(series, tmp_path / "a.png", title="t", xlabel="x", ylabel="y", size=(640, 400)))
    assert img.shape == (400, 640, 3) and _n_colours(img) > 10
    only_const = {"c": [(0.0, 1.0), (5.0, 1.0)]}
    img = _read_rgb(line_plot(only_const, tmp_path / "c.png", title="t", xlabel="x", ylabel="y", log_y=True))
    assert img.shape == (540, 900, 3)
    log_series = {"lr": [(float(s), 10.0 ** (-s / 50)) for s in range(200)], "zero": [(0.0, 0.0), (1.0, 1.0)]}
    img = _read_rgb(line_plot(log_series, tmp_path / "log.png", title="t", xlabel="x", ylabel="y", log_y=True))
    assert _n_colours(img) > 10


def test_line_plot_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        line_plot({}, tmp_path / "x.png", title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="finite"):
        line_plot({"a": [], "b": [(1.0, float("nan"))]}, tmp_path / "x.png", title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="pairs"):
        line_plot({"a": [(1.0, 2.0, 3.0)]}, tmp_path / "x.png", title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match=r"\.png"):
        line_plot(_loss_curves(), tmp_path / "x.jpg", title="t", xlabel="x", ylabel="y")
    assert not list(tmp_path.iterdir())


def test_line_plot_error_bars_and_log_x(tmp_path: Path) -> None:
    counts = [(50.0, 0.32), (150.0, 0.29), (0.0, 0.5)]  # x = 0 cannot sit on a log axis: skipped
    kw = dict(title="mIoU against labels", xlabel="labeled frames", ylabel="mIoU", log_x=True)
    plain = _read_rgb(line_plot({"none": counts}, tmp_path / "plain.png", **kw))
    bars = _read_rgb(line_plot({"none": counts}, tmp_path / "bars.png", yerr={"none": [0.02, None, 0.1]}, **kw))

    def first_point_height(img: np.ndarray) -> int:  # rows of curve colour near the leftmost point: marker (+ bar)
        mask = (np.abs(img.astype(int) - (31, 119, 180)).max(-1) <= 8)
        x0 = int(np.flatnonzero(mask.any(axis=0))[0])
        return int(mask[:, x0:x0 + 6].any(axis=1).sum())

    assert first_point_height(plain) < 15 < 60 < first_point_height(bars)


@pytest.mark.slow
def test_line_plot_keeps_no_figure_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.figure

    made: list[weakref.ref] = []

    class Tracked(matplotlib.figure.Figure):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(matplotlib.figure, "Figure", Tracked)
    for i in range(5):
        line_plot({"a": [(0.0, 1.0), (1.0, float(i))]}, tmp_path / "a.png", title="t", xlabel="x", ylabel="y")
        bar_chart({"a": (1.0, 0.1)}, tmp_path / "b.png", title="t", ylabel="y")
        grouped_bar_chart({"g": {"m": 1.0}}, tmp_path / "c.png", title="t", ylabel="y")
    gc.collect()
    assert len(made) == 15 and not [r for r in made if r() is not None]
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


def test_importing_plots_does_not_import_matplotlib() -> None:
    code = ("import sys, eval.plots.bars, eval.plots.lines, eval.plots.sheet; "
            "sys.exit(1 if any(m.startswith('matplotlib') for m in sys.modules) else 0)")
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_figure_size_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        line_plot(_loss_curves(), tmp_path / "x.png", title="t", xlabel="x", ylabel="y", size=(100, 100))
    with pytest.raises(ValueError, match="width, height"):
        bar_chart({"a": (1.0, None)}, tmp_path / "x.png", title="t", ylabel="y", size=(900,))
    img = _read_rgb(grouped_bar_chart({"g": {"m": 1.0}}, tmp_path / "odd.png", title="t", ylabel="y", size=(641, 401)))
    assert img.shape == (401, 641, 3)


def testwrap_chars() -> None:
    assert wrap_chars("method with a long name", 12) == "method with\na long name"
    assert wrap_chars("crd_dense+kd", 6) == "crd_\ndense+\nkd"
    assert wrap_chars("a b c d e", 1) is None  # more than three lines


def test_bar_chart(tmp_path: Path) -> None:
    groups = {"none": (0.312, 0.011), "KD": (0.338, 0.009), "FitNets": (0.341, None), "CRD": (0.367, 0.007)}
    out = bar_chart(groups, tmp_path / "sub" / "miou.png", title="mIoU", ylabel="mIoU", highlight="CRD")
    img = _read_rgb(out)
    assert img.shape == (540, 900, 3) and _n_colours(img) > 10
    assert _has_colour(img, (76, 114, 176), 0) and _has_colour(img, (221, 132, 82), 0)  # bars + highlighted bar
    many = {f"method with a long name {i}": (float(i) - 3.0, 0.5) for i in range(12)}
    img = _read_rgb(bar_chart(many, tmp_path / "many.png", title="t", ylabel="y", ylim=(-5, 10), size=(700, 450)))
    assert img.shape == (450, 700, 3)


def test_bar_chart_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        bar_chart({}, tmp_path / "x.png", title="t", ylabel="y")
    with pytest.raises(ValueError, match="highlight"):
        bar_chart({"a": (1.0, None)}, tmp_path / "x.png", title="t", ylabel="y", highlight="b")
    with pytest.raises(ValueError, match="std"):
        bar_chart({"a": (1.0, -0.1)}, tmp_path / "x.png", title="t", ylabel="y")
    with pytest.raises(ValueError, match="ylim"):
        bar_chart({"a": (1.0, None)}, tmp_path / "x.png", title="t", ylabel="y", ylim=(1.0, 0.0))


def test_grouped_bar_chart(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    classes = ["wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf"]
    groups = {c: {m: float(rng.uniform(0, 0.8)) for m in ("none", "KD", "CRD")} for c in classes}
    groups["bed"]["KD"] = None
    img = _read_rgb(grouped_bar_chart(groups, tmp_path / "per_class.png", title="Per-class IoU", ylabel="IoU"))
    assert img.shape == (560, 1200, 3)
    for colour in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):
        assert _has_colour(img, colour, 0)
    with pytest.raises(ValueError, match="empty"):
        grouped_bar_chart({}, tmp_path / "x.png", title="t", ylabel="y")
    with pytest.raises(ValueError, match="None"):
        grouped_bar_chart({"a": {"m": None}}, tmp_path / "x.png", title="t", ylabel="y")


def _sheet_rows(n_rows: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n_rows):
        rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        depth = colorize_depth(rng.uniform(0.0, 6.0, (24, 32)))
        gt = colorize_label(rng.integers(0, 5, (24, 32)), 5)
        rows.append([rgb, depth, gt, gt, gt])
    return rows


def test_image_sheet(tmp_path: Path) -> None:
    titles = ["RGB", "depth", "ground truth", "none prediction", "CRD prediction"]
    pal = class_palette(5)
    legend = [(f"class {i}", tuple(int(v) for v in pal[i])) for i in range(5)]
    out = image_sheet(_sheet_rows(), tmp_path / "sheet.png", column_titles=titles,
                      row_titles=["a", "b", "c"], scale=3, legend=legend)
    img = _read_rgb(out)
    assert img.shape[1] >= 5 * 32 * 3 and img.shape[0] >= 3 * 24 * 3
    assert _n_colours(img) > 100
    for colour in pal:
        assert _has_colour(img, tuple(int(v) for v in colour), 0)
    plain = _read_rgb(image_sheet([[np.zeros((10, 10), np.uint8)]], tmp_path / "one.png", column_titles=["x"], scale=1))
    assert plain.shape[0] > 10 and plain.shape[1] >= 10


def test_image_sheet_rejects_bad_input(tmp_path: Path) -> None:
    rows = _sheet_rows(2)
    with pytest.raises(ValueError, match="column titles"):
        image_sheet(rows, tmp_path / "x.png", column_titles=["a", "b"])
    with pytest.raises(ValueError, match="row titles"):
        image_sheet(rows, tmp_path / "x.png", column_titles=list("abcde"), row_titles=["only one"])
    with pytest.raises(ValueError, match="empty"):
        image_sheet([], tmp_path / "x.png", column_titles=["a"])
    rows[1][0] = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="column 0"):
        image_sheet(rows, tmp_path / "x.png", column_titles=list("abcde"))
    with pytest.raises(ValueError, match="uint8"):
        image_sheet([[np.zeros((4, 4, 3), np.float32)]], tmp_path / "x.png", column_titles=["a"])
    assert not list(tmp_path.iterdir())


def test_dodge_shifts_series_apart_symmetrically_and_keeps_the_ticks(tmp_path):
    """Error bars of several methods at one label count are drawn side by side, not on top of each other."""
    import numpy as np

    from eval.plots.lines import _curves, _dodged, line_plot

    series = {m: [(25, 0.3 + i), (50, 0.4 + i), (150, 0.5 + i)] for i, m in enumerate("abc")}
    shifted = _dodged(_curves(series, True, False), 0.02, log_x=True)
    xs = np.array([xy[:, 0] for xy, _ in shifted.values()])
    assert np.allclose(xs[1], [25, 50, 150])  # the middle series stays on the data
    assert (xs[0] < xs[1]).all() and (xs[2] > xs[1]).all()
    assert np.allclose(np.log10(xs[1] / xs[0]), np.log10(xs[2] / xs[1]))  # symmetric, in decades
    assert np.allclose(np.log10(xs[1] / xs[0]), 0.02 * np.log10(150 / 25))
    path = line_plot(series, tmp_path / "curve.png", title="t", xlabel="x", ylabel="y", log_x=True,
                     yerr={m: [0.01, 0.01, 0.01] for m in series}, dodge=0.02)
    assert path.stat().st_size > 0
