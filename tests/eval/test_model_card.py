"""report.md's "Model card" section: from a card, from the reason a run has none, and placed before Software."""
import sys

import torch
from torch import nn

from crossmodal.deploy.card import model_card
from crossmodal.deploy.export import SensorModel
from eval.model_card_section import model_card_section, with_model_card

CARD = {
    "student": {"method": "crd_dense", "seed": 0, "chosen": "the best method by test mIoU (mean over seeds) at its "
                "first seed", "network": "resnet_narrow"},
    "parameters": 81388, "parameters_counted": "the segmenter's, backbone and head; the input encoding has none",
    "compute": [{"size": [48, 64], "what": "trained size", "flops": 19783680, "gflops": 0.019784},
                {"size": [480, 640], "what": "camera size", "flops": 1978368000, "gflops": 1.978368}],
    "flops_counted": "FLOPs = 2 x multiply-adds",
    "onnx": {"runtime": "onnxruntime 1.32.0 CPUExecutionProvider", "cpu": "Intel(R) Xeon(R) Processor",
             "logical_cpus": 2, "intra_op_num_threads": 1, "inter_op_num_threads": 1, "batch": 1, "size": [48, 64],
             "runs": 20, "warmup": 3, "statistic": "median", "calibration_frames": 8,
             "calibration": "the first 8 unlabeled depth frames of the run",
             "precisions": {
                 "fp32": {"bytes": 339622, "latency_ms": 0.4873},
                 "fp16": {"bytes": 189768, "latency_ms": 0.5275,
                          "conversion": {"weights": "float16", "io": "float32 inputs and outputs",
                                         "float32_parts": ["input_encoding", "output"]}},
                 "int8": {"not_measured": "no calibration frames given (int8 is calibrated on sensor frames)"}}},
}
REPORT = "# crossmodal run `smoke`\n\n## Results\n\ntable\n\n## Software\n\ntorch 2\n"


def test_section_from_a_card():
    lines = model_card_section(CARD)
    assert lines[:2] == ["## Model card", ""] and lines[-1] == ""
    text = "\n".join(lines)
    assert ("The fine-tuned `crd_dense` student, seed 0: the best method by test mIoU (mean over seeds) at its first "
            "seed. Every method of the run shares the architecture (`resnet_narrow`).") in text
    assert "- parameters: 81,388 (the segmenter's" in text
    assert "- GFLOPs per frame: 0.01978 at 48x64 (trained size); 1.978 at 480x640 (camera size). FLOPs = 2" in text
    assert "| fp32 | 0.34 MB (339,622 bytes) | 0.487 |" in text
    assert "| fp16 | 0.19 MB (189,768 bytes) | 0.527 |" in text
    assert "| int8 | - | - (not measured: no calibration frames given (int8 is calibrated on sensor frames)) |" in text
    assert ("intra_op_num_threads 1, batch 1 at 48x64, the median of 20 runs after 3 warm-up runs. The fp32 file is "
            "what crossmodal-export writes; the others are its conversions by crossmodal.deploy.quantize:") in text
    assert ("- fp16: weights and activations float16; float32 inputs and outputs; float32 kept for: input encoding, "
            "output") in text


def test_section_from_the_reason_line():
    reason = {"reason": "no model card: task 'classification' is image-level"}
    assert model_card_section(reason) == ["## Model card", "", "no model card: task 'classification' is image-level",
                                          ""]
    assert model_card_section(None) == [] and model_card_section({}) == []


def test_the_section_goes_before_software():
    text = with_model_card(REPORT, {"reason": "no model card: why"})
    assert text == ("# crossmodal run `smoke`\n\n## Results\n\ntable\n\n## Model card\n\nno model card: why\n\n"
                    "## Software\n\ntorch 2\n")
    assert with_model_card(REPORT, None) == REPORT
    assert with_model_card("# r\n", {"reason": "why"}) == "# r\n\n## Model card\n\nwhy\n"


def test_a_computed_card_renders(monkeypatch):
    """What crossmodal.deploy.card computes renders as it is: with onnxruntime (fp32 only here) and without."""
    meta = {"run": "t", "method": "m", "seed": 0, "stride_multiple": 2, "trained_size": [6, 8],
            "input": {"shape": ["batch", "height", "width"], "dtype": "float32"}}
    model = SensorModel(nn.Conv2d(2, 3, 3, padding=1), "logdepth_valid").eval()
    torch.manual_seed(0)
    text = "\n".join(model_card_section(model_card(model, meta, runs=2, warmup=0, precisions=("fp32",))))
    assert "| fp32 | " in text and "the median of 2 runs after 0 warm-up runs. The fp32 file is what " \
        "crossmodal-export writes." in text
    assert "at 6x8 (trained size)" in text and "The exported student." in text
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    text = "\n".join(model_card_section(model_card(model, meta)))
    assert ('File sizes and latency: not measured: onnxruntime not installed (pip install -e ".[deploy]")' in text
            and "| fp32 |" not in text)
