"""The pipeline with networks users bring.

A teacher trained elsewhere, torchvision LR-ASPP or a module of their own, scores on the test split exactly what an
independent evaluation of its weights gives. Students of other families go through transfer, probe, fine-tuning,
checkpoints, resume, two processes, bf16 and eval.segmentation.
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torchvision
import user_nets

import run_transfer
from conftest import REPO, run_until_snapshot

CONFIG = str(REPO / "configs" / "smoke.yaml")
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def _frames(path):
    with h5py.File(path) as f:
        rgb, label, names = f["rgb"][:], f["label"][:], list(f.attrs["class_names"])
    x = torch.from_numpy(((rgb.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy())
    return x, torch.from_numpy(label.astype(np.int64)), names


def _logits(model, x):
    out = model(x)
    out = out["out"] if isinstance(out, dict) else out
    return torch.nn.functional.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _train_elsewhere(model, data_dir, steps=40):
    """What a user did in their own code: a few steps of cross-entropy on labeled RGB frames."""
    x, y, _ = _frames(data_dir / "teacher.h5")
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (16,))
        loss = torch.nn.functional.cross_entropy(_logits(model, x[idx]), y[idx], ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def _miou_written_here(model, data_dir, batch=8):
    """An evaluation independent of the project's.

    argmax, confusion over labeled pixels, mean IoU over the classes present in the ground truth or the predictions.
    """
    x, y, names = _frames(data_dir / "test.h5")
    c = len(names)
    cm = np.zeros((c, c), np.int64)
    for i in range(0, len(x), batch):
        pred, gt = _logits(model, x[i:i + batch]).argmax(1).numpy().ravel(), y[i:i + batch].numpy().ravel()
        keep = gt != 255
        cm += np.bincount(gt[keep] * c + pred[keep], minlength=c * c).reshape(c, c)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    return float(np.mean(np.diag(cm)[union > 0] / union[union > 0]))


@pytest.fixture(scope="module")
def smoke_data(smoke_run):
    _, _, overrides = smoke_run
    data_dir = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.synthetic.out="))
    from pathlib import Path

    return Path(data_dir), [o for o in overrides if not o.startswith("output_dir=")]


@pytest.mark.slow
def test_torchvision_lraspp_teacher_scores_what_its_weights_score(smoke_data, tmp_path):
    data_dir, same = smoke_data
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(num_classes=12, weights=None,
                                                                      weights_backbone=None)
    _train_elsewhere(model, data_dir)
    torch.save(model.state_dict(), tmp_path / "lraspp.pt")
    expected = _miou_written_here(model, data_dir)
    assert run_transfer.main(["--config", CONFIG, *same, f"output_dir={tmp_path / 'runs'}",
                              "teacher.net.arch=torchvision:lraspp_mobilenet_v3_large",
                              f"teacher.checkpoint={tmp_path / 'lraspp.pt'}", "methods=[kd]",
                              "student.arch=torchvision:mobilenet_v3_small", "transfer.epochs=1",
                              "finetune.epochs=2", "probe.epochs=2"]) == 0
    run_dir = tmp_path / "runs" / "smoke"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["methods"]["teacher_rgb"]["miou"] == pytest.approx(expected, abs=1e-6)
    log = (run_dir / "log.txt").read_text()
    # torchvision's MobileNetV3 BatchNorm (momentum 0.01) after a few steps: statistics are re-estimated
    assert "transfer[kd]: BatchNorm statistics re-estimated" in log and "finetune[kd]: BatchNorm statistics" in log


@pytest.mark.slow
def test_own_module_teacher_and_timm_student_through_the_pipeline(smoke_data, tmp_path, monkeypatch):
    data_dir, same = smoke_data
    mod = user_nets.install(tmp_path, monkeypatch)
    import importlib

    model = _train_elsewhere(importlib.import_module(mod).tiny_seg(num_classes=12, in_channels=3), data_dir)
    # saved as DistributedDataParallel training scripts often do: wrapped and prefixed
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 40},
               tmp_path / "own.pt")
    expected = _miou_written_here(model, data_dir)
    args = [*same, f"output_dir={tmp_path / 'runs'}", f"teacher.net.arch=python:{mod}:tiny_seg",
            "teacher.net.features=[stage1,stage2]", f"teacher.checkpoint={tmp_path / 'own.pt'}",
            "student.arch=timm:mobilenetv3_small_050", "methods=[crd_dense,fitnet]", "transfer.epochs=1",
            "finetune.epochs=2", "probe.epochs=2"]
    assert run_transfer.main(["--config", CONFIG, *args]) == 0
    run_dir = tmp_path / "runs" / "smoke"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["methods"]["teacher_rgb"]["miou"] == pytest.approx(expected, abs=1e-6)
    for method in ("crd_dense", "fitnet"):
        assert 0 < metrics["methods"][method]["miou"] <= 1 and "probe_miou" in metrics["methods"][method]
    report = (run_dir / "report.md").read_text()
    assert (f"networks: teacher `python:{mod}:tiny_seg` (stages stage1, stage2) (checkpoint {tmp_path / 'own.pt'}); "
            f"student `timm:mobilenetv3_small_050`") in report
    # the fine-tuned students are rebuilt from the run's checkpoint and config alone
    out = tmp_path / "eval.json"
    from eval import segmentation

    assert segmentation.main(["--run", str(run_dir), "--data", str(data_dir / "test.h5"), "--out", str(out)]) == 0
    again = json.loads(out.read_text())["methods"]
    for method in ("crd_dense", "fitnet"):
        assert again[method]["miou"] == pytest.approx(metrics["methods"][method]["miou"], abs=1e-6)


@pytest.mark.slow
def test_bad_networks_are_refused_before_training(smoke_data, tmp_path, monkeypatch):
    data_dir, same = smoke_data
    mod = user_nets.install(tmp_path, monkeypatch)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    cases = [
        (["student.arch=timm:mobilenetv3_smal_050"], "timm has no model 'mobilenetv3_smal_050'; nearest"),
        (["student.arch=torchvision:resnet18", "student.features=[layer1,layr2]"],
         "'layr2', which is not a submodule of torchvision:resnet18; nearest: layer2"),
        ([f"teacher.net.arch=python:{mod}:tiny_seg", "teacher.net.features=[stage2]",
          f"teacher.checkpoint={tmp_path / 'r18.pt'}"],
         f"does not fit teacher.net.arch='python:{mod}:tiny_seg' with 12 classes: "),
        ([f"student.arch=python:{mod}:not_a_module", "student.features=[x]"], "returned a str"),
        (["student.arch=python:nowhere_to_be_found:f"], "module 'nowhere_to_be_found' cannot be imported"),
    ]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for extra, message in cases:
        out = tmp_path / "bad"
        r = subprocess.run([sys.executable, "run_transfer.py", "--config", CONFIG, *same, f"output_dir={out}",
                            *extra], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 2 and message in r.stderr, (extra, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not list(out.glob("*/checkpoints/teacher.pt")) or "teacher.checkpoint" not in " ".join(extra)
    # a bug is not bad input: it keeps its traceback (and is not exit status 2)
    r = subprocess.run([sys.executable, "run_transfer.py", "--config", CONFIG, *same, f"output_dir={tmp_path / 'bug'}",
                        f"student.arch=python:{mod}:buggy", "student.features=[stage1]"], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode not in (0, 2) and "Traceback" in r.stderr and "a shape bug in the user's own code" in r.stderr


@pytest.mark.slow
def test_timm_student_resumes_after_sigkill_with_the_same_metrics(smoke_data, tmp_path):
    _, same = smoke_data
    setting = [*same, "student.arch=timm:mobilenetv3_small_050", "methods=[crd_dense]", "transfer.epochs=4",
               "checkpoint.every_steps=3", "finetune.epochs=2", "probe.epochs=2"]
    assert run_transfer.main(["--config", CONFIG, *setting, f"output_dir={tmp_path / 'whole'}"]) == 0
    whole = json.loads((tmp_path / "whole" / "smoke" / "metrics.json").read_text())
    run_dir = tmp_path / "killed" / "smoke"
    state = run_dir / "state" / "transfer-crd_dense-seed0"
    # killed in epoch 2 of 4, batch 2 of 4
    run_until_snapshot(["--config", CONFIG, *setting, f"output_dir={tmp_path / 'killed'}"], state / "step-00000006.pt")
    assert not (run_dir / "metrics.json").exists()
    assert run_transfer.main(["--resume", str(run_dir)]) == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())
    for method in ("crd_dense", "teacher_rgb"):
        for key in ("miou", "pixel_acc", "probe_miou"):
            if key in whole["methods"][method]:
                assert abs(whole["methods"][method][key] - resumed["methods"][method][key]) <= 1e-6, (method, key)


@pytest.mark.slow
def test_timm_student_with_two_processes_under_bf16(smoke_data, tmp_path):
    _, same = smoke_data
    cmd = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "bf16", "--dynamo_backend", "no",
           "run_transfer.py", "--config", "configs/smoke.yaml", *same, f"output_dir={tmp_path}",
           "student.arch=timm:mobilenetv3_small_050", "methods=[crd_dense,kd]", "transfer.epochs=1",
           "finetune.epochs=3", "probe.epochs=2"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "smoke" / "metrics.json").read_text())
    assert metrics["num_processes"] == 2 and metrics["mixed_precision"] == "bf16"
    for method in ("crd_dense", "kd"):
        assert 0 < metrics["methods"][method]["miou"] <= 1, method
    assert (tmp_path / "smoke" / "checkpoints" / "crd_dense_finetuned.pt").is_file()


@pytest.mark.slow
def test_own_module_as_student_is_rebuilt_by_eval_segmentation(smoke_data, tmp_path, monkeypatch):
    data_dir, same = smoke_data
    mod = user_nets.install(tmp_path, monkeypatch)
    run_dir = tmp_path / "runs" / "smoke"
    assert run_transfer.main(["--config", CONFIG, *same, f"output_dir={tmp_path / 'runs'}", "methods=[none,crd_dense]",
                              f"student.arch=python:{mod}:tiny_seg", "student.features=[stem,stage1,stage2]",
                              "transfer.epochs=1", "finetune.epochs=2", "probe.epochs=2"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from eval import segmentation

    out = tmp_path / "eval.json"
    assert segmentation.main(["--run", str(run_dir), "--data", str(data_dir / "test.h5"), "--out", str(out)]) == 0
    again = json.loads(out.read_text())["methods"]
    for method in ("none", "crd_dense"):
        assert again[method]["miou"] == pytest.approx(metrics["methods"][method]["miou"], abs=1e-6)
