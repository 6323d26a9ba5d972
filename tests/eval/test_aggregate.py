"""Aggregation over seeds: mean and sample std of every metric, per class and per stage."""
import pytest

from eval.aggregate import aggregate


def test_aggregate_mean_std_per_class_and_lists():
    per_seed = {0: {"miou": 0.4, "pixel_acc": 0.8, "per_class_iou": {"a": 0.5, "b": None}, "time_s": 10.0,
                    "top1_per_stage": [0.1, 0.3], "probe": {"miou": 0.2}},
                1: {"miou": 0.6, "pixel_acc": 0.9, "per_class_iou": {"a": 0.7, "b": 0.2}, "time_s": 12.0,
                    "top1_per_stage": [0.3, 0.5], "probe": {"miou": 0.4}}}
    out = aggregate(per_seed, ["a", "b"])
    assert out["seeds"] == [0, 1]
    assert out["miou"] == pytest.approx(0.5) and out["miou_std"] == pytest.approx(0.2 / 2 ** 0.5)
    assert out["per_class_iou"] == {"a": pytest.approx(0.6), "b": pytest.approx(0.2)}  # only where defined
    assert out["top1_per_stage"] == pytest.approx([0.2, 0.4])
    assert out["probe_miou"] == pytest.approx(0.3) and out["time_s"] == 22.0
    assert out["per_seed"]["1"]["miou"] == 0.6
    one = aggregate({3: per_seed[0]}, ["a", "b"])
    assert one["miou"] == 0.4 and one["miou_std"] is None and one["top1_per_stage_std"] is None
