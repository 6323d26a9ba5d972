"""Teachers users have: a head-less feature backbone (teacher.head: none) and a segmenter of another vocabulary
(teacher.num_classes), the refusals that go with them, the teacher's input size, and the teacher's references
(`teacher_rgb` when its head predicts the data's classes, `teacher_probe` always)."""
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
import torchvision

import run_transfer
from conftest import REPO
from crossmodal.config import load_config
from crossmodal.errors import ConfigError
from crossmodal.models import build_backbone
from crossmodal.models.teacher_views import HeadlessTeacher, ResizedTeacher, TeacherFeatures
from eval.teacher_warnings import reference_warnings

CONFIG = REPO / "configs" / "smoke.yaml"
SPLITS = ("unlabeled", "train", "val", "test")
FEATURE_DISTILLERS = ("crd_dense", "crd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst")


@pytest.mark.parametrize("overrides, words", [
    (["teacher.head=none", "methods=[none,kd]"], ["'kd'", "teacher.head is none"]),
    (["teacher.head=none", "methods=[none,crd_dense+kd]"], ["crd_dense+kd", "teacher.head is none"]),
    (["teacher.head=none", "finetune.head_init=distiller"], ["finetune.head_init", "teacher.head is none"]),
    (["teacher.head=none", "teacher.checkpoint=t.pt"], ["teacher.checkpoint", "teacher.net.pretrained"]),
    (["teacher.head=checkpoint"], ["teacher.checkpoint is empty"]),
    (["teacher.num_classes=21"], ["teacher.num_classes", "teacher.head checkpoint"]),
    (["teacher.head=none", "teacher.num_classes=21"], ["teacher.num_classes", "head-less"]),
    (["teacher.checkpoint=t.pt", "teacher.num_classes=3", "teacher.class_names=[a,b]"], ["teacher.class_names"]),
    (["teacher.input_size=[96]", "teacher.head=none"], ["teacher.input_size"]),
    (["teacher.input_size=[96,128]"], ["teacher.input_size", "frame size"]),
    (["teacher.head=headless"], ["teacher.head", "auto or train or checkpoint or none"]),
])
def test_teacher_head_settings_are_refused_naming_the_key(overrides, words):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, overrides)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_todays_configs_stay_valid_and_resolve_their_head():
    from crossmodal.config import teacher_head

    assert teacher_head(load_config(CONFIG)) == "train"
    assert teacher_head(load_config(CONFIG, ["teacher.checkpoint=t.pt"])) == "checkpoint"
    assert teacher_head(load_config(CONFIG, ["teacher.head=none", "methods=[none,crd_dense,fitnet]"])) == "none"


def test_resized_teacher_keeps_maps_on_its_grid_and_logits_at_the_frame():
    torch.manual_seed(0)
    backbone = build_backbone("resnet_narrow", 3)
    resized = ResizedTeacher(HeadlessTeacher(backbone), (64, 96), (32, 48))
    feats, logits = resized.features_and_logits(torch.randn(2, 3, 32, 48), False)
    assert logits is None and feats[-1].shape[-2:] == (64 // backbone.strides[-1], 96 // backbone.strides[-1])
    assert resized.strides == [max(1, round(s / 2)) for s in backbone.strides]  # against the frame
    assert TeacherFeatures(resized, 3)(torch.randn(1, 3, 32, 48))[-1].shape == feats[-1][:1].shape
    with pytest.raises(RuntimeError, match="head-less"):
        HeadlessTeacher(backbone).features_and_logits(torch.randn(1, 3, 32, 48), True)


def test_reference_warnings():
    rows = {"none": {"miou": 0.40}, "crd_dense": {"miou": 0.45},
            "teacher_rgb": {"miou": 0.30, "classes_predicted": 2}, "teacher_probe": {"miou": 0.42}}
    said = reference_warnings(rows, 12)
    assert len(said) == 2 and "`teacher_probe`, 42.0" in said[0] and "`crd_dense`, 45.0" in said[0]
    assert "only 2 of the 12 classes" in said[1]
    assert reference_warnings({"none": {"miou": 0.4}, "teacher_rgb": {"miou": 0.6, "classes_predicted": 12}}, 12) == []


@pytest.fixture(scope="module")
def data_without_teacher_split(smoke_run, tmp_path_factory):
    """The smoke run's splits copied without teacher.h5, named one by one (the embedded data off)."""
    src = Path(next(o.split("=", 1)[1] for o in smoke_run[2] if o.startswith("data.synthetic.out=")))
    out = tmp_path_factory.mktemp("no_teacher_split")
    for split in SPLITS:
        shutil.copy(src / f"{split}.h5", out / f"{split}.h5")
    return ["data.synthetic.enabled=false", *(f"data.{s}={out / s}.h5" for s in SPLITS)]


def _run(tmp_path, data_args, *overrides) -> tuple[Path, dict]:
    args = ["--config", str(CONFIG), f"output_dir={tmp_path / 'runs'}", f"teacher.cache_dir={tmp_path / 'cache'}",
            *data_args, "transfer.epochs=1", "finetune.epochs=2", "probe.epochs=2", *overrides]
    assert run_transfer.main(args) == 0
    run = tmp_path / "runs" / "smoke"
    return run, json.loads((run / "metrics.json").read_text())


def test_headless_teacher_runs_feature_distillers_without_a_teacher_split(data_without_teacher_split, tmp_path):
    """A tiny DINOv2-layout ViT saved as a downloaded .safetensors file, on 48x64 frames (not a multiple of its
    patch 14: a padded 4x5 grid), as a frozen head-less teacher with its random-teacher control."""
    from safetensors.torch import save_file

    torch.manual_seed(3)
    tiny = {"depth": 2, "embed_dim": 48, "num_heads": 2}
    backbone = build_backbone("timm:vit_small_patch14_dinov2", 3, kwargs=tiny, probe_size=(48, 64))
    weights = tmp_path / "dinov2.safetensors"
    save_file({k: v.contiguous() for k, v in backbone.model.state_dict().items()}, str(weights))
    run, metrics = _run(tmp_path, data_without_teacher_split, "teacher.head=none",
                        "teacher.net.arch=timm:vit_small_patch14_dinov2", f"teacher.net.kwargs={tiny}",
                        f"teacher.net.pretrained={weights}", "methods=[none,crd_dense,fitnet]",
                        "controls.random_teacher=[crd_dense]")
    rows = metrics["methods"]
    assert "teacher_rgb" not in rows and 0 <= rows["teacher_probe"]["miou"] <= 1
    assert rows["teacher_probe"]["probe_miou"] == rows["teacher_probe"]["miou"]
    assert all(0 < rows[m]["miou"] <= 1 for m in ("none", "crd_dense", "fitnet"))
    saved = torch.load(run / "checkpoints" / "teacher.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in backbone.state_dict().items())  # frozen: never trained here
    report = (run / "report.md").read_text()
    assert "| teacher_probe |" in report and "| teacher_rgb |" not in report
    assert "head-less feature backbone, weights" in report
    assert not (tmp_path / "cache").exists()  # nothing trained, nothing cached


def test_teacher_of_another_vocabulary_teaches_kd_through_its_own_classes(smoke_run, tmp_path):
    same = [o for o in smoke_run[2] if not o.startswith("output_dir=")]
    torch.manual_seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(num_classes=21, weights=None,
                                                                      weights_backbone=None)
    torch.save(model.state_dict(), tmp_path / "voc21.pt")
    run, metrics = _run(tmp_path, same, "teacher.net.arch=torchvision:lraspp_mobilenet_v3_large",
                        f"teacher.checkpoint={tmp_path / 'voc21.pt'}", "teacher.num_classes=21",
                        "methods=[kd,crd_dense]")
    saved = torch.load(run / "checkpoints" / "kd_transfer.pt", weights_only=False)
    assert saved["distiller"]["head.classifier.weight"].shape[0] == 21  # kd predicts the teacher's classes
    assert saved["config"]["transfer"]["kd"]["num_classes"] == 21
    finetuned = torch.load(run / "checkpoints" / "kd_finetuned.pt", weights_only=False)
    assert finetuned["model"]["head.classifier.weight"].shape[0] == 12  # fine-tuning stays on the data's
    rows = metrics["methods"]
    assert "teacher_rgb" not in rows and "teacher_probe" in rows and 0 < rows["crd_dense"]["miou"] <= 1
    teacher = torch.load(run / "checkpoints" / "teacher.pt", weights_only=True)
    assert teacher["class_names"] == [f"class_{i}" for i in range(21)]


def test_another_vocabulary_refuses_the_distiller_head_for_fine_tuning(smoke_run, tmp_path, capsys):
    same = [o for o in smoke_run[2] if not o.startswith("output_dir=")]
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(num_classes=21, weights=None,
                                                                      weights_backbone=None)
    torch.save(model.state_dict(), tmp_path / "voc21.pt")
    args = ["--config", str(CONFIG), *same, f"output_dir={tmp_path / 'runs'}",
            "teacher.net.arch=torchvision:lraspp_mobilenet_v3_large", f"teacher.checkpoint={tmp_path / 'voc21.pt'}",
            "teacher.num_classes=21", "methods=[kd]", "finetune.head_init=distiller", "transfer.kd.hidden=16"]
    with pytest.raises(ConfigError, match="teacher's 21 classes .* data have 12"):
        run_transfer.main(args)
    # the checkpoint at the data's 12 classes is what a missing teacher.num_classes looks like: said so
    args = [a for a in args if not a.startswith(("teacher.num_classes", "finetune.head_init"))]
    with pytest.raises(Exception, match="teacher.num_classes"):
        run_transfer.main(args)


def test_the_foundation_example_dry_runs_with_a_vit_saved_as_downloaded(data_without_teacher_split, tmp_path,
                                                                        capsys):
    """configs/foundation_example.yaml as shipped (a head-less DINOv2 ViT-S/14 read from a .safetensors file), with a
    narrow random ViT of the same layout in the file: --dry-run prints the taps and trains nothing."""
    import timm
    from safetensors.torch import save_file

    narrow = {"embed_dim": 48, "num_heads": 2}
    vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, **narrow)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "dinov2.safetensors"))
    args = ["--config", str(REPO / "configs" / "foundation_example.yaml"), *data_without_teacher_split,
            f"output_dir={tmp_path / 'runs'}", f"teacher.net.pretrained={tmp_path / 'dinov2.safetensors'}",
            "teacher.net.kwargs={embed_dim: 48, num_heads: 2}", "transfer.crd.num_negatives=32",
            f"methods=[none,{','.join(FEATURE_DISTILLERS)}]", "--dry-run"]
    assert run_transfer.main(args) == 0
    out = capsys.readouterr().out
    assert "teacher input: 224x294 (teacher.input_size" in out
    assert "| teacher | 1 (-1) | `blocks.11` | 48 | 3 |" in out  # stride 14 at 224 rows: 3 against 48-row frames
    assert "crd_dense: distiller `crd_dense` reads teacher stage 1 (`blocks.11`" in out
    for method in FEATURE_DISTILLERS:  # every feature distiller is built and runs one step on the ViT's maps
        assert f"- {method}: distiller `{method}`" in out
    assert not (tmp_path / "runs").exists()  # nothing written, nothing trained


def test_the_teachers_own_normalisation_is_applied_after_the_rgb_encoding():
    """SigLIP expects (x - 0.5) / 0.5 on [0, 1] pixels: after the rgb encoding's ImageNet standardisation the
    source mean/std are set so the two compose to exactly that; DINOv2's ImageNet statistics change nothing."""
    from types import SimpleNamespace

    import numpy as np

    from crossmodal.config.encodings import IMAGENET_MEAN, IMAGENET_STD
    from crossmodal.stages.teacher import resolve_teacher_input

    data = SimpleNamespace(unlabeled=SimpleNamespace(height=96, width=128))
    cfg = load_config(CONFIG, ["teacher.head=none", "teacher.net.arch=timm:vit_base_patch16_siglip_224",
                               "teacher.net.pretrained=w.safetensors", "teacher.input_size=[224,288]"])
    line = resolve_teacher_input(cfg, data)
    assert "teacher input: 224x288 (teacher.input_size" in line and "mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5]" in line
    pixels = np.random.default_rng(0).random(3)
    encoded = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    seen = (encoded - np.array(cfg.data.source_mean)) / np.array(cfg.data.source_std)
    assert np.allclose(seen, (pixels - 0.5) / 0.5, atol=1e-5)
    dino = load_config(CONFIG, ["teacher.head=none", "teacher.net.arch=timm:vit_small_patch14_dinov2",
                                "teacher.net.pretrained=w.safetensors"])
    assert "ImageNet mean/std" in resolve_teacher_input(dino, data) and dino.data.source_mean == []
    mine = load_config(CONFIG, ["teacher.head=none", "teacher.net.arch=timm:vit_base_patch16_siglip_224",
                                "teacher.net.pretrained=w.safetensors", "data.source_mean=[0,0,0]",
                                "data.source_std=[1,1,1]"])
    assert "(set in the config)" in resolve_teacher_input(mine, data) and mine.data.source_mean == [0, 0, 0]


def test_the_random_teacher_loads_no_weights_even_for_a_tagged_timm_name():
    from crossmodal.config import NetConfig
    from crossmodal.stages.teacher import untrained

    net = untrained(NetConfig(arch="timm:vit_small_patch14_dinov2.lvd142m", pretrained="cache", allow_download=True,
                              kwargs={"depth": 2}))
    assert (net.arch, net.pretrained, net.allow_download, net.kwargs) == ("timm:vit_small_patch14_dinov2", "", False,
                                                                          {"depth": 2})
    assert untrained(NetConfig(arch="python:my.nets:build", pretrained="w.pt")).arch == "python:my.nets:build"


def test_step_checkpoints_written_before_the_new_options_still_resume(tmp_path):
    """A step checkpoint whose saved config predates teacher.head & co. (keys absent) is resumed from, not refused;
    one that differs in a real setting still is."""
    from accelerate import Accelerator

    from crossmodal.config import to_dict
    from crossmodal.errors import UserError
    from crossmodal.stages.checkpoints import StageCheckpoints

    new = to_dict(load_config(CONFIG))
    old = {**new, "teacher": {k: v for k, v in new["teacher"].items()
                              if k not in ("head", "num_classes", "class_names", "input_size")}}
    old["teacher"]["net"] = {k: v for k, v in new["teacher"]["net"].items() if k not in ("kwargs", "allow_download")}
    accelerator = Accelerator(cpu=True)
    log = logging.getLogger("test")
    StageCheckpoints(tmp_path, 1, 2, accelerator, old, log).save({"step": 1, "epoch": 0})
    assert StageCheckpoints(tmp_path, 1, 2, accelerator, new, log).latest()["step"] == 1
    changed = {**new, "seed": 5}
    with pytest.raises(UserError, match="another config"):
        StageCheckpoints(tmp_path, 1, 2, accelerator, changed, log).latest()


def test_a_segmentation_model_as_a_headless_teacher_is_named_by_its_backbone():
    from crossmodal.errors import NetworkError
    from crossmodal.stages.teacher import check_headless_arch

    with pytest.raises(NetworkError, match="teacher.head is none: name its backbone .e.g. torchvision:resnet50"):
        check_headless_arch("torchvision:deeplabv3_resnet50")
    check_headless_arch("torchvision:resnet50")
    check_headless_arch("timm:vit_small_patch14_dinov2")
