"""Resuming: a run killed with SIGKILL, or stopped by SIGTERM, in the middle of an epoch ends with the numbers of an
uninterrupted run; finished (method, seed) cells are reused; several seeds are aggregated."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import run_transfer
from conftest import REPO, run_until_snapshot

CONFIG = str(REPO / "configs" / "smoke.yaml")


def _numbers(metrics: dict) -> dict:
    return {m: {k: v[k] for k in ("miou", "pixel_acc", "mean_acc", "fw_iou", "per_class_iou", "probe_miou") if k in v}
            for m, v in metrics["methods"].items()}


def stop_at_snapshot(args: list[str], snapshot, signum: int) -> tuple[int, str, float]:
    """Start `python run_transfer.py *args`, send `signum` as soon as the step checkpoint `snapshot` exists; returns
    (exit status, stderr, seconds from the signal to the exit)."""
    proc = subprocess.Popen([sys.executable, "run_transfer.py", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not snapshot.exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be stopped"
        time.sleep(0.005)
    os.kill(proc.pid, signum)
    sent = time.time()
    _, err = proc.communicate(timeout=120)  # (a guard against a hang, not a timing test)
    return proc.returncode, err, time.time() - sent


# SIGKILL: the process dies at once; SIGTERM: it ends the optimiser step in progress (with grad_accum 2 the whole
# accumulation window), writes a step checkpoint at once and exits with 143; `views`: with the teacher's outputs
# cached on 3 views per frame (each epoch's choice of view must resume too)
@pytest.mark.parametrize("grad_accum, signum, views", [(1, signal.SIGKILL, 0), (2, signal.SIGTERM, 0),
                                                       (1, signal.SIGKILL, 3)])
def test_stopped_mid_epoch_then_resume_gives_the_same_metrics(smoke_run, tmp_path, grad_accum, signum, views):
    _, _, overrides = smoke_run
    same = [o for o in overrides if not o.startswith("output_dir=")] + [f"teacher.cache_views={views}"]
    # pooled CRD (memory bank, Z, negative sampler) long enough to be stopped in its middle; a step checkpoint every
    # 3 batches, written only at the end of an accumulation window (with grad_accum 2: batches 6, 12, ...)
    setting = [*same, "methods=[crd]", "transfer.epochs=8", "checkpoint.every_steps=3",
               f"transfer.grad_accum={grad_accum}"]
    assert run_transfer.main(["--config", CONFIG, *setting, f"output_dir={tmp_path / 'whole'}"]) == 0
    whole = json.loads((tmp_path / "whole" / "smoke" / "metrics.json").read_text())

    run_dir = tmp_path / "killed" / "smoke"
    state = run_dir / "state" / "transfer-crd-seed0"
    args = ["--config", CONFIG, *setting, f"output_dir={tmp_path / 'killed'}"]
    # stopped in epoch 2 of 8, batch 2 of 4 (SIGTERM: at the end of that batch's accumulation window or a later one)
    if signum == signal.SIGKILL:
        run_until_snapshot(args, state / "step-00000006.pt")
    else:
        status, err, seconds = stop_at_snapshot(args, state / "step-00000006.pt", signum)
        print(f"SIGTERM to exit: {seconds:.1f} s")
        assert status == 128 + signal.SIGTERM, err[-2000:]
        assert "Traceback" not in err
        assert "stopped by SIGTERM at transfer[crd] step" in (run_dir / "log.txt").read_text()
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "cells" / "crd-seed0.pt").exists()
    import torch

    snaps = sorted(state.glob("step-*.pt"))
    assert 1 <= len(snaps) <= 2  # the newest `keep` only
    last = torch.load(snaps[-1], map_location="cpu", weights_only=False)
    assert not last["finished"] and 0 < last["batch"] <= 4  # stopped inside an epoch (or after its last batch)
    if signum == signal.SIGTERM:  # the stop's own snapshot, after a whole window, whatever every_steps says
        assert last["step"] >= 6 and last["step"] % grad_accum == 0
        assert (f"stopped by SIGTERM at transfer[crd] step {last['step']}; resume with "
                f"`accelerate launch run_transfer.py --resume {run_dir}`\n") in err  # the last line
    assert "memory_student" in str(list(last["state"]["distiller"]))

    assert run_transfer.main(["--resume", str(run_dir)]) == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["resumed"] is True
    a, b = _numbers(whole), _numbers(resumed)
    assert a.keys() == b.keys()
    for method in a:
        for key, value in a[method].items():
            if isinstance(value, dict):
                for c, v in value.items():
                    assert (v is None and b[method][key][c] is None) or abs(v - b[method][key][c]) <= 1e-6, (method, c)
            else:
                assert abs(value - b[method][key]) <= 1e-6, (method, key)
    assert not state.exists()  # step checkpoints are removed once the cell is saved
    assert "resuming from" in (run_dir / "log.txt").read_text()


def test_seeds_are_aggregated_and_finished_cells_reused(smoke_run, tmp_path):
    _, single, overrides = smoke_run
    same = [o for o in overrides if not o.startswith("output_dir=")]
    args = ["--config", CONFIG, *same, "methods=[none,crd_dense]", "seeds=[0,1]", f"output_dir={tmp_path}"]
    assert run_transfer.main(args) == 0
    run_dir = tmp_path / "smoke"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1]
    for method in ("none", "crd_dense"):
        m = metrics["methods"][method]
        per_seed = [m["per_seed"][s]["miou"] for s in ("0", "1")]
        assert m["miou"] == pytest.approx(sum(per_seed) / 2, abs=1e-12)
        assert m["miou_std"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2 ** 0.5, abs=1e-12)
        # seed 0 of a study is exactly the one-seed run with seed 0
        assert m["per_seed"]["0"]["miou"] == single["methods"][method]["miou"]
        assert per_seed[0] != per_seed[1]
    for name in ("none-seed1_finetuned.pt", "crd_dense-seed0_transfer.pt", "crd_dense-seed1_finetuned.pt"):
        assert (run_dir / "checkpoints" / name).is_file()
    report = (run_dir / "report.md").read_text()
    assert "mean ± sample std over seeds" in report and "## Verdict" in report

    assert run_transfer.main(["--resume", str(run_dir)]) == 0  # everything finished: only reused
    assert (run_dir / "log.txt").read_text().count("finished earlier, reusing") == 4
    assert _numbers(json.loads((run_dir / "metrics.json").read_text())) == _numbers(metrics)


def _run(*args):
    return subprocess.run([sys.executable, "run_transfer.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_resume_refusals(tmp_path, smoke_run):
    run_dir, _, _ = smoke_run
    r = _run("--resume", str(tmp_path / "nothing"))
    assert r.returncode == 2 and f"no {tmp_path / 'nothing' / 'config.yaml'} there" in r.stderr
    r = _run("--resume", str(run_dir), "seed=3")
    assert r.returncode == 2 and "drop --config and the overrides" in r.stderr


def test_resume_on_changed_data_is_refused_before_any_work(smoke_run, tmp_path):
    """--resume compares each split's content fingerprint with the one the run recorded at its start
    (data_fingerprint.json): data rewritten at the same path are refused, naming the file, before the run folder is
    touched; a run folder of an older version, which recorded none, is refused with what to do."""
    from data_changes import copy_smoke_data, rewrite_reversed

    from crossmodal.errors import ConfigError

    data = copy_smoke_data(smoke_run, tmp_path / "data")
    args = ["--config", CONFIG, *data, "methods=[none]", "probe.enabled=false", "finetune.epochs=1",
            f"output_dir={tmp_path / 'runs'}"]
    assert run_transfer.main(args) == 0
    run_dir = tmp_path / "runs" / "smoke"
    recorded = json.loads((run_dir / "data_fingerprint.json").read_text())
    assert recorded["val"]["path"] == str(tmp_path / "data" / "val.h5") and len(recorded["val"]["fingerprint"]) == 32
    log = (run_dir / "log.txt").read_text()
    val = tmp_path / "data" / "val.h5"
    rewrite_reversed(val)
    with pytest.raises(ConfigError, match=f"--resume {run_dir}: data.val \\({val}\\) is not the data the run "
                                          f"started on .* start a new run instead"):
        run_transfer.main(["--resume", str(run_dir)])
    assert (run_dir / "log.txt").read_text() == log
    (run_dir / "data_fingerprint.json").unlink()
    with pytest.raises(ConfigError, match="no .*data_fingerprint.json there: the run was started by an earlier "
                                          "version"):
        run_transfer.main(["--resume", str(run_dir)])
