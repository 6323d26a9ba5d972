"""Stamps of the converters that pair frames by time: checks, timing summary, the bag topics' plan.

The converters are data_tools.rosbag and data_tools.tum. Checks: a stream's stamps must be set, distinct and, in
recording order, never far behind the latest one, and two bags must not hold the same stretch of time; otherwise
pairing by stamps pairs frames by accident. Summary: per stream its median rate, its gaps and its longest
interval. A gap is a real drop: more than GAP_PERIODS median periods between consecutive stamps. Per paired
stream the summary counts the source frames that lack a partner because the streams run at different rates, by
design, and those that lack one for other reasons, and gives the pairing offset, target - source, over the written
pairs. The summary is printed and stored as root attributes: TIMING_ATTRS, described in docs/recordings.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from data_tools.associate import associate
from data_tools.ros_messages import BagError, Role

REORDER_FRAMES = 5  # messages may arrive out of stamp order by this many frame periods (transport jitter), no more
GAP_PERIODS = 1.5   # an interval longer than this many median periods is a gap (dropped frames), not jitter
# root attributes the timing summary writes: one value per entry of `stamp_modalities`, the source first
TIMING_ATTRS = ("stamp_modalities", "median_rate_hz", "gap_count", "longest_gap_s", "longest_gap_after",
                "unpaired_by_rate", "unpaired_other", "pair_offset_median_s", "pair_offset_p95_s")


# ------------------------------------------------------------------------------------------------ checks

def stamp_faults(stamps: Sequence[float], where: str, positions: Sequence[str] | None = None,
                 noun: str = "stamps") -> list[tuple[str, str]]:
    """(finding, what to do) per broken rule of the stamps; empty when they are sound.

    The rules: no zero stamps, no repeated ones, none going back more than REORDER_FRAMES periods. Arrival out of
    stamp order by up to REORDER_FRAMES periods is transport jitter, not a fault. The finding names `where`, the count,
    and the first position and stamp; positions[i] names a position, 'message i' by default.
    """
    t = np.asarray(stamps, np.float64)
    if not len(t):
        return []
    period = median_period(t)
    behind = np.maximum.accumulate(t) - t  # how far each stamp is behind the latest one recorded before it
    faults = [("are zero", t <= 0, "the driver does not stamp its frames: fix its timestamps and record again"),
              ("repeat an earlier stamp", _repeats(t) & (t > 0),
               "the driver stamps several frames alike (or a recording is given twice): fix its timestamps"),
              (f"go back in time by more than {REORDER_FRAMES} frame periods", behind > REORDER_FRAMES * period,
               "a sensor clock that jumped back, or recordings that overlap in time: convert the parts separately")]
    out = []
    for what, bad, fix in faults:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            pos = positions[first] if positions is not None else f"message {first}"
            out.append((f"{where}: {int(bad.sum())} of {len(t)} {noun} {what} (first: {pos}, stamp "
                        f"{t[first]:.9f})", fix))
    return out


def check_stamps(stamps: Sequence[float], where: str, error: type[Exception] = ValueError,
                 positions: Sequence[str] | None = None, advice: str = "", noun: str = "stamps") -> None:
    """Raise `error` naming the first fault of stamp_faults, if any, and what to do.

    The faults are zero, repeated and backwards stamps; `advice` is appended to what to do.
    """
    faults = stamp_faults(stamps, where, positions, noun)
    if faults:
        finding, fix = faults[0]
        raise error(f"{finding}; frames would be paired by accident. {fix}{advice}")


def in_recording_order(stamps: Sequence[float]) -> bool:
    """True when at most one step in ten between consecutive stamps goes back.

    Such a list was written as recorded, perhaps with a clock jump; a list sorted some other way says nothing about
    time by its order.
    """
    t = np.asarray(stamps, np.float64)
    return int((np.diff(t) < 0).sum()) * 10 <= len(t)


def _repeats(t: np.ndarray) -> np.ndarray:
    """True for each stamp equal to one recorded before it."""
    _, first = np.unique(t, return_index=True)
    out = np.ones(len(t), bool)
    out[first] = False
    return out


def check_overlap(stamps: Sequence[float], owner: Sequence[int], names: Sequence[str], where: str,
                  error: type[Exception] = ValueError) -> None:
    """Refuse two recordings that hold the same stretch of one stream's time.

    owner[i] indexes names. A bag given twice under two names, or two recordings of the same time, would interleave.
    Ranges may touch by REORDER_FRAMES periods: a recording split while messages were in flight.
    """
    t, own = np.asarray(stamps, np.float64), np.asarray(owner)
    parts = sorted((float(t[own == k].min()), float(t[own == k].max()), k) for k in np.unique(own))
    slack = REORDER_FRAMES * median_period(t)
    for i, (lo_a, hi_a, a) in enumerate(parts):
        for lo_b, hi_b, b in parts[i + 1:]:
            lo, hi = max(lo_a, lo_b), min(hi_a, hi_b)
            if hi - lo > slack:
                raise error(f"{where}: {names[a]} and {names[b]} overlap in time: both hold stamps from {lo:.9f} "
                            f"to {hi:.9f} ({hi - lo:.3f} s); the same recording under two names, or two "
                            f"recordings of the same time, would be interleaved. Convert each separately (one "
                            f"output file each) or leave one out")


# ------------------------------------------------------------------------------------------------ summary

def median_period(stamps: Sequence[float]) -> float:
    """Median interval between consecutive distinct stamps in time order (0 for fewer than two)."""
    t = np.unique(np.asarray(stamps, np.float64))
    return float(np.median(np.diff(t))) if len(t) > 1 else 0.0


@dataclass(frozen=True)
class StreamTiming:
    """One stream's rate and gaps (seconds, Hz)."""

    rate_hz: float         # 1 / median interval; 0 for a single stamp
    gaps: int              # intervals longer than GAP_PERIODS median intervals
    longest_gap_s: float   # the longest interval between consecutive stamps (a gap or not)
    longest_gap_after: float  # the stamp the longest interval starts at


def stream_timing(stamps: Sequence[float]) -> StreamTiming:
    """Median rate, gap count and longest interval of one stream (stamps in any order)."""
    t = np.unique(np.asarray(stamps, np.float64))
    if len(t) < 2:
        return StreamTiming(0.0, 0, 0.0, float(t[0]) if len(t) else 0.0)
    d = np.diff(t)
    period = float(np.median(d))
    k = int(np.argmax(d))
    return StreamTiming(1.0 / period if period > 0 else 0.0, int((d > GAP_PERIODS * period).sum()), float(d[k]),
                        float(t[k]))


@dataclass(frozen=True)
class PairTiming:
    """How one target paired with the source: unpaired source frames split by cause, and the offset."""

    unpaired_by_rate: int   # source frames without a partner because the target runs slower (by design)
    unpaired_other: int     # the rest: drops and gaps, or offsets beyond the pairing limit
    offset_median_s: float  # median of target - source stamp over the written pairs (signed)
    offset_p95_s: float     # 95th percentile of |target - source| over the written pairs


def pair_timing(source: StreamTiming, target: StreamTiming, num_source: int, num_paired: int,
                offsets: Sequence[float]) -> PairTiming:
    """Split the unpaired source frames into those left by the rate difference and the rest.

    Of num_source frames, num_paired paired. A target at a lower rate leaves a share 1 - rate_target / rate_source of
    the source frames without a partner by design; the rest are drops, gaps or offsets. `offsets` are target - source
    over the pairs written.
    """
    unpaired = max(num_source - num_paired, 0)
    share = 1.0 - target.rate_hz / source.rate_hz if source.rate_hz > 0 and target.rate_hz > 0 else 0.0
    by_rate = min(unpaired, int(round(num_source * max(share, 0.0))))
    off = np.asarray(offsets, np.float64)
    median = float(np.median(off)) if off.size else 0.0
    p95 = float(np.percentile(np.abs(off), 95)) if off.size else 0.0
    return PairTiming(by_rate, unpaired - by_rate, median, p95)


def timing_attrs(names: Sequence[str], streams: Sequence[StreamTiming], pairs: Sequence[PairTiming | None]
                 ) -> dict[str, Any]:
    """The root attributes TIMING_ATTRS for the modalities `names`, the source first.

    The source's pairs entry is None, and stored as 0.
    """
    zero = PairTiming(0, 0, 0.0, 0.0)
    ps = [p or zero for p in pairs]
    return {"stamp_modalities": list(names),
            "median_rate_hz": np.array([s.rate_hz for s in streams], np.float64),
            "gap_count": np.array([s.gaps for s in streams], np.int64),
            "longest_gap_s": np.array([s.longest_gap_s for s in streams], np.float64),
            "longest_gap_after": np.array([s.longest_gap_after for s in streams], np.float64),
            "unpaired_by_rate": np.array([p.unpaired_by_rate for p in ps], np.int64),
            "unpaired_other": np.array([p.unpaired_other for p in ps], np.int64),
            "pair_offset_median_s": np.array([p.offset_median_s for p in ps], np.float64),
            "pair_offset_p95_s": np.array([p.offset_p95_s for p in ps], np.float64)}


def timing_lines(attrs: dict[str, Any], limit: str = "") -> list[str]:
    """The summary as text, from the root attributes TIMING_ATTRS; absent ones give no lines.

    Per stream its rate and gaps; per target the unpaired source frames by cause and the pairing offset. `limit`
    names the pairing limit.
    """
    if not all(k in attrs for k in TIMING_ATTRS):
        return []
    names = [str(n) for n in attrs["stamp_modalities"]]
    arrays = {k: np.asarray(attrs[k]).reshape(-1) for k in TIMING_ATTRS[1:]}
    if not names or any(len(v) != len(names) or not np.issubdtype(v.dtype, np.number) for v in arrays.values()):
        return []  # not what timing_attrs writes: left to the plain attribute listing
    col = {k: list(v) for k, v in arrays.items()}
    rates = []
    for i, n in enumerate(names):
        gaps = int(col["gap_count"][i])
        rates.append(f"{n} {float(col['median_rate_hz'][i]):.2f} Hz, "
                     + (f"{gaps} gap{'s' if gaps != 1 else ''} (longest {float(col['longest_gap_s'][i]):.3f} s "
                        f"after stamp {float(col['longest_gap_after'][i]):.6f})" if gaps else "no gaps"))
    lines = ["rates: " + "; ".join(rates)]
    for i, n in enumerate(names[1:], start=1):
        by_rate = int(col["unpaired_by_rate"][i])
        lines.append(f"{n}: {by_rate} {names[0]} frame{'s' if by_rate != 1 else ''} without a partner by the rate "
                     f"difference, {int(col['unpaired_other'][i])} for drops, gaps or offsets{limit}; "
                     f"offset {n} - {names[0]} median {float(col['pair_offset_median_s'][i]):+.6f} s, "
                     f"95th percentile |offset| {float(col['pair_offset_p95_s'][i]):.6f} s")
    return lines


# ------------------------------------------------------------------------------------------------ bag topics

@dataclass
class Stream:
    """The first pass over one image topic: its times, bags, raw size and encoding.

    Header stamps, receive times and bags are in message order; times() gives the ones pairing uses, as --pair-by
    says.
    """

    role: Role
    msgtype: str = ""
    stamps: list[float] = field(default_factory=list)
    encoding: str = ""
    size: tuple[int, int] | None = None
    received: list[float] = field(default_factory=list)
    bag: list[int] = field(default_factory=list)
    by_receive: bool = False

    def times(self) -> list[float]:
        """The times frames are paired by: header stamps, or receive times with --pair-by receive."""
        return self.received if self.by_receive else self.stamps


RECEIVE_ADVICE = ("; for a driver known to stamp badly, --pair-by receive pairs by the bag's receive time instead "
                  "(less exact: docs/recordings.md)")


def check_times(s: Stream, bags: list[Path]) -> list[str]:
    """Check a topic's pairing times; BagError when they are not sound, else the warnings.

    Sound times are set, distinct, do not go back, and the bags do not overlap in time. With --pair-by receive the
    header stamps are only reported: those are the warnings returned.
    """
    where = f"{', '.join(str(b) for b in bags)}: topic {s.role.topic} ({s.role.name})"
    check_overlap(s.times(), s.bag, [f"--bag {b}" for b in bags], where, BagError)
    if not s.by_receive:
        check_stamps(s.stamps, where, BagError, advice=RECEIVE_ADVICE, noun="header stamps")
        return []
    check_stamps(s.received, where, BagError, noun="receive times")
    return [f"{finding}; not used: pairing by receive time (--pair-by receive)"
            for finding, _ in stamp_faults(s.stamps, where, noun="header stamps")]


@dataclass
class Plan:
    """Paired rows: per row the message index of each modality's topic, and counts for the summary."""

    rows: list[dict[str, int]]
    stamps: np.ndarray  # (N, 1 + targets) pairing times (header stamps, or receive times) in seconds
    summary: str
    timing: dict = field(default_factory=dict)  # root attributes of data_tools.stamps.timing_attrs


def plan(streams: dict[str, Stream], roles: list[Role], max_dt: float, every: int,
         start: float | None, end: float | None, where: str) -> Plan:
    """Associate every target with the source by their times and plan the rows to write.

    Times are Stream.times. The plan keeps the frames in the --start/--end window that every target pairs with,
    thinned by `every`, and holds the rate, gap and offset summary of data_tools.stamps.
    """
    src = next(r for r in roles if r.role == "source")
    s_stamps = streams[src.topic].times()
    t0 = min(s_stamps)
    lo = -np.inf if start is None else t0 + start
    hi = np.inf if end is None else t0 + end
    window = [i for i, t in enumerate(s_stamps) if lo <= t <= hi]
    if not window:
        raise BagError(f"{where}: no {src.name} message within --start/--end (the source spans "
                       f"{max(s_stamps) - t0:.3f} s from its first stamp)")
    w_stamps = [s_stamps[i] for i in window]
    partner: dict[str, dict[int, int]] = {}
    notes = []
    for r in roles:
        if r.role != "target":
            continue
        a = associate(w_stamps, streams[r.topic].times(), max_dt)
        if not a.pairs:
            off = "unknown" if a.median_offset is None else f"{a.median_offset:+.6f} s"
            raise BagError(f"{where}: no {r.topic} ({r.name}) message within --max-dt {max_dt:g} s of a "
                           f"{src.topic} ({src.name}) message; median offset target - nearest source is {off} "
                           f"(usually unsynchronised clocks or a fixed latency; check the header stamps or raise "
                           f"--max-dt)")
        partner[r.name] = dict(a.pairs)
        notes.append(f"{r.name}: {len(a.pairs)} of {len(streams[r.topic].stamps)} paired")
    kept = sorted((i for i in range(len(window)) if all(i in p for p in partner.values())),
                  key=lambda i: (w_stamps[i], i))  # source-time order, whatever the receive order
    if not kept:
        raise BagError(f"{where}: no {src.name} message pairs with every target within --max-dt {max_dt:g} s")
    thinned = kept[::every]
    targets = [r for r in roles if r.role == "target"]
    rows = [{src.name: window[i], **{r.name: partner[r.name][i] for r in targets}} for i in thinned]
    stamps = np.array([[s_stamps[row[src.name]]] + [streams[r.topic].times()[row[r.name]] for r in targets]
                       for row in rows], np.float64)
    dropped = len(window) - len(kept)
    summary = (f"{len(window)} {src.name} frames in range, {len(kept)} paired with every target, {dropped} dropped "
               f"without a partner within {max_dt:g} s" + (f", --every {every}: {len(rows)} kept" if every > 1 else "")
               + " (" + "; ".join(notes) + ")")
    timings = [stream_timing(streams[r.topic].times()) for r in [src, *targets]]
    pairs = [None] + [pair_timing(timings[0], timings[k], len(window), len(partner[r.name]),
                                  stamps[:, k] - stamps[:, 0]) for k, r in enumerate(targets, start=1)]
    return Plan(rows, stamps, summary, timing_attrs([src.name] + [r.name for r in targets], timings, pairs))
