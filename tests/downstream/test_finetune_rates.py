"""finetune.backbone_lr_scale: the backbone trains at lr x scale, the fresh head at lr; 1 keeps one group."""
from __future__ import annotations

import pytest
from torch import nn

from crossmodal.config import load_config
from crossmodal.errors import ConfigError
from crossmodal.stages.common import make_optimizer, warmup_cosine


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(2, 3, 1)
        self.head = nn.Conv2d(3, 4, 1)


def test_backbone_gets_the_scaled_rate_and_the_head_the_full_one_through_the_schedule() -> None:
    net = _Net()
    opt = make_optimizer(net.parameters(), 0.01, 0.0, slow=(net.backbone.parameters(), 0.1))
    sched = warmup_cosine(opt, 10, 2)
    by_id = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert [by_id[id(p)] for p in net.head.parameters()] == pytest.approx([0.01 / 3] * 2)  # warm-up step 1 of 3
    assert [by_id[id(p)] for p in net.backbone.parameters()] == pytest.approx([0.001 / 3] * 2)
    for _ in range(5):
        opt.step()
        sched.step()
    head, back = (g["lr"] for g in opt.param_groups)
    assert back == pytest.approx(head * 0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))


def test_scale_one_is_a_single_group_as_before() -> None:
    net = _Net()
    assert len(make_optimizer(net.parameters(), 0.01, 0.0).param_groups) == 1


def test_the_scale_must_be_positive() -> None:
    assert load_config(None, ["finetune.backbone_lr_scale=0.25"]).finetune.backbone_lr_scale == 0.25
    with pytest.raises(ConfigError, match="finetune.backbone_lr_scale"):
        load_config(None, ["finetune.backbone_lr_scale=0"])
