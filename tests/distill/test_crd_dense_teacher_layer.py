"""transfer.crd_dense.teacher_layer: the teacher's stage chosen apart from the student's `layer`.

Unset, everything is as before: the same loss, the same state dict keys, the same cell identity.
"""
from __future__ import annotations

import pytest
import torch

from conftest import REPO
from crossmodal.config import load_config, to_dict
from crossmodal.config.distillers import DenseCRDConfig, DenseCRDKDConfig, KDConfig
from crossmodal.distill import DISTILLERS
from crossmodal.errors import ConfigError
from crossmodal.stages.reuse import cell_identity

STUDENT, TEACHER = [8, 16, 32], [12, 24, 48, 96]


def _feats(channels: list[int], seed: int, size: int = 16) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, size >> i, size >> i, generator=g) for i, c in enumerate(channels)]


def _loss(cfg: DenseCRDConfig, student=STUDENT, teacher=TEACHER) -> torch.Tensor:
    torch.manual_seed(0)
    d = DISTILLERS["crd_dense"](student, teacher, 8, cfg, seed=3)
    return d(_feats(student, 1), _feats(teacher, 2), torch.arange(2))


def test_unset_is_the_old_behaviour_exactly():
    for layer in (-1, 0, 1):
        old = _loss(DenseCRDConfig(feat_dim=8, num_locations=4, layer=layer))
        same = _loss(DenseCRDConfig(feat_dim=8, num_locations=4, layer=layer, teacher_layer=layer))
        assert torch.isfinite(old) and abs(old.item() - same.item()) < 1e-7
    d = DISTILLERS["crd_dense"](STUDENT, TEACHER, 8, DenseCRDConfig(feat_dim=8))
    assert (d.layer, d.teacher_layer) == (-1, -1)
    assert set(d.state_dict()) == {"embed_student.weight", "embed_student.bias", "embed_teacher.weight",
                                   "embed_teacher.bias", "_extra_state"}


def test_a_teacher_stage_apart_from_the_student_stage():
    cfg = DenseCRDConfig(feat_dim=8, num_locations=4, layer=-1, teacher_layer=1)
    torch.manual_seed(0)
    d = DISTILLERS["crd_dense"](STUDENT, TEACHER, 8, cfg, seed=3)
    assert d.embed_student.in_features == 32 and d.embed_teacher.in_features == 24
    s = [f.requires_grad_() for f in _feats(STUDENT, 1)]
    loss = d(s, _feats(TEACHER, 2), torch.arange(2))
    loss.backward()
    assert torch.isfinite(loss) and s[-1].grad is not None and s[-1].grad.abs().sum() > 0
    assert abs(loss.item() - _loss(DenseCRDConfig(feat_dim=8, num_locations=4, layer=-1)).item()) > 1e-6
    # the student's index is checked against the student alone once the teacher has its own
    d = DISTILLERS["crd_dense"]([8, 16, 32, 64, 128], TEACHER, 8, DenseCRDConfig(layer=4, teacher_layer=-1))
    assert d.embed_student.in_features == 128 and d.embed_teacher.in_features == 96


@pytest.mark.parametrize("options, key", [
    ({"teacher_layer": 4}, r"transfer\.crd_dense\.teacher_layer' must be a stage index valid for 4 teacher"),
    ({"teacher_layer": -5}, r"transfer\.crd_dense\.teacher_layer"),
    ({"layer": 3, "teacher_layer": 0}, r"transfer\.crd_dense\.layer' must be a stage index valid for 3 student"),
    ({"layer": 3}, r"transfer\.crd_dense\.layer'"),
])
def test_bad_stage_indices_name_their_key(options, key):
    with pytest.raises(ConfigError, match=key):
        DISTILLERS["crd_dense"](STUDENT, TEACHER, 8, DenseCRDConfig(**options))


def test_crd_dense_kd_part_reads_its_own_teacher_stage():
    cfg = DenseCRDKDConfig(crd_dense=DenseCRDConfig(feat_dim=8, num_locations=4, teacher_layer=0),
                           kd=KDConfig(num_classes=3, hidden=8))
    d = DISTILLERS["crd_dense+kd"](STUDENT, TEACHER, 8, cfg)
    assert (d.crd_dense.layer, d.crd_dense.teacher_layer) == (-1, 0) and d.crd_dense.embed_teacher.in_features == 12


def test_config_key_and_cell_identity():
    smoke = REPO / "configs" / "smoke.yaml"
    assert load_config(smoke).transfer.crd_dense.teacher_layer is None
    assert load_config(smoke, ["transfer.crd_dense.teacher_layer=null"]).transfer.crd_dense.teacher_layer is None
    assert load_config(smoke, ["transfer.crd_dense.teacher_layer=-2"]).transfer.crd_dense.teacher_layer == -2
    with pytest.raises(ConfigError, match="transfer.crd_dense.teacher_layer"):
        load_config(smoke, ["transfer.crd_dense.teacher_layer=deep"])
    methods = ["methods=[none,crd_dense,crd_dense+kd]"]
    now = to_dict(load_config(smoke, methods))
    earlier = to_dict(load_config(smoke, methods))  # a config saved before the key existed
    del earlier["transfer"]["crd_dense"]["teacher_layer"]
    del earlier["transfer"]["crd_dense_kd"]["crd_dense"]["teacher_layer"]
    for method in ("crd_dense", "crd_dense+kd"):
        assert cell_identity(now, method) == cell_identity(earlier, method)
    changed = to_dict(load_config(smoke, methods + ["transfer.crd_dense.teacher_layer=0"]))
    assert cell_identity(changed, "crd_dense") != cell_identity(now, "crd_dense")
    assert cell_identity(changed, "crd_dense+kd") == cell_identity(now, "crd_dense+kd")
