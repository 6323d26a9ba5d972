"""report.md of a segmentation run: the protocol, the results table, the verdict, per-class IoU and figures."""
from __future__ import annotations

from typing import Any, Mapping

from eval.label_efficiency import label_efficiency_section
from eval.networks_section import networks_section
from eval.report_sections import controls_section, figures_section, percent, skipped_lines, software_section
from eval.tuning import tuning_section
from eval.verdict import plus_minus, verdict, verdict_lines


def _start(summary: Mapping[str, Any]) -> str:
    """What the `none` student starts from."""
    pretrained = summary.get("config", {}).get("student", {}).get("pretrained")
    return "its starting weights (student.pretrained)" if pretrained else "random initialisation"


def _header(summary: Mapping[str, Any]) -> list[str]:
    """The title, the one-paragraph account of the run, and its protocol with the networks."""
    seeds = summary["seeds"]
    said = (f"{summary['source']} teacher -> {summary['target']} student. Seeds {', '.join(map(str, seeds))} "
            f"(the teacher is shared, trained with seed {summary['seed']}); device {summary['device']} x "
            f"{summary['num_processes']} process(es), mixed precision {summary['mixed_precision']}, wall time "
            f"{summary['wall_time_s'] / 60:.1f} min"
            f"{' (this invocation; the run was resumed)' if summary.get('resumed') else ''}.")
    reused = ""  # on the line after the account, so a continuation of its paragraph
    if summary.get("reused_cells"):
        reused = (f" {len(summary['reused_cells'])} cell(s) were taken over from "
                  f"{', '.join(sorted(set(summary['reused_cells'].values())))} (--reuse-cells: their settings "
                  f"unchanged; metrics.json `reused_cells` names them).")
    lines = [f"# crossmodal run `{summary['name']}`", "", said, reused, "## Protocol", ""]
    lines += [f"- {line}" for line in summary["protocol"]]
    return lines + networks_section(summary.get("networks"))


def _results_table(methods: Mapping[str, Mapping[str, Any]], seeds: list[int]) -> list[str]:
    """The results table: each method's scores with their spread, its seeds' mIoU, and its gain over `none`."""
    base = methods.get("none", {}).get("miou")
    probe = any("probe_miou" in v for v in methods.values())
    val = any("val_miou" in v for v in methods.values())
    spread = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed"
    header = ["method", "mIoU", "per seed", "pixel acc", "mean acc", "fw IoU", *(["val mIoU"] if val else []),
              *(["frozen probe mIoU"] if probe else []), "mIoU vs none"]
    lines = ["", f"## Results (test split, last epoch; {spread})", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for m, v in methods.items():
        delta = "" if base is None or m == "none" or m.startswith("teacher_") else f"{100 * (v['miou'] - base):+.1f}"
        per_seed = ", ".join(f"{100 * s['miou']:.1f}" for s in v["per_seed"].values())
        cells = [m, plus_minus(v, "miou"), per_seed, plus_minus(v, "pixel_acc"), plus_minus(v, "mean_acc"),
                 plus_minus(v, "fw_iou")]
        if val:
            cells.append(plus_minus(v, "val_miou"))
        if probe:
            cells.append(plus_minus(v, "probe_miou"))
        lines.append("| " + " | ".join(cells + [delta]) + " |")
    return lines


def _notes(summary: Mapping[str, Any], start: str) -> list[str]:
    """What the rows mean, then the teacher's warnings and skipped steps."""
    lines = ["", f"Numbers are percentages. `none` is the same student trained from {start} with the "
             "same fine-tuning; `teacher_<source>` is the frozen teacher's head on the source modality, and "
             "`teacher_probe` a 1x1 convolution trained on its frozen features (the students' frozen probe, on the "
             "source frames of the same labeled split): references, not competitors. Cross-modal gains are often "
             "the size of the seed-to-seed spread: read the ± before the ranking.", ""]
    warnings = summary.get("teacher_warnings", [])  # a teacher's reference below the best student, and the like
    return lines + [f"**Warning:** {w}" for w in warnings] + ([""] if warnings else []) + skipped_lines(
        summary["methods"])


def _per_class_table(summary: Mapping[str, Any]) -> list[str]:
    """Each class's IoU for every method."""
    methods = summary["methods"]
    lines = ["## Per-class IoU" + (" (mean over seeds)" if len(summary["seeds"]) > 1 else ""), "",
             "| class | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for c in summary["class_names"]:
        lines.append(f"| {c} | " + " | ".join(percent(v["per_class_iou"].get(c)) for v in methods.values()) + " |")
    return lines


def _figure_titles(seeds: list[int]) -> dict[str, str]:
    """The heading of each figure."""
    first = f" (seed {seeds[0]})" if len(seeds) > 1 else ""
    return {"miou": "Test mIoU by method" + (" (mean and ± sample std over seeds)" if len(seeds) > 1 else ""),
            "probe_miou": "Frozen-backbone probe mIoU by method", "per_class_iou": "Per-class IoU",
            "examples": f"Example test frames{first}: input sensors, ground truth, and each method's prediction",
            "transfer_loss": f"Transfer loss{first}", "finetune_loss": f"Fine-tuning loss{first}",
            "teacher_loss": "Teacher training loss",
            "label_efficiency": "Test mIoU against labeled frames (label efficiency)"}


def render_segmentation_report(summary: dict[str, Any], figures: Mapping[str, str],
                               controls: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """report.md: what was run, the results with their spread over seeds, the verdict, per-class IoU, figures."""
    methods = summary["methods"]
    start = _start(summary)
    lines = _header(summary) + _results_table(methods, summary["seeds"]) + _notes(summary, start)
    paired = summary.get("verdict", {})
    said = verdict(methods, start=start, paired=paired) + verdict_lines(paired)
    if said:
        lines += ["## Verdict", ""] + said + [""]
    lines += controls_section(methods, controls or {}, "miou")
    lines += label_efficiency_section(summary)
    lines += tuning_section(summary.get("tuning", {}))
    lines += _per_class_table(summary)
    lines += ([""] if figures else []) + figures_section(figures, _figure_titles(summary["seeds"]))
    return "\n".join(lines + software_section(summary))
