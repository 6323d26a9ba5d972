"""The random-teacher control (controls.random_teacher) and the paired verdict in metrics.json and report.md, on
the smoke pipeline with two seeds (data and trained teacher reused from the session's smoke run)."""

import dataclasses

import pytest
import torch

from conftest import REPO, rerun_smoke
from crossmodal.config import load_config
from crossmodal.errors import ConfigError
from eval.stats import paired_diff


def test_control_must_name_methods_of_the_run():
    with pytest.raises(ConfigError, match="controls.random_teacher"):
        load_config(REPO / "configs" / "smoke.yaml", ["controls.random_teacher=[kd]"])
    with pytest.raises(ConfigError, match="controls.random_teacher"):
        load_config(REPO / "configs" / "smoke.yaml", ["controls.random_teacher=[none]"])


def test_label_methods_must_be_methods_of_the_run():
    with pytest.raises(ConfigError, match="finetune.label_methods"):
        load_config(REPO / "configs" / "smoke.yaml", ["finetune.label_counts=[8]", "finetune.label_methods=[kd]"])


def test_random_teacher_control_and_paired_verdict(smoke_run, tmp_path):
    run, m = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense,kd]", "seeds=[0,1]",
                         "controls.random_teacher=[crd_dense]", "probe.epochs=1", "transfer.epochs=1",
                         "finetune.epochs=3")
    trained = {int(s): r["miou"] for s, r in m["methods"]["crd_dense"]["per_seed"].items()}
    random = {int(s): v for s, v in m["controls_per_seed"]["random_teacher"]["crd_dense"].items()}
    assert sorted(random) == [0, 1] and m["controls"]["random_teacher"]["crd_dense"] == pytest.approx(
        sum(random.values()) / 2)
    assert any(abs(trained[s] - random[s]) > 1e-6 for s in (0, 1))  # a different teacher gives a different student
    v = m["verdict"]
    assert (v["best"], v["best_baseline"], v["seeds"]) == ("crd_dense", "kd", 2)
    kd = {int(s): r["miou"] for s, r in m["methods"]["kd"]["per_seed"].items()}
    want = paired_diff(trained, kd)
    assert v["diff"] == pytest.approx(want.diff) and v["ci95"] == pytest.approx(list(want.ci95))
    k = v["knowledge"]
    assert k["method"] == "crd_dense" and k["diff"] == pytest.approx(paired_diff(trained, random).diff)
    assert k["ci95"][0] < k["diff"] < k["ci95"][1]
    report = (run / "report.md").read_text()
    assert "random-teacher control" in report and "What the teacher knows" in report and "t-interval" in report
    # the control's cells and checkpoints are its own, next to the method's
    assert (run / "cells" / "crd_dense@random_teacher-seed1.pt").is_file()
    assert (run / "checkpoints" / "crd_dense@random_teacher-seed0_finetuned.pt").is_file()
    # a control cell skips the frozen probe (the report reads only its fine-tuned mIoU); the method's own has it
    def cell(tag):
        return torch.load(run / "cells" / f"{tag}-seed0.pt", map_location="cpu", weights_only=False)

    assert "probe" in cell("crd_dense")["result"]["metrics"]
    assert "probe" not in cell("crd_dense@random_teacher")["result"]["metrics"]
    teacher = torch.load(run / "checkpoints" / "teacher.pt", map_location="cpu", weights_only=True)
    assert teacher["config"]["controls"] == {"random_teacher": ["crd_dense"]}


def test_label_efficiency_curve(smoke_run, tmp_path):
    """finetune.label_counts: nested subsets, the full split last, mean over seeds, the figure and the sentence."""
    from crossmodal.config import load_config as load
    from crossmodal.data.files import open_data
    from crossmodal.downstream.finetune import label_subset

    run, m = rerun_smoke(smoke_run, tmp_path, "methods=[none,crd_dense]", "seeds=[0,1]",
                         "finetune.label_counts=[8,16]", "probe.enabled=false", "transfer.epochs=1",
                         "finetune.epochs=3")
    full = "32"  # the frames of smoke data.train
    for method in ("none", "crd_dense"):
        curve = m["label_efficiency"][method]
        assert list(curve) == ["8", "16", full]
        seeds = m["methods"][method]["per_seed"]
        assert curve[full] == pytest.approx(m["methods"][method]["miou"])  # the full point is the main result
        assert curve["8"] == pytest.approx(sum(s["label_efficiency"]["8"] for s in seeds.values()) / 2)
    assert (run / "figures" / "label_efficiency.png").is_file()
    assert "label efficiency" in (run / "report.md").read_text()
    cfg = load(run / "config.yaml")
    data = open_data(cfg)
    small, large = label_subset(cfg, data, 8), label_subset(cfg, data, 16)
    assert set(small) < set(large) and len(set(large)) == 16  # nested
    other_seed = dataclasses.replace(cfg, seed=cfg.seed + 1)  # each seed draws its own subsets (a cell's seed)
    assert label_subset(other_seed, data, 8) != small and label_subset(cfg, data, 8) == small
    with pytest.raises(ConfigError, match="finetune.label_counts"):
        open_data(load(run / "config.yaml", ["finetune.label_counts=[32]"]))
