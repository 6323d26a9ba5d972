"""Runs docs/new_modality.md end to end on a tiny fake thermal recording: split, pairs, config, run, report."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import run_transfer
from conftest import REPO
from crossmodal.data.h5format import read_info
from data_tools import pairs
from data_tools.synthetic import CLASS_NAMES, generate_frame

GUIDE = REPO / "docs" / "new_modality.md"
CONFIG = REPO / "configs" / "thermal_example.yaml"
H, W = 48, 64
NUM_UNLABELED, NUM_LABELED = 48, 56  # 30 % test (16), 30 % train (16), the rest teacher (24)
# A warm/cold signature per class (kelvin): people-made furniture warmer, windows cold.
KELVIN = {"wall": 294.0, "floor": 292.0, "cabinet": 295.0, "bed": 303.0, "chair": 299.0, "sofa": 302.0,
          "table": 296.5, "door": 293.0, "window": 283.0, "bookshelf": 295.5, "picture": 297.5, "ceiling": 296.0}


def _block(marker: str, lang: str) -> str:
    """The fenced code block right after an HTML-comment marker in the guide."""
    text = GUIDE.read_text()
    m = re.search(rf"<!-- guide:{marker} -->\s*```{lang}\n(.*?)```", text, re.S)
    assert m, f"docs/new_modality.md lacks the {marker} block"
    return m.group(1)


def _fake_recording(root: Path) -> None:
    """RGB scenes, 16-bit thermal counts (0.01 K) from the per-class temperature and depth, labels for some."""
    for d in ("rgb", "thermal", "labels"):
        (root / d).mkdir(parents=True)
    kelvin = np.array([KELVIN[n] for n in CLASS_NAMES])
    for k in range(NUM_UNLABELED + NUM_LABELED):
        rng = np.random.default_rng([11, k])
        frame = generate_frame(rng, H, W)
        depth = np.where(frame["depth"] > 0, frame["depth"], 3.0)
        temp = kelvin[frame["label"]] + 0.4 * (depth - 3.0) + rng.normal(0, 0.3, (H, W))
        temp = cv2.GaussianBlur(temp, (3, 3), 0.7)  # the thermal optics are a little softer
        stem = f"{k:04d}"
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), frame["rgb"][..., ::-1])
        cv2.imwrite(str(root / "thermal" / f"{stem}.png"), np.round(temp * 100).astype(np.uint16))
        if k % 2 == 1 or k >= 2 * NUM_UNLABELED:  # labels for a scattered subset of frames
            label = frame["label"].copy()
            label[frame["depth"] == 0] = 255  # annotators skipped what they could not see well
            cv2.imwrite(str(root / "labels" / f"{stem}.png"), label)
    (root / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")


# Tiny models and epochs (what configs/smoke.yaml used to run) so the whole guide takes well under a minute.
TINY = ["methods=[none,crd_dense,crd]", "teacher.net.arch=resnet_tiny", "teacher.net.head_channels=8",
        "teacher.epochs=2", "teacher.batch_size=16", "student.arch=resnet_tiny", "student.head_channels=8",
        "transfer.epochs=2", "transfer.batch_size=16", "transfer.warmup_steps=2", "transfer.crd_dense.feat_dim=16",
        "transfer.crd_dense.num_locations=8", "transfer.crd.feat_dim=16", "transfer.crd.num_negatives=32",
        "finetune.epochs=2", "finetune.batch_size=8", "finetune.num_examples=2"]


@pytest.mark.slow
def test_guide_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    _fake_recording(tmp_path / "recordings")
    n_labeled = len(list((tmp_path / "recordings" / "labels").iterdir()))
    assert n_labeled == NUM_LABELED

    # 1. the split snippet, exactly as in the guide
    exec(compile(_block("split", "python"), str(GUIDE), "exec"), {})
    counts = {s: len((tmp_path / "recordings" / "splits" / f"{s}.txt").read_text().split())
              for s in ("unlabeled", "teacher", "train", "test")}
    assert counts == {"unlabeled": 48, "teacher": 24, "train": 16, "test": 16}

    # 2. the four data_tools.pairs commands
    commands = _block("pairs", "bash").replace("\\\n", " ").strip().splitlines()
    assert len(commands) == 4
    capsys.readouterr()
    for command in commands:
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "data_tools.pairs"]
        assert pairs.main(argv[3:]) == 0, command
    printed = capsys.readouterr().out
    stats = re.search(r"wrote data/thermal/unlabeled\.h5[^\n]*\nthermal: per-channel mean \[(.*?)\] std \[(.*?)\]",
                      printed)
    assert stats, printed
    mean, std = float(stats.group(1)), float(stats.group(2))
    cfg = yaml.safe_load(CONFIG.read_text())
    # The example config carries the statistics printed for this very recording.
    assert cfg["data"]["target_mean"] == [pytest.approx(mean, abs=0.05)]
    assert cfg["data"]["target_std"] == [pytest.approx(std, abs=0.005)]
    for split in ("unlabeled", "teacher", "train", "test"):
        info = read_info(cfg["data"][split])
        assert info.num_samples == counts[split]
    assert read_info(cfg["data"]["test"]).modalities == ("rgb", "thermal", "label")
    assert read_info(cfg["data"]["test"]).modality_attrs["thermal"]["units"] == "kelvin"
    assert read_info(cfg["data"]["train"]).class_names == CLASS_NAMES

    # 3.-4. the example config as it is, with tiny models and a temporary output folder
    run_cmd = shlex.split(_block("run", "bash").strip())
    assert run_cmd[-2:] == ["--config", "configs/thermal_example.yaml"]
    overrides = [f"output_dir={tmp_path / 'runs'}", f"teacher.cache_dir={tmp_path / 'cache'}",
                 *TINY]
    assert run_transfer.main(["--config", str(CONFIG), *overrides]) == 0

    # 5. the report
    run_dir = tmp_path / "runs" / "thermal_example"
    report = (run_dir / "report.md").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["none", "crd_dense", "crd", "teacher_rgb"]
    assert metrics["source"] == "rgb" and metrics["target"] == "thermal"
    for method in metrics["methods"]:
        assert f"| {method} |" in report
        assert 0.0 <= metrics["methods"][method]["miou"] <= 1.0
    assert (run_dir / "figures" / "examples.png").is_file()
