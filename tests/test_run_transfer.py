"""The main job end to end on the smoke config, and its refusals of bad input."""
import json
import subprocess
import sys

import cv2
import pytest
import torch
import yaml

from conftest import REPO
from crossmodal.config import load_config
from crossmodal.config.distillers import fill_num_classes


def test_smoke_run_writes_every_output(smoke_run):
    run_dir, metrics, _ = smoke_run
    for name in ("config.yaml", "metrics.json", "report.md", "log.txt", "checkpoints/teacher.pt",
                 "checkpoints/crd_dense_transfer.pt", "checkpoints/crd_transfer.pt"):
        assert (run_dir / name).is_file(), name
    for fig in ("miou", "per_class_iou", "examples", "transfer_loss", "finetune_loss", "teacher_loss"):
        img = cv2.imread(str(run_dir / "figures" / f"{fig}.png"))
        assert img is not None and img.std() > 0, fig
    report = (run_dir / "report.md").read_text()
    for method in ("none", "crd_dense", "crd", "teacher_rgb", "teacher_probe"):
        assert f"| {method} |" in report
    assert "## Networks" in report and "| student | 2 (-1) | `layer3` | 64 | 8 |" in report


def test_metrics_json_schema(smoke_run):
    _, metrics, _ = smoke_run
    assert list(metrics["methods"]) == ["none", "crd_dense", "crd", "teacher_rgb", "teacher_probe"]
    assert metrics["seed"] == 0 and metrics["num_processes"] == 1 and metrics["wall_time_s"] > 0
    assert metrics["device"].startswith("cpu")
    names = metrics["class_names"]
    assert len(names) >= 8
    for method, m in metrics["methods"].items():
        for key in ("miou", "pixel_acc", "mean_acc"):
            assert 0.0 <= m[key] <= 1.0, (method, key)
        assert list(m["per_class_iou"]) == names
        ious = [v for v in m["per_class_iou"].values() if v is not None]
        assert m["miou"] == pytest.approx(sum(ious) / len(ious))


def test_resolved_config_is_saved_with_the_run_and_the_checkpoints(smoke_run):
    run_dir, metrics, overrides = smoke_run
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    expected = load_config(REPO / "configs" / "smoke.yaml", overrides)
    expected.data.num_classes = len(metrics["class_names"])  # values taken from the data are saved too
    fill_num_classes(expected.transfer, len(metrics["class_names"]))
    assert load_config(run_dir / "config.yaml") == expected
    ckpt = torch.load(run_dir / "checkpoints" / "crd_dense_transfer.pt", map_location="cpu", weights_only=False)
    assert ckpt["config"] == saved == metrics["config"]
    assert "student" in ckpt and "distiller" in ckpt


def test_smoke_teacher_is_cached_and_reused(smoke_run):
    run_dir, metrics, _ = smoke_run
    cache_files = list((run_dir.parent.parent / "cache").glob("teacher-*.pt"))
    assert len(cache_files) == 1
    assert metrics["teacher"].startswith(("trained on", "cache"))


def _run(*args, cwd=REPO):
    return subprocess.run([sys.executable, "run_transfer.py", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_missing_config_file_exits_nonzero():
    r = _run("--config", "configs/does_not_exist.yaml")
    assert r.returncode == 2 and "config file not found: configs/does_not_exist.yaml" in r.stderr


def test_unknown_key_names_nearest(tmp_path):
    r = _run("--config", "configs/smoke.yaml", "finetune.epoch=3", f"output_dir={tmp_path}")
    assert r.returncode == 2 and "unknown config key 'finetune.epoch'; did you mean finetune.epochs" in r.stderr


def test_missing_dataset_says_how_to_build_it(tmp_path):
    files = [f"data.{split}={tmp_path / split}.h5" for split in ("unlabeled", "teacher", "train", "test")]
    r = _run("--config", "configs/smoke.yaml", f"output_dir={tmp_path}", "data.synthetic.enabled=false", *files)
    assert r.returncode == 2
    assert f"dataset file for data.unlabeled does not exist: {tmp_path / 'unlabeled.h5'}" in r.stderr
    assert "python -m data_tools." in r.stderr


def test_bad_teacher_checkpoint_is_refused(tmp_path, smoke_run):
    run_dir, _, overrides = smoke_run
    missing = _run("--config", "configs/smoke.yaml", *overrides, f"output_dir={tmp_path}",
                   f"teacher.checkpoint={tmp_path / 'teacher.pt'}")
    assert missing.returncode == 2 and "'teacher.checkpoint': weights file not found" in missing.stderr
    student = run_dir / "checkpoints" / "crd_transfer.pt"  # a checkpoint of the wrong kind of network
    wrong = _run("--config", "configs/smoke.yaml", *overrides, f"output_dir={tmp_path}",
                 "teacher.net.arch=resnet_tiny", f"teacher.checkpoint={run_dir / 'checkpoints' / 'teacher.pt'}")
    assert wrong.returncode == 2 and "does not fit teacher.net.arch='resnet_tiny'" in wrong.stderr
    assert student.is_file()


def test_smoke_models_learn(smoke_run):
    _, metrics, _ = smoke_run
    # 12 classes, walls cover about half the pixels: a model that learned nothing scores far below these
    assert metrics["methods"]["teacher_rgb"]["pixel_acc"] > 0.5
    assert metrics["methods"]["none"]["pixel_acc"] > 0.5


def test_same_seed_same_numbers(smoke_run, tmp_path):
    """Determinism: a second run with the same seed (data regenerated, teacher retrained) gives identical metrics."""
    import run_transfer

    _, first, overrides = smoke_run
    again = [f"output_dir={tmp_path / 'runs'}", f"data.synthetic.out={tmp_path / 'data'}",
             f"teacher.cache_dir={tmp_path / 'cache'}"]
    assert run_transfer.main(["--config", str(REPO / "configs" / "smoke.yaml"), *again]) == 0
    second = json.loads((tmp_path / "runs" / "smoke" / "metrics.json").read_text())
    for method, m in first["methods"].items():
        assert second["methods"][method]["miou"] == m["miou"], method
        assert second["methods"][method]["per_class_iou"] == m["per_class_iou"], method


@pytest.mark.slow
def test_two_processes_match_one_within_tolerance(smoke_run, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on the CPU (gloo) runs the whole pipeline; batches are split
    across processes, so it follows the one-process schedule. BatchNorm statistics are per process on the CPU
    (SyncBatchNorm needs CUDA) and dense-CRD negatives come from each process's half batch, so numbers differ. On this
    tiny setting even the thread count alone moves `crd` by 0.054 mIoU (1 vs 2 threads, one process), so the stated
    tolerance is 0.1."""
    run_dir, single, overrides = smoke_run
    cmd = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "run_transfer.py", "--config", "configs/smoke.yaml", *overrides, f"output_dir={tmp_path}"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    multi = json.loads((tmp_path / "smoke" / "metrics.json").read_text())
    assert multi["num_processes"] == 2
    for method, m in single["methods"].items():
        assert abs(multi["methods"][method]["miou"] - m["miou"]) < 0.1, method


@pytest.mark.slow
def test_bf16_mixed_precision_runs_end_to_end(smoke_run, tmp_path):
    """`accelerate launch --mixed_precision bf16` on the CPU: every stage runs under bf16 autocast.

    CRD's scores stay in float32.
    """
    _, single, overrides = smoke_run
    cmd = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--num_processes", "1",
           "--num_machines", "1", "--mixed_precision", "bf16", "--dynamo_backend", "no",
           "run_transfer.py", "--config", "configs/smoke.yaml", *overrides, f"output_dir={tmp_path}",
           "methods=[none,crd,kd]", "probe.epochs=3"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "smoke" / "metrics.json").read_text())
    assert metrics["mixed_precision"] == "bf16"
    for method in ("none", "crd", "kd"):
        m = metrics["methods"][method]
        assert 0.0 < m["miou"] <= 1.0 and m["pixel_acc"] > 0.3, method
    # bf16 changes the arithmetic, so numbers may differ from float32, but not by much on this tiny setting
    assert abs(metrics["methods"]["none"]["pixel_acc"] - single["methods"]["none"]["pixel_acc"]) < 0.15


def test_data_that_disagrees_with_the_config_is_refused_before_the_run_folder_is_touched(smoke_run, tmp_path):
    run_dir, _, overrides = smoke_run
    same = [o for o in overrides if not o.startswith("output_dir=")]
    cases = [("data.num_classes=5", "config key 'data.num_classes' is 5 but"),
             ("data.target=thermal", "lacks modality 'thermal' needed here"),
             ("transfer.crd.num_negatives=64", "'transfer.crd.num_negatives' must be smaller than the number of "
                                               "unlabeled pairs (64)")]
    for override, message in cases:
        r = _run("--config", "configs/smoke.yaml", *same, f"output_dir={tmp_path}", override)
        assert r.returncode == 2 and message in r.stderr, (override, r.stderr[-500:])
        assert not (tmp_path / "smoke").exists()


def test_data_checks_fail_before_torch_is_loaded(smoke_run, tmp_path):
    """With the data in place, a class count that disagrees with the files is refused before torch loads."""
    _, _, overrides = smoke_run
    same = [o for o in overrides if not o.startswith("output_dir=")] + [f"output_dir={tmp_path}", "data.num_classes=5"]
    code = ("import sys\nimport run_transfer\nfrom crossmodal.config import ConfigError\n"
            f"try:\n    run_transfer.main(['--config', 'configs/smoke.yaml', *{same!r}])\n"
            "except ConfigError as err:\n    print(err)\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'accelerate', 'albumentations') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "'data.num_classes' is 5 but" in r.stdout and r.stdout.strip().endswith("[]"), r.stdout + r.stderr
    assert not (tmp_path / "smoke").exists()


def test_tensorboard_tracker_logs_every_stage(smoke_run, tmp_path):
    """trackers: [tensorboard] sends each stage's loss per epoch to runs/<name>/trackers (Accelerate's tracker)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import run_transfer

    _, _, overrides = smoke_run
    same = [o for o in overrides if not o.startswith("output_dir=")]
    assert run_transfer.main(["--config", str(REPO / "configs" / "smoke.yaml"), *same, f"output_dir={tmp_path}",
                              "trackers=[tensorboard]", "methods=[none,crd_dense]", "probe.epochs=2"]) == 0
    events = list((tmp_path / "smoke").rglob("events.out.tfevents*"))
    assert events
    tags = set()
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"transfer[crd_dense]/loss", "finetune[none]/loss", "finetune[crd_dense]/loss"} <= tags, tags
