"""Unit tests for data_tools.common.carve_by_group: whole groups, deterministic, refusals."""
from __future__ import annotations

import argparse

import pytest

from data_tools.common import carve_by_group, val_fraction

GROUPS = ["a", "a", "b", "c", "c", "c", "d", "e", "e", "f"]


def test_groups_stay_whole_and_partition_the_items() -> None:
    for seed in range(20):
        train, val = carve_by_group(GROUPS, 0.3, seed)
        assert sorted(train + val) == list(range(len(GROUPS))) and train == sorted(train) and val == sorted(val)
        assert not {GROUPS[i] for i in train} & {GROUPS[i] for i in val}
        assert len(val) >= 3 and train


def test_deterministic_and_seeded() -> None:
    assert carve_by_group(GROUPS, 0.3, 7) == carve_by_group(list(GROUPS), 0.3, 7)
    assert len({tuple(carve_by_group(GROUPS, 0.3, s)[1]) for s in range(10)}) > 1


def test_per_item_groups() -> None:
    train, val = carve_by_group([str(i) for i in range(20)], 0.15, 0)
    assert len(val) == 3 and len(train) == 17


@pytest.mark.parametrize("groups, fraction, words", [
    (GROUPS, 0.04, "selects nothing"), (GROUPS, 0.99, "train empty"), (["a", "a", "a"], 0.5, "1 group"),
    (GROUPS, 0.0, "(0, 1)"), (GROUPS, 1.0, "(0, 1)")])
def test_refusals(groups: list[str], fraction: float, words: str) -> None:
    with pytest.raises(ValueError, match="--val-fraction") as err:
        carve_by_group(groups, fraction, 0)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_argument_type() -> None:
    assert val_fraction("0") == 0.0 and val_fraction("0.15") == 0.15
    for bad in ("1", "-0.1", "nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            val_fraction(bad)
