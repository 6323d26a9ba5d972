"""crossmodal/config/tasks.py is the one place a task is defined: its fields, the config's task_spec, a clear refusal of
an unknown task, and no module elsewhere branching on a task's name."""
import re

import pytest

from conftest import REPO
from crossmodal.config import Config
from crossmodal.config.tasks import CLASSIFICATION, SEGMENTATION, TASKS, get_task


def test_the_two_tasks():
    assert set(TASKS) == {"segmentation", "classification"}
    assert (SEGMENTATION.label_key, SEGMENTATION.metric, SEGMENTATION.headline) == ("label", "miou", "mIoU")
    assert SEGMENTATION.per_pixel and SEGMENTATION.fine_tunes and SEGMENTATION.logits_dims == 4
    assert (CLASSIFICATION.label_key, CLASSIFICATION.metric) == ("class_id", "top1")
    assert not CLASSIFICATION.per_pixel and not CLASSIFICATION.fine_tunes and CLASSIFICATION.logits_dims == 2

    class Info:
        class_names, image_class_names = ["wall", "floor"], ["kitchen"]

    assert SEGMENTATION.class_names(Info()) == ("wall", "floor") and CLASSIFICATION.class_names(Info()) == ("kitchen",)


def test_each_task_names_its_protocol_and_stays_torch_free():
    import subprocess
    import sys

    from crossmodal.downstream.protocols import FineTune, LinearProbes

    assert isinstance(SEGMENTATION.downstream(), FineTune) and isinstance(CLASSIFICATION.downstream(), LinearProbes)
    assert SEGMENTATION.downstream() is SEGMENTATION.downstream()  # one instance, imported on first use
    code = "import sys, crossmodal.config.tasks; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO).stdout.strip() == "False"


def test_config_gives_its_task_and_an_unknown_one_is_refused_by_name():
    assert Config().task_spec is SEGMENTATION and Config(task="classification").task_spec is CLASSIFICATION
    with pytest.raises(KeyError, match="'detection'.*segmentation, classification"):
        get_task("detection")


def test_no_module_branches_on_a_task_name():
    pattern = re.compile(r"""task\s*[!=]=\s*["']|[!=]=\s*["'](segmentation|classification)["']""")
    files = [*(REPO / "crossmodal").rglob("*.py"), *(REPO / "eval").rglob("*.py"), REPO / "run_transfer.py"]
    hits = [f"{p.relative_to(REPO)}:{i}" for p in files if p.name != "tasks.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, f"task names compared outside crossmodal/config/tasks.py (read a Task field instead): {hits}"
