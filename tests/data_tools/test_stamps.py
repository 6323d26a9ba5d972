"""Tests for data_tools.stamps: stamp checks, overlapping recordings, rates, gaps and pairing offsets."""
from __future__ import annotations

import numpy as np
import pytest

from data_tools.stamps import (
    GAP_PERIODS,
    PairTiming,
    StreamTiming,
    check_overlap,
    check_stamps,
    in_recording_order,
    pair_timing,
    stamp_faults,
    stream_timing,
    timing_attrs,
    timing_lines,
)

T0 = 1_700_000_000.0


def test_sound_stamps_and_transport_reordering_pass() -> None:
    t = [T0 + 0.1 * i for i in range(10)]
    t[3], t[4] = t[4], t[3]  # arrived out of order by one period: jitter
    t[7] -= 0.45              # 4.5 periods behind the latest: still jitter
    assert stamp_faults(t, "x") == []
    check_stamps(t, "x")


@pytest.mark.parametrize("stamps, finding", [
    ([0.0, 0.0, T0, T0 + 0.1], "x: 2 of 4 stamps are zero (first: message 0, stamp 0.000000000)"),
    ([T0, T0 + 0.1, T0 + 0.1, T0 + 0.2, T0 + 0.1], "x: 2 of 5 stamps repeat an earlier stamp (first: message 2"),
    ([T0 + 0.1 * i for i in range(8)] + [T0 - 0.5, T0 - 0.4],
     "x: 2 of 10 stamps go back in time by more than 5 frame periods (first: message 8"),
])
def test_each_fault_is_counted_with_its_first_position(stamps: list[float], finding: str) -> None:
    faults = stamp_faults(stamps, "x")
    assert len(faults) == 1 and faults[0][0].startswith(finding), faults
    with pytest.raises(KeyError, match="would be paired by accident.*MORE"):
        check_stamps(stamps, "x", KeyError, advice=" MORE")


def test_zero_stamps_are_not_also_counted_as_repeats_and_positions_are_named() -> None:
    faults = stamp_faults([0.0, 0.0, 0.0], "rgb.txt", positions=["line 3", "line 4", "line 5"], noun="stamps")
    assert [f for f, _ in faults] == ["rgb.txt: 3 of 3 stamps are zero (first: line 3, stamp 0.000000000)"]


def test_overlapping_recordings_are_refused_touching_ones_pass() -> None:
    a = [100.0 + 0.1 * i for i in range(10)]
    b = [100.3 + 0.1 * i for i in range(10)]             # overlaps a by 0.6 s = 6 periods
    with pytest.raises(ValueError, match=r"topic /c: --bag A and --bag B overlap in time: both hold stamps from "
                                         r"100\.300000000 to 100\.900000000 \(0\.600 s\)"):
        check_overlap(a + b, [0] * 10 + [1] * 10, ["--bag A", "--bag B"], "topic /c")
    c = [100.6 + 0.1 * i for i in range(10)]             # starts 3 periods before a ends: messages in flight
    check_overlap(a + c, [0] * 10 + [1] * 10, ["--bag A", "--bag B"], "topic /c")
    check_overlap(a, [0] * 10, ["--bag A"], "topic /c")


def test_recording_order_is_told_from_a_shuffled_list() -> None:
    t = [T0 + 0.1 * i for i in range(20)]
    assert in_recording_order(t)
    assert in_recording_order(t[:10] + [x - 5 for x in t[10:]])  # one clock jump
    shuffled = list(np.random.default_rng(0).permutation(t))
    assert not in_recording_order(shuffled)


def test_rate_gaps_and_longest_interval() -> None:
    t = [T0 + k / 15 for k in range(15) if k != 7]  # a 133 ms hole after frame 6
    s = stream_timing(list(reversed(t)))             # any order
    assert s.rate_hz == pytest.approx(15.0, rel=1e-5) and s.gaps == 1
    assert s.longest_gap_s == pytest.approx(2 / 15, abs=1e-6) and s.longest_gap_after == pytest.approx(T0 + 6 / 15)
    assert GAP_PERIODS * (1 / 15) < 2 / 15
    assert stream_timing([T0]) == StreamTiming(0.0, 0, 0.0, T0)


def test_unpaired_frames_split_by_rate_and_offsets() -> None:
    colour, depth = StreamTiming(30.0, 0, 1 / 30, T0), StreamTiming(15.0, 1, 2 / 15, T0)
    offsets = [0.001 * k for k in range(-10, 11)]    # median 0, |offset| 95th percentile 0.010
    p = pair_timing(colour, depth, 30, 14, offsets)
    assert (p.unpaired_by_rate, p.unpaired_other) == (15, 1)
    assert p.offset_median_s == pytest.approx(0.0, abs=1e-12) and p.offset_p95_s == pytest.approx(0.010)
    faster = pair_timing(depth, colour, 15, 12, [0.002])  # a faster target leaves no source frame out by design
    assert (faster.unpaired_by_rate, faster.unpaired_other) == (0, 3)
    assert pair_timing(colour, depth, 30, 30, []) == PairTiming(0, 0, 0.0, 0.0)


def test_attributes_and_summary_lines() -> None:
    attrs = timing_attrs(["rgb", "depth"], [StreamTiming(30.0, 0, 1 / 30, T0), StreamTiming(15.0, 2, 0.2, T0 + 1)],
                         [None, PairTiming(1, 2, -0.004, 0.005)])
    assert list(attrs["gap_count"]) == [0, 2] and list(attrs["unpaired_by_rate"]) == [0, 1]
    lines = timing_lines(attrs, " beyond X")
    assert lines == ["rates: rgb 30.00 Hz, no gaps; depth 15.00 Hz, 2 gaps (longest 0.200 s after stamp "
                     "1700000001.000000)",
                     "depth: 1 rgb frame without a partner by the rate difference, 2 for drops, gaps or offsets "
                     "beyond X; offset depth - rgb median -0.004000 s, 95th percentile |offset| 0.005000 s"]
    del attrs["pair_offset_p95_s"]
    assert timing_lines(attrs) == []
