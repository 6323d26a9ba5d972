"""Choices on the validation split (tune.trials, data.val): settings are tried and chosen on val only, the test split
is read once per reported cell after the choice, and metrics.json / report.md say what was tried."""

import pytest
import torch

from conftest import REPO, rerun_smoke
from crossmodal.config import load_config, with_setting
from crossmodal.errors import ConfigError

SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.mark.parametrize("override, match", [
    ("tune.trials={kd: [{transfer.crd_dense.temperature: 0.2}]}", "may set only transfer.kd"),
    ("tune.trials={kd: [{transfer.kd.temp: 2}]}", "did you mean transfer.kd.temperature"),
    ("tune.trials={kd: [{transfer.kd.temperature: -2}]}", "transfer.kd.temperature' must be > 0"),
    ("tune.trials={nst: [{}]}", "tune.trials"),
    ("tune.trials={none: [{transfer.lr: 0.1}]}", r"a setting of none \(no transfer\) may set only finetune"),
    ("tune.trials={kd: [{finetune.label_counts: [8]}]}", "may set only transfer.kd"),
    ("tune.trials={kd: [{finetune.epochs: 0}]}", "finetune.epochs"),
    ("tune.trials={kd: []}", "tune.trials.kd"),
    ("tune.trials={kd: [{}, {}]}", r"tune.trials.kd\[1\]"),
    ("tune.trials=[1]", "must be a mapping"),
    ("tune.seeds=[]", "tune.seeds"),
])
def test_bad_tune_settings_are_refused_before_any_work(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(SMOKE, ["methods=[none,crd_dense,kd]", override])


def test_a_setting_changes_only_its_keys():
    cfg = load_config(SMOKE, ["methods=[none,crd_dense]",
                              "tune.trials={crd_dense: [{transfer.crd_dense.temperature: 0.2, transfer.lr: 0.002}]}"])
    tried = with_setting(cfg, "crd_dense", {"transfer.crd_dense.temperature": 0.2, "transfer.lr": 0.002})
    assert tried.transfer.crd_dense.temperature == 0.2 and tried.transfer.lr == 0.002
    assert tried.tune == cfg.tune and tried.finetune == cfg.finetune and tried.methods == cfg.methods
    assert cfg.transfer.crd_dense.temperature == 0.07  # the run's own config is untouched


def test_no_val_split_no_tuning(smoke_run, tmp_path):
    from crossmodal.data.files import open_data

    data = {s: str(smoke_run[0].parent.parent / "data" / f"{s}.h5") for s in ("unlabeled", "teacher", "train", "test")}
    named = [f"data.{s}={p}" for s, p in data.items()]
    cfg = load_config(SMOKE, named + ["data.synthetic.enabled=false", "methods=[none,crd_dense]"])
    assert open_data(cfg).val is None  # real data without data.val: no val split (and nothing taken from synthetic)
    cfg = load_config(SMOKE, named + ["data.synthetic.enabled=false", "methods=[none,crd_dense]",
                                      "tune.trials={crd_dense: [{}]}"])
    with pytest.raises(ConfigError, match="tune.trials' needs a validation split"):
        open_data(cfg)
    cfg = load_config(SMOKE, named + [f"data.val={tmp_path / 'missing.h5'}", "data.synthetic.enabled=false"])
    with pytest.raises(FileNotFoundError, match="data.val"):
        open_data(cfg)


def test_choices_are_made_on_val_and_test_is_read_once_after(smoke_run, tmp_path, monkeypatch):
    """Every evaluation of the run is recorded: trial cells read only val.h5; each reported cell reads test.h5
    exactly once, after all of its method's trials; the chosen setting is the one with the best val mIoU."""
    import crossmodal.downstream.finetune as finetune

    calls = []
    real = finetune.evaluate_model

    def spy(cfg, model, info, class_names, key, spec, accelerator, desc, **kw):
        out = real(cfg, model, info, class_names, key, spec, accelerator, desc, **kw)
        calls.append((desc, info.path.name, out[0]["miou"]))
        return out

    monkeypatch.setattr(finetune, "evaluate_model", spy)
    import crossmodal.stages.cells as cells

    transfers = []
    real_transfer = cells.run_transfer
    monkeypatch.setattr(cells, "run_transfer", lambda ctx, cfg, method, *a: transfers.append((method, cfg.seed)) or
                        real_transfer(ctx, cfg, method, *a))
    run, m = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense]", "seeds=[0,1]", "probe.enabled=false",
                         "transfer.epochs=1", "finetune.epochs=2", "tune.trials={crd_dense: [{transfer.crd_dense."
                         "temperature: 0.5}, {transfer.crd_dense.temperature: 0.1}]}")

    trials = [c for c in calls if "@trial" in c[0]]
    assert [c[0] for c in trials] == ["val[crd_dense@trial0]", "val[crd_dense@trial1]"]  # tune.seeds [0]
    assert all(c[1] == "val.h5" for c in trials)
    tests = [c for c in calls if c[1] == "test.h5"]
    assert sorted(c[0] for c in tests) == ["test[crd_dense]"] * 2 + ["test[none]"] * 2  # once per reported cell
    assert min(calls.index(c) for c in tests if "crd_dense" in c[0]) > max(calls.index(c) for c in trials)

    tried = m["tuning"]["crd_dense"]
    vals = [t["val_miou"] for t in tried["trials"]]
    assert vals == [c[2] for c in trials]
    best = max(range(2), key=lambda k: (vals[k], -k))
    assert tried["chosen"] == best
    temperature = [0.5, 0.1][best]
    cell = torch.load(run / "cells" / "crd_dense-seed1.pt", map_location="cpu", weights_only=False)
    assert cell["config"]["transfer"]["crd_dense"]["temperature"] == temperature
    saved = torch.load(run / "checkpoints" / "crd_dense-seed0_finetuned.pt", map_location="cpu", weights_only=True)
    assert saved["config"]["transfer"]["crd_dense"]["temperature"] == temperature
    # the chosen trial's seed-0 transfer and fine-tuned student are reused by the reported seed-0 cell (two trials +
    # seed 1 transfer), so its val mIoU is the trial's exactly
    assert transfers == [("crd_dense", 0), ("crd_dense", 0), ("crd_dense", 1)]
    assert m["methods"]["crd_dense"]["per_seed"]["0"]["val_miou"] == pytest.approx(vals[best], abs=1e-9)
    assert (run / "checkpoints" / "crd_dense-seed0_transfer.pt").is_file()
    for method in ("none", "crd_dense"):
        assert 0 <= m["methods"][method]["val_miou"] <= 1
    report = (run / "report.md").read_text()
    assert "## Choices made on the validation split" in report and "val mIoU" in report
    assert "read once per cell after the choices" in report
    assert not list((run / "checkpoints").glob("*@trial*"))  # trials leave no checkpoints behind


def test_fine_tuning_settings_are_tried_for_none_too_and_share_one_transfer(smoke_run, tmp_path, monkeypatch):
    """Settings that differ only in finetune.* keys reuse one transfer per seed (trials and the reported cell), and
    `none` may try them as well; each method runs with its own chosen schedule."""
    import crossmodal.stages.cells as cells

    transfers = []
    real_transfer = cells.run_transfer
    monkeypatch.setattr(cells, "run_transfer", lambda ctx, cfg, method, *a: transfers.append((method, cfg.seed)) or
                        real_transfer(ctx, cfg, method, *a))
    run, m = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense]", "seeds=[0]", "probe.enabled=false",
                         "transfer.epochs=1", "finetune.epochs=2",
                         "tune.trials={none: [{}, {finetune.epochs: 3}], crd_dense: [{}, {finetune.epochs: 3}]}")
    assert transfers == [("crd_dense", 0)]  # one transfer: both trials and the reported cell share it
    for method in ("none", "crd_dense"):
        tried = m["tuning"][method]
        vals = [t["val_miou"] for t in tried["trials"]]
        best = max(range(2), key=lambda k: (vals[k], -k))
        assert tried["chosen"] == best
        cell = torch.load(run / "cells" / f"{method}-seed0.pt", map_location="cpu", weights_only=False)
        assert cell["config"]["finetune"]["epochs"] == [2, 3][best]
        assert m["methods"][method]["val_miou"] == pytest.approx(vals[best], abs=1e-9)
