"""The range of readings a student was trained on, and the frames whose readings fall far outside it.

A depth student trained on 0.5-7.1 m says nothing useful about a frame full of 65 m readings, yet predicts it all the
same; crossmodal-predict counts such frames against the range an export keeps in its metadata (`reading_range`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crossmodal.errors import UserError

PERCENTILES = (0.1, 99.9)  # the training range's low and high ends, robust to a few wild readings
SAMPLE_FRAMES = 64  # frames read per split: evenly spaced, so the range is the same on every call
SAMPLE_PIXELS = 1 << 16  # valid readings per frame kept for the percentiles (evenly strided)
MARGIN = 0.5  # "far": beyond the range widened by this share of its width at each end ...
MAX_SHARE = 0.01  # ... in more than this share of a frame's valid readings
SPLITS = ("unlabeled", "train")  # the target-modality frames a student is trained on: transfer, then fine-tuning
RULE = (f"a frame is far outside the training range [low, high] (its {PERCENTILES[0]} and {PERCENTILES[1]} "
        f"percentiles) when more than {MAX_SHARE:.0%} of its valid readings (non-zero, finite) are below "
        f"low - {MARGIN} x (high - low) or above high + {MARGIN} x (high - low)")


def _valid(arr: np.ndarray) -> np.ndarray:
    """The readings of a frame that are readings: non-zero and finite, flattened to float64."""
    a = np.asarray(arr, np.float64).ravel()
    return a[np.isfinite(a) & (a != 0)]


def _split_readings(path: Path, key: str) -> tuple[np.ndarray, float, float, int, Any] | None:
    """(sampled valid readings, min, max, frames read, units) of one split's `key`; None unless single-channel float."""
    import h5py

    from crossmodal.data.h5format import read_info

    info = read_info(path)
    if key not in info.modalities or info.num_samples == 0:
        return None
    shape = tuple(info.shapes[key])
    if np.dtype(info.dtypes[key]).kind != "f" or not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)):
        return None
    picks = np.unique(np.linspace(0, info.num_samples - 1, min(SAMPLE_FRAMES, info.num_samples)).round().astype(int))
    kept, lo, hi = [], np.inf, -np.inf
    with h5py.File(path, "r") as f:
        for i in picks:
            v = _valid(f[key][int(i)])
            if v.size:
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                kept.append(v[:: max(1, v.size // SAMPLE_PIXELS)])
    if not kept:
        return None
    return np.concatenate(kept), lo, hi, len(picks), info.modality_attrs.get(key, {}).get("units")


def reading_range(cfg: Any) -> dict[str, Any] | None:
    """The training data's range of the target modality's readings, for an export's metadata.

    Read from evenly spaced frames of the run's unlabeled and train splits (valid readings only); None when the
    modality is not a single-channel float one (colour, HHA ...) or the files are gone.
    """
    from crossmodal.data.files import split_path

    key = cfg.data.target
    parts, used = [], {}
    for split in SPLITS:
        try:
            path = split_path(cfg, split)
            got = _split_readings(path, key)
        except (UserError, FileNotFoundError, OSError):
            continue
        if got is not None:
            parts.append(got)
            used[split] = str(path)
    if not parts:
        return None
    values = np.concatenate([p[0] for p in parts])
    low, high = (float(v) for v in np.percentile(values, PERCENTILES))
    units = next((p[4] for p in parts if p[4]), None)
    return {"modality": key, "units": str(units or ("metres" if key == "depth" else "unknown")),
            "low": round(low, 6), "high": round(high, 6),
            "min": round(min(p[1] for p in parts), 6), "max": round(max(p[2] for p in parts), 6),
            "percentiles": list(PERCENTILES), "frames": sum(p[3] for p in parts), "splits": used}


def far_share(sensor: np.ndarray, rng: dict[str, Any]) -> float:
    """The share of a frame's valid readings far outside `rng` (RULE's margins); 0 for a frame with none."""
    v = _valid(sensor)
    if not v.size:
        return 0.0
    low, high = float(rng["low"]), float(rng["high"])
    margin = MARGIN * (high - low)
    return float(((v < low - margin) | (v > high + margin)).mean())


class RangeCheck:
    """Counts the frames of a prediction whose readings fall far outside the training range (RULE)."""

    def __init__(self, rng: dict[str, Any] | None, shown: int = 20) -> None:
        self.rng, self.shown, self.frames, self.far = rng, shown, 0, []

    def add(self, name: str, sensor: np.ndarray) -> None:
        """Check one frame (the sensor array as the model takes it)."""
        if self.rng is None:
            return
        self.frames += 1
        share = far_share(sensor, self.rng)
        if share > MAX_SHARE:
            self.far.append((name, share))

    def report(self) -> dict[str, Any] | str:
        """predict.json's out_of_range: the rule, the range, the count and the first frames with their share."""
        if self.rng is None:
            return ("unknown: the model's metadata has no reading_range (a colour or multi-channel input, an export "
                    "made before crossmodal kept it, or the run's training files were gone), so nothing was checked")
        margin = MARGIN * (float(self.rng["high"]) - float(self.rng["low"]))
        limits = [round(float(self.rng["low"]) - margin, 6), round(float(self.rng["high"]) + margin, 6)]
        return {"rule": RULE, "range": self.rng, "limits": limits, "max_share": MAX_SHARE, "count": len(self.far),
                "checked": self.frames,
                "frames": [{"name": n, "fraction": round(s, 6)} for n, s in self.far[: self.shown]]}


def span(rng: dict[str, Any]) -> str:
    """A training range as a person reads it, e.g. '0.5-7.1 m'."""
    unit = {"metres": " m", "kelvin": " K", "celsius": " C"}.get(str(rng.get("units")), "")
    return f"{rng['low']:.3g}-{rng['high']:.3g}{unit}"


def range_summary(out_of_range: Any) -> str | None:
    """The summary line of predict.json's out_of_range when any frame is far out, e.g. '3 of 40 frames have ...'."""
    if not isinstance(out_of_range, dict) or not out_of_range.get("count"):
        return None
    shown = [f["name"] for f in out_of_range["frames"][:5]]
    more = " ..." if out_of_range["count"] > len(shown) else ""
    return (f"{out_of_range['count']} of {out_of_range['checked']} frames have readings far outside the training "
            f"range {span(out_of_range['range'])}: {', '.join(shown)}{more}; see predict.json")
