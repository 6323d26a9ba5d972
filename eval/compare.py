"""Pooling finished runs, e.g. one per seed: per method the mean and spread over runs, in one report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from crossmodal.atomic import write_text_atomic
from crossmodal.config.tasks import SEGMENTATION
from crossmodal.errors import UserError
from crossmodal.runtime import flatten
from eval.aggregate import mean_per_class, mean_std
from eval.plots.bars import bar_chart
from eval.run_figures import per_class_figure
from eval.run_summary import write_metrics

# config keys runs to pool may differ in: the seed, names, paths and settings with no effect on the numbers
POOL_IGNORED = ("name", "output_dir", "seed", "seeds", "threads", "trackers", "teacher.cache_dir",
                "data.num_workers", "checkpoint.every_steps", "checkpoint.keep")
POOLED = ("miou", "pixel_acc", "mean_acc")


def mixed_runs(runs: list[Path], loaded: list[Mapping[str, Any]]) -> list[str]:
    """What keeps finished runs from being pooled as seeds of one experiment.

    That is each seed run by more than one of them, and the config keys whose values differ, other than the seed,
    names and paths (POOL_IGNORED).
    """
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


def _load_runs(runs: list[Path]) -> list[dict[str, Any]]:
    """Each run's metrics.json, checked to be a segmentation run with the classes of the first."""
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
    return loaded


def _pool(runs: list[Path], loaded: list[Mapping[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per method: every run's numbers, and their mean and sample std over the runs."""
    methods: dict[str, dict[str, Any]] = {}
    for run, m in zip(runs, loaded):
        for method, v in m["methods"].items():
            entry = methods.setdefault(method, {"runs": [], "seeds": []})
            entry["runs"].append({"run": str(run), "seed": m["seed"], **{k: v[k] for k in POOLED}})
            entry["seeds"].append(m["seed"])
    for method, entry in methods.items():
        for key in POOLED:
            entry[key], entry[f"{key}_std"] = mean_std([r[key] for r in entry["runs"]])
        entry["per_class_iou"] = mean_per_class([m["methods"][method]["per_class_iou"] for m in loaded
                                                 if method in m["methods"]], names)
    return methods


def _spread(e: Mapping[str, Any], key: str) -> str:
    """A pooled number as a percentage with its spread over runs."""
    return f"{100 * e[key]:.1f}" + (f" ± {100 * e[key + '_std']:.1f}" if e[key + "_std"] is not None else "")


def _markdown(runs: list[Path], methods: Mapping[str, Mapping[str, Any]], mixed: list[str]) -> str:
    """The comparison's report.md: the runs, the table of pooled numbers, and the two charts."""
    base = methods.get("none", {}).get("miou")
    lines = [f"# Comparison of {len(runs)} run(s)", "", "Runs: " + ", ".join(f"`{r}`" for r in runs), "",
             *([f"Mixed runs pooled (--allow-mixed): {'; '.join(mixed)}. The spread below is then not a seed-to-seed "
                f"spread of one experiment.", ""] if mixed else []),
             "| method | runs | seeds | mIoU | pixel acc | mean acc | mIoU vs none |", "|---|---|---|---|---|---|---|"]
    for method, e in methods.items():
        delta = ("" if base is None or method == "none" or method.startswith("teacher_")
                 else f"{100 * (e['miou'] - base):+.1f}")
        lines.append(f"| {method} | {len(e['runs'])} | {', '.join(map(str, e['seeds']))} | {_spread(e, 'miou')} | "
                     f"{_spread(e, 'pixel_acc')} | {_spread(e, 'mean_acc')} | {delta} |")
    lines += ["", "Percentages; ± is the sample standard deviation over runs (seeds). Each run reports its last "
              "epoch (no selection on the test split).", "", "![mIoU](miou.png)", "",
              "![per-class IoU](per_class_iou.png)", ""]
    return "\n".join(lines)


def compare_runs(runs: list[Path], out: Path, allow_mixed: bool = False) -> dict[str, Any]:
    """Aggregate finished runs, e.g. one per seed: per method the mean and sample std over runs, and every run's.

    Runs that share a seed, or whose configs differ beyond the seed, are refused with a UserError unless
    `allow_mixed`; then the report says what was mixed.
    """
    loaded = _load_runs(runs)
    names = loaded[0]["class_names"]
    mixed = mixed_runs(runs, loaded)
    if mixed and not allow_mixed:
        raise UserError(f"not pooled: {'; '.join(mixed)}. Pooling needs one experiment run with distinct seeds; "
                        f"give --allow-mixed to pool them anyway (the report then says so)")
    methods = _pool(runs, loaded, names)
    summary = {"runs": [str(r) for r in runs], "class_names": names, "methods": methods, "mixed": mixed}
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(out, summary)
    bar_chart({m: (e["miou"], e["miou_std"]) for m, e in methods.items()}, out / "miou.png",
              title=f"Test mIoU over {len(runs)} run(s): mean and sample std", ylabel="mIoU", ylim=(0.0, 1.0))
    per_class_figure({m: e["per_class_iou"] for m, e in methods.items()}, names, out / "per_class_iou.png",
                     "Per-class IoU, mean over runs")
    write_text_atomic(out / "report.md", _markdown(runs, methods, mixed))
    return summary
