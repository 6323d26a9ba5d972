"""The study configs say what docs/study.md says they run (no training).

The full comparison (configs/study_synthetic.yaml) runs every method with as many settings tried on val each, the
controls and a label curve of at least four counts; the quick one (configs/study_quick.yaml) is its three-method
version with the same settings; the head-less teacher study (configs/study_foundation.yaml) runs only feature
distillers against step 1's teacher (configs/study_foundation_teacher.yaml), trained on other data.
"""
import pytest
import torch

from conftest import REPO
from crossmodal.atomic import save_checkpoint
from crossmodal.config import load_config, to_dict
from crossmodal.config.distillers import REGISTRY, is_crd_variant, needs_teacher_logits
from crossmodal.config.teacher import teacher_head
from crossmodal.models.backbone import build_resnet
from crossmodal.models.segmenter import Segmenter

CONFIGS = REPO / "configs"
STUDIES = ("study_quick", "study_synthetic", "study_foundation", "study_foundation_teacher")
# the paper's comparison (none and the 12 distillers of RepDistiller's table, with crd+kd) plus crd_dense+kd
FULL = {"none", "kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst", "crd", "crd_dense", "crd+kd",
        "crd_dense+kd"}


def study(name: str, overrides: list[str] | None = None):
    return load_config(CONFIGS / f"{name}.yaml", overrides)


@pytest.mark.parametrize("name", STUDIES)
def test_each_study_config_loads_and_validates(name):
    """Loading checks every section, the cross-section rules and each tried setting applied to the config."""
    cfg = study(name)
    assert cfg.name == name


def _fair_and_complete(cfg) -> None:
    """Every method tries the same number (>= 2) of settings; controls and label curve name a CRD variant and a
    baseline; the curve has at least four counts with the full split."""
    trials = cfg.tune.trials
    assert set(trials) == set(cfg.methods)
    assert len({len(settings) for settings in trials.values()}) == 1 and len(trials["none"]) >= 2
    assert all(settings[0] == {} for settings in trials.values())  # the configured setting is always tried
    assert len(cfg.run_seeds) == 5
    assert len(cfg.finetune.label_counts) + 1 >= 4  # the full labeled split is always the last point
    curve = cfg.finetune.label_methods
    assert "none" in curve and any(is_crd_variant(m) for m in curve)
    assert any(m != "none" and not is_crd_variant(m) for m in curve)
    controls = cfg.controls.random_teacher
    assert any(is_crd_variant(m) for m in controls)
    assert set(controls) <= set(cfg.methods)


def test_the_full_study_runs_every_method_fairly():
    cfg = study("study_synthetic")
    assert set(cfg.methods) == FULL and len(cfg.methods) == 14
    _fair_and_complete(cfg)
    baselines = [m for m in cfg.controls.random_teacher if not is_crd_variant(m)]
    assert len(baselines) >= 2  # the best CRD variant and the two best baselines


def test_the_quick_study_is_the_full_one_with_three_methods():
    """Same data, teacher, student, schedules and fine-tuning; only the methods, trials, curve, controls differ."""
    quick, full = to_dict(study("study_quick")), to_dict(study("study_synthetic"))
    assert quick["methods"] == ["none", "kd", "crd_dense+kd"]
    for key in ("data", "student", "probe", "seeds"):
        assert quick[key] == full[key], key
    drop = {"teacher": ("cache_views",), "finetune": ("label_counts", "label_methods"),
            "transfer": tuple(k for k in full["transfer"] if isinstance(full["transfer"][k], dict))}
    for key, left_out in drop.items():
        assert ({k: v for k, v in quick[key].items() if k not in left_out}
                == {k: v for k, v in full[key].items() if k not in left_out}), key
    for method in quick["methods"][1:]:
        section = method.replace("+", "_")
        assert quick["transfer"][section] == full["transfer"][section], section


def test_the_foundation_study_uses_a_headless_teacher_and_feature_distillers_only():
    cfg = study("study_foundation")
    assert teacher_head(cfg) == "none"
    features = {m for m in REGISTRY if not needs_teacher_logits(m)}
    assert set(cfg.methods) == {"none"} | features  # every feature distiller, nothing that reads logits
    assert cfg.finetune.head_init == "fresh"
    _fair_and_complete(cfg)


def test_the_foundation_teacher_comes_from_step_one_on_other_data():
    """Step 2 names step 1's saved teacher; step 1 trains on other rooms and classes, with more frames."""
    step1, step2, full = study("study_foundation_teacher"), study("study_foundation"), study("study_synthetic")
    assert step2.teacher.net.pretrained == f"{step1.output_dir}/{step1.name}/checkpoints/teacher.pt"
    assert step1.teacher.net.arch == step2.teacher.net.arch
    a, b = step1.data.synthetic, step2.data.synthetic
    assert a.out != b.out and a.seed != b.seed and not a.rare_objects and b.rare_objects
    assert a.num_teacher > full.data.synthetic.num_teacher > b.num_train
    assert to_dict(step2.data) == to_dict(full.data)  # the downstream task is the full study's


def test_a_saved_teacher_gives_its_backbone_as_pretrained_weights(tmp_path):
    """teacher.pt as run_transfer writes it ({'model': backbone.* and head.*, 'config', 'class_names'}) is read as
    a built-in backbone's pretrained file: the backbone part, the head left out."""
    torch.manual_seed(0)
    teacher = Segmenter(build_resnet("resnet_narrow", 3), 12, 32)
    path = tmp_path / "teacher.pt"
    save_checkpoint({"model": teacher.state_dict(), "config": to_dict(study("study_foundation_teacher")),
                     "class_names": [f"c{i}" for i in range(12)]}, path)
    loaded = build_resnet("resnet_narrow", 3, str(path), "teacher.net.pretrained")
    own = teacher.backbone.state_dict()
    assert loaded.state_dict().keys() == own.keys()
    assert all(torch.equal(v, own[k]) for k, v in loaded.state_dict().items())
