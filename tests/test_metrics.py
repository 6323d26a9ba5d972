"""Tests for crossmodal.metrics.

Confusion-matrix accumulation and the derived segmentation scores.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

# Hand-made 3-class confusion matrix (rows = ground truth, cols = prediction).
CM3 = [
    [50, 2, 3],  # GT class 0: 55 pixels
    [4, 30, 6],  # GT class 1: 40 pixels
    [1, 5, 20],  # GT class 2: 26 pixels
]
NAMES3 = ["wall", "floor", "chair"]


def _pixels_from_matrix(cm: list[list[int]], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Expand a confusion matrix into shuffled (pred, target) pixel vectors that produce it."""
    target, pred = [], []
    for g, row in enumerate(cm):
        for p, n in enumerate(row):
            target += [g] * n
            pred += [p] * n
    perm = torch.randperm(len(target), generator=torch.Generator().manual_seed(seed))
    return torch.tensor(pred)[perm], torch.tensor(target)[perm]


def test_hand_computed_three_class_metrics() -> None:
    m = segmentation_metrics(np.array(CM3), NAMES3)
    # TP = diag = 50, 30, 20 (sum 100); GT = row sums = 55, 40, 26 (N = 121);
    # predicted = column sums = 50+4+1 = 55, 2+30+5 = 37, 3+6+20 = 29.
    # union = GT + predicted - TP: 55+55-50 = 60, 40+37-30 = 47, 26+29-20 = 35.
    iou = [50 / 60, 30 / 47, 20 / 35]  # 0.8333, 0.6383, 0.5714
    acc = [50 / 55, 30 / 40, 20 / 26]  # 0.9091, 0.75, 0.7692
    assert m["per_class_iou"] == pytest.approx(dict(zip(NAMES3, iou)))
    assert m["per_class_acc"] == pytest.approx(dict(zip(NAMES3, acc)))
    assert m["miou"] == pytest.approx((50 / 60 + 30 / 47 + 20 / 35) / 3)  # = 2.04306 / 3
    assert m["miou"] == pytest.approx(0.681020, abs=1e-5)
    assert m["pixel_acc"] == pytest.approx(100 / 121)  # = 0.82645
    assert m["mean_acc"] == pytest.approx((50 / 55 + 30 / 40 + 20 / 26) / 3)  # = 0.80944 (2.42832 / 3)
    # fw_iou = (55 * 50/60 + 40 * 30/47 + 26 * 20/35) / 121 = (45.833 + 25.532 + 14.857) / 121 = 0.71258
    assert m["fw_iou"] == pytest.approx((55 * 50 / 60 + 40 * 30 / 47 + 26 * 20 / 35) / 121)
    assert m["fw_iou"] == pytest.approx(0.712582, abs=1e-5)
    assert m["num_pixels"] == 121 and isinstance(m["num_pixels"], int)
    assert m["present_classes"] == 3
    json.dumps(m)  # JSON-ready


def test_torch_input_gives_same_result() -> None:
    assert segmentation_metrics(torch.tensor(CM3), NAMES3) == segmentation_metrics(np.array(CM3), NAMES3)


def test_update_builds_the_hand_matrix() -> None:
    pred, target = _pixels_from_matrix(CM3)
    cm = ConfusionMatrix(3)
    cm.update(pred.reshape(11, 11), target.reshape(11, 11))  # any shape works; 121 = 11 x 11
    assert cm.matrix.dtype == torch.int64
    assert cm.matrix.tolist() == CM3


def test_ignore_index_and_out_of_range_targets_are_not_counted() -> None:
    pred = torch.tensor([0, 1, 2, 2, 0, 1])
    target = torch.tensor([0, 255, 2, 255, 7, -1], dtype=torch.int64)
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    # uint8 labels with a custom ignore value
    cm = ConfusionMatrix(3, ignore_index=0)
    cm.update(torch.tensor([1, 2, 0], dtype=torch.uint8), torch.tensor([0, 2, 1], dtype=torch.uint8))
    assert cm.matrix.tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1]]


def test_class_absent_everywhere_is_none_and_excluded() -> None:
    cm = np.zeros((4, 4), dtype=np.int64)
    cm[:3, :3] = CM3  # class 3 never appears in GT nor predictions
    m = segmentation_metrics(cm, NAMES3 + ["sofa"])
    assert m["per_class_iou"]["sofa"] is None and m["per_class_acc"]["sofa"] is None
    assert m["miou"] == pytest.approx((50 / 60 + 30 / 47 + 20 / 35) / 3)  # same as without it
    assert m["mean_acc"] == pytest.approx((50 / 55 + 30 / 40 + 20 / 26) / 3)
    assert m["present_classes"] == 3
    assert "null" in json.dumps(m)


def test_class_predicted_but_absent_from_ground_truth_counts_as_zero() -> None:
    cm = np.array(
        [
            [8, 0, 2],  # GT 0: 10 pixels, 2 of them predicted as class 2
            [1, 9, 0],  # GT 1: 10 pixels
            [0, 0, 0],  # GT 2: absent from ground truth
        ]
    )
    m = segmentation_metrics(cm, ["a", "b", "c"])
    # predicted = 9, 9, 2; union = 10+9-8 = 11, 10+9-9 = 10, 0+2-0 = 2
    assert m["per_class_iou"] == pytest.approx({"a": 8 / 11, "b": 9 / 10, "c": 0.0})
    assert m["miou"] == pytest.approx((8 / 11 + 9 / 10 + 0.0) / 3)  # class c included with IoU 0
    assert m["per_class_acc"]["c"] is None
    assert m["mean_acc"] == pytest.approx((8 / 10 + 9 / 10) / 2)
    assert m["fw_iou"] == pytest.approx(0.5 * 8 / 11 + 0.5 * 9 / 10)
    assert m["present_classes"] == 3


def test_metrics_are_fractions() -> None:
    rng = np.random.default_rng(0)
    m = segmentation_metrics(rng.integers(0, 50, size=(6, 6)), list("abcdef"))
    for key in ("miou", "pixel_acc", "mean_acc", "fw_iou"):
        assert 0.0 <= m[key] <= 1.0
    assert segmentation_metrics(np.diag([3, 4]), ["x", "y"])["miou"] == 1.0


def test_accumulation_equals_single_update_on_concatenation() -> None:
    g = torch.Generator().manual_seed(1)
    preds = [torch.randint(0, 5, (2, 7, 9), generator=g) for _ in range(4)]
    targets = [torch.randint(0, 6, (2, 7, 9), generator=g) for _ in range(4)]
    for t in targets:
        t[t == 5] = 255
    many = ConfusionMatrix(5)
    for p, t in zip(preds, targets):
        many.update(p, t)
    once = ConfusionMatrix(5)
    once.update(torch.cat(preds), torch.cat(targets))
    assert torch.equal(many.matrix, once.matrix)
    assert many.matrix.sum().item() == sum(int((t != 255).sum()) for t in targets)
    many.reset()
    assert many.matrix.sum().item() == 0


def test_merge_adds_counts_from_other_processes() -> None:
    pred, target = _pixels_from_matrix(CM3)
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(pred[:60], target[:60])
    b.update(pred[60:], target[60:])
    a.merge_(b.matrix)
    assert a.matrix.tolist() == CM3
    a.merge_(np.eye(3, dtype=np.int32))
    assert np.diag(a.matrix.numpy()).tolist() == [51, 31, 21]
    with pytest.raises(ValueError, match="shape"):
        a.merge_(torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="non-negative"):
        a.merge_(-torch.ones(3, 3, dtype=torch.int64))


def test_update_rejects_bad_input() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        cm.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cm.update(torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cm.update(torch.tensor([-1, 0]), torch.tensor([0, 1]))
    with pytest.raises(TypeError):
        cm.update(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    assert cm.matrix.sum().item() == 0  # nothing counted by failed updates
    cm.update(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))  # empty batch is fine
    with pytest.raises(ValueError):
        ConfusionMatrix(0)


def test_segmentation_metrics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        segmentation_metrics(np.zeros((3, 3)), NAMES3)
    with pytest.raises(ValueError, match="square"):
        segmentation_metrics(np.ones((3, 2)), NAMES3)
    with pytest.raises(ValueError, match="class names"):
        segmentation_metrics(np.array(CM3), NAMES3[:2])
    with pytest.raises(ValueError, match="unique"):
        segmentation_metrics(np.array(CM3), ["a", "a", "b"])
    with pytest.raises(ValueError, match="non-negative"):
        segmentation_metrics(-np.array(CM3), NAMES3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    pred, target = _pixels_from_matrix(CM3)
    cm = ConfusionMatrix(3)
    cm.update(pred.cuda(), target.cuda())
    assert cm.matrix.is_cuda and cm.matrix.cpu().tolist() == CM3
    assert math.isclose(segmentation_metrics(cm.matrix, NAMES3)["miou"], (50 / 60 + 30 / 47 + 20 / 35) / 3)

