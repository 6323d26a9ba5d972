"""resolve_config: the values taken from the data land in a new Config; the loaded one stays as it was."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from crossmodal.config import check_pair_count, load_config, resolve_config, to_dict
from crossmodal.errors import ConfigError


@dataclass
class Facts:
    num_classes: int
    teacher_class_names: tuple[str, ...]


def test_the_resolved_config_is_new_and_the_loaded_one_unchanged():
    cfg = load_config("configs/smoke.yaml", ["methods=[none,kd,crd_dense+kd,crd_dense_logits]"])
    loaded = to_dict(cfg)
    out = resolve_config(cfg, Facts(num_classes=7, teacher_class_names=("a",) * 9))
    assert to_dict(cfg) == loaded and out is not cfg and out.transfer is not cfg.transfer
    assert out.data.num_classes == 7
    assert out.transfer.kd.num_classes == 9 and out.transfer.crd_dense_logits.num_classes == 9
    assert out.transfer.crd_dense_kd.kd.num_classes == 9
    same = to_dict(out)
    same["data"]["num_classes"] = 0
    for section in (same["transfer"]["kd"], same["transfer"]["crd_dense_logits"], same["transfer"]["crd_kd"]["kd"],
                    same["transfer"]["crd_dense_kd"]["kd"]):
        section["num_classes"] = 0
    assert same == loaded  # nothing else differs


def test_a_head_less_teacher_leaves_the_distiller_heads_alone():
    cfg = load_config("configs/smoke.yaml", ["teacher.head=none", "methods=[none,crd_dense]"])
    out = resolve_config(cfg, Facts(num_classes=5, teacher_class_names=()))
    assert out.data.num_classes == 5 and out.transfer.kd.num_classes == 0


def test_the_pair_count_is_checked_for_the_methods_run_only():
    cfg = load_config("configs/smoke.yaml", ["methods=[none,crd]", "transfer.crd.num_negatives=64"])
    with pytest.raises(ConfigError, match="transfer.crd.num_negatives"):
        check_pair_count(cfg, 10)
    check_pair_count(load_config("configs/smoke.yaml", ["methods=[none,crd_dense]",
                                                        "transfer.crd.num_negatives=64"]), 10)
