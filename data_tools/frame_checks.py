"""What the data tools check on the frames they write, before the output is committed.

Depth stored as metres with an implausible median is refused: checked early, after the first frames, and again
over all of them. All-zero, constant and saturated frames are counted and named in a warning, and left out of the
per-channel statistics the tools print for data.target_mean / data.target_std. A percentile summary comes with
those statistics, so one bad frame cannot move them unnoticed. The per-frame rules are
crossmodal.data.plausibility's, shared with the run's data check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import h5py
import numpy as np

from crossmodal.data.plausibility import depth_median, describe_faults, frame_faults, implausible, valid_medians

PERCENTILES = (1, 50, 99)
SAMPLE_VALUES = 1 << 18  # values per channel kept for the percentiles, spread evenly over frames and pixels
EARLY_FRAMES = 16  # the depth median is checked after this many frames (refused early), and at the end


def fmt(values: np.ndarray) -> str:
    """[a, b] with 4 significant digits, ready to paste into a YAML config."""
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


class _Moments:
    """Per-channel count, sum and sum of squares (float64), for an exact mean and std."""

    def __init__(self, channels: int) -> None:
        self.acc = np.zeros((3, channels))

    def add(self, x: np.ndarray) -> None:
        self.acc += [np.full(x.shape[1], x.shape[0]), x.sum(0), (x * x).sum(0)]

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        count, total, total_sq = self.acc
        mean = total / count
        return mean, np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))


@dataclass
class ModalityWatch:
    """The checks of one stored modality over the frames written.

    `metres` turns on the depth-unit check and `stats` the channel statistics of targets; `where` names the input
    in messages and `scale` is the factor applied.
    """

    name: str
    total: int
    channels: int
    where: str
    stats: bool = False
    metres: bool = False
    scale: float | None = None
    ceiling: float | None = None
    error: type[ValueError] = ValueError
    faults: list[list] = field(default_factory=list)
    medians: list[float] = field(default_factory=list)
    clean: _Moments = field(init=False)  # frames not warned about
    every: _Moments = field(init=False)  # all frames (used only when every frame was warned about)
    samples: list[np.ndarray] = field(default_factory=list)  # values per channel for the percentiles

    def __post_init__(self) -> None:
        self.clean, self.every = _Moments(self.channels), _Moments(self.channels)

    def add(self, row: int, arr: np.ndarray) -> None:
        """Check one frame (H, W[, C]) as stored; refuse early when the depth median is already implausible."""
        bad = frame_faults(arr[None], self.ceiling)
        self.faults += [[row, kind, detail] for _, kind, detail in bad]
        if self.stats:
            x = arr.reshape(-1, self.channels).astype(np.float64)
            self.every.add(x)
            if not bad:
                self.clean.add(x)
                per_frame = -(-SAMPLE_VALUES // max(1, self.total))
                idx = np.unique(np.linspace(0, x.shape[0] - 1, min(per_frame, x.shape[0])).astype(np.int64))
                self.samples.append(x[idx].astype(np.float32))
        if self.metres:
            self.medians.append(float(valid_medians(arr[None])[0]))
            if len(self.medians) == EARLY_FRAMES:
                self.check_depth()

    def check_depth(self) -> None:
        """`error` naming the input, the median and the --scale that fixes it when the depth is not plausible."""
        problem = implausible(depth_median(self.medians), self.scale)
        if problem is None:
            return
        text, fix = problem
        now = f" (now {self.scale:g})" if self.scale is not None else ""
        how = f"pass --scale {self.name}={fix:g}{now}" if fix is not None else "check --scale"
        raise self.error(f"{self.where}: '{self.name}' is stored in metres but over {len(self.medians)} "
                         f"frames {text}: {how}; nothing written")

    def finish(self, names: Sequence[str]) -> tuple[list[str], list[str], dict]:
        """Run the depth check over all frames; the warnings, statistics lines and dataset attributes."""
        if self.metres:
            self.check_depth()
        lines = []
        if self.faults:
            named = {int(r): f"frame {int(r)} ('{names[int(r)]}')" for r, _, _ in self.faults}
            lines.append(f"warning: {self.where}: '{self.name}': {describe_faults(self.faults, self.total, named)}"
                         + ("; left out of the statistics" if self.stats else "") + "; check them")
        if not self.stats:
            return lines, [], {}
        clean = bool(self.samples)
        mean, std = (self.clean if clean else self.every).mean_std()
        attrs = {"channel_mean": mean, "channel_std": std,
                 "channel_statistics_frames": self.total - (len({r for r, _, _ in self.faults}) if clean else 0)}
        note = (f"{self.name}: per-channel mean {fmt(mean)} std {fmt(std)} (for data.target_mean / "
                f"data.target_std" + (f"; {len(self.faults)} frames warned about left out" if self.faults and clean
                                      else "; every frame was warned about: all counted" if self.faults else "") + ")")
        if clean:
            pct = np.percentile(np.concatenate(self.samples).astype(np.float64), PERCENTILES, axis=0)
            attrs["channel_percentiles"], attrs["channel_percentile_levels"] = pct, np.array(PERCENTILES)
            note += "; percentiles " + ", ".join(f"{p}%: {fmt(v)}" for p, v in zip(PERCENTILES, pct))
        return lines, [note], attrs


def finish_all(watches: Sequence[ModalityWatch], names: Sequence[str], f: h5py.File) -> list[str]:
    """Finish every watch and store the statistics as attributes of the staged file's datasets.

    Returns the lines to print: statistics first, then warnings.
    """
    notes, warnings = [], []
    for w in watches:
        warned, stats, attrs = w.finish(names)
        notes += stats
        warnings += warned
        for key, value in attrs.items():
            f[w.name].attrs[key] = value
    return notes + warnings
