"""The dry run (run_transfer.py --dry-run): every distiller the run needs is built and run once on a random batch,
the networks' table comes back, and nothing trains; a bad stage index is refused naming its key."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO
from crossmodal.config import load_config, resolve_config
from crossmodal.data.files import data_ready, open_data, synthetic_command
from crossmodal.errors import ConfigError
from crossmodal.modalities import encoding_channels
from crossmodal.models import build_teacher
from crossmodal.stages.dry_run import distiller_settings, dry_run, read_stages
from crossmodal.stages.transfer import build_student
from data_tools.synthetic import main as make_synthetic

SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> list[str]:
    """Overrides of configs/smoke.yaml onto tiny embedded data made once for this module."""
    out = tmp_path_factory.mktemp("dry") / "syn"
    keys = [f"data.synthetic.out={out}", "data.synthetic.num=4", "data.synthetic.num_teacher=3",
            "data.synthetic.num_train=2", "data.synthetic.num_test=2", "data.synthetic.num_val=2",
            "data.synthetic.size=32x40", "transfer.crd.num_negatives=2"]
    cfg = load_config(SMOKE, keys)
    if not data_ready(cfg):
        assert make_synthetic(synthetic_command(cfg)[3:] + ["--workers", "1"]) == 0
    return keys


def _setup(overrides: list[str]):
    cfg = load_config(SMOKE, overrides)
    data = open_data(cfg)
    cfg = resolve_config(cfg, data)
    channels = encoding_channels(cfg.data.source_encoding, data.unlabeled.shapes[cfg.data.source])
    teacher = build_teacher(cfg.teacher.net.arch, channels, data.num_classes,
                            head_channels=cfg.teacher.net.head_channels).eval()
    return cfg, data, teacher, build_student(cfg, data)


def test_dry_run_gives_the_table_and_trains_nothing(tiny):
    methods = ["methods=[none,crd_dense,crd_dense+kd,fitnet,at]", "transfer.crd_dense.teacher_layer=-2",
               "transfer.crd_dense.layer=-1", "controls.random_teacher=[crd_dense]",
               "tune.trials={crd_dense: [{}, {transfer.crd_dense.teacher_layer: 1}]}"]
    cfg, data, teacher, student = _setup(tiny + methods)
    before = {k: v.clone() for k, v in [*student.state_dict().items(), *teacher.state_dict().items()]}
    text = dry_run(cfg, data, teacher, student)
    after = {k: v for k, v in [*student.state_dict().items(), *teacher.state_dict().items()]}
    assert all(torch.equal(before[k], after[k]) for k in before)  # no step, no BatchNorm statistics changed
    assert "| teacher | 2 (-1) | `layer3` | 64 | 8 |" in text and "| student | 0 (-3) | `layer1` | 16 | 2 |" in text
    assert "- teacher `resnet_narrow`:" in text and "head: SegHead" in text
    assert "- crd_dense: distiller `crd_dense` reads teacher stage 1 (`layer2`, 32 ch, stride 4) -> student " \
           "stage 2 (`layer3`, 64 ch, stride 8)" in text
    assert "crd_dense (tune.trials.crd_dense[1])" in text and "tune.trials.crd_dense[0]" not in text  # [0] = as is
    assert "distiller `crd_dense+kd` reads teacher stage 2" in text and "the teacher's logits" in text
    assert text.count("distiller `at` reads") == 1 and "distiller `fitnet`" in text


def test_dry_run_refuses_a_bad_teacher_stage(tiny):
    cfg, data, teacher, student = _setup(tiny + ["transfer.crd_dense.teacher_layer=7"])
    with pytest.raises(ConfigError, match=r"transfer\.crd_dense\.teacher_layer.*3 teacher stages"):
        dry_run(cfg, data, teacher, student)


def test_distiller_settings_and_stages_without_data():
    cfg = load_config(SMOKE, ["methods=[none,crd_dense,crd]", "controls.random_teacher=[crd]"])
    assert [label for label, _, _ in distiller_settings(cfg)] == ["crd_dense", "crd"]
    from crossmodal.distill import DISTILLERS

    d = DISTILLERS["crd_dense"]([16, 32, 64], [8, 16, 32, 64], 8, cfg.transfer.crd_dense)
    assert read_stages(d) == [(-1, -1)]
