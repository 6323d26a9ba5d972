"""The frozen-backbone probe on the smoke data: deterministic, a real metric, the backbone left untouched."""
import copy

import pytest
import torch
from accelerate import Accelerator

from conftest import REPO

from crossmodal.config import ConfigError, load_config
from crossmodal.data.files import open_data
from crossmodal.models import build_backbone
from eval.probe import probe_segmentation


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
