"""Sections every report.md has, whatever its task: the controls, skipped steps, figures and software."""
from __future__ import annotations

from typing import Any, Mapping

from eval.verdict import controls_table


def percent(v: float | None) -> str:
    """A fraction as a percentage with one decimal; 'n/a' for None."""
    return "n/a" if v is None else f"{100 * v:.1f}"


def controls_section(methods: Mapping[str, Any], controls: Mapping[str, Mapping[str, Any]], metric: str) -> list[str]:
    """'Is it the teacher's knowledge?': the random-teacher control table, when the run has one."""
    rows = controls_table(methods, controls, metric)
    if not rows:
        return []
    return ["## Is it the teacher's knowledge? (random-teacher control)", "",
            "Each listed method run again with a frozen teacher of the same architecture whose weights were never "
            "trained (BatchNorm statistics measured on the teacher's frames), same seeds, data and protocol. The "
            "paired difference is the part of the gain that comes from what the teacher learned; the rest comes "
            "from contrasting the two sensors at all.", ""] + rows + [""]


def skipped_lines(methods: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A note on transfer steps skipped for a non-finite loss (transfer.skip_nonfinite), when there were any."""
    skipped = [f"{m} {v['skipped_nonfinite']}" for m, v in methods.items() if v.get("skipped_nonfinite")]
    return [f"Transfer steps skipped for a non-finite loss (transfer.skip_nonfinite, all seeds): "
            f"{', '.join(skipped)}.", ""] if skipped else []


def figures_section(figures: Mapping[str, str], titles: Mapping[str, str]) -> list[str]:
    """'## Figures': each figure under its title (its key where it has none); nothing without figures."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for key, rel in figures.items():
        lines += [f"### {titles.get(key, key)}", "", f"![{key}]({rel})", ""]
    return lines


def software_section(summary: Mapping[str, Any]) -> list[str]:
    """'## Software': the versions the run used."""
    return ["## Software", "", ", ".join(f"{k} {v}" for k, v in summary["versions"].items()), ""]
