"""report.md of an image-level task: linear-probe top-1 per stage with its spread over seeds, and the verdict."""
from __future__ import annotations

from typing import Any, Mapping

from eval.networks_section import networks_section
from eval.report_sections import controls_section, figures_section, skipped_lines, software_section
from eval.verdict import plus_minus, verdict, verdict_lines


def _header(summary: Mapping[str, Any]) -> list[str]:
    """The title, the one-paragraph account of the run, and its protocol with the networks."""
    seeds = summary["seeds"]
    lines = [f"# crossmodal run `{summary['name']}`", "",
             f"{summary['source']} teacher -> {summary['target']} student, image-level classes. Seeds "
             f"{', '.join(map(str, seeds))} (the teacher is shared, trained with seed {summary['seed']}); device "
             f"{summary['device']} x {summary['num_processes']} process(es), mixed precision "
             f"{summary['mixed_precision']}, wall time {summary['wall_time_s'] / 60:.1f} min.", "", "## Protocol", ""]
    lines += [f"- {line}" for line in summary["protocol"]]
    return lines + networks_section(summary.get("networks"))


def _top1_table(methods: Mapping[str, Mapping[str, Any]], students: Mapping[str, Mapping[str, Any]],
                seeds: list[int]) -> list[str]:
    """Each student's top-1 at the last stage and at every stage, and its gain over `none`."""
    stages = len(next(iter(students.values()))["top1_per_stage"]) if students else 0
    base = methods.get("none", {}).get("top1")
    spread = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed"
    lines = ["", f"## Linear-probe top-1 accuracy on the test split ({spread})", "",
             "| method | top-1 (last stage) | per seed | " + " | ".join(f"stage {i + 1}" for i in range(stages))
             + " | vs none |", "|---|---|---|" + "---|" * stages + "---|"]
    for m, v in students.items():
        per_seed = ", ".join(f"{100 * r['top1']:.1f}" for r in v["per_seed"].values())
        std = v.get("top1_per_stage_std")
        cells = [f"{100 * a:.1f}" + (f" ± {100 * std[i]:.1f}" if std else "")
                 for i, a in enumerate(v["top1_per_stage"])]
        delta = "" if base is None or m == "none" else f"{100 * (v['top1'] - base):+.1f}"
        lines.append(f"| {m} | {plus_minus(v, 'top1')} | {per_seed} | " + " | ".join(cells) + f" | {delta} |")
    return lines


def render_classification_report(summary: dict[str, Any], figures: Mapping[str, str],
                                 controls: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """report.md of an image-level task: linear-probe top-1 per stage, its spread over seeds, the verdict."""
    methods = summary["methods"]
    seeds = summary["seeds"]
    students = {m: v for m, v in methods.items() if not m.startswith("teacher_")}
    lines = _header(summary) + _top1_table(methods, students, seeds)
    for m, v in methods.items():
        if m.startswith("teacher_"):
            lines += ["", f"The frozen teacher's own classifier on {summary['source']} (`{m}`, a reference, not a "
                      f"competitor): top-1 {plus_minus(v, 'top1')}."]
    lines += ["", "Numbers are percentages. `none` is the same student with random weights probed the same way. "
              "The headline column is the last stage, chosen in advance; the other stages are shown, not selected "
              "from.", ""] + skipped_lines(methods)
    paired = summary.get("verdict", {})
    said = verdict(students, "top1", "top-1", paired=paired) + verdict_lines(paired, "top-1")
    if said:
        lines += ["## Verdict", ""] + said + [""]
    lines += controls_section(methods, controls or {}, "top1")
    titles = {"top1": "Linear-probe top-1 (last stage) by method", "top1_per_stage": "Top-1 at each stage",
              "transfer_loss": "Transfer loss" + (f" (seed {seeds[0]})" if len(seeds) > 1 else ""),
              "teacher_loss": "Teacher training loss"}
    return "\n".join(lines + figures_section(figures, titles) + software_section(summary))
