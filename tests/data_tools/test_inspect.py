"""Tests for data_tools.inspect: printed statistics, class shares, preview sheet, corrupt files; shared CLI helpers."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from crossmodal.data import FormatError, write_paired
from data_tools.common import check_outputs, parse_size, run_tool
from data_tools.inspect import main, sample_indices

N, H, W = 4, 24, 32


@pytest.fixture()
def paired(tmp_path: Path) -> Path:
    """Known values: rgb 10..200, depth 1..4 m with 25 % zeros, labels 0/1/ignore in fixed shares."""
    rgb = np.full((N, H, W, 3), 10, np.uint8)
    rgb[:, :, :, 1] = 200                      # channel means 10, 200, 10
    depth = np.zeros((N, H, W), np.float32)
    for k in range(N):
        depth[k, :, W // 4:] = 1.0 + k         # a quarter of every frame missing
    label = np.zeros((N, H, W), np.uint8)
    label[:, : H // 2] = 1                     # 50 % class 1 (floor)
    label[:, H // 2:, : W // 4] = 255          # 12.5 % ignore, 37.5 % class 0 (wall)
    return write_paired(tmp_path / "known.h5", {"rgb": rgb, "depth": depth, "label": label},
                        class_names=["wall", "floor", "chair"], source="test fixture",
                        attrs={"intrinsics": [10.0, 11.0, 12.0, 13.0], "split": "test"})


def _row(text: str, name: str) -> list[str]:
    """The table row of one modality: [name, dtype, min, max, mean, notes...] (the shape left out)."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(name + " "))
    head, tail = line.split(")", 1)
    return head.split()[:2] + tail.split()


def test_printed_statistics_are_right(paired: Path, capsys) -> None:
    assert main([str(paired)]) == 0
    text = capsys.readouterr().out
    assert f"{N} samples, {H}x{W}, modalities: rgb, depth, label" in text
    assert f"statistics over all {N} samples" in text
    rgb = _row(text, "rgb")
    assert rgb[1] == "uint8" and rgb[2:5] == ["10", "200", "73.33"]
    assert "channel means 10, 200, 10" in text
    depth = _row(text, "depth")
    assert depth[2:5] == ["0", "4", "1.875"]       # mean of 0.75 * (1 + 2 + 3 + 4) / 4
    assert "missing (0): 25.00 %" in text and "mean of valid 2.5" in text
    assert re.search(r"0\s+wall\s+37\.500 %", text) and re.search(r"1\s+floor\s+50\.000 %", text)
    assert "ignore (255): 12.500 %" in text
    assert "absent classes (1): chair" in text
    assert "intrinsics = [10, 11, 12, 13]" in text and "source = 'test fixture'" in text


def test_sampling_of_large_files(paired: Path, capsys) -> None:
    assert main([str(paired), "--max-frames", "2"]) == 0
    assert f"over 2 of {N} samples (evenly spaced)" in capsys.readouterr().out
    assert sample_indices(10, 3).tolist() == [0, 4, 9] and sample_indices(3, 10).tolist() == [0, 1, 2]


def test_preview_sheet_is_a_readable_png(paired: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "sheets" / "preview.png"
    assert main([str(paired), "--preview", str(png), "--num", "3"]) == 0
    assert str(png) in capsys.readouterr().out
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 3 * H and img.shape[1] > 3 * W


def test_any_modalities_and_uint16_labels(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 300, (2, H, W)).astype(np.uint16)
    label[:, 0] = 65535
    path = write_paired(tmp_path / "other.h5", {"thermal": rng.random((2, H, W)).astype(np.float32),
                                                "ab": rng.integers(0, 255, (2, H, W, 2), dtype=np.uint8),
                                                "label": label},
                        class_names=[f"c{k}" for k in range(300)], source="other",
                        modality_attrs={"thermal": {"units": "K", "channels": "t"},
                                        "ab": {"units": "lab", "channels": "a,b"}})
    assert main([str(path), "--preview", str(tmp_path / "o.png"), "--num", "2"]) == 0
    text = capsys.readouterr().out
    assert "thermal" in text and "ab" in text and f"ignore (65535): {100 / H:.3f} %" in text
    assert cv2.imread(str(tmp_path / "o.png")) is not None


def test_corrupt_or_missing_file_exits_2_naming_it(paired: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.h5"
    broken.write_bytes(paired.read_bytes()[:3000])
    noth5 = tmp_path / "notes.h5"
    noth5.write_text("hello")
    for path in (broken, noth5, tmp_path / "missing.h5"):
        assert main([str(path)]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and err.count("error:") == 1
    assert main([str(broken), "--preview", str(tmp_path / "p.png")]) == 2
    assert not (tmp_path / "p.png").exists()


def test_common_helpers(tmp_path: Path, capsys) -> None:
    assert parse_size("240x320") == (240, 320)
    for bad in ("240", "0x5", "ax3"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
    (tmp_path / "a.h5").write_text("x")
    with pytest.raises(FileExistsError, match="a.h5"):
        check_outputs([tmp_path / "a.h5", tmp_path / "b.h5"], overwrite=False)
    assert check_outputs([tmp_path / "new" / "b.h5"], overwrite=False) == [tmp_path / "new" / "b.h5"]

    def fails() -> int:
        raise FormatError("/x/y.h5: key 'depth' is broken")

    assert run_tool(fails, "tool") == 2
    assert capsys.readouterr().err == "tool: error: /x/y.h5: key 'depth' is broken\n"
    assert run_tool(lambda: 0, "tool") == 0


def test_stamp_timing_is_shown_when_present(tmp_path: Path, capsys) -> None:
    """A converter's rate, gap and offset attributes (data_tools.stamps) are shown as a readable section."""
    from data_tools.stamps import PairTiming, StreamTiming, timing_attrs

    attrs = timing_attrs(["rgb", "depth"], [StreamTiming(30.0, 0, 1 / 30, 100.0), StreamTiming(15.0, 1, 0.1333, 100.4)],
                         [None, PairTiming(15, 1, 0.002, 0.003)])
    path = write_paired(tmp_path / "timed.h5", {"rgb": np.zeros((2, 8, 8, 3), np.uint8),
                                                "depth": np.ones((2, 8, 8), np.float32)},
                        class_names=None, source="test", attrs={**attrs, "pair_by": "header", "max_dt": 0.02})
    assert main([str(path)]) == 0
    text = capsys.readouterr().out
    assert "timing (paired by header stamps):" in text
    assert "rates: rgb 30.00 Hz, no gaps; depth 15.00 Hz, 1 gap (longest 0.133 s after stamp 100.400000)" in text
    assert ("depth: 15 rgb frames without a partner by the rate difference, 1 for drops, gaps or offsets beyond "
            "max_dt 0.02 s; offset depth - rgb median +0.002000 s, 95th percentile |offset| 0.003000 s") in text
    assert "gap_count =" not in text and "pair_by = 'header'" in text
    plain = write_paired(tmp_path / "plain.h5", {"depth": np.ones((1, 8, 8), np.float32)}, class_names=None,
                         source="test")
    assert main([str(plain)]) == 0 and "timing (paired" not in capsys.readouterr().out
