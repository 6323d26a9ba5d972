"""benchmarks/recordings.py keeps working.

Its --tiny run converts real generated bags with one and two workers, reports positive frames/s and memory, and --write
replaces or appends only its own section of a markdown file.
"""
import sys

import pytest

from conftest import REPO, run_benchmark, without_section

SCRIPT = REPO / "benchmarks" / "recordings.py"
SECTION = "## Recordings (benchmarks/recordings.py)"


@pytest.mark.slow
def test_tiny_run_converts_with_both_worker_counts_and_writes_only_its_section(tmp_path):
    proc, res, original, doc = run_benchmark(SCRIPT, tmp_path, SECTION, ["--tiny"], timeout=180)
    assert res["tiny"] and res["settings"]["rows"] == ["ros1-raw", "ros1-compressed"]
    assert res["machine"]["cpu"] and res["machine"]["logical_cpus"] >= 1
    assert all(res["software"][k] not in ("", "?") for k in ("rosbags", "h5py", "opencv"))
    assert res["load_before"] >= 0 and res["load_after"] >= 0
    frames = res["settings"]["frames"]
    for row in res["rows"].values():
        assert row["bag_mib"] > 0 and row["colour_messages"] == frames and 0 < row["depth_messages"] <= frames
        for wk in ("1", "2"):
            runs = row["runs"][wk]
            assert len(runs) == res["settings"]["repeats"] >= 1
            for r in runs:
                assert 0 < r["frames"] <= row["depth_messages"]
                assert 0 < r["seconds_to_output"] <= r["seconds_to_exit"]
                assert r["frames_per_s"] == r["frames"] / r["seconds_to_output"] > 0
                assert 0 < r["peak_tree_rss_mib"] <= r["sum_process_peaks_mib"] + 1
                assert 0 < r["converter_peak_mib"] <= r["sum_process_peaks_mib"]
            assert row["median"][wk]["frames_per_s"] > 0
        # one worker decodes in the converter itself; with two, pool processes were seen beside it
        assert row["median"]["1"]["processes"] == 1 < row["median"]["2"]["processes"]
    # the printed table: 2 rows per recording with real figures
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ROS ")]
    assert len(rows) == 4, proc.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2]) > 0 and cells[3] in ("1", "2")
        assert float(cells[4]) > 0 and float(cells[7]) > 0 and float(cells[8]) > 0
    # --write: the section replaced in place, everything else as it was
    written = doc.read_text()
    assert written.count(SECTION) == 1 and "old figures" not in written and "| ROS 1 .bag" in written
    assert without_section(written, SECTION) == without_section(original, SECTION)
    assert written.index("## Before") < written.index(SECTION) < written.index("## After")
    # and appended when the file has no such section
    other = tmp_path / "other.md"
    other.write_text("# Benchmarks\n\n## Before\n\nkept text\n")
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import markdown_section
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    markdown_section.replace_section(other, SECTION + "\n\nnew\n", SECTION)
    assert other.read_text() == "# Benchmarks\n\n## Before\n\nkept text\n\n" + SECTION + "\n\nnew\n"
