"""One method's numbers over its seeds: mean and sample std of every metric, and each seed's own."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

NOT_AVERAGED = ("time_s", "num_test", "grid", "layer", "skipped_nonfinite")


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """The mean and sample std of `values`; the std is None for a single value."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


def _scalars_and_lists(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std of each scalar metric, and of each list of numbers element-wise."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if key in NOT_AVERAGED or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or value is None:
            vals = [r[key] for r in runs if r.get(key) is not None]
            if vals:
                out[key], out[f"{key}_std"] = mean_std(vals)
        elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
            arr = np.asarray([r[key] for r in runs], dtype=np.float64)
            out[key] = arr.mean(0).tolist()
            out[f"{key}_std"] = arr.std(0, ddof=1).tolist() if len(runs) > 1 else None
    return out


def mean_per_class(per_class: list[Mapping[str, float | None]], class_names: list[str]) -> dict[str, float | None]:
    """Each class's mean IoU over the runs where it is defined; None where it is defined in none."""
    return {c: (float(np.mean(v)) if (v := [p[c] for p in per_class if p.get(c) is not None]) else None)
            for c in class_names}


def aggregate(per_seed: Mapping[int, Mapping[str, Any]], class_names: list[str]) -> dict[str, Any]:
    """One method over its seeds.

    Mean and sample std of each scalar metric (std None for one seed), per-stage lists averaged element-wise, the
    mean per-class IoU over the seeds where the class is defined, the frozen-probe mIoU, the summed time, and every
    seed's own metrics.
    """
    seeds = sorted(per_seed)
    runs = [per_seed[s] for s in seeds]
    out: dict[str, Any] = {"seeds": seeds, **_scalars_and_lists(runs)}
    if "per_class_iou" in runs[0]:
        out["per_class_iou"] = mean_per_class([r["per_class_iou"] for r in runs], class_names)
    if all("probe" in r for r in runs):
        out["probe_miou"], out["probe_miou_std"] = mean_std([r["probe"]["miou"] for r in runs])
    if all("time_s" in r for r in runs):
        out["time_s"] = round(sum(r["time_s"] for r in runs), 1)
    if any(r.get("skipped_nonfinite") for r in runs):  # transfer steps skipped for a non-finite loss, all seeds
        out["skipped_nonfinite"] = sum(r.get("skipped_nonfinite", 0) for r in runs)
    out["per_seed"] = {str(s): dict(per_seed[s]) for s in seeds}
    return out
