"""Pairing two streams of timestamps: nearest first, one-to-one, within a maximum difference.

This is what TUM RGB-D's own `associate.py` does (every candidate pair within `max_dt`, taken in order of increasing
difference while both sides are still free), so ROS bags and TUM sequences pair frames the same way; the pairs come
back in source-time order.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from statistics import median
from typing import Sequence


@dataclass(frozen=True)
class Association:
    """Index pairs (source, target) in source-time order, and what did not pair."""

    pairs: list[tuple[int, int]]
    unpaired_source: int
    unpaired_target: int
    median_offset: float | None  # median of target - nearest source over all target stamps (seconds)


def associate(source: Sequence[float], target: Sequence[float], max_dt: float, offset: float = 0.0) -> Association:
    """Pair source and target stamps nearest first, one-to-one, as TUM's associate.py does.

    source[i] pairs with target[j], the target shifted by `offset`, when |s - (t + offset)| < max_dt, strictly as in
    TUM's script. Each stamp is used at most once; stamps need not be sorted.
    """
    if max_dt < 0:
        raise ValueError(f"max_dt must be >= 0, got {max_dt}")
    order = sorted(range(len(target)), key=lambda j: target[j])
    shifted = [target[j] + offset for j in order]
    candidates: list[tuple[float, int, int]] = []
    for i, s in enumerate(source):
        lo, hi = bisect_left(shifted, s - max_dt), bisect_right(shifted, s + max_dt)
        candidates.extend((abs(s - shifted[k]), i, order[k]) for k in range(lo, hi) if abs(s - shifted[k]) < max_dt)
    candidates.sort()
    used_s, used_t, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_s and j not in used_t:
            used_s.add(i)
            used_t.add(j)
            pairs.append((i, j))
    pairs.sort(key=lambda p: (source[p[0]], p[0]))
    return Association(pairs, len(source) - len(pairs), len(target) - len(pairs), _median_offset(source, shifted))


def _median_offset(source: Sequence[float], shifted_sorted: Sequence[float]) -> float | None:
    """Median signed gap, target - nearest source.

    A clock or latency offset shows up here when nothing pairs.
    """
    if not source or not shifted_sorted:
        return None
    ordered = sorted(source)
    gaps = []
    for t in shifted_sorted:
        k = bisect_left(ordered, t)
        near = [ordered[m] for m in (k - 1, k) if 0 <= m < len(ordered)]
        gaps.append(t - min(near, key=lambda s: abs(t - s)))
    return float(median(gaps))
