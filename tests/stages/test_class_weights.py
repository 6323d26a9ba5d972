"""teacher.class_weighting and finetune.class_weighting: per-class cross-entropy weights counted from a split
(ignored pixels left out), the config check, the cache key, and the weights reaching the loss."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.config import load_config
from crossmodal.data.h5format import FormatError
from crossmodal.data.h5writer import write_paired
from crossmodal.errors import ConfigError
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.class_weights import class_weights, label_frequencies
from crossmodal.stages.supervised import train_supervised

LOG = logging.getLogger("test_class_weights")


def _labels() -> np.ndarray:
    """Three 2x4 frames over classes 0..3 (class 3 absent), 255 = ignored."""
    return np.array([[[0, 0, 0, 0], [0, 0, 1, 255]],
                     [[0, 0, 0, 0], [2, 2, 255, 255]],
                     [[0, 0, 0, 0], [0, 0, 0, 0]]], np.uint8)


def _write(tmp_path, labels: np.ndarray):
    n = labels.shape[0]
    rgb = np.zeros((n, *labels.shape[1:], 3), np.uint8)
    return write_paired(tmp_path / "teacher.h5", {"rgb": rgb, "label": labels}, class_names=["a", "b", "c", "d"],
                        source="test")


def test_counts_leave_out_ignored_pixels_and_count_the_frames_a_class_appears_in(tmp_path) -> None:
    counts, present_in = label_frequencies(_write(tmp_path, _labels()), "label", 4)
    assert counts.tolist() == [18, 1, 2, 0]
    assert present_in.tolist() == [7 + 6 + 8, 7, 6, 0]  # labeled pixels of the frames holding the class


def test_counts_over_a_subset_of_frames(tmp_path) -> None:
    path = _write(tmp_path, _labels())
    counts, present_in = label_frequencies(path, "label", 4, indices=[2, 0])
    assert counts.tolist() == [14, 1, 0, 0]
    assert present_in.tolist() == [15, 7, 0, 0]


def test_median_frequency_and_logarithmic_weights_by_hand() -> None:
    counts, present_in = np.array([18, 1, 2, 0]), np.array([21, 7, 6, 0])
    freq = np.array([18 / 21, 1 / 7, 2 / 6])
    w = class_weights(counts, present_in, "median_frequency")
    assert w.tolist() == pytest.approx([*(np.median(freq) / freq), 0.0])
    assert w[1] > w[2] > w[0]  # the rarest class weighs most
    log = class_weights(counts, present_in, "logarithmic")
    assert log.tolist() == pytest.approx([*(1 / np.log(1.02 + np.array([18, 1, 2]) / 21)), 0.0])
    assert class_weights(counts, present_in, "none") is None


def test_a_missing_label_dataset_is_named(tmp_path) -> None:
    path = write_paired(tmp_path / "x.h5", {"rgb": np.zeros((2, 4, 4, 3), np.uint8)}, class_names=None,
                        source="test")
    with pytest.raises(FormatError, match="x.h5.*'label'.*class_weighting"):
        label_frequencies(path, "label", 4)


@pytest.mark.parametrize("stage", ["teacher", "finetune"])
def test_the_config_names_the_key_and_the_choices(stage: str) -> None:
    cfg = load_config(None, [f"{stage}.class_weighting=median_frequency"])
    assert getattr(cfg, stage).class_weighting == "median_frequency"
    with pytest.raises(ConfigError, match=f"{stage}.class_weighting.*median_frequency or logarithmic"):
        load_config(None, [f"{stage}.class_weighting=balanced"])


def test_the_cache_key_changes_with_the_weighting_and_not_for_none(tmp_path) -> None:
    from crossmodal.stages import teacher as teacher_stage

    class _Files:  # what teacher_cache_key reads of DataFiles
        teacher = type("I", (), {"path": _write(tmp_path, _labels())})()
        class_names = ("a", "b", "c", "d")

    plain = load_config(None, [])
    weighted = load_config(None, ["teacher.class_weighting=median_frequency"])
    assert teacher_stage.teacher_cache_key(plain, _Files) != teacher_stage.teacher_cache_key(weighted, _Files)
    saved = dict(teacher_stage.NEW_TEACHER_STAGE_KEYS)
    try:  # with the key treated as unknown, 'none' gives the same key: caches from before the option stay valid
        teacher_stage.NEW_TEACHER_STAGE_KEYS.clear()
        with_key = teacher_stage.teacher_cache_key(plain, _Files)
    finally:
        teacher_stage.NEW_TEACHER_STAGE_KEYS.update(saved)
    assert with_key != teacher_stage.teacher_cache_key(plain, _Files)


def test_the_weights_reach_the_loss(tmp_path) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 3)
    y = torch.randint(0, 3, (4, 3, 3))
    loader = DataLoader([{"rgb": x[i], "label": y[i]} for i in range(4)], batch_size=4)
    weight = torch.tensor([0.2, 1.0, 5.0])
    losses = {}
    for name, w in (("plain", None), ("weighted", weight)):
        torch.manual_seed(1)
        model = nn.Conv2d(2, 3, 1)
        expected = F.cross_entropy(model(x), y, weight=w).item()
        accelerator = Accelerator(cpu=True)
        ckpt = StageCheckpoints(tmp_path / name, 0, 1, accelerator, {}, LOG)
        _, curve = train_supervised(accelerator, model, loader, "rgb", epochs=1, lr=0.0, weight_decay=0.0,
                                    desc=name, log=LOG, ckpt=ckpt, class_weight=w)
        losses[name] = (curve[0][1], expected)  # (epoch, mean loss)
    for got, expected in losses.values():
        assert got == pytest.approx(expected, rel=1e-5)
    assert losses["plain"][1] != pytest.approx(losses["weighted"][1], rel=1e-3)
