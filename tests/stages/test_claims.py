"""Several processes on one run folder (--join): a cell another process holds is left for last and then waited for,
its lock goes with the process, and a joined process runs the cells left without touching the run's own files."""

import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, rerun_smoke
from crossmodal.errors import ConfigError
from crossmodal.stages.claims import CellClaim


def test_a_claim_is_held_by_one_process_at_a_time(tmp_path):
    cell = tmp_path / "cells" / "crd-seed0.pt"
    cell.parent.mkdir()
    mine, other = CellClaim(cell), CellClaim(cell)
    assert mine.take(wait=False)
    assert not other.take(wait=False)
    mine.release()  # not finished: the lock file stays for the next claimant
    assert (tmp_path / "cells" / "crd-seed0.lock").exists()
    assert other.take(wait=False)
    cell.write_bytes(b"done")
    other.release()  # finished: the lock file goes
    assert not (tmp_path / "cells" / "crd-seed0.lock").exists()


def test_join_refusals(tmp_path, capsys):
    from crossmodal.cli import parse_args, run_config
    from crossmodal.runtime import check_join

    assert parse_args(["--join", str(tmp_path)]).resume == tmp_path  # read as a resumed run is
    for other in (["--resume", str(tmp_path)], ["--reuse-cells", str(tmp_path)], ["--dry-run"]):
        with pytest.raises(SystemExit):
            parse_args(["--join", str(tmp_path), *other])
    assert "--join takes a run folder alone" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=f"--join {tmp_path}: no {tmp_path / 'config.yaml'} there"):
        run_config(parse_args(["--join", str(tmp_path)]))  # messages name the option given
    check_join(tmp_path, 1)
    with pytest.raises(ConfigError, match=f"--join {tmp_path}: a joined process runs cells alone"):
        check_join(tmp_path, 2)


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from crossmodal.stages.claims import CellClaim
    run = Path(sys.argv[1])
    claim = CellClaim(run / "cells" / "crd_dense-seed0.pt")
    assert claim.take(wait=False)
    print("held", flush=True)
    deadline = time.time() + 300
    waiting = "crd_dense seed 0: another process is running it; waiting"
    while not any(waiting in log.read_text() for log in run.glob("log.join-*.txt")) and time.time() < deadline:
        time.sleep(0.05)
    # exits, once the joined process waits for it, without finishing the cell, as a killed process would: the lock
    # goes with it
""")


@pytest.mark.slow
def test_a_joined_process_runs_the_cells_left_and_waits_for_a_held_one(smoke_run, tmp_path, monkeypatch):
    import crossmodal.stages.cells as cells
    import run_transfer

    run, metrics = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense]", "seeds=[0,1]",
                               "probe.enabled=false", "transfer.epochs=1", "finetune.epochs=2")
    for stem in ("crd_dense-seed0", "crd_dense-seed1", "none-seed1"):  # as if the run had not reached them yet
        (run / "cells" / f"{stem}.pt").unlink()
    report = (run / "report.md").read_bytes()
    computed = []
    real = cells._compute
    monkeypatch.setattr(cells, "_compute", lambda ctx, cell, store: computed.append((cell.method, cell.seed))
                        or real(ctx, cell, store))
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_transfer.main(["--join", str(run)]) == 0
    finally:
        holder.kill()
        holder.wait()
    # the held cell is left for last, waited for, and run here once its holder is gone without finishing it
    assert computed == [("none", 1), ("crd_dense", 1), ("crd_dense", 0)]
    logs = list(run.glob("log.join-*.txt"))
    assert len(logs) == 1 and "crd_dense seed 0: another process is running it; waiting" in logs[0].read_text()
    assert (run / "report.md").read_bytes() == report  # the run's own files are the run's to write
    assert not list((run / "cells").glob("*.lock"))
    # the same numbers as the run computed itself
    import torch

    for method, seed in computed:
        cell = torch.load(run / "cells" / f"{method}-seed{seed}.pt", map_location="cpu", weights_only=False)
        assert cell["result"]["metrics"]["miou"] == metrics["methods"][method]["per_seed"][str(seed)]["miou"]


def test_a_file_system_without_locks_runs_the_cell_anyway(tmp_path, monkeypatch):
    """Some network mounts refuse flock (ENOLCK): a single run goes on, without a claim, rather than failing."""
    import errno

    claim = CellClaim(tmp_path / "cells" / "crd-seed0.pt")

    def no_locks(*args, **kwargs):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(claim.lock, "acquire", no_locks)
    assert claim.take(wait=False) and claim.unlocked
    (tmp_path / "cells" / "crd-seed0.pt").write_bytes(b"done")
    claim.release()  # nothing was locked: nothing to let go
