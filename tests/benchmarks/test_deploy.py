"""benchmarks/deploy.py keeps working.

Its --tiny run times both backends, the exported model agrees with PyTorch eager, and --write replaces only its own
section of a markdown file.
"""
import sys

import pytest

from conftest import REPO, run_benchmark, without_section

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SCRIPT = REPO / "benchmarks" / "deploy.py"
SECTION = "## Deploy (benchmarks/deploy.py)"


@pytest.mark.slow
def test_tiny_run_times_both_backends_and_writes_only_its_section(tmp_path):
    proc, res, original, doc = run_benchmark(SCRIPT, tmp_path, SECTION, ["--tiny"], timeout=120)
    assert res["tiny"] and res["settings"]["device"] == "cpu"
    assert res["machine"]["cpu"] and res["machine"]["logical_cpus"] >= 1 and res["machine"]["torch_threads"] >= 1
    assert res["software"]["torch"] and res["software"]["onnxruntime"]
    assert res["backends"]["ort_providers"] == ["CPUExecutionProvider"]
    assert res["backends"]["ort_intra_op_threads"] == res["settings"]["threads"][0]
    assert res["model"]["encoding"] == "logdepth_valid" and res["model"]["num_classes"] == 12
    assert res["export"]["opset"] >= 17 and res["export"]["file_mib"] > 0
    assert res["load_before"] >= 0 and res["load_after"] >= 0
    if sys.platform == "linux":
        assert res["other_cpu"]["seconds"] >= 0 and res["other_cpu"]["own_cpu_s"] > 0
    cases = res["cases"]
    assert [c["batch"] for c in cases] == [1, 2]
    for c in cases:
        n, k, h, w = c["output_shape"]
        assert (n, h, w) == (c["batch"], c["height"], c["width"]) and k == 12
        for backend in ("torch", "ort"):
            b = c[backend]
            assert len(b["times_s"]) == c["repeats"] >= 1 and all(t > 0 for t in b["times_s"])
            assert b["median_s"] > 0 and b["images_per_s"] == c["batch"] / b["median_s"]
        assert c["speedup"] == c["torch"]["median_s"] / c["ort"]["median_s"] > 0
        assert c["max_abs_diff"] < 1e-3 and c["argmax_agree"] > 0.99
    # the printed table
    assert "| threads | size | batch |" in proc.stdout
    size = res["settings"]["sizes"][0]
    threads = res["settings"]["threads"][0]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"| {threads} | {size} ")]  # the backends' table
    assert len(rows) == 2, proc.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        torch_ms, ort_ms, speedup = float(cells[4]), float(cells[5]), float(cells[6].rstrip("x"))
        assert torch_ms > 0 and ort_ms > 0 and speedup > 0 and float(cells[9]) < 1e-3
    assert "Outputs agree" in proc.stdout
    # the precision rows: fp16 and int8 files made from the same fp32 file, timed against it in every case
    pr = res["precision"]
    assert pr["provider"] == "CPUExecutionProvider" and not pr["skipped"]
    assert pr["files"]["int8"]["bytes"] < pr["files"]["fp16"]["bytes"] < pr["files"]["fp32"]["bytes"]
    assert [(c["size"], c["batch"]) for c in pr["cases"]] == [(c["size"], c["batch"]) for c in cases]
    for c in pr["cases"]:
        assert list(c["precisions"]) == ["fp32", "fp16", "int8", "int8-uint8"]
        assert c["precisions"]["fp32"]["speedup_vs_fp32"] == 1.0
        for r in c["precisions"].values():
            assert len(r["times_s"]) == c["repeats"] and r["median_s"] > 0 and r["images_per_s"] > 0
    assert [q["size"] for q in pr["quality"]] == res["settings"]["sizes"] and pr["quality_frames"] == 16
    for q in pr["quality"]:  # against fp32 on the same 16 frames per size
        assert q["precisions"]["fp32"] == {"argmax_agree": 1.0, "miou_vs_fp32": 1.0}  # no labels without --run
        assert all(0 < r["argmax_agree"] <= 1 and 0 < r["miou_vs_fp32"] <= 1 for r in q["precisions"].values())
        assert q["precisions"]["fp16"]["argmax_agree"] > 0.95
    assert "### Precision (fp32, fp16, int8 under onnxruntime)" in proc.stdout
    # --write: the section replaced in place, everything else as it was
    written = doc.read_text()
    assert written.count(SECTION) == 1 and "old figures" not in written
    assert without_section(written, SECTION) == without_section(original, SECTION)
    assert written.index("## Before") < written.index(SECTION) < written.index("## After")
