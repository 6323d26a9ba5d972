"""benchmarks/teacher_cache.py keeps working.

Its --tiny run times live and cached transfer epochs through run_transfer for the default teacher (crd_dense, kd) and
a tiny head-less ViT, reports positive ratios, the cache's bytes per frame and view as the stored arrays hold them,
memory from fresh processes, and --write replaces only its own section of a markdown file.
"""
import math

import pytest

from conftest import REPO, run_benchmark, without_section

SCRIPT = REPO / "benchmarks" / "teacher_cache.py"
SECTION = "## Teacher cache (benchmarks/teacher_cache.py)"
VIT = "timm:vit_small_patch14_dinov2"


@pytest.mark.slow
def test_tiny_run_reports_every_case_and_writes_only_its_section(tmp_path):
    proc, res, original, doc = run_benchmark(SCRIPT, tmp_path, SECTION, ["--tiny"], timeout=300)
    s, m = res["settings"], res["machine"]
    assert s["tiny"] and s["sizes"] == ["32x48"] and s["repeats"] == 2 and s["views"] == 2
    assert m["cpu"] and m["logical_cpus"] >= 1 and m["torch_threads"] == 1 and m["torch"]
    rows = res["rows"]
    assert [(r["teacher"], r["method"]) for r in rows] == [("default", "crd_dense"), ("default", "kd"),
                                                           ("vit", "crd_dense")]
    stored = {"crd_dense": {"stage2"}, "kd": {"logits"}}
    for r in rows:
        for mode in ("live", "cached"):
            runs = r["raw"][mode]
            assert len(runs) == s["repeats"] and all(x["epoch_s"] > 0 and x["call_s"] >= x["epoch_s"] for x in runs)
            assert math.isfinite(r[mode]["last_loss"])
        assert r["ratio"] > 0 and r["ratio_min"] > 0 and r["call_ratio"] > 0 and r["build_s"] > 0
        assert r["live"]["teacher_s"] > 0 and r["live"]["cache_read_s"] == 0  # the live run reads no cache
        assert r["cached"]["teacher_s"] == 0 and r["cached"]["cache_read_s"] > 0  # the cached one runs no teacher
        assert r["views"] == 2 and r["frames"] == 16 and r["dtype"] == "float16"
        if r["teacher"] == "default":  # only what the distiller reads is stored
            assert set(r["arrays"]) == stored[r["method"]]
        # bytes per frame and view = the stored arrays' per-frame size, as the .npy files hold them
        per_frame = {name: 2 * math.prod(shape[2:]) for name, shape in r["arrays"].items()}
        assert all(shape[:2] == [2, 16] for shape in r["arrays"].values())
        assert r["array_bytes_per_frame_view"] == per_frame and r["bytes_per_frame_view"] == sum(per_frame.values())
        header = r["file_bytes_per_frame_view"] - r["bytes_per_frame_view"]
        assert 0 < header * 2 * 16 <= 256 * len(per_frame)  # only the .npy headers on top
    vit = rows[-1]
    mem = vit["memory"]  # --tiny probes the ViT case only, in fresh processes
    assert mem["live"]["rss_before_mib"] > 0 and mem["cached"]["epoch_growth_mib"] >= 0
    assert mem["live"]["cache_rss_mib"] == 0 and mem["cached"]["cache_rss_mib"] > 0
    assert all("memory" not in r for r in rows[:-1])
    assert res["load_before"] >= 0 and res["other_cpu_s"] >= 0 and res["total_s"] > 0
    # --write: the section replaced in place, everything else as it was
    written = doc.read_text()
    assert written.count(SECTION) == 1 and "old figures" not in written
    assert f"| 32x48 | 8 | {VIT}, head-less | `crd_dense` |" in written and m["cpu"] in written
    assert without_section(written, SECTION) == without_section(original, SECTION)
    assert written.index("## Before") < written.index(SECTION) < written.index("## After")
    assert "Teacher cache on" in proc.stdout
