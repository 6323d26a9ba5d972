"""Paired comparisons over seeds: the mean difference of two methods and its 95% interval.

The two methods are run with the same seeds; the interval is Student's t over the per-seed differences. So a verdict
rests on the pairing rather than on two separate spreads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

# Two-sided 95% quantiles of Student's t (t_{0.975, df}), from the standard table; larger df are interpolated in 1/df
# towards the normal quantile 1.959964.
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622,
         10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009,
         19: 2.0930, 20: 2.0860, 25: 2.0595, 30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799}
_Z975 = 1.959964


def t975(df: int) -> float:
    """t_{0.975, df}: exact table values, 1/df interpolation between them and towards the normal quantile."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df in _T975:
        return _T975[df]
    known = sorted(_T975)
    lo = max(k for k in known if k < df)
    hi = min((k for k in known if k > df), default=None)
    t_hi, inv_hi = (_T975[hi], 1 / hi) if hi else (_Z975, 0.0)
    w = (1 / lo - 1 / df) / (1 / lo - inv_hi)
    return _T975[lo] + w * (t_hi - _T975[lo])


@dataclass(frozen=True)
class PairedDiff:
    """mean(a_s - b_s) over the seeds both have, its 95% t-interval (None for one seed) and the seeds used."""

    diff: float
    ci95: tuple[float, float] | None
    seeds: list[int]


def paired_diff(a: Mapping[int, float], b: Mapping[int, float]) -> PairedDiff:
    """a - b paired by seed; a ValueError when no seed is shared."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed in common: a paired difference needs the same seeds on both sides")
    d = [float(a[s]) - float(b[s]) for s in seeds]
    mean = sum(d) / len(d)
    if len(d) < 2:
        return PairedDiff(mean, None, seeds)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
    half = t975(len(d) - 1) * sd / math.sqrt(len(d))
    return PairedDiff(mean, (mean - half, mean + half), seeds)
