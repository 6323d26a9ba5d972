"""The run folder: a new run starts empty (an earlier run's folder moved aside whole), output folders that cannot be
written are refused at start, and two runs needing the same teacher train it once."""
import logging
import os
import subprocess
import sys
import threading
import time
from collections import namedtuple

import pytest

from conftest import REPO
from crossmodal import diskspace
from crossmodal.cli import check_outputs
from crossmodal.config import load_config
from crossmodal.errors import UserError


def _accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=True)


def _old_run(run_dir):
    """What an earlier run of other methods leaves: cells, checkpoints, a re-evaluation, metrics."""
    for rel in ("cells/kd-seed0.pt", "checkpoints/kd_finetuned.pt", "state/transfer/step-4.pt", "eval_test.json",
                "metrics.json", "log.txt"):
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_text(rel)


def test_a_new_run_moves_the_earlier_folder_aside_whole(tmp_path, capsys):
    from crossmodal.runtime import start_run

    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"output_dir={tmp_path}"])
    run_dir = tmp_path / "smoke"
    _old_run(run_dir)
    assert start_run(cfg, _accelerator())[0] == run_dir
    logging.getLogger("crossmodal").handlers.clear()
    (prev,) = tmp_path.glob("smoke.prev-*")
    assert prev.name[len("smoke.prev-"):].replace("-", "").isdigit()
    assert (prev / "checkpoints" / "kd_finetuned.pt").read_text() == "checkpoints/kd_finetuned.pt"
    assert (prev / "cells" / "kd-seed0.pt").is_file() and (prev / "eval_test.json").is_file()
    assert sorted(p.name for p in run_dir.iterdir()) == ["log.txt"]  # nothing of the old run's methods survives
    said = f"an earlier run in {run_dir} was moved to {prev}"
    assert said in capsys.readouterr().out and "was moved to" in (run_dir / "log.txt").read_text()
    _old_run(run_dir)  # a third run at once: the name of the second move is made unique
    start_run(cfg, _accelerator())
    logging.getLogger("crossmodal").handlers.clear()
    assert len(list(tmp_path.glob("smoke.prev-*"))) == 2


def test_resume_keeps_the_folder_as_it_is(tmp_path):
    from crossmodal.runtime import start_run

    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"output_dir={tmp_path}"])
    _old_run(tmp_path / "smoke")
    start_run(cfg, _accelerator(), resume=True)
    logging.getLogger("crossmodal").handlers.clear()
    assert not list(tmp_path.glob("smoke.prev-*"))
    assert (tmp_path / "smoke" / "cells" / "kd-seed0.pt").is_file()
    assert (tmp_path / "smoke" / "state" / "transfer" / "step-4.pt").is_file()
    assert (tmp_path / "smoke" / "log.txt").read_text().startswith("log.txt")  # appended to


def test_output_dir_that_is_a_file_exits_2_with_one_line_before_any_work(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    r = subprocess.run([sys.executable, "run_transfer.py", "--config", "configs/smoke.yaml", f"output_dir={blocker}",
                        f"data.synthetic.out={tmp_path / 'data'}"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == (f"error: run folder (output_dir/name) {blocker / 'smoke'}: {blocker} is a file, not "
                                f"a folder; name a folder (or move the file away)")
    assert not (tmp_path / "data").exists()  # refused before the data were generated


def test_teacher_cache_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "cache").write_text("")
    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"output_dir={tmp_path}",
                                                        f"teacher.cache_dir={tmp_path / 'cache'}"])
    with pytest.raises(UserError, match=r"teacher cache folder \(teacher.cache_dir\) .*cache: it is a file"):
        check_outputs(cfg)
    check_outputs(load_config(REPO / "configs" / "smoke.yaml", [f"output_dir={tmp_path}",
                                                                f"teacher.cache_dir={tmp_path / 'new' / 'cache'}"]))


def test_output_dir_not_writable_is_refused(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(diskspace.os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    with pytest.raises(UserError, match=f"run folder {tmp_path / 'a' / 'b'}: {tmp_path} is not writable by this user"):
        diskspace.check_output_dir(tmp_path / "a" / "b", "run folder")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through any permissions")
def test_read_only_output_dir_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(UserError, match="is not writable by this user"):
            diskspace.check_output_dir(tmp_path / "runs", "run folder")
    finally:
        tmp_path.chmod(0o755)


def test_full_disk_is_refused(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda p: usage(10 * 2 ** 30, 10 * 2 ** 30 - 2 ** 20, 2 ** 20))
    with pytest.raises(UserError, match=r"only 1 MiB free on its disk, at least 16 MiB needed"):
        diskspace.check_output_dir(tmp_path / "runs", "run folder")


def test_two_runs_needing_one_teacher_train_it_once(smoke_run, tmp_path, monkeypatch):
    """Two runs at once, same teacher, empty cache: one trains it (under the lock beside the cache), the other
    waits, says so, and reuses the file the first one wrote."""
    from crossmodal.config import resolve_config
    from crossmodal.data.files import open_data
    from crossmodal.stages import teacher as stage
    from crossmodal.stages.context import RunContext

    _, _, overrides = smoke_run
    shared = [o for o in overrides if not o.startswith(("output_dir=", "teacher.cache_dir="))]
    cfg = load_config(REPO / "configs" / "smoke.yaml", [*shared, f"output_dir={tmp_path}",
                                                        f"teacher.cache_dir={tmp_path / 'cache'}"])
    data = open_data(cfg)
    cfg = resolve_config(cfg, data)
    training = threading.Event()
    trained = []

    def train(accelerator, model, *args, **kwargs):
        trained.append(threading.current_thread().name)
        training.set()
        time.sleep(1.0)  # the other run arrives while this one holds the lock
        return model, [1.0]

    monkeypatch.setattr(stage, "train_supervised", train)
    monkeypatch.setattr(stage, "recalibrate_after_stage", lambda *a, **k: None)
    accelerator = _accelerator()
    said, got = {}, {}

    def run(name):
        log = logging.getLogger(f"test-teacher-{name}")
        log.setLevel(logging.INFO)
        said[name] = []
        handler = logging.Handler()
        handler.emit = lambda record: said[name].append(record.getMessage())
        log.addHandler(handler)
        got[name] = stage.get_teacher(RunContext(cfg, data, accelerator, log, tmp_path / name))[1]

    first = threading.Thread(target=run, args=("a",), name="a")
    second = threading.Thread(target=run, args=("b",), name="b")
    first.start()
    assert training.wait(60)
    second.start()
    first.join(120)
    second.join(120)
    assert trained == ["a"]
    assert got["a"]["source"].startswith("trained on") and got["b"]["source"].startswith("cache ")
    assert got["b"]["curve"] == [1.0]
    assert any("waiting for the teacher cache lock held by another run" in m for m in said["b"])
    assert len(list((tmp_path / "cache").glob("teacher-*.pt"))) == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))  # written atomically: no temp file left beside it
