"""Aggregation over seeds and the verdict: numbers computed, sentences chosen from them."""
import pytest

from eval.report import aggregate, verdict


def _m(miou, std=None, seeds=(0, 1, 2)):
    return {"miou": miou, "miou_std": std, "seeds": list(seeds)}


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


def test_verdict_names_the_leader_and_compares_the_gap_to_the_spread():
    ahead = verdict({"none": _m(0.40, 0.01), "kd": _m(0.43, 0.01), "crd_dense": _m(0.47, 0.02), "teacher_rgb": _m(0.9)})
    assert ahead[0].startswith("A CRD variant is ahead: `crd_dense` (47.0 ± 2.0)") and "+4.0 mIoU points" in ahead[0]
    assert "`crd_dense` +7.0 points" in ahead[1] and "larger than the seed-to-seed spread" in ahead[2]
    behind = verdict({"none": _m(0.40, 0.03), "sp": _m(0.45, 0.03), "crd": _m(0.44, 0.03)})
    assert behind[0].startswith("No CRD variant is ahead: `sp`") and "1.0 mIoU points behind" in behind[0]
    assert "within the seed-to-seed spread" in behind[-1]
    single = verdict({"none": _m(0.4, None, (0,)), "crd": _m(0.5, None, (0,))})
    assert "One seed only" in single[-1]
    assert verdict({"none": _m(0.4), "kd": _m(0.5)}) == []  # no CRD variant: nothing to say
