"""The paired verdict of a run (metrics.json "verdict") and its random-teacher control ("controls"): which CRD
variant is best, by how much it leads the best baseline paired over seeds, and how much of a gain comes from what
the teacher learned (trained teacher minus random teacher, same seeds)."""
from __future__ import annotations

from typing import Any, Mapping

from eval.stats import paired_diff


def _per_seed(entry: Mapping[str, Any], metric: str) -> dict[int, float]:
    return {int(s): float(r[metric]) for s, r in entry["per_seed"].items() if r.get(metric) is not None}


def _paired(a: Mapping[str, Any], b: Mapping[str, Any], metric: str) -> dict[str, Any]:
    d = paired_diff(_per_seed(a, metric), _per_seed(b, metric))
    return {"diff": d.diff, "ci95": list(d.ci95) if d.ci95 else None, "seeds": len(d.seeds)}


def paired_verdict(methods: Mapping[str, Mapping[str, Any]], controls: Mapping[str, Mapping[str, Any]],
                   metric: str = "miou") -> dict[str, Any]:
    """{"best", "best_baseline", "diff", "ci95", "seeds", "knowledge", "chosen_on"}: the best CRD variant against
    the best method that is neither a CRD variant nor `none`, paired by seed (fractions; ci95 None with one seed);
    "knowledge" is the best controlled CRD variant (else the best controlled method) against itself with a random
    teacher. "Best" is by mean val mIoU when every student has one ("chosen_on": "val"), so the comparison reported
    on test is fixed before test is looked at; otherwise by the reported metric ("chosen_on": "test")."""
    students = {m: e for m, e in methods.items() if not m.startswith("teacher_")}
    crd = [m for m in students if m.startswith("crd")]
    baselines = [m for m in students if not m.startswith("crd") and m != "none"]
    on_val = metric == "miou" and bool(students) and all(e.get("val_miou") is not None for e in students.values())
    key = "val_miou" if on_val else metric
    score = lambda m: students[m][key]  # noqa: E731
    out: dict[str, Any] = {"best": max(crd, key=score) if crd else None,
                           "best_baseline": max(baselines, key=score) if baselines else None,
                           "chosen_on": "val" if on_val else "test"}
    if out["best"] and out["best_baseline"]:
        out.update(_paired(students[out["best"]], students[out["best_baseline"]], metric))
    random = controls.get("random_teacher", {})
    if random:
        controlled = [m for m in crd if m in random] or [m for m in students if m in random]
        method = out["best"] if out["best"] in random else max(controlled, key=score)
        out["knowledge"] = {"method": method, **_paired(students[method], random[method], metric)}
    return out


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _interval(ci: list[float] | None) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "n/a (one seed)"


def verdict_lines(v: Mapping[str, Any], label: str = "mIoU") -> list[str]:
    """Sentences for report.md from paired_verdict, each interval said as clearing 0 or not."""
    lines = []
    if v.get("best") and v.get("best_baseline"):
        clear = v["ci95"] is not None and v["ci95"][0] > 0
        chosen = (" (the best CRD variant and the best baseline by val mIoU)" if v.get("chosen_on") == "val" else "")
        lines.append(f"Paired over {v['seeds']} seed(s){chosen}: `{v['best']}` minus `{v['best_baseline']}` = "
                     f"{_points(v['diff'])} {label} points, 95% t-interval {_interval(v['ci95'])}"
                     + (": above 0." if clear else ": not established (the interval reaches 0 or below)."
                        if v["ci95"] else "."))
    k = v.get("knowledge")
    if k:
        clear = k["ci95"] is not None and k["ci95"][0] > 0
        lines.append(f"What the teacher knows: `{k['method']}` with the trained teacher minus the same with a random "
                     f"teacher = {_points(k['diff'])} points, 95% t-interval {_interval(k['ci95'])} over "
                     f"{k['seeds']} seed(s)" + (": above 0." if clear else ": not established." if k["ci95"] else "."))
    return lines


def controls_table(methods: Mapping[str, Mapping[str, Any]], controls: Mapping[str, Mapping[str, Any]],
                   metric: str = "miou") -> list[str]:
    """report.md rows: each controlled method with the trained teacher, the random teacher, and the paired
    difference (the knowledge part of its gain)."""
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
