"""finetune.head_init: distiller starts the fine-tuning's head from the head a kd-style distiller trained on the
teacher's classes; every other method (none included) keeps the fresh head; mismatched heads fail at the start."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO, rerun_smoke
from crossmodal.config import load_config
from crossmodal.config.distillers import fill_num_classes
from crossmodal.distill import DISTILLERS
from crossmodal.downstream import check_head_init, distiller_head
from crossmodal.errors import ConfigError
from crossmodal.models import Segmenter, build_backbone

SMOKE = REPO / "configs" / "smoke.yaml"  # student resnet_narrow with head_channels 16


def _cfg(*overrides: str):
    cfg = load_config(SMOKE, ["methods=[none,kd,crd_dense,crd_dense+kd]", "finetune.head_init=distiller",
                              "transfer.kd.hidden=16", "transfer.crd_dense_kd.kd.hidden=16", *overrides])
    fill_num_classes(cfg.transfer, 5)
    return cfg


def _student():
    torch.manual_seed(0)
    return build_backbone("resnet_narrow", 2, num_classes=5, key="student")


def _distiller_state(cfg, method: str) -> dict:
    from crossmodal.distill import config_key
    student = _student()
    d = DISTILLERS[method](student.out_channels, student.out_channels, 64, getattr(cfg.transfer, config_key(method)))
    return d.state_dict()


def test_the_value_is_checked_by_name():
    assert load_config(SMOKE, ["finetune.head_init=distiller"]).finetune.head_init == "distiller"
    assert load_config(SMOKE).finetune.head_init == "fresh"
    with pytest.raises(ConfigError, match="'finetune.head_init'.*fresh or distiller"):
        load_config(SMOKE, ["finetune.head_init=teacher"])


@pytest.mark.parametrize("method", ["kd", "crd_dense+kd"])
def test_the_kd_head_is_what_the_fine_tuning_head_loads(method):
    cfg = _cfg()
    state = _distiller_state(cfg, method)
    head = distiller_head(cfg, method, state)
    prefix = "head." if method == "kd" else "kd.head."
    assert head and all(torch.equal(v, state[prefix + k]) for k, v in head.items())
    model = Segmenter(_student(), 5, cfg.student.head_channels)
    model.head.load_state_dict(head)  # strict: every key and shape of the fine-tuning head
    assert all(torch.equal(model.head.state_dict()[k], v) for k, v in head.items())


def test_methods_without_a_class_head_and_the_fresh_default_get_none():
    cfg = _cfg()
    assert distiller_head(cfg, "crd_dense", _distiller_state(cfg, "crd_dense")) is None
    assert distiller_head(cfg, "none", None) is None
    fresh = _cfg("finetune.head_init=fresh")
    assert distiller_head(fresh, "kd", _distiller_state(fresh, "kd")) is None


def test_a_head_of_another_shape_fails_before_any_training():
    check_head_init(_cfg(), _student())  # widths and skip stages agree
    with pytest.raises(ConfigError, match="'transfer.kd.hidden' is 64.*student.head_channels \\(16\\)"):
        check_head_init(_cfg("transfer.kd.hidden=64"), _student())
    with pytest.raises(ConfigError, match="'transfer.crd_dense_kd.kd.skip_stage' is 0.*set it to 1"):
        check_head_init(_cfg("transfer.crd_dense_kd.kd.skip_stage=0"), _student())
    # the fresh default, or a method list without a kd head, checks nothing
    check_head_init(_cfg("transfer.kd.hidden=64", "finetune.head_init=fresh"), _student())
    check_head_init(_cfg("transfer.kd.hidden=64", "methods=[none,crd_dense]"), _student())
    # a setting tried on val that turns it on is checked too
    tried = _cfg("transfer.kd.hidden=64", "finetune.head_init=fresh",
                 "tune.trials={kd: [{}, {finetune.head_init: distiller}]}")
    with pytest.raises(ConfigError, match=r"'transfer.kd.hidden' is 64 \(tune.trials.kd\[1\]\)"):
        check_head_init(tried, _student())


def test_every_fine_tuning_of_a_kd_cell_starts_from_its_transferred_head(smoke_run, tmp_path, monkeypatch):
    """The reported cell, its label-count point and its random-teacher control each start from the head their own
    transfer trained; none starts from the fresh head."""
    import crossmodal.downstream.protocols as protocols

    starts = []
    real = protocols.finetune_and_evaluate
    monkeypatch.setattr(protocols, "finetune_and_evaluate", lambda cfg, method, *a, **kw: starts.append(
        (a[4].folder.name, kw.get("head_state"))) or real(cfg, method, *a, **kw))  # a[4]: the stage's checkpoints
    run, _ = rerun_smoke(smoke_run, tmp_path, "methods=[none,kd]", "probe.enabled=false", "transfer.epochs=1",
                         "finetune.epochs=2", "transfer.kd.hidden=16", "finetune.head_init=distiller",
                         "finetune.label_counts=[8]", "controls.random_teacher=[kd]")
    by = dict(starts)
    assert set(by) == {"finetune8-none-seed0", "finetune-none-seed0", "finetune8-kd-seed0", "finetune-kd-seed0",
                       "finetune-kd@random_teacher-seed0"}
    assert by["finetune8-none-seed0"] is None and by["finetune-none-seed0"] is None
    for tag, stages in (("kd", ["finetune8-kd-seed0", "finetune-kd-seed0"]),
                        ("kd@random_teacher", ["finetune-kd@random_teacher-seed0"])):
        saved = torch.load(run / "checkpoints" / f"{tag}_transfer.pt", map_location="cpu", weights_only=False)
        expected = {k[len("head."):]: v for k, v in saved["distiller"].items() if k.startswith("head.")}
        for stage in stages:
            assert by[stage].keys() == expected.keys()
            assert all(torch.equal(by[stage][k], v) for k, v in expected.items())
    trained, random = (torch.load(run / "checkpoints" / f"{t}_transfer.pt", map_location="cpu", weights_only=False)
                       ["distiller"]["head.classifier.weight"] for t in ("kd", "kd@random_teacher"))
    assert not torch.equal(trained, random)  # each cell its own head
    assert "the head starts from the distiller's head" in (run / "log.txt").read_text()
