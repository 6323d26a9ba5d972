"""Which finished cells a run reuses: a cell depends on its own settings only (cell_identity), a new run takes over the
unchanged cells of an earlier one (--reuse-cells), and the reported cell of a chosen trial setting reuses the
trial's fine-tuned student instead of fine-tuning it again."""

import json

import pytest
import torch

from conftest import REPO, rerun_smoke
from crossmodal.config import load_config, to_dict
from crossmodal.errors import ConfigError
from crossmodal.stages.reuse import cell_identity

SMOKE = REPO / "configs" / "smoke.yaml"


def _identity(overrides, method, **kw):
    return cell_identity(to_dict(load_config(SMOKE, overrides)), method, **kw)


def test_a_cell_depends_on_its_own_settings_only():
    base = ["methods=[none,crd_dense,kd]"]
    # another method's options, the run's name, seeds, method list, workers: no effect on a crd_dense cell
    for other in ("transfer.kd.temperature=2", "name=other", "seeds=[0,1,2]", "methods=[crd_dense]",
                  "data.num_workers=2", "threads=1", "teacher.cache_dir=/elsewhere", "controls.random_teacher=[kd]",
                  "tune.trials={kd: [{}, {finetune.lr: 0.1}]}", "checkpoint.every_steps=5"):
        assert _identity(base + [other], "crd_dense") == _identity(base, "crd_dense"), other
    # its own options, the shared transfer stage, fine-tuning, teacher, data and seed do
    for own in ("transfer.crd_dense.temperature=0.2", "transfer.epochs=3", "finetune.lr=0.02", "teacher.epochs=3",
                "data.hflip=false", "seed=1", "probe.epochs=3", "data.synthetic.num=65"):
        assert _identity(base + [own], "crd_dense") != _identity(base, "crd_dense"), own
    # none has no transfer and no teacher; a control or trial has no probe
    for other in ("transfer.epochs=3", "teacher.epochs=3", "seed=1"):
        assert _identity(base + [other], "none") == _identity(base, "none"), other
    assert _identity(base + ["finetune.lr=0.02"], "none") != _identity(base, "none")
    assert _identity(base + ["probe.epochs=3"], "kd", control="random_teacher") == \
        _identity(base, "kd", control="random_teacher")
    # label counts matter only to the methods they are measured for
    labels = base + ["finetune.label_counts=[8]", "finetune.label_methods=[none]"]
    assert _identity(labels, "crd_dense") == _identity(base, "crd_dense")
    assert _identity(labels, "none") != _identity(base, "none")
    assert _identity(labels, "none", trial=True) == _identity(base, "none", trial=True)


def _smoke_args(smoke_run, out, *overrides):
    shared = [o for o in smoke_run[2] if not o.startswith("output_dir=")]
    return ["--config", str(SMOKE), *shared, f"output_dir={out}", *overrides]


def test_a_new_run_takes_over_the_unchanged_cells_of_an_earlier_one(smoke_run, tmp_path, monkeypatch):
    import crossmodal.stages.cells as cells
    import run_transfer

    common = ["methods=[none,crd_dense]", "seeds=[0,1]", "probe.enabled=false", "transfer.epochs=1",
              "finetune.epochs=2"]
    first, m1 = rerun_smoke(smoke_run, tmp_path / "a", *common)
    transfers = []
    real_transfer = cells.run_transfer
    monkeypatch.setattr(cells, "run_transfer", lambda ctx, cfg, method, *a: transfers.append((method, cfg.seed)) or
                        real_transfer(ctx, cfg, method, *a))
    # crd_dense's own option changes: only its cells run again; none's two cells are taken over
    args = _smoke_args(smoke_run, tmp_path / "b", *common, "transfer.crd_dense.temperature=0.2")
    assert run_transfer.main([*args[:2], "--reuse-cells", str(first), *args[2:]]) == 0
    second = tmp_path / "b" / "smoke"
    m2 = json.loads((second / "metrics.json").read_text())
    assert transfers == [("crd_dense", 0), ("crd_dense", 1)]
    assert m2["reused_cells"] == {"none-seed0": str(first), "none-seed1": str(first)}
    assert m2["methods"]["none"]["miou"] == m1["methods"]["none"]["miou"]
    assert m2["methods"]["crd_dense"]["miou"] != m1["methods"]["crd_dense"]["miou"]
    for seed in (0, 1):
        copied = second / "checkpoints" / f"none-seed{seed}_finetuned.pt"
        assert copied.read_bytes() == (first / "checkpoints" / copied.name).read_bytes()
        cell = torch.load(second / "cells" / f"none-seed{seed}.pt", map_location="cpu", weights_only=False)
        assert cell["config"]["transfer"]["crd_dense"]["temperature"] == 0.2  # now the new run's own cell
    assert "2 cell(s) were taken over from" in (second / "report.md").read_text()
    # resuming the new run reuses its own (taken-over) cells; nothing runs again. A cell it lacks (as if the run
    # had been killed before it) is still taken over from the folder the run was started with
    assert (second / "reuse_cells.txt").read_text().strip() == str(first)
    (second / "cells" / "none-seed1.pt").unlink()
    (second / "checkpoints" / "none-seed1_finetuned.pt").unlink()
    transfers.clear()
    assert run_transfer.main(["--resume", str(second)]) == 0
    assert transfers == [] and json.loads((second / "metrics.json").read_text())["reused_cells"] == m2["reused_cells"]
    assert f"none seed 1: finished in {first} with the same cell config, reused" in (second / "log.txt").read_text()
    assert (second / "checkpoints" / "none-seed1_finetuned.pt").is_file()
    # only the fine-tuning changes: every cell runs again, but from the transferred students of the earlier run
    args = _smoke_args(smoke_run, tmp_path / "c", *common, "transfer.crd_dense.temperature=0.2", "finetune.lr=0.02")
    assert run_transfer.main([*args[:2], "--reuse-cells", str(second), *args[2:]]) == 0
    third = tmp_path / "c" / "smoke"
    m3 = json.loads((third / "metrics.json").read_text())
    assert transfers == [] and "reused_cells" not in m3
    assert f"reusing the transfer of {second / 'checkpoints' / 'crd_dense-seed1_transfer.pt'}" in \
        (third / "log.txt").read_text()
    for seed in ("0", "1"):
        before, after = (m["methods"]["crd_dense"]["per_seed"][seed]["miou"] for m in (m2, m3))
        assert before != after
    old = torch.load(second / "checkpoints" / "crd_dense-seed1_transfer.pt", map_location="cpu", weights_only=False)
    new = torch.load(third / "checkpoints" / "crd_dense-seed1_transfer.pt", map_location="cpu", weights_only=False)
    assert all(torch.equal(new["student"][k], v) for k, v in old["student"].items())


def test_reuse_cells_refusals(smoke_run, tmp_path):
    from crossmodal.cli import check_reuse, parse_args

    run_dir = smoke_run[0]
    cfg = load_config(SMOKE, [f"output_dir={run_dir.parent}"])
    with pytest.raises(ConfigError, match="is the folder this run writes"):
        check_reuse(parse_args(["--reuse-cells", str(run_dir)]), cfg)
    with pytest.raises(ConfigError, match=f"no {tmp_path / 'cells'} folder there"):
        check_reuse(parse_args(["--reuse-cells", str(tmp_path)]), cfg)
    with pytest.raises(ConfigError, match="give one of the two"):
        check_reuse(parse_args(["--resume", str(run_dir), "--reuse-cells", str(run_dir)]), cfg)
    assert check_reuse(parse_args(["--reuse-cells", str(run_dir)]), load_config(SMOKE, ["name=other"])) == run_dir
    # --resume takes the folder the run was started with; gone, it is named with the way out
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    assert check_reuse(parse_args(["--resume", str(resumed)]), cfg) is None
    (resumed / "reuse_cells.txt").write_text(f"{run_dir}\n")
    assert check_reuse(parse_args(["--resume", str(resumed)]), cfg) == run_dir
    (resumed / "reuse_cells.txt").write_text(f"{tmp_path / 'gone'}\n")
    with pytest.raises(ConfigError, match=f"--reuse-cells {tmp_path / 'gone'} .* is gone; put that run folder back"):
        check_reuse(parse_args(["--resume", str(resumed)]), cfg)


def test_the_chosen_trial_is_not_fine_tuned_twice(smoke_run, tmp_path, monkeypatch):
    """The reported seed-0 cell of the chosen setting evaluates the trial's fine-tuned student on test (the same
    weights a second fine-tuning would give) rather than fine-tuning again; other seeds fine-tune as usual."""
    import crossmodal.downstream.protocols as protocols

    tuned = []
    real = protocols.finetune_and_evaluate
    monkeypatch.setattr(protocols, "finetune_and_evaluate", lambda cfg, method, *a, **kw: tuned.append(
        (method, cfg.seed, kw.get("test", True))) or real(cfg, method, *a, **kw))
    run, m = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense]", "seeds=[0,1]", "probe.enabled=false",
                         "transfer.epochs=1", "finetune.epochs=2",
                         "tune.trials={none: [{}, {finetune.lr: 0.02}], crd_dense: [{}, {finetune.lr: 0.02}]}")
    assert sorted(tuned) == sorted([("none@trial0", 0, False), ("none@trial1", 0, False),
                                    ("crd_dense@trial0", 0, False), ("crd_dense@trial1", 0, False),
                                    ("none", 1, True), ("crd_dense", 1, True)])
    for method in ("none", "crd_dense"):
        best = m["tuning"][method]["chosen"]
        assert m["methods"][method]["per_seed"]["0"]["val_miou"] == m["tuning"][method]["trials"][best]["val_miou"]
        trial = torch.load(run / "cells" / f"{method}@trial{best}-seed0.pt", map_location="cpu", weights_only=False)
        saved = torch.load(run / "checkpoints" / f"{method}-seed0_finetuned.pt", map_location="cpu", weights_only=True)
        assert all(torch.equal(saved["model"][k], v) for k, v in trial["finetuned"].items())
        assert 0 <= m["methods"][method]["per_seed"]["0"]["miou"] <= 1
