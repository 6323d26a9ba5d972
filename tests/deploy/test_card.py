"""The model card: parameters, GFLOPs counted by hand, onnxruntime latency and its settings, file size per precision.

Tiny convolutional students wrapped in SensorModel, and the card the smoke run's report carries.
"""
import json
import sys
import tempfile

import h5py
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from conftest import REPO
from crossmodal.config import load_config
from crossmodal.deploy.card import calibration_frames, export_calibration, model_card, run_card
from crossmodal.deploy.export import ExportError, SensorModel, build_sensor_model
from crossmodal.runtime import cpu_name

# a depth student: log-depth + validity (2 channels) -> 3 classes, stride 1; trained on 10x14 frames
CONVS = [(2, 32, 3), (32, 64, 3), (64, 64, 3), (64, 3, 1)]  # (in, out, kernel)
META = {"run": "tiny", "method": "m", "seed": 0, "stride_multiple": 4, "trained_size": [10, 14],
        "input": {"shape": ["batch", "height", "width"], "dtype": "float32"}}


def _tiny() -> SensorModel:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for cin, cout, k in CONVS:
        layers += [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU()]
    return SensorModel(nn.Sequential(*layers[:-1]), "logdepth_valid").eval()


def _frames(n: int, h: int = 12, w: int = 16) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 6.0, (n, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """The tiny student's card with every precision, two threads and few runs; and the temporary folder it used."""
    scratch = tmp_path_factory.mktemp("scratch")
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)  # the card's temporary folder goes here, to see it removed
    try:
        return model_card(_tiny(), META, calibration=_frames(4), threads=2, runs=5, warmup=1), scratch
    finally:
        tempfile.tempdir = saved


def test_parameters_are_the_segmenters(card):
    model = _tiny()
    assert card[0]["parameters"] == sum(p.numel() for p in model.segmenter.parameters())
    assert card[0]["parameters"] == sum(cin * cout * k * k + cout for cin, cout, k in CONVS)


def test_gflops_equal_a_hand_count_at_both_sizes(card):
    """2 x multiply-adds of every convolution (bias, ReLU and the encoding not counted), batch 1."""
    per_pixel = sum(2 * cin * cout * k * k for cin, cout, k in CONVS)
    trained, camera = card[0]["compute"]
    assert trained["size"] == [12, 16] and trained["what"] == "trained size 10x14 rounded up to multiples of 4"
    assert trained["flops"] == 12 * 16 * per_pixel and trained["gflops"] == round(12 * 16 * per_pixel / 1e9, 6)
    assert camera["size"] == [480, 640] and camera["what"] == "camera size"
    assert camera["flops"] == 480 * 640 * per_pixel
    assert "FlopCounterMode" in card[0]["flops_counted"] and "encoding" in card[0]["flops_counted"]


def test_latency_is_measured_with_its_settings_recorded(card):
    onnx = card[0]["onnx"]
    assert (onnx["intra_op_num_threads"], onnx["runs"], onnx["warmup"], onnx["batch"]) == (2, 5, 1, 1)
    assert onnx["size"] == [12, 16] and onnx["statistic"] == "median" and onnx["calibration_frames"] == 4
    assert onnx["cpu"] == cpu_name() and onnx["cpu"] and onnx["runtime"].startswith("onnxruntime ")
    for p in ("fp32", "fp16", "int8"):
        assert onnx["precisions"][p]["latency_ms"] > 0, p
        assert "not_measured" not in onnx["precisions"][p], p
    json.dumps(card[0])  # goes to metrics.json as it is


def test_file_sizes_per_precision(card):
    """fp16 is about half of fp32, int8 smaller still (its first and last convolutions stay float32)."""
    rows = card[0]["onnx"]["precisions"]
    fp32, fp16, int8 = (rows[p]["bytes"] for p in ("fp32", "fp16", "int8"))
    assert 0.45 < fp16 / fp32 < 0.6
    assert int8 < 0.5 * fp32
    assert rows["int8"]["conversion"]["format"] == "QDQ" and rows["int8"]["conversion"]["calibration_frames"] == 4
    assert "input_encoding" in rows["fp16"]["conversion"]["float32_parts"]


def test_the_temporary_folder_is_removed(card):
    assert list(card[1].iterdir()) == []


def test_without_onnxruntime_the_card_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    got = model_card(_tiny(), META, calibration=_frames(2))
    assert got["onnx"] == {"not_measured": 'not measured: onnxruntime not installed (pip install -e ".[deploy]")'}
    assert got["parameters"] > 0 and [c["size"] for c in got["compute"]] == [[12, 16], [480, 640]]


class _Median(nn.Module):
    """A convolution followed by an operator ONNX cannot express (aten::median)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y - y.median(dim=1, keepdim=True).values


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_student_onnx_cannot_express_gets_figures_and_the_reason():
    got = model_card(SensorModel(_Median(), "logdepth_valid").eval(), META, runs=1, warmup=0)
    assert got["parameters"] == 2 * 3 * 9 + 3 and got["compute"][0]["flops"] == 12 * 16 * 2 * 2 * 3 * 9
    assert set(got["onnx"]) == {"not_measured"}
    assert got["onnx"]["not_measured"].startswith("not measured: the student of run 'tiny' (m, seed 0) cannot be "
                                                  "exported to ONNX: ") and "median" in got["onnx"]["not_measured"]


def test_int8_without_calibration_frames_is_not_measured():
    rows = model_card(_tiny(), META, runs=1, warmup=0, precisions=("fp32", "int8"))["onnx"]["precisions"]
    assert list(rows) == ["fp32", "int8"] and rows["fp32"]["latency_ms"] > 0
    assert rows["int8"] == {"not_measured": "no calibration frames given (int8 is calibrated on sensor frames)"}


def test_bad_input_is_refused_before_any_work():
    with pytest.raises(ExportError, match=r"frames of 10x14 do not fit this model"):
        model_card(_tiny(), {**META, "size_rule": "height and width must be multiples of 4"},
                   calibration=_frames(2, 10, 14))
    with pytest.raises(ExportError, match=r"precision 'int4' is not one of fp32, fp16, int8"):
        model_card(_tiny(), META, precisions=("fp32", "int4"))
    with pytest.raises(ExportError, match=r"runs 0 must be >= 1"):
        model_card(_tiny(), META, runs=0)


def test_calibration_frames_are_edge_padded_to_the_stride(tmp_path):
    """10x14 frames and stride 4: the first frames, as stored, padded to 12x16 by repeating the last row and column."""
    stored = _frames(5, 10, 14)
    with h5py.File(tmp_path / "unlabeled.h5", "w") as f:
        f["depth"] = stored
    got = calibration_frames(tmp_path / "unlabeled.h5", "depth", META, count=3)
    assert got.shape == (3, 12, 16) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, :10, :14], stored[:3])
    np.testing.assert_array_equal(got[:, 11, :14], stored[:3, 9])
    np.testing.assert_array_equal(got[:, :10, 15], stored[:3, :, 13])


def test_a_run_without_a_card_gets_a_reason(smoke_run, tmp_path):
    """An image-level task, and a run folder the exporter cannot read a student from: one line each, no crash."""
    run_dir, metrics, overrides = smoke_run
    cfg = load_config(run_dir / "config.yaml")
    image_level = load_config(run_dir / "config.yaml", ["task=classification"])
    said = run_card(run_dir, image_level, None, {})
    assert said == {"reason": "no model card: task 'classification' is image-level; the card describes the "
                              "segmentation students crossmodal-export ships"}
    (tmp_path / "config.yaml").write_text((run_dir / "config.yaml").read_text())  # no checkpoints/
    said = run_card(tmp_path, cfg, None, {})
    assert set(said) == {"reason"} and said["reason"].startswith(f"no model card for none seed 0: run {tmp_path} "
                                                                 f"has no fine-tuned student for method 'none'")


def test_the_smoke_runs_report_carries_the_card(smoke_run):
    """The best method on val at its first seed (never chosen on test), calibrated on 8 unlabeled frames; report.md."""
    run_dir, metrics, _ = smoke_run
    card = metrics["model_card"]
    methods = load_config(REPO / "configs" / "smoke.yaml").methods
    best = max(methods, key=lambda m: metrics["methods"][m]["val_miou"])
    assert card["student"]["method"] == best and card["student"]["seed"] == 0
    ckpt = torch.load(run_dir / "checkpoints" / f"{best}_finetuned.pt", map_location="cpu", weights_only=True)
    assert card["parameters"] == sum(v.numel() for k, v in ckpt["model"].items() if "running_" not in k
                                     and "num_batches_tracked" not in k)
    assert [c["size"] for c in card["compute"]] == [[48, 64], [480, 640]]
    assert card["compute"][1]["flops"] > 90 * card["compute"][0]["flops"]  # 100x the pixels, same network
    onnx = card["onnx"]
    assert onnx["calibration_frames"] == 8 and onnx["size"] == [48, 64]
    assert [p for p, row in onnx["precisions"].items() if row.get("latency_ms", 0) > 0] == ["fp32", "fp16", "int8",
                                                                                        "int8-uint8"]
    assert "uint8" in onnx["precisions"]["int8-uint8"]["conversion"]["activations"]
    report = (run_dir / "report.md").read_text()
    assert "\n## Model card\n" in report and report.index("## Model card") < report.index("## Software")
    assert f"The fine-tuned `{best}` student, seed 0" in report and "| int8 |" in report


def test_an_exports_calibration_frames(smoke_run, tmp_path):
    """The run's first 8 unlabeled depth frames as stored (48x64 fits stride 8); None once the data are gone."""
    run_dir, metrics, _ = smoke_run
    _, meta = build_sensor_model(run_dir, "none")
    frames = export_calibration(run_dir, meta)
    with h5py.File(metrics["data"]["unlabeled"], "r") as f:
        np.testing.assert_array_equal(frames, f["depth"][:8])
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved["data"]["synthetic"]["out"] = str(tmp_path / "gone")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert export_calibration(tmp_path, meta) is None
