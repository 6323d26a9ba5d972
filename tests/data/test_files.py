"""Tests for crossmodal.data.files: the embedded data are regenerated exactly when they were made differently."""
from __future__ import annotations

from pathlib import Path

from crossmodal.config import load_config
from crossmodal.data.files import data_ready, synthetic_command
from data_tools.synthetic import main


def test_rare_objects_setting_is_passed_on_and_checked(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    keys = [f"data.synthetic.out={out}", "data.synthetic.num=4", "data.synthetic.num_teacher=3",
            "data.synthetic.num_train=2", "data.synthetic.num_test=2", "data.synthetic.num_val=2",
            "data.synthetic.size=32x40", "data.synthetic.seed=11"]
    plain = load_config(None, keys)
    rare = load_config(None, keys + ["data.synthetic.rare_objects=true"])
    assert "--rare-objects" in synthetic_command(rare) and "--rare-objects" not in synthetic_command(plain)
    assert main(synthetic_command(plain)[3:] + ["--workers", "1"]) == 0
    assert data_ready(plain) and not data_ready(rare)  # made without the rare objects: the rare config regenerates
    assert main(synthetic_command(rare)[3:] + ["--workers", "1", "--overwrite"]) == 0
    assert data_ready(rare) and not data_ready(plain)
