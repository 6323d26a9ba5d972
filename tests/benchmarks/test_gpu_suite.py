"""benchmarks/gpu_suite.py keeps working.

Its CPU check (--device cpu --tiny, the cached-teacher row included), --help, the bf16 autocast code path, the
refusal of --device cuda without a GPU, and that --write replaces only its own section of a markdown file.
"""
import importlib.util
import math
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_benchmark, without_section

SCRIPT = REPO / "benchmarks" / "gpu_suite.py"
SECTION = "## GPU suite (benchmarks/gpu_suite.py)"


def load_suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cpu_tiny_run_reports_every_case_and_writes_only_its_section(tmp_path):
    args = ["--device", "cpu", "--tiny", "--skip-pipeline"]
    proc, res, original, doc = run_benchmark(SCRIPT, tmp_path, SECTION, args, timeout=180)
    assert res["device"]["type"] == "cpu" and res["device"]["name"]
    assert res["settings"]["tiny"] and res["settings"]["channels_last"]
    cases = {(c["student"], c["loss"]): c for c in res["cases"]}
    students = {"torchvision:resnet18", "timm:mobilenetv3_large_100"}
    assert set(cases) == {(s, m) for s in students for m in ("none", "crd", "crd_dense")}
    for (_, loss), c in cases.items():
        assert c["images_per_s"] > 0 and c["step_s_median"] > 0
        assert (c["loss_added_pct"] is None) == (loss == "none")
        assert c["last_loss"] == c["last_loss"]  # not NaN
    tc = res["teacher_cache"]  # the cached-teacher row: a tiny head-less ViT, live against cached epochs
    assert tc["teacher"] == "vit_b" and tc["method"] == "crd_dense" and tc["tiny"] and tc["size"] == "64x96"
    assert tc["views"] == 1 and tc["frames"] == 16 and len(tc["raw"]["live"]) == len(tc["raw"]["cached"]) == 2
    assert tc["ratio"] > 0 and tc["build_s"] > 0 and tc["live"]["epoch_s"] > 0 and tc["cached"]["epoch_s"] > 0
    assert tc["live"]["teacher_s"] > 0 and tc["cached"]["teacher_s"] == 0 and tc["cached"]["cache_read_s"] > 0
    assert tc["bytes_per_frame_view"] == sum(2 * math.prod(s[2:]) for s in tc["arrays"].values()) > 0
    assert tc["live"]["peak_mib"] is None  # no CUDA peak on a CPU
    dp = res["deploy"]  # the deployed-precision row: this CPU-only onnxruntime has no GPU provider, and says so
    assert dp["files"]["int8"] < dp["files"]["fp16"] < dp["files"]["fp32"]
    for provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        if provider not in dp["available"]:
            assert "onnxruntime-gpu" in dp["providers"][provider]["skipped"]
    ld = res["loader"]
    assert ld["images_per_s"] > 0 and ld["batches_per_s"] > 0 and ld["workers"] >= 1
    assert "pipeline" not in res
    assert "GPU suite on" in proc.stdout and "images/s" in proc.stdout
    # --write: the section replaced in place, everything else as it was
    written = doc.read_text()
    assert written.count(SECTION) == 1 and "old figures" not in written
    assert "| timm:mobilenetv3_large_100 | crd_dense |" in written and "#### Cached teacher" in written
    assert "cached-teacher row has not been run on a GPU yet" in written
    assert "#### Deployed precisions on onnxruntime's GPU providers" in written
    assert without_section(written, SECTION) == without_section(original, SECTION)
    assert written.index("## Before") < written.index(SECTION) < written.index("## After")


def test_help_works():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--tiny" in proc.stdout and "--skip-pipeline" in proc.stdout and "--write" in proc.stdout
    assert "--skip-teacher-cache" in proc.stdout


def test_bf16_autocast_path_and_cuda_refusal():
    suite = load_suite()
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA GPU is visible"):
            suite.resolve_device("cuda")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cases = suite.bench_steps(torch.device("cpu"), 32, 48, 2, "torchvision:resnet18",
                                  ["timm:mobilenetv3_large_100"], 2048, repeats=1, warmup=0, amp=True,
                                  log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    assert [c["loss"] for c in cases] == ["none", "crd", "crd_dense"]
    assert all(c["images_per_s"] > 0 and c["last_loss"] == c["last_loss"] for c in cases)
