"""benchmarks/vit_teacher.py keeps working.

Its --tiny run times a tiny head-less ViT teacher and the default teacher in the same step at two sizes, reports shares,
images/s, the side-by-side ratio and memory from fresh processes, and --write replaces only its own section of a
markdown file.
"""
import pytest

from conftest import REPO, run_benchmark, without_section

SCRIPT = REPO / "benchmarks" / "vit_teacher.py"
SECTION = "## Head-less ViT teacher (benchmarks/vit_teacher.py)"
VIT = "timm:vit_small_patch14_dinov2"


@pytest.mark.slow
def test_tiny_run_reports_every_case_and_writes_only_its_section(tmp_path):
    proc, res, original, doc = run_benchmark(SCRIPT, tmp_path, SECTION, ["--tiny"], timeout=300)
    s, m = res["settings"], res["machine"]
    assert s["tiny"] and s["seed"] == 0 and s["sizes"] == ["28x42", "42x56"] and s["repeats"] >= 1
    assert m["cpu"] and m["logical_cpus"] >= 1 and m["torch_threads"] == 1 and m["timm"]
    amps = {"off", "bf16"} if m["native_bf16"] else {"off"}
    assert set(s["amp"]) == amps
    rows = res["rows"]
    assert {(r["size"], r["teacher"], "bf16" if r["amp"] else "off") for r in rows} == {
        (size, t, a) for size in s["sizes"] for t in (VIT, "resnet_narrow") for a in amps}
    for r in rows:
        assert r["student"] == "resnet_narrow" and r["teacher_kwargs"] == ({"depth": 2, "embed_dim": 48, "num_heads": 2}
                                                                            if r["teacher"] == VIT else {})
        assert 0 < r["teacher_ms"] and 0 < r["step_ms_min"] <= r["step_ms"]
        assert 0 < r["teacher_share"] and 0 < r["teacher_share_in_step"] < 1
        assert r["images_per_s"] == pytest.approx(r["batch"] / (r["step_ms"] / 1e3))
        assert len(r["raw"]["step_s"]) == s["repeats"] and r["last_loss"] == r["last_loss"]  # not NaN
        assert (r["vit_over_default"] is None) == (r["teacher"] != VIT)
        if r["teacher"] == VIT:
            assert r["vit_over_default"] > 0
        if r["size"] == s["sizes"][0]:  # --tiny probes memory at the first size only, each case in a fresh process
            mem = r["memory"]
            assert mem["hwm_reset"] and mem["rss_before_mib"] > 0 and mem["peak_rss_mib"] >= mem["rss_before_mib"]
            assert 0 <= mem["teacher_growth_mib"] <= mem["step_growth_mib"]
        else:
            assert "memory" not in r
    assert res["load_before"] >= 0 and res["other_cpu_s"] >= 0 and res["total_s"] > 0
    table = [ln for ln in proc.stdout.splitlines() if ln.startswith("| 28x42 ") or ln.startswith("| 42x56 ")]
    assert len(table) == len(rows), proc.stdout
    # --write: the section replaced in place, everything else as it was
    written = doc.read_text()
    assert written.count(SECTION) == 1 and "old figures" not in written and f"| `{VIT}` |" in written
    assert m["cpu"] in written and "seed 0" in written
    assert without_section(written, SECTION) == without_section(original, SECTION)
    assert written.index("## Before") < written.index(SECTION) < written.index("## After")
