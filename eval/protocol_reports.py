"""How each downstream protocol is reported, in one table keyed by the task's `protocol` field.

A task's protocol decides the lines the report's protocol section adds, the figures, the renderer of report.md and
whether the teacher's reference is checked. A new protocol is one more entry in REPORTS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.downstream.results import MethodResult, example_indices
from eval.classification_report import render_classification_report
from eval.label_efficiency import write_figure
from eval.run_figures import write_classification_figures, write_figures
from eval.run_summary import val_overlap
from eval.segmentation_report import render_segmentation_report

Figures = Callable[[Path, Mapping[str, dict], Mapping[str, MethodResult], Config, DataFiles, Mapping[str, Any]],
                   dict[str, str]]


@dataclass(frozen=True)
class ProtocolReport:
    """What the report of one downstream protocol adds to the run's report."""

    protocol_lines: Callable[[Config, DataFiles], list[str]]  # the protocol section's downstream lines
    figures: Figures  # draws the figures from the first seed's results; {name: path in the run folder}
    render: Callable[[dict[str, Any], Mapping[str, str], Mapping[str, Mapping[str, Any]]], str]  # report.md
    teacher_warnings: bool  # the teacher's reference is checked against the students


def _finetune_lines(cfg: Config, data: DataFiles) -> list[str]:
    """Fine-tuning, the optional frozen probe, and the validation split the choices are made on."""
    lines = [f"fine-tune: student + fresh head on {data.train.num_samples} labeled frames, {cfg.finetune.epochs} "
             f"epochs, same head initialisation and data order for every method of a seed"
             + (" (finetune.head_init: distiller: a method whose distiller trained a head for the teacher's classes "
                "starts from that head instead)" if cfg.finetune.head_init == "distiller" else "")]
    if cfg.probe.enabled:
        lines.append(f"frozen probe: a 1x1 convolution on stage {cfg.probe.layer} of the frozen student (before "
                     f"fine-tuning), {cfg.probe.epochs} epochs on the same labeled frames")
    if data.val is not None:
        lines.append(f"val: {data.val.num_samples} labeled frames, {val_overlap(data)}; every choice (tune.trials) is "
                     f"made on it")
    return lines


def _probe_lines(cfg: Config, data: DataFiles) -> list[str]:
    """Linear probes on every stage of the frozen student."""
    return [f"linear probes: every stage of the frozen student average-pooled to {cfg.probe.grid}x"
            f"{cfg.probe.grid}, standardised, a linear layer trained {cfg.probe.epochs} epochs on the "
            f"{data.train.num_samples} labeled frames of data.train"]


def _finetune_figures(run_dir: Path, methods: Mapping[str, dict], first: Mapping[str, MethodResult], cfg: Config,
                      data: DataFiles, curves: Mapping[str, Any]) -> dict[str, str]:
    """Loss curves, score bars, per-class IoU, example predictions and the label-efficiency curve."""
    figures = write_figures(run_dir, methods, {m: r.curves for m, r in first.items()},
                            {m: r.examples for m, r in first.items() if r.examples is not None}, data.test.path,
                            example_indices(data.test.num_samples, cfg.finetune.num_examples),
                            list(data.class_names), cfg.data.source, cfg.data.target)
    if curves:
        write_figure(curves, run_dir / "figures" / "label_efficiency.png")
        figures["label_efficiency"] = "figures/label_efficiency.png"
    return figures


def _probe_figures(run_dir: Path, methods: Mapping[str, dict], first: Mapping[str, MethodResult], cfg: Config,
                   data: DataFiles, curves: Mapping[str, Any]) -> dict[str, str]:
    """Top-1 bars, last stage and every stage, and the loss curves."""
    return write_classification_figures(run_dir, methods, {m: r.curves for m, r in first.items()})


REPORTS: dict[str, ProtocolReport] = {
    "finetune": ProtocolReport(_finetune_lines, _finetune_figures, render_segmentation_report, teacher_warnings=True),
    "linear_probes": ProtocolReport(_probe_lines, _probe_figures, render_classification_report,
                                    teacher_warnings=False),
}
