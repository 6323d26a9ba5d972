"""The frozen-backbone probes: one feature path and one head-fitting path, deterministic, a real metric, the
backbone left untouched."""
import copy

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from conftest import REPO
from crossmodal.config import ConfigError, ProbeConfig, load_config
from crossmodal.data.files import open_data
from crossmodal.downstream import dense_features, fit_head, frozen_features, probe_segmentation, train_linear
from crossmodal.models import build_backbone


def _blobs(n_per_class: int, dim: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Well separated Gaussian clusters, one per class."""
    g = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.randn(num_classes, dim, generator=g)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    return centres[y] + 0.3 * torch.randn(len(y), dim, generator=g), y


def test_fit_head_linear_separates_separable_features():
    x, y = _blobs(40, 8, 4, seed=0)
    probe = ProbeConfig(epochs=20, batch_size=16, lr=0.05)
    head = fit_head(x, y, 4, probe, seed=3, device="cpu", loss=F.cross_entropy)
    assert isinstance(head, nn.Linear) and head.out_features == 4
    x_test, y_test = _blobs(20, 8, 4, seed=0)  # same centres, fresh noise (same generator seed, then more draws)
    with torch.no_grad():
        acc = (head(x_test).argmax(1) == y_test).float().mean()
    assert acc > 0.95
    again = fit_head(x, y, 4, probe, seed=3, device="cpu", loss=F.cross_entropy)
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), again.state_dict().values()))


def test_fit_head_conv_separates_dense_features():
    # per-pixel class = which of the 3 channels is largest: a 1x1 convolution can read it off exactly
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 3, 6, 6, generator=g)
    y = x.argmax(1)
    y[:, 0, 0] = 255  # ignored pixels do not count
    head = fit_head(x, y, 3, ProbeConfig(epochs=30, batch_size=8, lr=0.05), seed=0, device="cpu",
                    loss=lambda logits, t: F.cross_entropy(logits, t, ignore_index=255))
    assert isinstance(head, nn.Conv2d) and head.kernel_size == (1, 1)
    with torch.no_grad():
        pred = head(x).argmax(1)
    keep = y != 255
    assert (pred[keep] == y[keep]).float().mean() > 0.95


def test_train_linear_leaves_out_frames_without_a_class():
    x, y = _blobs(30, 6, 3, seed=2)
    cfg = load_config(REPO / "configs" / "smoke.yaml", ["probe.epochs=10", "probe.lr=0.05"])
    y_missing = y.clone()
    y_missing[::5] = -1  # would crash cross-entropy if kept
    head = train_linear(x, y_missing, 3, cfg, seed=7, device="cpu")
    same = fit_head(x[y_missing >= 0], y[y_missing >= 0], 3, cfg.probe, 7, "cpu", F.cross_entropy)
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), same.state_dict().values()))


def test_frozen_features_one_path_for_both_probes(smoke_run):
    _, _, overrides = smoke_run
    cfg = load_config(REPO / "configs" / "smoke.yaml", overrides)
    data = open_data(cfg)
    torch.manual_seed(0)
    backbone = build_backbone("resnet_narrow", 2).train()
    maps, labels = frozen_features(cfg, backbone, data.train, cfg.data.target, "target", "label", [0, -1])
    assert backbone.training  # its mode is restored
    n = data.train.num_samples
    assert labels.shape == (n, data.train.height, data.train.width) and labels.dtype == torch.int64
    for f, c, s in zip(maps, (backbone.out_channels[0], backbone.out_channels[-1]),
                       (backbone.strides[0], backbone.strides[-1])):
        assert f.dtype == torch.float32 and f.shape[:2] == (n, c) and f.shape[-1] == -(-data.train.width // s)
    dense, dense_labels = dense_features(cfg, backbone, data.train, -1, "cpu")
    assert torch.equal(dense, maps[1]) and torch.equal(dense_labels, labels)
    pooled, _ = frozen_features(cfg, backbone, data.train, cfg.data.target, "target", "label", [-1],
                                lambda m: F.adaptive_avg_pool2d(m, 2).flatten(1))
    assert torch.allclose(pooled[0], F.adaptive_avg_pool2d(maps[1], 2).flatten(1))


def test_probe_is_deterministic_and_leaves_the_backbone_alone(smoke_run):
    run_dir, _, overrides = smoke_run
    cfg = load_config(REPO / "configs" / "smoke.yaml", [*overrides, "probe.epochs=3"])
    data = open_data(cfg)
    torch.manual_seed(0)
    backbone = build_backbone("resnet_narrow", 2)
    before = copy.deepcopy(backbone.state_dict())
    acc = Accelerator(cpu=True)
    a = probe_segmentation(cfg, backbone, data, acc)
    b = probe_segmentation(cfg, backbone, data, acc)
    assert a["miou"] == b["miou"] and 0.0 < a["miou"] < 1.0 and a["layer"] == -1
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())  # BatchNorm stats untouched
    with pytest.raises(ConfigError, match="probe.layer"):
        probe_segmentation(load_config(REPO / "configs" / "smoke.yaml", [*overrides, "probe.layer=5"]), backbone,
                           data, acc)


def test_smoke_run_reports_the_probe(smoke_run):
    _, metrics, _ = smoke_run
    for method in ("none", "crd_dense", "crd"):
        m = metrics["methods"][method]
        assert 0.0 <= m["probe_miou"] <= 1.0
        assert m["per_seed"]["0"]["probe"]["miou"] == m["probe_miou"]
