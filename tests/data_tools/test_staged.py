"""Tests for the converters' output skeleton: staged files, per-row datasets, commit and clean-up."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from crossmodal.data.h5format import read_info
from data_tools.frame_checks import ModalityWatch
from data_tools.staged import StagedOutput

SPECS = {"rgb": ((4, 5, 3), np.uint8), "depth": ((4, 5), np.float32)}


def frames(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """n small rgb/depth frames."""
    rng = np.random.default_rng(seed)
    return [{"rgb": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
             "depth": rng.uniform(0.5, 4.0, (4, 5)).astype(np.float32)} for _ in range(n)]


def files(folder: Path) -> list[str]:
    """Every file in a folder, hidden staging and temp files included."""
    return sorted(p.name for p in folder.iterdir())


def test_write_and_rows_then_commit(tmp_path: Path) -> None:
    out = tmp_path / "a.h5"
    data = frames(3)
    with StagedOutput(out, overwrite=False) as staged:
        staged.write(iter(data), 3, SPECS, class_names=None, source="test", attrs={"every": 2},
                     modality_attrs={"depth": {"description": "metres"}})
        assert not out.exists() and staged.path().exists()
        lines = staged.add_rows({"frame_name": (np.array(["a", "b", "c"], dtype=h5py.string_dtype()), "names"),
                                 "class_id": (np.arange(3), {"units": "class-id", "channels": "ids"})})
        assert lines == []
    assert files(tmp_path) == ["a.h5"]
    info = read_info(out)
    assert info.num_samples == 3 and info.attrs["every"] == 2 and info.attrs["source"] == "test"
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["rgb"][1], data[1]["rgb"])
        assert f["frame_name"].attrs["description"] == "names"
        assert dict(f["class_id"].attrs) == {"units": "class-id", "channels": "ids"}
        assert f["depth"].attrs["description"] == "metres"


def test_watches_see_every_frame_and_store_statistics(tmp_path: Path) -> None:
    out = tmp_path / "w.h5"
    watch = ModalityWatch("depth", 3, 1, "test", stats=True, metres=True)
    with StagedOutput(out, overwrite=False) as staged:
        staged.write(frames(3), 3, SPECS, class_names=None, source="test", watches=[watch])
        lines = staged.add_rows({}, watches=[watch], names=["a", "b", "c"])
    assert lines and any("mean" in line for line in lines)
    with h5py.File(out) as f:
        assert len(f["depth"].attrs) > 2  # units, channels and the statistics


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_error_or_interrupt_leaves_nothing(tmp_path: Path, error: type[BaseException]) -> None:
    outs = [tmp_path / "train.h5", tmp_path / "val.h5"]
    with pytest.raises(error):
        with StagedOutput(outs, overwrite=False) as staged:
            staged.write(frames(2), 2, SPECS, class_names=None, source="test", out=outs[0])
            scratch = staged.scratch()
            scratch.write_bytes(b"x")
            raise error("stop")
    assert files(tmp_path) == []


def test_several_outputs_commit_together_at_the_end(tmp_path: Path) -> None:
    outs = [tmp_path / "train.h5", tmp_path / "val.h5"]
    with StagedOutput(outs, overwrite=False) as staged:
        staged.write(frames(2), 2, SPECS, class_names=None, source="train", out=outs[0])
        staged.write_arrays({"rgb": np.zeros((1, 4, 5, 3), np.uint8)}, class_names=None, source="val", out=outs[1])
        assert not any(p.exists() for p in outs)
    assert files(tmp_path) == ["train.h5", "val.h5"]
    assert read_info(outs[0]).num_samples == 2 and read_info(outs[1]).attrs["source"] == "val"


def test_an_output_that_appeared_meanwhile_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "a.h5"
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        with StagedOutput(out, overwrite=False) as staged:
            staged.write(frames(1), 1, SPECS, class_names=None, source="test")
            out.write_bytes(b"someone else's")
    assert out.read_bytes() == b"someone else's" and files(tmp_path) == ["a.h5"]
    with StagedOutput(out, overwrite=True) as staged:
        staged.write(frames(1), 1, SPECS, class_names=None, source="test")
    assert read_info(out).num_samples == 1 and files(tmp_path) == ["a.h5"]
