"""Label efficiency: test mIoU against the number of labeled frames, its figure and its report section.

finetune.label_counts fine-tunes each student on nested subsets of the labels. Per method this gives the mean and
sample std over seeds at each count, and the sentence a user asks for: with how few labels does a transferred
student match `none` trained on all of them?
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from eval.plots.lines import line_plot


def label_efficiency(methods: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each method's curve over the seeds, for methods that have one.

    The result is {method: {count: {"miou": mean, "std": sample std or None}}}.
    """
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for m, e in methods.items():
        runs = [r["label_efficiency"] for r in e["per_seed"].values() if "label_efficiency" in r]
        if not runs:
            continue
        counts = sorted({int(n) for r in runs for n in r})
        out[m] = {}
        for n in counts:
            vals = np.array([r[str(n)] for r in runs if str(n) in r], np.float64)
            out[m][str(n)] = {"miou": float(vals.mean()), "std": float(vals.std(ddof=1)) if vals.size > 1 else None}
    return out


def matches_sentence(curves: Mapping[str, Mapping[str, Mapping[str, Any]]], method: str, baseline: str = "none"
                     ) -> str | None:
    """The sentence saying with how few labels `method` matches `baseline` trained on all of them.

    For example '`crd_dense` with 50 labels matches `none` with 150 (...)', from the means over seeds, or that it
    does not at any count tried; None when either curve is missing.
    """
    if method not in curves or baseline not in curves or method == baseline:
        return None
    full = max(int(n) for n in curves[baseline])
    target = curves[baseline][str(full)]["miou"]
    reached = [int(n) for n, v in curves[method].items() if v["miou"] >= target]
    if not reached:
        best = max(curves[method].values(), key=lambda v: v["miou"])["miou"]
        return (f"`{method}` does not reach `{baseline}` with all {full} labels ({100 * target:.1f}) at any label "
                f"count tried (best {100 * best:.1f}).")
    n = min(reached)
    said = (f"`{method}` with {n} labels ({100 * curves[method][str(n)]['miou']:.1f}) matches `{baseline}` with "
            f"{full} ({100 * target:.1f}): {n / full:.0%} of the labels (means over seeds; the smallest count tried "
            f"at which its mean mIoU is at least `{baseline}`'s).")
    fewer = {int(k): v["miou"] for k, v in curves[baseline].items() if int(k) < full and v["miou"] >= target}
    if fewer:  # the baseline itself is no worse with fewer labels: the count then says nothing about saving labels
        k = min(fewer)
        said += (f" But `{baseline}` itself scores {100 * fewer[k]:.1f} with {k} labels, no less than with {full}: "
                 f"the curve does not rise with labels here (each seed draws its own subsets, so this is not one "
                 f"unlucky draw), so this is not a measured saving of labels; compare the methods at equal counts "
                 f"instead.")
    return said


def write_figure(curves: Mapping[str, Mapping[str, Mapping[str, Any]]], path: Path) -> Path:
    """Test mIoU against labeled frames (log x), ± sample std over seeds."""
    ordered = {m: sorted(c.items(), key=lambda kv: int(kv[0])) for m, c in curves.items()}
    series = {m: [(int(n), v["miou"]) for n, v in c] for m, c in ordered.items()}
    yerr = {m: [v["std"] for _, v in c] for m, c in ordered.items()}
    return line_plot(series, path, title="Test mIoU against labeled frames (± sample std over seeds)",
                     xlabel="labeled frames of data.train (log scale)", ylabel="mIoU", log_x=True, yerr=yerr,
                     dodge=0.012)


def label_efficiency_section(summary: Mapping[str, Any]) -> list[str]:
    """'How many labels does the transfer save?': test mIoU per labeled-frame count, and the sentence."""
    le, std = summary.get("label_efficiency"), summary.get("label_efficiency_std", {})
    if not le:
        return []
    counts = sorted({int(n) for c in le.values() for n in c})
    lines = ["## How many labels does the transfer save? (label efficiency)", "",
             "Each method's student fine-tuned on nested subsets of data.train (the first n frames of one permutation "
             "fixed by the cell's seed: the same for every method, a new draw for each seed), each for the optimiser "
             "steps of the full fine-tuning, then tested on the test split.", "",
             "| method | " + " | ".join(f"{n} labels" for n in counts) + " |", "|---|" + "---|" * len(counts)]
    for m, c in le.items():
        spread = std.get(m, {})
        cells = [(f"{100 * c[str(n)]:.1f}" + (f" ± {100 * spread[str(n)]:.1f}" if spread.get(str(n)) is not None
                                              else "")) if str(n) in c else "" for n in counts]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    best = summary.get("verdict", {}).get("best")
    curves = {m: {n: {"miou": v} for n, v in c.items()} for m, c in le.items()}
    said = [s for m in ([best] if best in le else [m for m in le if m != "none"])
            if (s := matches_sentence(curves, m)) is not None]
    return lines + [""] + said + ([""] if said else [])
