"""The report's account of the choices made on the validation split (metrics.json "tuning")."""
from __future__ import annotations

from typing import Any, Mapping


def _setting(setting: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in setting.items()) or "as configured"


def tuning_section(tuning: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """'Choices made on the validation split': every tried setting and its val mIoU.

    The chosen setting is marked, and the section says how many settings each method was given: an unequal budget is
    said, not hidden.
    """
    if not tuning:
        return []
    seeds = sorted({s for r in tuning.values() for s in r["seeds"]})
    lines = ["## Choices made on the validation split", "",
             f"Each setting below was run with seed(s) {', '.join(map(str, seeds))} and scored by its val mIoU "
             "(mean over those seeds); the best (ties: the first listed) is what the method ran with in every seed "
             "of the results above. Trial cells are measured on the validation split only: the test split is read "
             "once per reported cell, after the choice.", "",
             "| method | setting | val mIoU | chosen |", "|---|---|---|---|"]
    for method, r in tuning.items():
        for i, t in enumerate(r["trials"]):
            lines.append(f"| {method} | {_setting(t['setting'])} | {100 * t['val_miou']:.1f} | "
                         f"{'yes' if i == r['chosen'] else ''} |")
    budget = {m: len(r["trials"]) for m, r in tuning.items()}
    lines.append("")
    if len(set(budget.values())) == 1:
        lines.append(f"Every tuned method was given the same budget: {next(iter(budget.values()))} setting(s).")
    else:
        lines.append("The tuning budget differs between methods: "
                     + ", ".join(f"`{m}` {n}" for m, n in budget.items()) + " settings.")
    return lines + [""]
