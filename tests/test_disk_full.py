"""A run that meets a full disk, made real: a file-size limit in the child (EFBIG), and a tiny tmpfs that fills up in
the middle of the transfer (a genuine ENOSPC, where this machine can mount one). The run stops with one line naming
the file and how to resume, exit 2, the line in log.txt, no temp file left; the checkpoints written before are
intact and `--resume` continues from the last of them. A disk without room for the run's checkpoints is refused
before any training, saying how much is needed and why."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from disk_limits import REPO, assert_clean_failure, fill, hidden_files, run_python, tmpfs

from crossmodal.config import load_config
from crossmodal.diskspace import check_run_space, run_checkpoint_bytes
from crossmodal.errors import UserError

CONFIG = str(REPO / "configs" / "smoke.yaml")
SHORT = ["methods=[crd_dense]", "checkpoint.every_steps=1", "teacher.epochs=2", "finetune.epochs=2",
         "probe.enabled=false"]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory) -> Path:
    """The smoke config's five split files, written once without any limit."""
    out = tmp_path_factory.mktemp("disk_full_data") / "data"
    proc = run_python(["-m", "data_tools.synthetic", "--out", str(out), "--num", "64", "--num-teacher", "96",
                       "--num-train", "32", "--num-test", "16", "--num-val", "16", "--size", "48x64", "--workers",
                       "1"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _args(data: Path, out: Path, cache: Path, *more: str) -> list[str]:
    return ["run_transfer.py", "--config", CONFIG, f"output_dir={out}", f"data.synthetic.out={data}",
            f"teacher.cache_dir={cache}", *SHORT, *more]


def _resume(run_dir: Path) -> str:
    """`--resume run_dir` without any limit: it must finish; returns the log."""
    proc = run_python(["run_transfer.py", "--resume", str(run_dir)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["resumed"] is True
    return (run_dir / "log.txt").read_text()


@pytest.mark.slow
def test_a_run_past_a_file_size_limit_stops_with_one_line_in_the_log_and_resumes(smoke_data, tmp_path):
    run_dir = tmp_path / "runs" / "smoke"
    proc = run_python(_args(smoke_data, tmp_path / "runs", tmp_path / "cache"), limit=200_000)
    line = assert_clean_failure(proc)
    first = run_dir / "state" / "teacher" / "step-00000001.pt"  # the first file over 200 kB: a step checkpoint
    assert line == (f"error: {first}: cannot be written: the file-size limit of this process is reached (EFBIG, "
                    f"`ulimit -f`); raise the limit (`ulimit -f unlimited`) or write smaller files (the partly "
                    f"written file was removed); the checkpoints written so far are kept: once there is room, "
                    f"continue with `accelerate launch run_transfer.py --resume {run_dir}`")
    assert (run_dir / "log.txt").read_text().splitlines()[-1].endswith(f" ERROR {line}")
    assert hidden_files(tmp_path) == [] and not first.exists()
    assert "(resuming)" in _resume(run_dir)


@pytest.mark.slow
def test_a_disk_filling_up_mid_transfer_keeps_the_checkpoints_and_resume_continues(smoke_data, tmp_path):
    import torch

    with tmpfs(tmp_path / "disk", "40m") as disk:
        run_dir = disk / "smoke"
        state = run_dir / "state" / "transfer-crd_dense-seed0"
        args = _args(smoke_data, disk, tmp_path / "cache", "transfer.epochs=4")
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.time() + 300
        while not (state / "step-00000002.pt").exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-3000:]
            time.sleep(0.005)
        filler = fill(disk, leave=256 * 2 ** 10)  # room for log lines, not for another step checkpoint
        _, err = proc.communicate(timeout=300)
        line = assert_clean_failure(subprocess.CompletedProcess(args, proc.returncode, "", err))
        assert line.startswith(f"error: {state}/step-") and ": cannot be written: no space left on its disk " \
            "(ENOSPC); free some space or write to another disk" in line
        assert line.endswith(f"continue with `accelerate launch run_transfer.py --resume {run_dir}`")
        assert (run_dir / "log.txt").read_text().splitlines()[-1].endswith(f" ERROR {line}")
        kept = sorted(state.glob("step-*.pt"))
        assert kept and hidden_files(run_dir) == []
        last = torch.load(kept[-1], map_location="cpu", weights_only=False)  # intact: written whole, then renamed
        assert line.startswith(f"error: {state}/step-{last['step'] + 1:08d}.pt")  # the next one was refused
        filler.unlink()
        log = _resume(run_dir)
        assert f"resuming from {kept[-1]} (step {last['step']})" in log


@pytest.mark.slow
def test_a_disk_without_room_for_the_checkpoints_is_refused_before_training(smoke_data, tmp_path):
    """10 seeds x 3 methods of the smoke student on an 18 MiB tmpfs: past the start floor, short of the estimate."""
    with tmpfs(tmp_path / "disk", "18m") as disk:
        proc = run_python(_args(smoke_data, disk, tmp_path / "cache", "methods=[none,crd_dense,crd]",
                                "seeds=[0,1,2,3,4,5,6,7,8,9]"))
        line = assert_clean_failure(proc)
        assert line.startswith(f"error: run folder (output_dir/name) {disk / 'smoke'}: only 18.0 MiB free on its "
                               f"disk, ") and " needed (30 cells x 2 checkpoints of " in line
        assert "(the student's parameters) and 3 step checkpoints of " in line and "plus 16.0 MiB margin)" in line
        assert list(disk.iterdir()) == []


def test_the_run_space_rule_counts_the_checkpoints_of_every_cell(tmp_path):
    """The estimate: per cell two checkpoints of the student, plus checkpoint.keep + 1 step checkpoints of the weights
    with their optimiser state; checked against this disk with a student on the meta device (never allocated)."""
    import torch

    cfg = load_config(CONFIG, [f"output_dir={tmp_path}", "methods=[none,crd_dense]", "seeds=[0,1,2]",
                               "checkpoint.keep=2", "controls.random_teacher=[crd_dense]"])
    assert run_checkpoint_bytes(cfg, 1000) == (9 * 2 * 1000 + 3 * 3 * 1000, "9 cells x 2 checkpoints of 1000 B (the "
                                               "student's parameters) and 3 step checkpoints of 2.9 KiB (weights and "
                                               "optimiser state)")
    check_run_space(cfg, torch.nn.Linear(4, 4))
    huge = torch.nn.Linear(2 ** 17, 2 ** 17, bias=False, device="meta")  # 64 GiB of float32 parameters
    with pytest.raises(UserError, match=rf"run folder \(output_dir/name\) {tmp_path / 'smoke'}: only .* free on its "
                                        rf"disk, .* needed \(9 cells x 2 checkpoints of 64.0 GiB"):
        check_run_space(cfg, huge)
