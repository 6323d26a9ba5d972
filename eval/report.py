"""Run outputs people read: metrics.json, report.md and figures/ (curves, bars, example predictions)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from accelerate import Accelerator

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config, to_dict
from crossmodal.config.tasks import SEGMENTATION
from crossmodal.data.dataset import PairedDataset
from crossmodal.data.files import SPLITS, DataFiles
from crossmodal.diskspace import check_output_dir
from crossmodal.downstream import example_indices
from crossmodal.errors import UserError
from crossmodal.runtime import device_name, flatten, versions
from eval.class_figures import chart_classes, legend_classes
from eval.label_efficiency import label_efficiency, matches_sentence, write_figure
from eval.networks_section import networks_section
from eval.plots import (
    bar_chart,
    class_palette,
    colorize_depth,
    colorize_label,
    grouped_bar_chart,
    image_sheet,
    line_plot,
)
from eval.teacher_warnings import reference_warnings
from eval.tuning import tuning_section
from eval.verdict import controls_table, paired_verdict, verdict, verdict_lines
from eval.verdict import plus_minus as _pm


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}" if pct else f"{v:.4f}"


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


def write_figures(run_dir: Path, methods: Mapping[str, dict], curves: Mapping[str, Mapping[str, list]],
                  examples: Mapping[str, np.ndarray], test_path: Path, example_idx: list[int],
                  class_names: list[str], source: str, target: str) -> dict[str, str]:
    """Draw every figure of the report; returns {figure name: path relative to the run folder}."""
    fig = run_dir / "figures"
    out: dict[str, str] = {}
    for stage in ("transfer", "finetune", "teacher"):
        series = {m: c[stage] for m, c in curves.items() if c.get(stage)}
        if series:
            line_plot(series, fig / f"{stage}_loss.png", title=f"{stage} loss (running mean)", xlabel="optimizer step",
                      ylabel="loss")
            out[f"{stage}_loss"] = f"figures/{stage}_loss.png"
    bar_chart({m: (v["miou"], v.get("miou_std")) for m, v in methods.items()}, fig / "miou.png",
              title="Test mIoU by method", ylabel="mIoU", ylim=(0.0, 1.0))
    out["miou"] = "figures/miou.png"
    probed = {m: (v["probe_miou"], v.get("probe_miou_std")) for m, v in methods.items() if "probe_miou" in v}
    if probed:
        bar_chart(probed, fig / "probe_miou.png", title="Frozen-backbone probe mIoU by method", ylabel="mIoU",
                  ylim=(0.0, 1.0))
        out["probe_miou"] = "figures/probe_miou.png"
    charted, title = chart_classes(class_names, test_path)  # at most CHART_CLASSES bars (the most frequent)
    grouped_bar_chart({c: {m: v["per_class_iou"].get(c) for m, v in methods.items()} for c in charted},
                      fig / "per_class_iou.png", title=title, ylabel="IoU")
    out["per_class_iou"] = "figures/per_class_iou.png"
    if example_idx and examples:
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
        image_sheet(rows, fig / "examples.png", column_titles=[source, target, "ground truth", *examples],
                    row_titles=[f"test #{i}" for i in example_idx], legend=legend)
        out["examples"] = "figures/examples.png"
    return out


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


NOT_AVERAGED = ("time_s", "num_test", "grid", "layer", "skipped_nonfinite")


def aggregate(per_seed: Mapping[int, Mapping[str, Any]], class_names: list[str]) -> dict[str, Any]:
    """One method over its seeds: mean and sample std of each scalar metric (std None for one seed), per-stage
    lists averaged element-wise, the mean per-class IoU (over the seeds where the class is defined), the frozen-probe
    mIoU, the summed time, and every seed's own metrics."""
    seeds = sorted(per_seed)
    runs = [per_seed[s] for s in seeds]
    out: dict[str, Any] = {"seeds": seeds}
    for key, value in runs[0].items():
        if key in NOT_AVERAGED or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or value is None:
            vals = [r[key] for r in runs if r.get(key) is not None]
            if vals:
                out[key], out[f"{key}_std"] = _mean_std(vals)
        elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
            arr = np.asarray([r[key] for r in runs], dtype=np.float64)
            out[key] = arr.mean(0).tolist()
            out[f"{key}_std"] = arr.std(0, ddof=1).tolist() if len(runs) > 1 else None
    if "per_class_iou" in runs[0]:
        out["per_class_iou"] = {c: (float(np.mean(v)) if (v := [r["per_class_iou"][c] for r in runs
                                                                 if r["per_class_iou"].get(c) is not None]) else None)
                                for c in class_names}
    if all("probe" in r for r in runs):
        out["probe_miou"], out["probe_miou_std"] = _mean_std([r["probe"]["miou"] for r in runs])
    if all("time_s" in r for r in runs):
        out["time_s"] = round(sum(r["time_s"] for r in runs), 1)
    if any(r.get("skipped_nonfinite") for r in runs):  # transfer steps skipped for a non-finite loss, all seeds
        out["skipped_nonfinite"] = sum(r.get("skipped_nonfinite", 0) for r in runs)
    out["per_seed"] = {str(s): dict(per_seed[s]) for s in seeds}
    return out


def write_classification_figures(run_dir: Path, methods: Mapping[str, dict],
                                 curves: Mapping[str, Mapping[str, list]]) -> dict[str, str]:
    """Bars of the last-stage top-1 (± std over seeds), top-1 at every stage, and the loss curves."""
    fig = run_dir / "figures"
    out: dict[str, str] = {}
    students = {m: v for m, v in methods.items() if "top1_per_stage" in v}
    bar_chart({m: (v["top1"], v.get("top1_std")) for m, v in students.items()}, fig / "top1.png",
              title="Linear-probe top-1 (last stage) by method", ylabel="top-1", ylim=(0.0, 1.0))
    out["top1"] = "figures/top1.png"
    stages = len(next(iter(students.values()))["top1_per_stage"]) if students else 0
    grouped_bar_chart({f"stage {i + 1}": {m: v["top1_per_stage"][i] for m, v in students.items()} for i in range(stages)},
                      fig / "top1_per_stage.png", title="Linear-probe top-1 at each stage", ylabel="top-1")
    out["top1_per_stage"] = "figures/top1_per_stage.png"
    for stage in ("transfer", "teacher"):
        series = {m: c[stage] for m, c in curves.items() if c.get(stage)}
        if series:
            line_plot(series, fig / f"{stage}_loss.png", title=f"{stage} loss (running mean)", xlabel="optimizer step",
                      ylabel="loss")
            out[f"{stage}_loss"] = f"figures/{stage}_loss.png"
    return out


def _controls_section(methods: Mapping[str, Any], controls: Mapping[str, Mapping[str, Any]], metric: str) -> list[str]:
    """'Is it the teacher's knowledge?': the random-teacher control table, when the run has one."""
    rows = controls_table(methods, controls, metric)
    if not rows:
        return []
    return ["## Is it the teacher's knowledge? (random-teacher control)", "",
            "Each listed method run again with a frozen teacher of the same architecture whose weights were never "
            "trained (BatchNorm statistics measured on the teacher's frames), same seeds, data and protocol. The "
            "paired difference is the part of the gain that comes from what the teacher learned; the rest comes "
            "from contrasting the two sensors at all.", ""] + rows + [""]


def _label_efficiency_section(summary: Mapping[str, Any]) -> list[str]:
    """'How many labels does the transfer save?': test mIoU per labeled-frame count, and the sentence."""
    le, std = summary.get("label_efficiency"), summary.get("label_efficiency_std", {})
    if not le:
        return []
    counts = sorted({int(n) for c in le.values() for n in c})
    lines = ["## How many labels does the transfer save? (label efficiency)", "",
             "Each method's student fine-tuned on nested subsets of data.train (the first n frames of one permutation "
             "fixed by the cell's seed: the same for every method, a new draw for each seed), each for the optimiser steps of the full "
             "fine-tuning, then tested on the test split.", "",
             "| method | " + " | ".join(f"{n} labels" for n in counts) + " |", "|---|" + "---|" * len(counts)]
    for m, c in le.items():
        cells = [(f"{100 * c[str(n)]:.1f}" + (f" ± {100 * std[m][str(n)]:.1f}" if std.get(m, {}).get(str(n)) is not None
                                              else "")) if str(n) in c else "" for n in counts]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    best = summary.get("verdict", {}).get("best")
    curves = {m: {n: {"miou": v} for n, v in c.items()} for m, c in le.items()}
    said = [s for m in ([best] if best in le else [m for m in le if m != "none"])
            if (s := matches_sentence(curves, m)) is not None]
    return lines + [""] + said + ([""] if said else [])


def _skipped_lines(methods: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A note on transfer steps skipped for a non-finite loss (transfer.skip_nonfinite), when there were any."""
    skipped = [f"{m} {v['skipped_nonfinite']}" for m, v in methods.items() if v.get("skipped_nonfinite")]
    return [f"Transfer steps skipped for a non-finite loss (transfer.skip_nonfinite, all seeds): "
            f"{', '.join(skipped)}.", ""] if skipped else []


def render_report(summary: dict[str, Any], figures: Mapping[str, str],
                  controls: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """report.md: what was run, the results table (mean ± std over seeds), the verdict, per-class IoU, figures."""
    methods = summary["methods"]
    seeds = summary["seeds"]
    base = methods.get("none", {}).get("miou")
    probe = any("probe_miou" in v for v in methods.values())
    val = any("val_miou" in v for v in methods.values())
    start = ("its starting weights (student.pretrained)" if summary.get("config", {}).get("student", {}).get("pretrained")
             else "random initialisation")
    lines = [f"# crossmodal run `{summary['name']}`", "",
             f"{summary['source']} teacher -> {summary['target']} student. Seeds {', '.join(map(str, seeds))} "
             f"(the teacher is shared, trained with seed {summary['seed']}); device {summary['device']} x "
             f"{summary['num_processes']} process(es), mixed precision {summary['mixed_precision']}, wall time "
             f"{summary['wall_time_s'] / 60:.1f} min{' (this invocation; the run was resumed)' if summary.get('resumed') else ''}.",
             "", "## Protocol", ""]
    if summary.get("reused_cells"):
        lines[-3] += (f" {len(summary['reused_cells'])} cell(s) were taken over from "
                      f"{', '.join(sorted(set(summary['reused_cells'].values())))} (--reuse-cells: their settings "
                      f"unchanged; metrics.json `reused_cells` names them).")
    lines += [f"- {line}" for line in summary["protocol"]]
    lines += networks_section(summary.get("networks"))
    spread = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed"
    header = ["method", "mIoU", "per seed", "pixel acc", "mean acc", "fw IoU", *(["val mIoU"] if val else []),
              *(["frozen probe mIoU"] if probe else []), "mIoU vs none"]
    lines += ["", f"## Results (test split, last epoch; {spread})", "", "| " + " | ".join(header) + " |",
              "|" + "---|" * len(header)]
    for m, v in methods.items():
        delta = "" if base is None or m == "none" or m.startswith("teacher_") else f"{100 * (v['miou'] - base):+.1f}"
        per_seed = ", ".join(f"{100 * s['miou']:.1f}" for s in v["per_seed"].values())
        cells = [m, _pm(v, "miou"), per_seed, _pm(v, "pixel_acc"), _pm(v, "mean_acc"), _pm(v, "fw_iou")]
        if val:
            cells.append(_pm(v, "val_miou"))
        if probe:
            cells.append(_pm(v, "probe_miou"))
        lines.append("| " + " | ".join(cells + [delta]) + " |")
    lines += ["", f"Numbers are percentages. `none` is the same student trained from {start} with the "
              "same fine-tuning; `teacher_<source>` is the frozen teacher's head on the source modality, and "
              "`teacher_probe` a 1x1 convolution trained on its frozen features (the students' frozen probe, on the "
              "source frames of the same labeled split): references, not competitors. Cross-modal gains are often "
              "the size of the seed-to-seed spread: read the ± before the ranking.", ""]
    warnings = summary.get("teacher_warnings", [])  # a teacher's reference below the best student, and the like
    lines += [f"**Warning:** {w}" for w in warnings] + ([""] if warnings else []) + _skipped_lines(methods)
    said = verdict(methods, start=start) + verdict_lines(summary.get("verdict", {}))
    if said:
        lines += ["## Verdict", ""] + said + [""]
    lines += _controls_section(methods, controls or {}, "miou")
    lines += _label_efficiency_section(summary)
    lines += tuning_section(summary.get("tuning", {}))
    lines += ["## Per-class IoU" + (" (mean over seeds)" if len(seeds) > 1 else ""), "",
              "| class | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for c in summary["class_names"]:
        lines.append(f"| {c} | " + " | ".join(_fmt(v["per_class_iou"].get(c)) for v in methods.values()) + " |")
    if figures:
        lines += ["", "## Figures", ""]
        first = f" (seed {seeds[0]})" if len(seeds) > 1 else ""
        titles = {"miou": "Test mIoU by method" + (" (mean and ± sample std over seeds)" if len(seeds) > 1 else ""),
                  "probe_miou": "Frozen-backbone probe mIoU by method", "per_class_iou": "Per-class IoU",
                  "examples": f"Example test frames{first}: input sensors, ground truth, and each method's prediction",
                  "transfer_loss": f"Transfer loss{first}", "finetune_loss": f"Fine-tuning loss{first}",
                  "teacher_loss": "Teacher training loss",
                  "label_efficiency": "Test mIoU against labeled frames (label efficiency)"}
        for key, rel in figures.items():
            lines += [f"### {titles.get(key, key)}", "", f"![{key}]({rel})", ""]
    lines += ["## Software", "", ", ".join(f"{k} {v}" for k, v in summary["versions"].items()), ""]
    return "\n".join(lines)


def render_classification_report(summary: dict[str, Any], figures: Mapping[str, str],
                                  controls: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """report.md of an image-level task: linear-probe top-1 per stage, mean ± std over seeds, the verdict."""
    methods = summary["methods"]
    seeds = summary["seeds"]
    students = {m: v for m, v in methods.items() if not m.startswith("teacher_")}
    stages = len(next(iter(students.values()))["top1_per_stage"]) if students else 0
    base = methods.get("none", {}).get("top1")
    lines = [f"# crossmodal run `{summary['name']}`", "",
             f"{summary['source']} teacher -> {summary['target']} student, image-level classes. Seeds "
             f"{', '.join(map(str, seeds))} (the teacher is shared, trained with seed {summary['seed']}); device "
             f"{summary['device']} x {summary['num_processes']} process(es), mixed precision "
             f"{summary['mixed_precision']}, wall time {summary['wall_time_s'] / 60:.1f} min.", "", "## Protocol", ""]
    lines += [f"- {line}" for line in summary["protocol"]]
    lines += networks_section(summary.get("networks"))
    spread = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed"
    lines += ["", f"## Linear-probe top-1 accuracy on the test split ({spread})", "",
              "| method | top-1 (last stage) | per seed | " + " | ".join(f"stage {i + 1}" for i in range(stages))
              + " | vs none |", "|---|---|---|" + "---|" * stages + "---|"]
    for m, v in students.items():
        per_seed = ", ".join(f"{100 * r['top1']:.1f}" for r in v["per_seed"].values())
        std = v.get("top1_per_stage_std")
        cells = [f"{100 * a:.1f}" + (f" ± {100 * std[i]:.1f}" if std else "") for i, a in enumerate(v["top1_per_stage"])]
        delta = "" if base is None or m == "none" else f"{100 * (v['top1'] - base):+.1f}"
        lines.append(f"| {m} | {_pm(v, 'top1')} | {per_seed} | " + " | ".join(cells) + f" | {delta} |")
    for m, v in methods.items():
        if m.startswith("teacher_"):
            lines += ["", f"The frozen teacher's own classifier on {summary['source']} (`{m}`, a reference, not a "
                      f"competitor): top-1 {_pm(v, 'top1')}."]
    lines += ["", "Numbers are percentages. `none` is the same student with random weights probed the same way. "
              "The headline column is the last stage, chosen in advance; the other stages are shown, not selected "
              "from.", ""] + _skipped_lines(methods)
    said = verdict(students, "top1", "top-1") + verdict_lines(summary.get("verdict", {}), "top-1")
    if said:
        lines += ["## Verdict", ""] + said + [""]
    lines += _controls_section(methods, controls or {}, "top1")
    if figures:
        lines += ["## Figures", ""]
        titles = {"top1": "Linear-probe top-1 (last stage) by method", "top1_per_stage": "Top-1 at each stage",
                  "transfer_loss": "Transfer loss" + (f" (seed {seeds[0]})" if len(seeds) > 1 else ""),
                  "teacher_loss": "Teacher training loss"}
        for key, rel in figures.items():
            lines += [f"### {titles.get(key, key)}", "", f"![{key}]({rel})", ""]
    lines += ["## Software", "", ", ".join(f"{k} {v}" for k, v in summary["versions"].items()), ""]
    return "\n".join(lines)


def write_metrics(run_dir: Path, summary: dict[str, Any]) -> None:
    write_text_atomic(run_dir / "metrics.json", json.dumps(summary, indent=2))


def _val_overlap(data: DataFiles) -> str:
    """What the start-up leakage check established about the validation split (crossmodal.data.leakage)."""
    return data.leakage.statement("val") if data.leakage is not None else "not compared with the other splits"


def write_run_report(run_dir: Path, cfg: Config, data: DataFiles, results: Mapping[str, Mapping[int, Any]],
                     teacher_source: str, accelerator: Accelerator, wall_time_s: float,
                     resumed: bool = False, controls: Mapping[str, Mapping[str, Mapping[int, Any]]] | None = None,
                     tuning: Mapping[str, Any] | None = None, networks: list[dict] | None = None,
                     teacher_input: str = "", log: logging.Logger | None = None) -> dict[str, float]:
    """metrics.json, figures/ and report.md of a finished run from {method: {seed: MethodResult}} (and the control
    cells, {control: {method: {seed: MethodResult}}}, and what tune.trials tried); returns {method: mean headline
    metric} (mIoU for segmentation, last-stage probe top-1 for classification)."""
    names = list(data.class_names)
    seeds = cfg.run_seeds
    task = cfg.task_spec
    downstream = ([f"linear probes: every stage of the frozen student average-pooled to {cfg.probe.grid}x"
                   f"{cfg.probe.grid}, standardised, a linear layer trained {cfg.probe.epochs} epochs on the "
                   f"{data.train.num_samples} labeled frames of data.train"] if not task.fine_tunes else [
        f"fine-tune: student + fresh head on {data.train.num_samples} labeled frames, {cfg.finetune.epochs} "
        f"epochs, same head initialisation and data order for every method of a seed"
        + (" (finetune.head_init: distiller: a method whose distiller trained a head for the teacher's classes "
           "starts from that head instead)" if cfg.finetune.head_init == "distiller" else ""),
        *([f"frozen probe: a 1x1 convolution on stage {cfg.probe.layer} of the frozen student (before "
           f"fine-tuning), {cfg.probe.epochs} epochs on the same labeled frames"] if cfg.probe.enabled else [])])
    def net(n) -> str:
        return (f"`{n.arch}`" + (f" (stages {', '.join(n.features)})" if n.features else "")
                + (f", starting weights {n.pretrained}" if n.pretrained else ""))

    summary = {
        "name": cfg.name, "seed": cfg.seed, "seeds": seeds, "device": device_name(accelerator),
        "num_processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
        "wall_time_s": round(wall_time_s, 1), "resumed": resumed, "task": cfg.task, "source": cfg.data.source,
        "target": cfg.data.target, "class_names": names, "teacher": teacher_source,
        "data": {s: str(getattr(data, s).path) for s in (*SPLITS, "val") if getattr(data, s) is not None},
        "protocol": [
            f"networks: teacher {net(cfg.teacher.net)} ({teacher_source}); student {net(cfg.student)}",
            *([teacher_input] if teacher_input else []),
            f"transfer: {data.unlabeled.num_samples} unlabeled pairs, {cfg.transfer.epochs} epochs, "
            f"batch {cfg.transfer.batch_size}",
            *downstream,
            *([f"val: {data.val.num_samples} labeled frames, {_val_overlap(data)}; every choice (tune.trials) is "
               f"made on it"] if data.val is not None and task.fine_tunes else []),
            f"test: {data.test.num_samples} frames, read once per cell after the choices; metrics from the last "
            f"epoch of a fixed schedule (no selection, tuning or early stopping on the test split)",
            f"seeds {', '.join(map(str, seeds))} change the student's initialisation, data order, augmentation and "
            f"sampling; data and teacher are the same for every seed",
        ],
        "methods": {m: aggregate({s: r.metrics for s, r in per_seed.items()}, names) for m, per_seed in results.items()},
        "versions": versions(), "config": to_dict(cfg),
    }
    reused = {f"{m}-seed{s}": r.metrics["reused_from"] for m, per_seed in results.items()
              for s, r in per_seed.items() if r.metrics.get("reused_from")}
    reused |= {f"{m}@{c}-seed{s}": r.metrics["reused_from"] for c, per_method in (controls or {}).items()
               for m, per_seed in per_method.items() for s, r in per_seed.items() if r.metrics.get("reused_from")}
    if reused:  # cells taken over from an earlier run (--reuse-cells): their numbers and times are from that run
        summary["reused_cells"] = reused
    metric = task.metric
    control_entries = {c: {m: aggregate({s: r.metrics for s, r in per_seed.items()}, names)
                           for m, per_seed in per_method.items()} for c, per_method in (controls or {}).items()}
    if control_entries:
        summary["controls"] = {c: {m: e[metric] for m, e in per.items()} for c, per in control_entries.items()}
        summary["controls_per_seed"] = {c: {m: {s: r[metric] for s, r in e["per_seed"].items()}
                                            for m, e in per.items()} for c, per in control_entries.items()}
    if tuning:
        summary["tuning"] = dict(tuning)
    if networks:  # describe_network rows of teacher and student (crossmodal.models.summary)
        summary["networks"] = list(networks)
    if task.per_pixel:  # a teacher's reference below the best student, or a head that predicts few classes
        summary["teacher_warnings"] = reference_warnings(summary["methods"], len(names))
        for line in summary["teacher_warnings"] if log is not None else []:
            log.warning("teacher: %s", line)
    summary["verdict"] = paired_verdict(summary["methods"], control_entries, metric)
    curves = label_efficiency(summary["methods"])
    if curves:
        summary["label_efficiency"] = {m: {n: v["miou"] for n, v in c.items()} for m, c in curves.items()}
        summary["label_efficiency_std"] = {m: {n: v["std"] for n, v in c.items()} for m, c in curves.items()}
    write_metrics(run_dir, summary)
    first = {m: per_seed[min(per_seed)] for m, per_seed in results.items()}
    if not task.fine_tunes:  # linear probes: per-stage probe tables, no fine-tuned per-pixel figures
        figures = write_classification_figures(run_dir, summary["methods"], {m: r.curves for m, r in first.items()})
        write_text_atomic(run_dir / "report.md", render_classification_report(summary, figures, control_entries))
        return {m: round(v["top1"], 4) for m, v in summary["methods"].items()}
    figures = write_figures(run_dir, summary["methods"], {m: r.curves for m, r in first.items()},
                            {m: r.examples for m, r in first.items() if r.examples is not None}, data.test.path,
                            example_indices(data.test.num_samples, cfg.finetune.num_examples),
                            names, cfg.data.source, cfg.data.target)
    if curves:
        write_figure(curves, run_dir / "figures" / "label_efficiency.png")
        figures["label_efficiency"] = "figures/label_efficiency.png"
    write_text_atomic(run_dir / "report.md", render_report(summary, figures, control_entries))
    return {m: round(v["miou"], 4) for m, v in summary["methods"].items()}


# config keys runs to pool may differ in: the seed, names, paths and settings with no effect on the numbers
POOL_IGNORED = ("name", "output_dir", "seed", "seeds", "threads", "trackers", "teacher.cache_dir",
                "data.num_workers", "checkpoint.every_steps", "checkpoint.keep")


def mixed_runs(runs: list[Path], loaded: list[Mapping[str, Any]]) -> list[str]:
    """What keeps finished runs from being pooled as seeds of one experiment: each seed run by more than one of them,
    and the config keys (other than the seed, names and paths, POOL_IGNORED) whose values differ."""
    problems = []
    first_run: dict[int, Path] = {}
    for run, m in zip(runs, loaded):
        for seed in m.get("seeds") or [m["seed"]]:
            if seed in first_run:
                problems.append(f"{first_run[seed]} and {run} both ran seed {seed}")
            else:
                first_run[seed] = run
    flat = [flatten(m.get("config", {})) for m in loaded]
    keys = sorted({k for f in flat for k in f if not any(k == i or k.startswith(i + ".") for i in POOL_IGNORED)})
    differ = [k for k in keys if any(f.get(k, "(unset)") != flat[0].get(k, "(unset)") for f in flat[1:])]
    if differ:
        shown = ", ".join(differ[:12]) + (f" and {len(differ) - 12} more" if len(differ) > 12 else "")
        problems.append(f"their configs differ in {shown}")
    return problems


def compare_runs(runs: list[Path], out: Path, allow_mixed: bool = False) -> dict[str, Any]:
    """Aggregate finished runs (e.g. one per seed): per method mean and sample std over runs, plus every run's numbers.
    Runs that share a seed, or whose configs differ beyond the seed, are refused (UserError) unless `allow_mixed`;
    then the report says what was mixed."""
    loaded = []
    for run in runs:
        path = run / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: is {run} a finished run_transfer.py run folder?")
        loaded.append(json.loads(path.read_text()))
    for run, m in zip(runs, loaded):
        if m.get("task", SEGMENTATION.name) != SEGMENTATION.name:
            raise UserError(f"{run} is a {m['task']} run; comparing runs covers segmentation runs (several seeds of "
                             f"one classification experiment are compared in its own report: set seeds: [...])")
    names = loaded[0]["class_names"]
    for run, m in zip(runs, loaded):
        if m["class_names"] != names:
            raise UserError(f"{run} has classes {m['class_names']}, {runs[0]} has {names}: not comparable")
    mixed = mixed_runs(runs, loaded)
    if mixed and not allow_mixed:
        raise UserError(f"not pooled: {'; '.join(mixed)}. Pooling needs one experiment run with distinct seeds; "
                        f"give --allow-mixed to pool them anyway (the report then says so)")
    methods: dict[str, dict[str, Any]] = {}
    for run, m in zip(runs, loaded):
        for method, v in m["methods"].items():
            entry = methods.setdefault(method, {"runs": [], "seeds": []})
            entry["runs"].append({"run": str(run), "seed": m["seed"], **{k: v[k] for k in ("miou", "pixel_acc", "mean_acc")}})
            entry["seeds"].append(m["seed"])
    for method, entry in methods.items():
        for key in ("miou", "pixel_acc", "mean_acc"):
            entry[key], entry[f"{key}_std"] = _mean_std([r[key] for r in entry["runs"]])
        per_class = [m["methods"][method]["per_class_iou"] for m in loaded if method in m["methods"]]
        entry["per_class_iou"] = {c: (float(np.mean(v)) if (v := [p[c] for p in per_class if p[c] is not None]) else None)
                                  for c in names}
    summary = {"runs": [str(r) for r in runs], "class_names": names, "methods": methods, "mixed": mixed}
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(out, summary)
    bar_chart({m: (e["miou"], e["miou_std"]) for m, e in methods.items()}, out / "miou.png",
              title=f"Test mIoU over {len(runs)} run(s): mean and sample std", ylabel="mIoU", ylim=(0.0, 1.0))
    grouped_bar_chart({c: {m: e["per_class_iou"][c] for m, e in methods.items()} for c in names},
                      out / "per_class_iou.png", title="Per-class IoU, mean over runs", ylabel="IoU")
    base = methods.get("none", {}).get("miou")
    lines = [f"# Comparison of {len(runs)} run(s)", "", "Runs: " + ", ".join(f"`{r}`" for r in runs), "",
             *([f"Mixed runs pooled (--allow-mixed): {'; '.join(mixed)}. The spread below is then not a seed-to-seed "
                f"spread of one experiment.", ""] if mixed else []),
             "| method | runs | seeds | mIoU | pixel acc | mean acc | mIoU vs none |", "|---|---|---|---|---|---|---|"]
    for method, e in methods.items():
        pm = lambda k: f"{100 * e[k]:.1f}" + (f" ± {100 * e[k + '_std']:.1f}" if e[k + "_std"] is not None else "")
        delta = "" if base is None or method == "none" or method.startswith("teacher_") else f"{100 * (e['miou'] - base):+.1f}"
        lines.append(f"| {method} | {len(e['runs'])} | {', '.join(map(str, e['seeds']))} | {pm('miou')} | "
                     f"{pm('pixel_acc')} | {pm('mean_acc')} | {delta} |")
    lines += ["", "Percentages; ± is the sample standard deviation over runs (seeds). Each run reports its last "
              "epoch (no selection on the test split).", "", "![mIoU](miou.png)", "", "![per-class IoU](per_class_iou.png)", ""]
    write_text_atomic(out / "report.md", "\n".join(lines))
    return summary


def main(argv: list[str] | None = None) -> int:
    """python -m eval.report runs/A runs/B ... --out DIR: compare finished runs in one report."""
    p = argparse.ArgumentParser(description="Compare finished runs (for example the same config with several seeds): "
                                "a table of mean and spread per method, bar charts, and metrics.json.",
                                epilog="example: python -m eval.report runs/seed0 runs/seed1 runs/seed2 --out runs/study")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--allow-mixed", action="store_true",
                   help="pool runs even if they share a seed or their configs differ beyond the seed (the report "
                        "says what was mixed)")
    args = p.parse_args(argv)
    try:
        check_output_dir(args.out, "--out")
        summary = compare_runs(args.runs, args.out, allow_mixed=args.allow_mixed)
    except (UserError, FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if summary["mixed"]:
        print(f"pooled mixed runs (--allow-mixed): {'; '.join(summary['mixed'])}", file=sys.stderr)
    print(f"wrote {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
