"""Shared fixtures: the smoke pipeline run once per session into a temporary folder."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the start-up data checks cache their results under $XDG_CACHE_HOME: the suite (and the runs it starts) keeps them
# in a folder of its own, not in the user's ~/.cache
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="crossmodal-test-cache-")


def pytest_collection_modifyitems(config, items):
    """Every test that needs the session's pipeline run (smoke_run, about a minute) is slow, marked or not."""
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run configs/smoke.yaml end to end (data generated on the fly); returns (run folder, metrics, overrides)."""
    import run_transfer

    root = tmp_path_factory.mktemp("smoke")
    overrides = [f"output_dir={root / 'runs'}", f"data.synthetic.out={root / 'data'}",
                 f"teacher.cache_dir={root / 'cache'}"]
    assert run_transfer.main(["--config", str(REPO / "configs" / "smoke.yaml"), *overrides]) == 0
    run_dir = root / "runs" / "smoke"
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), overrides


def rerun_smoke(smoke_run, out: Path, *overrides: str) -> tuple[Path, dict]:
    """configs/smoke.yaml again into `out`, with the session smoke run's data and cached teacher and more overrides;
    returns (run folder, metrics)."""
    import run_transfer

    shared = [o for o in smoke_run[2] if not o.startswith("output_dir=")]
    args = ["--config", str(REPO / "configs" / "smoke.yaml"), *shared, f"output_dir={out}", *overrides]
    assert run_transfer.main(args) == 0
    run = out / "smoke"
    return run, json.loads((run / "metrics.json").read_text())


def run_until_snapshot(args: list[str], snapshot: Path, timeout: float = 300) -> None:
    """Start `python run_transfer.py *args` and SIGKILL it as soon as the step checkpoint `snapshot` exists."""
    proc = subprocess.Popen([sys.executable, "run_transfer.py", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not snapshot.exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def without_section(text: str, section: str) -> str:
    """Markdown text with one '## ' section (its heading up to the next '## ' heading) removed: what a benchmark's
    --write must leave unchanged."""
    lines = text.splitlines()
    if section not in lines:
        return text.rstrip("\n")
    start = lines.index(section)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + lines[end:]).rstrip("\n")
def run_benchmark(script: Path, tmp_path: Path, section: str, args: list[str], timeout: int) -> tuple:
    """A benchmark script with `args` (its tiny mode) writing --out JSON and its section into a doc that already
    holds that section between two others: (the finished process, its results, the doc's text before, the doc)."""
    doc = tmp_path / "benchmarks.md"
    original = "# Benchmarks\n\n## Before\n\nkept text\n\n" + section + "\n\nold figures\n\n## After\n\nalso kept\n"
    doc.write_text(original)
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(script), *args, "--out", str(out), "--write", str(doc)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text()), original, doc




@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty start-up check cache for one test: $XDG_CACHE_HOME in its tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tum_associate(first: list[float], second: list[float], max_difference: float) -> list[tuple[float, float]]:
    """TUM RGB-D's associate.py with offset 0, written out as the reference for data_tools.associate.

    Every candidate pair within max_difference is taken, smallest difference first, while both stamps are free.
    """
    first_keys, second_keys = list(dict.fromkeys(first)), list(dict.fromkeys(second))
    potential = sorted((abs(a - b), a, b) for a in first_keys for b in second_keys if abs(a - b) < max_difference)
    matches = []
    for _, a, b in potential:
        if a in first_keys and b in second_keys:
            first_keys.remove(a)
            second_keys.remove(b)
            matches.append((a, b))
    return sorted(matches)


def add_frame_names(path: Path, count: int) -> Path:
    """Give a paired file the per-row frame names rec/0000, rec/0001, ... that a converter stores."""
    import h5py
    import numpy as np

    with h5py.File(path, "r+") as f:
        f.create_dataset("frame_name", data=np.array([f"rec/{i:04d}" for i in range(count)],
                                                     dtype=h5py.string_dtype("utf-8")))
    return path
