"""No stale reuse: finished cells (--reuse-cells) and the teacher cache depend on the content of the data, not on
their paths; data rewritten at the same path are computed again, unchanged data are reused."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from data_changes import copy_smoke_data, rewrite_reversed

from conftest import REPO
from crossmodal.config import load_config
from crossmodal.data.h5format import read_info

SMOKE = REPO / "configs" / "smoke.yaml"


def test_reuse_cells_recomputes_cells_whose_data_changed_at_the_same_path(smoke_run, tmp_path, monkeypatch):
    import crossmodal.downstream.protocols as protocols
    import crossmodal.stages.cells as cells
    import run_transfer

    data = copy_smoke_data(smoke_run, tmp_path / "data")
    common = ["--config", str(SMOKE), *data, "methods=[none,crd_dense]", "probe.enabled=false", "transfer.epochs=1",
              "finetune.epochs=2"]
    assert run_transfer.main([*common, f"output_dir={tmp_path / 'a'}"]) == 0
    first = tmp_path / "a" / "smoke"
    transfers, tuned = [], []
    real_transfer, real_finetune = cells.run_transfer, protocols.finetune_and_evaluate
    monkeypatch.setattr(cells, "run_transfer", lambda ctx, cfg, method, *a: transfers.append(method) or
                        real_transfer(ctx, cfg, method, *a))
    monkeypatch.setattr(protocols, "finetune_and_evaluate", lambda cfg, method, *a, **kw: tuned.append(method) or
                        real_finetune(cfg, method, *a, **kw))
    rewrite_reversed(tmp_path / "data" / "unlabeled.h5")  # re-converted: the same path, size and frame count
    assert run_transfer.main([*common, f"output_dir={tmp_path / 'b'}", "--reuse-cells", str(first)]) == 0
    second = tmp_path / "b" / "smoke"
    # crd_dense learned from the unlabeled pairs: transferred and fine-tuned again; none never reads them: reused
    assert transfers == ["crd_dense"] and tuned == ["crd_dense"]
    assert json.loads((second / "metrics.json").read_text())["reused_cells"] == {"none-seed0": str(first)}
    # the same data again: everything is reused
    transfers.clear(), tuned.clear()
    assert run_transfer.main([*common, f"output_dir={tmp_path / 'c'}", "--reuse-cells", str(second)]) == 0
    assert transfers == [] and tuned == []
    reused = json.loads((tmp_path / "c" / "smoke" / "metrics.json").read_text())["reused_cells"]
    assert reused == {"none-seed0": str(second), "crd_dense-seed0": str(second)}
    # the report's sentence about val is the start-up check's result
    report = (first / "report.md").read_text()
    assert "val: 16 labeled frames, no frame shared with unlabeled, train, test and teacher (every frame's content " \
           "compared: rgb, depth; frames holding one value throughout left out)" in report


def test_the_teacher_cache_key_follows_the_teacher_data_content(smoke_run, tmp_path):
    from crossmodal.stages.teacher import teacher_cache_key

    data = copy_smoke_data(smoke_run, tmp_path / "data")
    cfg = load_config(SMOKE, data)
    teacher = tmp_path / "data" / "teacher.h5"

    def key(path: Path) -> str:
        info = read_info(path)
        return teacher_cache_key(cfg, SimpleNamespace(teacher=info, class_names=info.class_names))

    original = key(teacher)
    moved = tmp_path / "moved" / "teacher.h5"
    moved.parent.mkdir()
    shutil.copyfile(teacher, moved)
    assert key(moved) == original  # the same content elsewhere: the same cached teacher
    size = teacher.stat().st_size
    rewrite_reversed(teacher)
    assert teacher.stat().st_size == size and key(teacher) != original  # changed in place: a new teacher is trained
