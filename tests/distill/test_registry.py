"""The distiller registry: every registered name loads a Distiller of its own, documented and tested.

Config checks, the verdict and the fine-tuning head read what the registration declares (needs_teacher_logits,
family, head), so no list of names is kept elsewhere; errors inside a combination name the part's own key.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from crossmodal.config import Config
from crossmodal.config.distillers import (
    CRDConfig,
    CRDKDConfig,
    DenseCRDConfig,
    DenseCRDKDConfig,
    KDConfig,
    class_head,
    distiller,
    family,
    fill_num_classes,
    is_crd_variant,
)
from crossmodal.distill import DISTILLERS, OPTIONS, REGISTRY, Distiller, DistillerConfig, config_key
from crossmodal.distributed import install_gradient_averaging
from crossmodal.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_registered_distiller_has_options_a_class_docs_and_a_test(name: str) -> None:
    entry = REGISTRY[name]
    assert dataclasses.is_dataclass(entry.options) and issubclass(entry.options, DistillerConfig), name
    assert OPTIONS[name] is entry.options
    cls = DISTILLERS[name]
    assert issubclass(cls, Distiller) and cls.name == name and cls.Config is entry.options
    assert cls.needs_teacher_logits is entry.needs_teacher_logits
    assert sum(c is cls for c in DISTILLERS.values()) == 1, f"{name}: one class serves two names"
    docs = (REPO / "docs" / "distillers.md").read_text() + (REPO / "docs" / "crd.md").read_text()
    assert re.search(rf"^##+ `?{re.escape(name)}`?:", docs, re.M), f"{name}: no section in docs/distillers.md or crd.md"
    tested = [p.name for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name
              and re.search(rf"[\"']{re.escape(name)}[\"']", p.read_text())]
    assert tested, f"{name}: no test in tests/distill/ names it"
    assert config_key(name).isidentifier()


def test_a_second_registration_of_a_name_is_refused() -> None:
    with pytest.raises(RuntimeError, match="'kd' is registered twice"):
        distiller("kd", "kd:KD")(type("Again", (DistillerConfig,), {}))
    with pytest.raises(RuntimeError, match="reserved"):
        distiller("none", "kd:KD")(type("Again", (DistillerConfig,), {}))
    assert "none" not in REGISTRY


def test_the_transfer_stage_installs_gradient_averaging_for_any_distiller(monkeypatch) -> None:
    """Distillers no longer install it themselves: a freshly built one has no hook until the stage adds it."""
    import crossmodal.distributed as distributed

    reduced = []
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed.dist, "all_reduce", lambda t, op=None: reduced.append(t.shape))
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 1)
    d = DISTILLERS["fitnet"]([4], [6], 8, OPTIONS["fitnet"]())
    feats = ([torch.randn(2, 4, 3, 3)], [torch.randn(2, 6, 3, 3)])
    d(*feats, torch.arange(2)).backward()
    assert list(d.parameters()) and not reduced
    install_gradient_averaging(d)
    d(*feats, torch.arange(2)).backward()
    assert sorted(reduced) == sorted(p.shape for p in d.parameters())
    src = (REPO / "crossmodal" / "stages" / "transfer.py").read_text()
    assert "install_gradient_averaging(distiller)" in src


def test_classification_refuses_exactly_the_distillers_that_read_teacher_logits() -> None:
    from crossmodal.config import Config, validate
    from crossmodal.errors import ConfigError

    for name, entry in REGISTRY.items():
        cfg = Config(task="classification", methods=["none", name])
        if entry.needs_teacher_logits:
            with pytest.raises(ConfigError, match="per-pixel"):
                validate(cfg)
        else:
            validate(cfg)


def test_an_error_inside_a_combination_names_the_part_s_own_key() -> None:
    kd = KDConfig(num_classes=2)
    with pytest.raises(ConfigError, match=r"'transfer\.crd_kd\.crd\.layer'"):
        DISTILLERS["crd+kd"]([4, 8], [4, 8], 64, CRDKDConfig(crd=CRDConfig(layer=2, num_negatives=8), kd=kd))
    with pytest.raises(ConfigError, match=r"'transfer\.crd_dense_kd\.crd_dense\.layer'"):
        DISTILLERS["crd_dense+kd"]([4, 8], [4, 8], 64, DenseCRDKDConfig(crd_dense=DenseCRDConfig(layer=2), kd=kd))
    with pytest.raises(ConfigError, match=r"'transfer\.crd_dense_kd\.crd_dense\.teacher_layer'"):
        DISTILLERS["crd_dense+kd"]([4, 8], [4, 8], 64,
                                   DenseCRDKDConfig(crd_dense=DenseCRDConfig(teacher_layer=3), kd=kd))
    with pytest.raises(ConfigError, match=r"'transfer\.crd\.layer'"):  # the method alone keeps its own section
        DISTILLERS["crd"]([4, 8], [4, 8], 64, CRDConfig(layer=2, num_negatives=8))
    d = DISTILLERS["crd+kd"]([4, 8], [4, 8], 64, CRDKDConfig(crd=CRDConfig(num_negatives=8), kd=kd))
    assert (d.key, d.crd.key, d.kd.key) == ("transfer.crd_kd", "transfer.crd_kd.crd", "transfer.crd_kd.kd")


def test_the_family_is_declared_at_registration() -> None:
    crd = {"crd", "crd_dense", "crd+kd", "crd_dense+kd", "crd_dense_logits"}
    assert {name for name in REGISTRY if is_crd_variant(name)} == crd
    assert all(family(name) == ("crd" if name in crd else "baseline") for name in REGISTRY)
    assert family("none") is None and not is_crd_variant("none") and not is_crd_variant("crd_unknown")
    with pytest.raises(RuntimeError, match="family must be"):
        distiller("other", "kd:KD", family="contrastive")


def test_the_class_head_is_declared_at_registration() -> None:
    transfer = Config().transfer
    fill_num_classes(transfer, 3)
    heads = {name: class_head(name, transfer) for name in REGISTRY}
    assert {name for name, head in heads.items() if head} == {"kd", "crd+kd", "crd_dense+kd"}
    assert heads["kd"] == ("head.", transfer.kd)
    assert heads["crd+kd"][0] == "kd.head." and heads["crd+kd"][1] is transfer.crd_kd.kd
    assert heads["crd_dense+kd"][1] is transfer.crd_dense_kd.kd
    assert class_head("none", transfer) is None
    for name, head in heads.items():  # the prefix is where the built distiller keeps that head
        if head:
            options = getattr(transfer, config_key(name))
            built = DISTILLERS[name]([4, 8], [4, 8], 2048, options)
            assert any(k.startswith(head[0]) for k in built.state_dict()), name
