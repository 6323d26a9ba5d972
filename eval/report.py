"""Run outputs people read: metrics.json, report.md and figures/; and `python -m eval.report`, which compares runs.

The report's parts live in their own modules: the summary in run_summary, each protocol's lines, figures and
renderer in protocol_reports, the pooling of finished runs in compare.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Mapping

from accelerate import Accelerator

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.diskspace import check_output_dir
from crossmodal.errors import UserError
from eval.aggregate import aggregate
from eval.compare import compare_runs
from eval.label_efficiency import label_efficiency
from eval.model_card_section import with_model_card
from eval.protocol_reports import REPORTS
from eval.run_summary import Cells, add_controls, protocol_lines, reused_cells, run_summary, write_metrics
from eval.teacher_warnings import reference_warnings
from eval.verdict import paired_verdict


def _add_details(summary: dict[str, Any], results: Cells, controls: Mapping[str, Cells], metric: str,
                 tuning: Mapping[str, Any] | None, networks: list[dict] | None) -> dict[str, Any]:
    """Reused cells, the controls, the tuning and the networks, each added when the run has them.

    Returns the control cells aggregated over their seeds, {control: {method: entry}}.
    """
    names = summary["class_names"]
    reused = reused_cells(results, controls)
    if reused:  # cells taken over from an earlier run (--reuse-cells): their numbers and times are from that run
        summary["reused_cells"] = reused
    entries = {c: {m: aggregate({s: r.metrics for s, r in per_seed.items()}, names)
                   for m, per_seed in per_method.items()} for c, per_method in controls.items()}
    add_controls(summary, entries, metric)
    if tuning:
        summary["tuning"] = dict(tuning)
    if networks:  # describe_network rows of teacher and student (crossmodal.models.summary)
        summary["networks"] = list(networks)
    return entries


def write_run_report(run_dir: Path, cfg: Config, data: DataFiles, results: Cells, teacher_source: str,
                     accelerator: Accelerator, wall_time_s: float, resumed: bool = False,
                     controls: Mapping[str, Cells] | None = None, tuning: Mapping[str, Any] | None = None,
                     networks: list[dict] | None = None, teacher_input: str = "",
                     log: logging.Logger | None = None, card: Mapping[str, Any] | None = None) -> dict[str, float]:
    """metrics.json, figures/ and report.md of a finished run; returns {method: mean headline metric}.

    `results` is {method: {seed: MethodResult}}, `controls` the control cells as {control: results}, `tuning` what
    tune.trials tried, `card` the reported student's model card (crossmodal.deploy.card.run_card). The headline
    metric is the task's: mIoU for segmentation, last-stage probe top-1 for classification.
    """
    task = cfg.task_spec
    kind = REPORTS[task.protocol]
    protocol = protocol_lines(cfg, data, teacher_source, teacher_input, kind.protocol_lines(cfg, data))
    summary = run_summary(cfg, data, results, teacher_source, accelerator, wall_time_s, resumed, protocol)
    entries = _add_details(summary, results, controls or {}, task.metric, tuning, networks)
    if kind.teacher_warnings:  # a teacher's reference below the best student, or a head that predicts few classes
        summary["teacher_warnings"] = reference_warnings(summary["methods"], len(summary["class_names"]))
        for line in summary["teacher_warnings"] if log is not None else []:
            log.warning("teacher: %s", line)
    summary["verdict"] = paired_verdict(summary["methods"], entries, task.metric)
    curves = label_efficiency(summary["methods"])
    if curves:
        summary["label_efficiency"] = {m: {n: v["miou"] for n, v in c.items()} for m, c in curves.items()}
        summary["label_efficiency_std"] = {m: {n: v["std"] for n, v in c.items()} for m, c in curves.items()}
    if card:
        summary["model_card"] = dict(card)
    write_metrics(run_dir, summary)
    first = {m: per_seed[min(per_seed)] for m, per_seed in results.items()}
    figures = kind.figures(run_dir, summary["methods"], first, cfg, data, curves)
    write_text_atomic(run_dir / "report.md", with_model_card(kind.render(summary, figures, entries), card))
    return {m: round(v[task.metric], 4) for m, v in summary["methods"].items()}


def main(argv: list[str] | None = None) -> int:
    """python -m eval.report runs/A runs/B ... --out DIR: compare finished runs in one report."""
    p = argparse.ArgumentParser(description="Compare finished runs (for example the same config with several seeds): "
                                "a table of mean and spread per method, bar charts, and metrics.json.",
                                epilog="example: python -m eval.report runs/seed0 runs/seed1 runs/seed2 --out "
                                       "runs/study")
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
