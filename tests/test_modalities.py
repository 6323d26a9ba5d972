"""Encodings and paired augmentation: the same crop and flip for every modality, exact holes and labels."""
import numpy as np
import pytest
import torch

from crossmodal.modalities import (
    ENCODINGS,
    LOG_DEPTH_MEAN,
    LOG_DEPTH_STD,
    PairTransform,
    check_encoding,
    encoding_channels,
)


def _sample(h=24, w=32):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 7 % 256, yy * 9 % 256, (xx + yy) % 256], -1).astype(np.uint8)
    depth = (1.0 + xx / w).astype(np.float32)  # depth encodes the column
    depth[:4, :4] = 0
    label = (xx // 8).astype(np.uint8)
    label[-2:] = 255
    return {"rgb": rgb, "depth": depth, "label": label, "index": 3}


def test_logdepth_valid_encoding():
    d = np.array([[0.0, 1.0], [np.e, 2.0]], np.float32)
    out = ENCODINGS["logdepth_valid"].fn(d)
    assert out.shape == (2, 2, 2)
    assert out[1].tolist() == [[0, 1], [1, 1]]
    assert out[0, 0, 0] == 0 and np.isclose(out[0, 1, 0], (1 - LOG_DEPTH_MEAN) / LOG_DEPTH_STD)
    assert encoding_channels("logdepth_valid", (4, 5)) == 2 and encoding_channels("raw", (4, 5, 7)) == 7


def test_eval_transform_is_a_pure_encoding():
    s = _sample()
    out = PairTransform({"rgb": "rgb", "depth": "logdepth_valid"}, (24, 32), train=False)(s)
    assert out["rgb"].shape == (3, 24, 32) and out["depth"].shape == (2, 24, 32)
    assert torch.equal(out["label"], torch.from_numpy(s["label"].astype(np.int64)))
    assert out["index"] == 3


def test_train_augmentation_keeps_modalities_aligned_and_values_exact():
    s = _sample()
    t = PairTransform({"rgb": "rgb", "depth": "metres"}, (24, 32), train=True, scale_jitter=0.4, seed=1)
    for epoch in range(6):
        t.set_epoch(epoch)
        out = t(dict(s))
        depth = out["depth"][0].numpy() * 2.0 + 3.0
        valid = out["depth"][0].numpy() != 0
        # nearest resampling: every depth value and label is one of the originals
        assert np.isin(np.round(depth[valid], 4), np.round(s["depth"], 4)).all()
        assert set(np.unique(out["label"].numpy())) <= set(np.unique(s["label"]))
        # the same crop and flip for all: the column read back from depth gives the label (x // 8)
        lab = out["label"].numpy()
        col = np.round((depth - 1.0) * 32).astype(int)
        keep = valid & (lab != 255)
        assert keep.sum() > 100
        assert np.array_equal(lab[keep], col[keep] // 8)


def test_augmentation_depends_only_on_seed_epoch_and_index():
    s = _sample()
    a = PairTransform({"rgb": "rgb", "depth": "metres"}, (24, 32), train=True, seed=5)
    b = PairTransform({"rgb": "rgb", "depth": "metres"}, (24, 32), train=True, seed=5)
    outs = [a(dict(s))["rgb"] for _ in range(2)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], b(dict(s))["rgb"])
    changed = [not torch.equal(a(dict(s, index=i))["rgb"], outs[0]) for i in range(4, 10)]
    assert any(changed)


def test_encoding_mismatch_is_reported():
    with pytest.raises(ValueError, match="f.h5: modality 'depth' has per-sample shape \\(4, 5, 3\\)"):
        check_encoding("logdepth_valid", "depth", (4, 5, 3), "f.h5")
