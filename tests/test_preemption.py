"""Stopping cleanly and numerical faults in the shared training loop (crossmodal/stages/loop.py), on a tiny model.

SIGUSR1/SIGTERM end the step, write a snapshot and raise Preempted, also with a second signal during the save;
several processes agree on the step. A non-finite loss stops the stage naming it, or is skipped and counted. The run
itself stopped by SIGTERM and resumed is
tests/test_resume.py::test_sigterm_mid_epoch_then_resume_gives_the_same_metrics.
"""
import logging
import os
import signal

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from crossmodal.config import load_config
from crossmodal.errors import ConfigError, NonFiniteLossError, Preempted
from crossmodal.stages import checkpoints as checkpoints_module
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.loop import LossGuard, drop_gradients, fit

LOG = logging.getLogger("test_preemption")
N, BATCH, EPOCHS = 16, 4, 2  # 4 steps an epoch, 8 in all


class Points(Dataset):
    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict:
        x = torch.tensor([i / N, 1.0 - i / N, 0.5])
        return {"x": x, "y": x.sum(0, keepdim=True)}


def _accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=int(os.environ.get("WORLD_SIZE", "1")) > 1)  # as make_accelerator does on a CPU


def _stage(folder, accelerator, *, event=None, skip=0, nan_at=(), every_steps=2):
    """fit() on a linear model; `event(step)` runs inside the step (before the optimiser step), the loss is NaN at
    the steps in `nan_at`. Returns (model, fit's curve)."""
    from crossmodal.data.loaders import EpochSampler

    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(Points(), batch_size=BATCH, sampler=EpochSampler(N, 0), drop_last=True)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    ckpt = StageCheckpoints(folder, every_steps, 2, accelerator, {"test": 1}, LOG)
    guard = LossGuard(accelerator, "mse loss", skip=skip, skip_key="transfer.skip_nonfinite")
    count = {"step": 0}

    def train_step(batch):
        count["step"] += 1
        mse = nn.functional.mse_loss(model(batch["x"]), batch["y"])
        loss = mse * float("nan") if count["step"] in nan_at else mse
        if event:
            event(count["step"])
        optimizer.zero_grad()
        accelerator.backward(loss)
        if guard.ok(loss, {"mse": mse, "extra": loss - mse}):
            optimizer.step()
        else:
            drop_gradients(optimizer)
        return loss

    curve = fit(accelerator, loader, epochs=EPOCHS, train_step=train_step, state={"model": model,
                "optimizer": optimizer}, train_modules=[model], ckpt=ckpt, desc="toy", log=LOG, guard=guard)
    return model, curve, ckpt


def _steps(folder):
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("step-*.pt"))


def test_sigusr1_ends_the_step_saves_it_and_resume_matches(tmp_path):
    acc = _accelerator()
    whole, whole_curve, _ = _stage(tmp_path / "whole" / "state" / "toy", acc)
    before = signal.getsignal(signal.SIGUSR1)
    folder = tmp_path / "run" / "state" / "toy"
    with pytest.raises(Preempted) as stop:
        _stage(folder, acc, event=lambda step: step == 3 and os.kill(os.getpid(), signal.SIGUSR1))
    assert stop.value.signum == signal.SIGUSR1 and stop.value.exit_status == 128 + signal.SIGUSR1
    assert "stopped by SIGUSR1 at toy step 3" in str(stop.value)
    assert f"--resume {tmp_path / 'run'}" in str(stop.value)
    assert signal.getsignal(signal.SIGUSR1) is before  # the previous handler is back
    assert _steps(folder) == [2, 3]  # the regular snapshot at 2, the stop's at 3 (every_steps is 2)
    snap = torch.load(folder / "step-00000003.pt", weights_only=False)
    assert not snap["finished"] and snap["batch"] == 3
    resumed, curve, _ = _stage(folder, acc)
    assert torch.equal(resumed.weight, whole.weight) and curve == whole_curve


def test_a_second_sigterm_during_the_save_changes_nothing(tmp_path, monkeypatch):
    acc = _accelerator()
    real = checkpoints_module.save_checkpoint

    def save_while_signalled(obj, path):
        if obj["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # the scheduler insists while the stop's snapshot is written
            os.kill(os.getpid(), signal.SIGUSR1)
        real(obj, path)

    monkeypatch.setattr(checkpoints_module, "save_checkpoint", save_while_signalled)
    folder = tmp_path / "run" / "state" / "toy"
    with pytest.raises(Preempted) as stop:
        _stage(folder, acc, event=lambda step: step == 3 and os.kill(os.getpid(), signal.SIGTERM))
    assert stop.value.signum == signal.SIGTERM and stop.value.exit_status == 143
    assert _steps(folder) == [2, 3] and not list(folder.glob(".*"))  # no temporary file left
    assert torch.load(folder / "step-00000003.pt", weights_only=False)["step"] == 3


def test_a_signal_while_the_finished_stage_is_saved_stops_after_it(tmp_path, monkeypatch):
    real = checkpoints_module.save_checkpoint

    def save_while_signalled(obj, path):
        if obj["finished"]:
            os.kill(os.getpid(), signal.SIGTERM)
        real(obj, path)

    monkeypatch.setattr(checkpoints_module, "save_checkpoint", save_while_signalled)
    folder = tmp_path / "run" / "state" / "toy"
    with pytest.raises(Preempted, match="toy step 8 \\(its end\\)"):
        _stage(folder, _accelerator())
    assert torch.load(folder / "step-00000008.pt", weights_only=False)["finished"]


def test_nonfinite_loss_stops_the_stage_and_keeps_the_last_good_checkpoint(tmp_path):
    folder = tmp_path / "run" / "state" / "toy"
    acc = _accelerator()
    with pytest.raises(NonFiniteLossError) as err:
        _stage(folder, acc, nan_at=(7,))
    msg = str(err.value)
    assert msg.startswith(f"toy ({folder}) epoch 2/2, step 7: the loss is not finite: mse loss nan (mse ")
    assert "extra nan" in msg and "transfer.skip_nonfinite: N lets up to N such steps be skipped" in msg
    assert f"last good checkpoint is kept ({folder / 'step-00000006.pt'})" in msg
    assert _steps(folder) == [4, 6]
    snap = torch.load(folder / "step-00000006.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in snap["state"]["model"].values())


def test_skip_nonfinite_skips_and_counts_up_to_n_steps(tmp_path):
    acc = _accelerator()
    model, curve, ckpt = _stage(tmp_path / "a" / "state" / "toy", acc, skip=2, nan_at=(2, 5))
    assert ckpt.skipped_nonfinite == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert curve and all(v == v for _, v in curve)  # the skipped losses are not in the curve
    assert torch.load(ckpt.folder / "step-00000008.pt", weights_only=False)["skipped_nonfinite"] == 2
    _, _, again = _stage(ckpt.folder, acc, skip=2)  # a finished stage restored keeps its count
    assert again.skipped_nonfinite == 2
    with pytest.raises(NonFiniteLossError, match="step 6: more than 2 non-finite steps "
                                                 "\\(transfer.skip_nonfinite: 2\\); this one: mse loss nan"):
        _stage(tmp_path / "b" / "state" / "toy", acc, skip=2, nan_at=(2, 5, 6))


@pytest.mark.parametrize("override, message", [
    ("transfer.epochs=0", "'transfer.epochs' must be >= 1 (for no transfer, list method none in 'methods'), got 0"),
    ("transfer.epochs=-1", "'transfer.epochs' must be >= 1 (for no transfer, list method none in 'methods'), got -1"),
    ("transfer.skip_nonfinite=-1", "'transfer.skip_nonfinite' must be >= 0, got -1"),
])
def test_transfer_epochs_and_skip_nonfinite_are_checked(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_config(None, [override])


def test_processes_agree_on_a_stop_and_on_a_nonfinite_loss(monkeypatch):
    """The agreement on several processes, with the other process simulated: it alone got SIGTERM, or its loss
    alone is NaN; this process must see the same verdict (every process then stops or skips at the same step)."""
    from types import SimpleNamespace

    import crossmodal.distributed
    import crossmodal.stages.loop
    from crossmodal.stages.preemption import StopRequests, agreed_signal

    two = SimpleNamespace(num_processes=2, device=torch.device("cpu"))
    other = {"value": 0}
    seen = []

    def max_with_other(value, device):
        seen.append(value)
        return max(value, other["value"])

    monkeypatch.setattr(crossmodal.distributed, "max_over_ranks", max_with_other)
    monkeypatch.setattr(crossmodal.stages.loop, "max_over_ranks", max_with_other)
    with StopRequests() as requests:
        assert agreed_signal(requests, two) == 0
        other["value"] = signal.SIGTERM
        assert agreed_signal(requests, two) == signal.SIGTERM  # stops although this process got no signal
        assert agreed_signal(requests, SimpleNamespace(num_processes=1)) == 0  # one process: no communication
    assert seen == [0, 0]
    other["value"] = 1  # the other process's loss is not finite
    guard = LossGuard(two, "mse loss", skip=1, skip_key="transfer.skip_nonfinite")
    guard.where = "toy epoch 1/1, step 4"
    assert guard.ok(torch.tensor(0.5)) is False and guard.skipped == 1
    with pytest.raises(NonFiniteLossError, match="step 4: .*mse loss 0.5 on this process or another"):
        guard.ok(torch.tensor(0.5))
    other["value"] = 0
    assert guard.ok(torch.tensor(0.5)) is True


def test_max_over_ranks_is_the_value_itself_in_one_process():
    from crossmodal.distributed import max_over_ranks

    assert max_over_ranks(15) == 15 and max_over_ranks(0) == 0


@pytest.mark.slow
def test_a_run_skips_a_nonfinite_transfer_step_names_its_terms_and_reports_it(smoke_run, tmp_path, monkeypatch):
    """The real transfer stage of crd+kd with its KD term NaN in step 2 and transfer.skip_nonfinite: 1."""
    from conftest import rerun_smoke
    from crossmodal.distill.kd import KD

    real, calls = KD.forward, {"n": 0}

    def kd_nan_in_step_2(self, *args, **kwargs):
        calls["n"] += 1
        out = real(self, *args, **kwargs)
        return out * float("nan") if calls["n"] == 2 else out

    monkeypatch.setattr(KD, "forward", kd_nan_in_step_2)
    run, metrics = rerun_smoke(smoke_run, tmp_path, "methods=[crd+kd]", "transfer.crd_kd.crd.num_negatives=32",
                               "transfer.crd_kd.crd.feat_dim=16", "transfer.epochs=1", "finetune.epochs=1",
                               "probe.enabled=false", "transfer.skip_nonfinite=1")
    assert metrics["methods"]["crd+kd"]["skipped_nonfinite"] == 1
    log = (run / "log.txt").read_text()
    assert "transfer[crd+kd] (" in log and "epoch 1/1, step 2: non-finite crd+kd loss nan (crd " in log
    assert ", kd nan); step skipped (1 of at most 1, transfer.skip_nonfinite)" in log
    assert ("Transfer steps skipped for a non-finite loss (transfer.skip_nonfinite, all seeds): crd+kd 1."
            in (run / "report.md").read_text())


GROUP_SIGNAL = """
import os, signal, time, torch
from torch.utils.data import DataLoader, Dataset
from crossmodal.signals import ignore_stop_signals
from crossmodal.stages.preemption import StopRequests

class Slow(Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        time.sleep(0.01)
        return torch.tensor([i])

with StopRequests() as requests:
    batches = iter(DataLoader(Slow(), batch_size=2, num_workers=2, worker_init_fn=ignore_stop_signals))
    next(batches)
    os.killpg(os.getpgrp(), signal.SIGTERM)  # the whole process group, as a scheduler may signal it
    print(1 + sum(1 for _ in batches), requests.signum)
"""


@pytest.mark.slow
def test_loader_workers_outlive_a_sigterm_to_the_process_group():
    """Without ignore_stop_signals the workers die of the signal and the main process fails at once."""
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, "-c", GROUP_SIGNAL], cwd=REPO, capture_output=True, text=True, timeout=120,
                       start_new_session=True)
    assert r.returncode == 0 and r.stdout.split() == ["20", str(int(signal.SIGTERM))], r.stderr[-2000:]


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step_and_resumes(smoke_run, tmp_path):
    """`accelerate launch --num_processes 2` on the CPU (gloo), SIGTERM to rank 1 alone in the middle of the transfer
    stage: rank 0, which the signal does not reach, must stop after the same step, write the stop's snapshot (the
    only one: checkpoint.every_steps is larger than the stage) and both end with 143; `--resume` on two processes
    finishes the run."""
    import json
    import re
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    from conftest import REPO

    same = [o for o in smoke_run[2] if not o.startswith("output_dir=")]
    launch = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--multi_gpu", "--num_processes",
              "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "run_transfer.py"]
    run_dir = tmp_path / "smoke"
    state = run_dir / "state" / "transfer-crd-seed0"
    args = ["--config", "configs/smoke.yaml", *same, "methods=[crd]", "transfer.epochs=6", "finetune.epochs=1",
            "probe.enabled=false", "checkpoint.every_steps=1000", f"output_dir={tmp_path}"]
    stderr = tmp_path / "stderr.txt"  # a file, not a pipe: a pipe nobody reads while waiting could fill and block
    with open(stderr, "w") as sink:
        proc = subprocess.Popen(launch + args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=sink)
    workers = []
    try:
        deadline = time.time() + 300
        log = run_dir / "log.txt"
        # the signal lands in epoch 2 of 6: the first epoch's loss is logged (main process) once it has ended
        while not (log.exists() and "transfer[crd] epoch 1/6: loss" in log.read_text()):
            assert proc.poll() is None, f"the run ended before it could be stopped: {stderr.read_text()[-3000:]}"
            assert time.time() < deadline, "the transfer stage did not reach its second epoch within 300 s"
            time.sleep(0.01)
        workers = [p for p in psutil.Process(proc.pid).children() if "RANK" in p.environ()]
        ranks = {p.environ()["RANK"]: p for p in workers}
        assert sorted(ranks) == ["0", "1"], f"expected two worker processes with RANK 0 and 1, found {sorted(ranks)}"
        assert not list(state.glob("step-*.pt")), "a regular step checkpoint was written (every_steps is 1000)"
        ranks["1"].send_signal(signal.SIGTERM)  # the non-main process alone: rank 0 only learns it from rank 1
        sent = time.time()
        try:
            proc.wait(timeout=120)  # a guard against a process that hangs in a collective
        except subprocess.TimeoutExpired:
            pytest.fail("the two processes did not exit within 120 s of SIGTERM to rank 1 (a rank hangs?)")
        print(f"SIGTERM to rank 1 to exit of both: {time.time() - sent:.1f} s")
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"worker processes still running after the launcher exited: {alive}"
    finally:  # nothing left running whatever failed above
        for p in workers:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    err = stderr.read_text()
    assert proc.returncode != 0, err[-3000:]
    assert 'run_transfer.py", line' not in err, err[-3000:]  # no traceback from either process
    # the launcher's summary: each process ended with 143 (or, if the launcher's own SIGTERM to the survivor came
    # first while it was already exiting past its handler, died of it: -15); both stopped cleanly, see below
    exits = dict(re.findall(r"rank\s*: (\d+) \(local_rank: \d+\)\s*exitcode\s*: (-?\d+)", err))
    assert sorted(exits) == ["0", "1"] and set(exits.values()) <= {"143", "-15"}, (exits, err[-3000:])
    # each process prints its own stop line; both name the same step
    stopped = re.findall(r"stopped by SIGTERM at transfer\[crd\] step (\d+); resume with", err)
    assert len(stopped) == 2 and len(set(stopped)) == 1, (stopped, err[-3000:])
    step = int(stopped[0])
    logged = re.findall(r"stopped by SIGTERM at transfer\[crd\] step (\d+), checkpoint (\S+);", log.read_text())
    assert logged == [(str(step), str(state / f"step-{step:08d}.pt"))]  # the main process's log
    assert [p.name for p in state.glob("step-*.pt")] == [f"step-{step:08d}.pt"]  # the stop's own snapshot only
    snap = torch.load(state / f"step-{step:08d}.pt", map_location="cpu", weights_only=False)
    assert snap["step"] == step and not snap["finished"] and snap["epoch"] >= 1  # in epoch 2 or later, not its end
    assert sorted(snap["state"]) == ["distiller", "optimizer", "scheduler", "student"]
    assert not (run_dir / "metrics.json").exists()

    r = subprocess.run(launch + ["--resume", str(run_dir)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming from {state / f'step-{step:08d}.pt'} (step {step})" in log.read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] is True and metrics["num_processes"] == 2 and not state.exists()
