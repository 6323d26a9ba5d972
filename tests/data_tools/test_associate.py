"""data_tools.associate: TUM associate.py semantics (nearest first, one-to-one, within max_dt), source-time order."""
import random

import pytest

from conftest import tum_associate
from data_tools.associate import associate


def test_matches_tum_associate_on_jittered_unsorted_streams():
    rng = random.Random(0)
    src = [i / 30 + rng.uniform(-0.004, 0.004) for i in range(200)]
    tgt = [i / 30 + 0.011 + rng.uniform(-0.01, 0.01) for i in range(200) if rng.random() > 0.1]  # dropped frames
    rng.shuffle(src)
    rng.shuffle(tgt)
    got = associate(src, tgt, 0.02)
    want = tum_associate(src, tgt, 0.02)
    assert sorted((src[i], tgt[j]) for i, j in got.pairs) == want
    assert [src[i] for i, _ in got.pairs] == sorted(src[i] for i, _ in got.pairs)  # source-time order
    assert got.unpaired_source == len(src) - len(want) and got.unpaired_target == len(tgt) - len(want)


def test_one_to_one_nearest_first_and_offset():
    got = associate([0.0, 0.1], [0.09, 0.011], 0.05)
    assert got.pairs == [(0, 1), (1, 0)]
    crowded = associate([0.0], [0.01, 0.005, -0.02], 0.05)  # one source, three candidates: the nearest wins
    assert crowded.pairs == [(0, 1)] and crowded.unpaired_target == 2
    late = associate([0.0, 1.0, 2.0], [0.5, 1.5, 2.5], 0.02)  # 0.5 s latency: nothing pairs, the offset shows it
    assert late.pairs == [] and late.median_offset == pytest.approx(0.5)
    assert associate([0.0, 1.0, 2.0], [0.5, 1.5, 2.5], 0.02, offset=-0.5).pairs == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(ValueError):
        associate([0.0], [0.0], -1.0)
