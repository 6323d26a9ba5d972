"""The figures of a run's report: loss curves, score bars, per-class IoU and example predictions."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from crossmodal.colours import class_palette, colorize_depth, colorize_label
from crossmodal.data.dataset import PairedDataset
from eval.class_figures import chart_classes, legend_classes
from eval.plots.bars import bar_chart, grouped_bar_chart
from eval.plots.heatmap import heatmap
from eval.plots.lines import line_plot
from eval.plots.sheet import image_sheet

BARS_UP_TO = 5  # series (methods, the teacher's reference included) that grouped bars show readably; a heatmap beyond


def per_class_figure(per_class: Mapping[str, Mapping[str, float | None]], classes: Sequence[str], path: Path,
                     title: str) -> Path:
    """The per-class IoU figure of {method: {class: IoU or None}}: grouped bars, or a heatmap with many methods.

    Up to BARS_UP_TO methods get one bar each per class; more (the full study's 14 and the teacher's reference) would
    be hundreds of thin bars, so they become a heatmap of methods by classes, the `teacher_` rows last and set apart.
    """
    if len(per_class) <= BARS_UP_TO:
        return grouped_bar_chart({c: {m: v.get(c) for m, v in per_class.items()} for c in classes}, path, title=title,
                                 ylabel="IoU")
    return heatmap({m: {c: v.get(c) for c in classes} for m, v in per_class.items()}, path, title=title,
                   label="IoU (%)", reference=[m for m in per_class if m.startswith("teacher_")])


def visualize(arr: np.ndarray) -> np.ndarray:
    """Any stored modality as an RGB uint8 picture: colour images as they are, depth-like maps colour-mapped."""
    if arr.ndim == 3 and arr.shape[-1] == 3 and arr.dtype == np.uint8:
        return arr
    x = arr if arr.ndim == 2 else arr[..., 0]
    if x.dtype != np.uint8 or arr.ndim == 2:
        x = x.astype(np.float32)
        finite = np.isfinite(x) & (x != 0)
        lo, hi = (np.percentile(x[finite], [1, 99]) if finite.any() else (0.0, 1.0))
        x = np.where(finite, (x - lo) / max(hi - lo, 1e-6) * 0.95 + 0.05, 0.0)
        return colorize_depth(np.clip(x, 0, 1), max_depth=1.0)
    return np.repeat(x[..., None], 3, axis=-1)


def loss_figures(fig: Path, curves: Mapping[str, Mapping[str, list]], stages: tuple[str, ...]) -> dict[str, str]:
    """One running-mean loss plot per stage that has curves; {figure name: path relative to the run folder}."""
    out: dict[str, str] = {}
    for stage in stages:
        series = {m: c[stage] for m, c in curves.items() if c.get(stage)}
        if series:
            line_plot(series, fig / f"{stage}_loss.png", title=f"{stage} loss (running mean)", xlabel="optimizer step",
                      ylabel="loss")
            out[f"{stage}_loss"] = f"figures/{stage}_loss.png"
    return out


def _examples_figure(path: Path, examples: Mapping[str, np.ndarray], test_path: Path, example_idx: list[int],
                     class_names: list[str], source: str, target: str) -> None:
    """The sheet of example test frames: both sensors, the ground truth and each method's prediction."""
    ds = PairedDataset(test_path, [source, target, "label"])
    n = len(class_names)
    rows, maps = [], []
    for row, i in enumerate(example_idx):
        s = ds[i]
        shown = [s["label"], *(examples[m][row] for m in examples)]
        maps += shown
        rows.append([visualize(s[source]), visualize(s[target]), *(colorize_label(lab, n) for lab in shown)])
    palette = class_palette(n)
    legend = [(class_names[k], tuple(int(c) for c in palette[k])) for k in legend_classes(n, maps)]
    image_sheet(rows, path, column_titles=[source, target, "ground truth", *examples],
                row_titles=[f"test #{i}" for i in example_idx], legend=legend)


def write_figures(run_dir: Path, methods: Mapping[str, dict], curves: Mapping[str, Mapping[str, list]],
                  examples: Mapping[str, np.ndarray], test_path: Path, example_idx: list[int],
                  class_names: list[str], source: str, target: str) -> dict[str, str]:
    """Draw every figure of a segmentation report; returns {figure name: path relative to the run folder}."""
    fig = run_dir / "figures"
    out = loss_figures(fig, curves, ("transfer", "finetune", "teacher"))
    bar_chart({m: (v["miou"], v.get("miou_std")) for m, v in methods.items()}, fig / "miou.png",
              title="Test mIoU by method", ylabel="mIoU", ylim=(0.0, 1.0))
    out["miou"] = "figures/miou.png"
    probed = {m: (v["probe_miou"], v.get("probe_miou_std")) for m, v in methods.items() if "probe_miou" in v}
    if probed:
        bar_chart(probed, fig / "probe_miou.png", title="Frozen-backbone probe mIoU by method", ylabel="mIoU",
                  ylim=(0.0, 1.0))
        out["probe_miou"] = "figures/probe_miou.png"
    charted, title = chart_classes(class_names, test_path)  # at most CHART_CLASSES (the most frequent)
    per_class_figure({m: v["per_class_iou"] for m, v in methods.items()}, charted, fig / "per_class_iou.png", title)
    out["per_class_iou"] = "figures/per_class_iou.png"
    if example_idx and examples:
        _examples_figure(fig / "examples.png", examples, test_path, example_idx, class_names, source, target)
        out["examples"] = "figures/examples.png"
    return out


def write_classification_figures(run_dir: Path, methods: Mapping[str, dict],
                                 curves: Mapping[str, Mapping[str, list]]) -> dict[str, str]:
    """Bars of the last-stage top-1 with its spread over seeds, top-1 at every stage, and the loss curves."""
    fig = run_dir / "figures"
    out: dict[str, str] = {}
    students = {m: v for m, v in methods.items() if "top1_per_stage" in v}
    bar_chart({m: (v["top1"], v.get("top1_std")) for m, v in students.items()}, fig / "top1.png",
              title="Linear-probe top-1 (last stage) by method", ylabel="top-1", ylim=(0.0, 1.0))
    out["top1"] = "figures/top1.png"
    stages = len(next(iter(students.values()))["top1_per_stage"]) if students else 0
    grouped_bar_chart({f"stage {i + 1}": {m: v["top1_per_stage"][i] for m, v in students.items()}
                       for i in range(stages)},
                      fig / "top1_per_stage.png", title="Linear-probe top-1 at each stage", ylabel="top-1")
    out["top1_per_stage"] = "figures/top1_per_stage.png"
    return out | loss_figures(fig, curves, ("transfer", "teacher"))
