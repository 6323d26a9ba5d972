"""The paired verdict of a run (metrics.json "verdict") and its random-teacher control ("controls").

It says which CRD variant is best, by how much it leads the best baseline paired over seeds, and how much of a
gain comes from what the teacher learned: trained teacher minus random teacher, same seeds. Which methods are CRD
variants is declared where each distiller is registered (crossmodal.config.distillers).
"""
from __future__ import annotations

from typing import Any, Mapping

from crossmodal.config.distillers import is_crd_variant
from eval.stats import paired_diff


def _per_seed(entry: Mapping[str, Any], metric: str) -> dict[int, float]:
    return {int(s): float(r[metric]) for s, r in entry["per_seed"].items() if r.get(metric) is not None}


def _paired(a: Mapping[str, Any], b: Mapping[str, Any], metric: str) -> dict[str, Any]:
    d = paired_diff(_per_seed(a, metric), _per_seed(b, metric))
    return {"diff": d.diff, "ci95": list(d.ci95) if d.ci95 else None, "seeds": len(d.seeds)}


def choose(methods: Mapping[str, Mapping[str, Any]], metric: str = "miou") -> dict[str, Any]:
    """The best CRD variant and the best baseline: {"best", "best_baseline", "chosen_on"}.

    The baseline is the best method that is neither a CRD variant nor `none`; either is None where there is none.
    They are chosen by mean val mIoU when every student has one ("val"), otherwise by the reported metric
    ("test"). Every verdict sentence of a report compares these two.
    """
    students = {m: e for m, e in methods.items() if not m.startswith("teacher_")}
    crd = [m for m in students if is_crd_variant(m)]
    baselines = [m for m in students if not is_crd_variant(m) and m != "none"]
    on_val = metric == "miou" and bool(students) and all(e.get("val_miou") is not None for e in students.values())
    key = "val_miou" if on_val else metric
    score = lambda m: students[m][key]  # noqa: E731
    return {"best": max(crd, key=score) if crd else None,
            "best_baseline": max(baselines, key=score) if baselines else None, "chosen_on": "val" if on_val else "test"}


def paired_verdict(methods: Mapping[str, Mapping[str, Any]], controls: Mapping[str, Mapping[str, Any]],
                   metric: str = "miou") -> dict[str, Any]:
    """The best CRD variant against the best baseline, paired by seed, and the knowledge part of a gain.

    Returns {"best", "best_baseline", "diff", "ci95", "seeds", "knowledge", "chosen_on"}. The two methods are those
    `choose` picks, on val when it can; the differences are fractions, and ci95 is None with one seed.
    "knowledge" is the best controlled CRD variant, else the best controlled method, against itself with a random
    teacher. Choosing on val fixes the comparison reported on test before test is looked at.
    """
    students = {m: e for m, e in methods.items() if not m.startswith("teacher_")}
    out = choose(students, metric)
    key = "val_miou" if out["chosen_on"] == "val" else metric
    if out["best"] and out["best_baseline"]:
        out.update(_paired(students[out["best"]], students[out["best_baseline"]], metric))
    random = controls.get("random_teacher", {})
    if random:
        crd = [m for m in students if is_crd_variant(m)]
        controlled = [m for m in crd if m in random] or [m for m in students if m in random]
        method = out["best"] if out["best"] in random else max(controlled, key=lambda m: students[m][key])
        out["knowledge"] = {"method": method, **_paired(students[method], random[method], metric)}
    return out


def plus_minus(e: Mapping[str, Any], key: str) -> str:
    """A mean in percent with its sample std over seeds, such as '47.0 ± 2.0'.

    One seed gives no ±; a missing mean gives 'n/a'.
    """
    if e.get(key) is None:
        return "n/a"
    std = e.get(f"{key}_std")
    return f"{100 * e[key]:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def signed(points: float) -> str:
    """A difference in points, signed to one decimal.

    It reads '0.0', never '-0.0' or '+0.0', when it rounds to nothing.
    """
    text = f"{points:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def verdict(methods: Mapping[str, Mapping[str, Any]], metric: str = "miou", label: str = "mIoU",
            start: str = "random initialisation", paired: Mapping[str, Any] | None = None) -> list[str]:
    """Plain sentences computed from the numbers: where the best CRD variant stands.

    They say whether it is ahead of, level with or behind the best other distiller (else `none`), both as `choose`
    picks them, by how much, and whether the gap is larger than the seed-to-seed spread. With the run's
    `paired` verdict (paired_verdict), a lead on the mean whose paired interval reaches 0 is not called ahead.
    """
    students = {m: e for m, e in methods.items() if not m.startswith("teacher_")}
    chosen = choose(students, metric)
    best, other = chosen["best"], chosen["best_baseline"] or ("none" if "none" in students else None)
    if not best or not other:
        return []
    crd = [m for m in students if is_crd_variant(m)]
    by = " by val mIoU" if chosen["chosen_on"] == "val" else ""
    gap = 100 * (students[best][metric] - students[other][metric])
    spread = max(100 * (students[m].get(f"{metric}_std") or 0.0) for m in (best, other))
    n = len(students[best]["seeds"])
    which = f"`{best}` ({plus_minus(students[best], metric)})" + (
        f", the best of the {len(crd)} CRD variants{by}," if len(crd) > 1 else "")
    rival = (f"the best other distiller{by}, `{other}` ({plus_minus(students[other], metric)})" if other != "none"
             else f"`none` ({plus_minus(students[other], metric)}, {start})")
    if signed(gap) == "0.0":
        lines = [f"No CRD variant is ahead: {which} is level with {rival} (less than 0.05 {label} points apart)."]
    elif gap > 0 and _unsure(paired, best, other):
        lines = [f"No CRD variant is shown ahead: {which} leads {rival} by {gap:.1f} {label} points on the mean, "
                 f"but the paired interval below reaches 0."]
    elif gap > 0:
        lines = [f"A CRD variant is ahead: {which} leads {rival}, by {gap:.1f} {label} points."]
    else:
        lines = [f"No CRD variant is ahead: {which} is behind {rival}, by {-gap:.1f} {label} points."]
    if "none" in students and other != "none":
        d = 100 * (students[best][metric] - students["none"][metric])
        lines.append(f"Against `none` ({start}, same downstream protocol): `{best}` "
                     + ("level with it." if signed(d) == "0.0" else f"{signed(d)} points."))
    if n < 2:
        lines.append("One seed only: no spread is known, so no gap here is established.")
    elif abs(gap) <= spread:
        lines.append(f"The gap ({abs(gap):.1f}) is within the seed-to-seed spread (sample std up to {spread:.1f} "
                     f"over {n} seeds): not a clear difference.")
    else:
        lines.append(f"The gap ({abs(gap):.1f}) is larger than the seed-to-seed spread (sample std up to "
                     f"{spread:.1f} over {n} seeds).")
    return lines


def _unsure(paired: Mapping[str, Any] | None, best: str, other: str) -> bool:
    """Whether the paired verdict of the same two methods has a 95% interval reaching 0 or below."""
    if not paired or paired.get("best") != best or paired.get("best_baseline") != other:
        return False
    return paired.get("ci95") is not None and not _above_zero(paired["ci95"])


def _above_zero(ci: list[float] | None) -> bool:
    """Whether a 95% interval lies wholly above 0 (None, one seed's: it does not)."""
    return ci is not None and ci[0] > 0


def _points(x: float) -> str:
    return signed(100 * x)


def _interval(ci: list[float] | None) -> str:
    return f"[{_points(ci[0])}, {_points(ci[1])}]" if ci else "n/a (one seed)"


def verdict_lines(v: Mapping[str, Any], label: str = "mIoU") -> list[str]:
    """Sentences for report.md from paired_verdict, each interval said as clearing 0 or not."""
    lines = []
    if v.get("best") and v.get("best_baseline"):
        clear = _above_zero(v["ci95"])
        chosen = (" (the best CRD variant and the best baseline by val mIoU)" if v.get("chosen_on") == "val" else "")
        lines.append(f"Paired over {v['seeds']} seed(s){chosen}: `{v['best']}` minus `{v['best_baseline']}` = "
                     f"{_points(v['diff'])} {label} points, 95% t-interval {_interval(v['ci95'])}"
                     + (": above 0." if clear else ": not established (the interval reaches 0 or below)."
                        if v["ci95"] else "."))
    k = v.get("knowledge")
    if k:
        clear = _above_zero(k["ci95"])
        lines.append(f"What the teacher knows: `{k['method']}` with the trained teacher minus the same with a random "
                     f"teacher = {_points(k['diff'])} points, 95% t-interval {_interval(k['ci95'])} over "
                     f"{k['seeds']} seed(s)" + (": above 0." if clear else ": not established." if k["ci95"] else "."))
    return lines


def controls_table(methods: Mapping[str, Mapping[str, Any]], controls: Mapping[str, Mapping[str, Any]],
                   metric: str = "miou") -> list[str]:
    """The rows of report.md's controls table, one per controlled method.

    Each row has the method with the trained teacher, with the random teacher, and the paired difference: the
    knowledge part of its gain.
    """
    random = controls.get("random_teacher", {})
    if not random:
        return []
    lines = ["| method | trained teacher | random teacher | knowledge (paired diff) | 95% t-interval | seeds |",
             "|---|---|---|---|---|---|"]
    for m, e in random.items():
        p = _paired(methods[m], e, metric)
        lines.append(f"| {m} | {100 * methods[m][metric]:.1f} | {100 * e[metric]:.1f} | {_points(p['diff'])} | "
                     f"{_interval(p['ci95'])} | {p['seeds']} |")
    return lines
