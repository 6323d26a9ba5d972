"""L -> ab end to end on tiny colour-luminance data built with data_tools.lab: a classifier teacher on L, CRD into
an ab student, linear probes at every stage, the classification report."""
import json

import cv2
import numpy as np
import pytest

import run_transfer
from conftest import REPO
from crossmodal.config import ConfigError, load_config
from data_tools import lab

CLASSES = ("disc", "square", "bar", "ring")
HUES = (0, 30, 60, 120)  # OpenCV hue (0..180): each class has its own colour, so ab alone can tell them apart


def _image(rng: np.random.Generator, k: int) -> np.ndarray:
    img = np.full((32, 32, 3), rng.integers(40, 90), np.uint8)
    colour = cv2.cvtColor(np.uint8([[[HUES[k] + rng.integers(0, 8), 200, 220]]]), cv2.COLOR_HSV2RGB)[0, 0].tolist()
    c, r = tuple(int(v) for v in rng.integers(10, 22, 2)), int(rng.integers(5, 9))
    if k == 0:
        cv2.circle(img, c, r, colour, -1)
    elif k == 1:
        cv2.rectangle(img, (c[0] - r, c[1] - r), (c[0] + r, c[1] + r), colour, -1)
    elif k == 2:
        cv2.rectangle(img, (c[0] - r, c[1] - 2), (c[0] + r, c[1] + 2), colour, -1)
    else:
        cv2.circle(img, c, r, colour, 3)
    return img


def _folder(root, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
        k = i % len(CLASSES)
        (root / CLASSES[k]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / CLASSES[k] / f"{i:04d}.png"), cv2.cvtColor(_image(rng, k), cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    files = {}
    for split, n, seed in (("unlabeled", 96, 0), ("train", 64, 1), ("test", 48, 2)):
        files[split] = root / f"{split}.h5"
        assert lab.main(["--images", str(_folder(root / f"img_{split}", n, seed)), "--out", str(files[split])]) == 0
    return files


def _overrides(files, out):
    return [f"data.unlabeled={files['unlabeled']}", f"data.teacher={files['train']}", f"data.train={files['train']}",
            f"data.test={files['test']}", f"output_dir={out}", f"teacher.cache_dir={out / 'cache'}",
            "data.num_workers=0", "teacher.net.arch=resnet_tiny", "student.arch=resnet_tiny", "teacher.epochs=15",
            "teacher.batch_size=16", "teacher.lr=0.01", "transfer.epochs=3", "transfer.batch_size=16",
            "transfer.lr=0.01", "transfer.warmup_steps=2", "transfer.crd.num_negatives=16",
            "transfer.crd.feat_dim=16", "probe.epochs=20", "probe.batch_size=16", "methods=[none,crd,fitnet]",
            "checkpoint.every_steps=0"]


@pytest.mark.slow
def test_lab_config_runs_end_to_end(lab_files, tmp_path):
    assert run_transfer.main(["--config", str(REPO / "configs" / "lab_l2ab_crd.yaml"),
                              *_overrides(lab_files, tmp_path)]) == 0
    run_dir = tmp_path / "lab_l2ab_crd"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["class_names"] == sorted(CLASSES)
    assert metrics["methods"]["teacher_L"]["top1"] > 0.5  # shapes on L: far above chance (0.25)
    for method in ("none", "crd", "fitnet"):
        m = metrics["methods"][method]
        assert len(m["top1_per_stage"]) == 2 and m["top1"] == m["top1_per_stage"][-1]
        assert all(0.0 <= v <= 1.0 for v in m["top1_per_stage"])
    # the colour alone separates the classes, so even probes on random ab features do well above chance
    assert metrics["methods"]["none"]["top1"] > 0.4
    report = (run_dir / "report.md").read_text()
    assert "Linear-probe top-1" in report and "| crd |" in report and "## Verdict" in report
    for fig in ("top1", "top1_per_stage", "transfer_loss", "teacher_loss"):
        assert (run_dir / "figures" / f"{fig}.png").is_file()


def test_lab_config_refuses_wrong_settings(lab_files, tmp_path):
    with pytest.raises(ConfigError, match="'kd'.*not available when task is classification"):
        load_config(REPO / "configs" / "lab_l2ab_crd.yaml", ["methods=[none,kd]"])
    # segmentation on files without per-pixel labels: named clearly
    with pytest.raises(ConfigError, match="lacks modality 'label'"):
        run_transfer.main(["--config", str(REPO / "configs" / "lab_l2ab_crd.yaml"), *_overrides(lab_files, tmp_path),
                           "task=segmentation"])
