"""Full disks met by the data tools, made real: a file-size limit in a child process (EFBIG) and, where this machine
can mount one, a tiny tmpfs (ENOSPC). Each ends in one line naming the output, exit 2, no staging file left and no
crash (h5py used to print errors while freeing objects, then segfault at exit: exit 139); a disk too small for
the output is refused before any frame is read; an HDF5 file another process holds open for writing is reported as
locked, not as corrupt."""
from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from disk_limits import assert_clean_failure, hidden_files, run_python, tmpfs

from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.locking import lock_problem
from crossmodal.diskspace import DiskFullError, as_disk_full, check_conversion_space, output_name
from crossmodal.errors import UserError
from data_tools.common import staging_path
from data_tools.inspect import main as inspect_main

H, W = 64, 64  # a frame: 12 KiB of rgb and 16 KiB of float32 thermal


def _recording(root: Path, n: int) -> Path:
    """n frames of rgb PNG and 16-bit thermal PNG (random, so they do not compress)."""
    rng = np.random.default_rng(0)
    for d in ("rgb", "thermal"):
        (root / d).mkdir(parents=True)
    for k in range(n):
        cv2.imwrite(str(root / "rgb" / f"{k:04d}.png"), rng.integers(0, 256, (H, W, 3)).astype(np.uint8))
        cv2.imwrite(str(root / "thermal" / f"{k:04d}.png"), rng.integers(28000, 31000, (H, W)).astype(np.uint16))
    return root


def _pairs_args(rec: Path, out: Path) -> list[str]:
    return ["-m", "data_tools.pairs", "--source", f"rgb={rec / 'rgb'}", "--target", f"thermal={rec / 'thermal'}",
            "--scale", "thermal=0.01", "--out", str(out)]


def test_pairs_past_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    rec = _recording(tmp_path / "rec", 40)  # about 1.1 MiB of output
    out = tmp_path / "out" / "thermal.h5"
    line = assert_clean_failure(run_python(_pairs_args(rec, out), limit=400_000))
    assert line == (f"python -m data_tools.pairs: error: {out}: cannot be written: the file-size limit of this "
                    f"process is reached (EFBIG, `ulimit -f`); raise the limit (`ulimit -f unlimited`) or write "
                    f"smaller files (the partly written file was removed)")
    assert not out.exists() and hidden_files(tmp_path / "out") == []


def test_synthetic_past_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "synthetic"
    args = ["-m", "data_tools.synthetic", "--out", str(out), "--num", "40", "--size", "32x32", "--num-teacher", "8",
            "--num-train", "8", "--num-test", "8", "--num-val", "8", "--workers", "1"]
    line = assert_clean_failure(run_python(args, limit=200_000))
    assert line.startswith(f"python -m data_tools.synthetic: error: {out / 'unlabeled.h5'}: cannot be written: ")
    assert "EFBIG" in line
    assert sorted(p.name for p in out.iterdir()) == []


def test_add_hha_past_a_file_size_limit_is_one_line_and_leaves_the_input(tmp_path):
    """add_hha writes into a copy of its input (h5py 'r+'): the copy fits under the limit, the HHA frames do not."""
    data = tmp_path / "data"
    made = run_python(["-m", "data_tools.synthetic", "--out", str(data), "--num", "8", "--size", "32x32",
                       "--num-teacher", "8", "--num-train", "8", "--num-test", "40", "--num-val", "8",
                       "--workers", "1"])
    assert made.returncode == 0, made.stderr[-2000:]
    src, out = data / "test.h5", tmp_path / "hha" / "test_hha.h5"
    out.parent.mkdir()
    size = src.stat().st_size
    line = assert_clean_failure(run_python(["-m", "data_tools.add_hha", str(src), "--out", str(out)],
                                           limit=size + 20_000))
    assert line.startswith(f"python -m data_tools.add_hha: error: {out}: cannot be written: ") and "EFBIG" in line
    assert not out.exists() and hidden_files(out.parent) == []
    assert read_info(src).num_samples == 40  # the input untouched


def test_pairs_on_a_disk_that_fills_up_is_one_line_and_leaves_nothing(tmp_path):
    """A genuine ENOSPC: the tmpfs is smaller than the output. The free-space check is what would refuse this at
    start, so the child turns it off, as if another program had filled the disk after the check."""
    rec = _recording(tmp_path / "rec", 40)
    with tmpfs(tmp_path / "disk", "512k") as disk:
        out = disk / "thermal.h5"
        code = ("import sys, crossmodal.diskspace as d; d.check_free_space = lambda *a, **k: None; "
                "from data_tools.pairs import main; sys.exit(main(sys.argv[1:]))")
        line = assert_clean_failure(run_python(["-c", code, *_pairs_args(rec, out)[2:]]))
        assert line.startswith(f"python -m data_tools.pairs: error: {out}: cannot be written: no space left on its "
                               f"disk (ENOSPC); free some space or write to another disk")
        assert list(disk.iterdir()) == []


def test_a_disk_too_small_for_the_output_is_refused_before_any_frame(tmp_path):
    """A 4 MiB tmpfs: less than the output estimate plus the margin; refused at once, saying how much and why."""
    rec = _recording(tmp_path / "rec", 3)
    with tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "thermal.h5"
        line = assert_clean_failure(run_python(_pairs_args(rec, out)))
        assert f"error: output file {out}: only 4.0 MiB free on its disk, 16.1 MiB needed (3 frames x 28.0 KiB per " \
               f"frame, uncompressed, plus 5%, plus 16.0 MiB margin); free some space or choose another disk" in line
        assert list(disk.iterdir()) == []


def test_the_free_space_rule_scales_with_the_output(tmp_path):
    """The estimate is frames x bytes per frame: a few frames pass on this disk, more frames than it holds do not."""
    import shutil

    free = shutil.disk_usage(tmp_path).free
    check_conversion_space(tmp_path / "small.h5", 10, 2 ** 20)
    frames = free // 2 ** 20 + 1
    with pytest.raises(UserError, match=rf"output file {tmp_path / 'big.h5'}: only .* free on its disk, .* needed "
                                        rf"\({frames} frames x 1.0 MiB per frame, uncompressed, plus 5%"):
        check_conversion_space(tmp_path / "big.h5", frames, 2 ** 20)


def test_h5py_wordings_of_a_full_disk_are_recognised_and_nothing_else():
    text = ("Can't synchronously write data (file write failed: time = ..., filename = 'x.h5', file descriptor = 3, "
            "errno = 28, error message = 'No space left on device', buf = 0x1, total write size = 576)")
    assert as_disk_full(OSError(None, text), "x.h5").errno == errno.ENOSPC  # h5py's OSError, errno None
    assert as_disk_full(RuntimeError("Can't decrement id ref count (errno = 27, 'File too large')"), "x").errno \
        == errno.EFBIG
    assert as_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), "x").errno == errno.EDQUOT
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("unexpected pos 576 vs 534") from inner
    except RuntimeError as outer:
        assert as_disk_full(outer, "x").errno == errno.ENOSPC  # found along the cause
    for other in (OSError(errno.ENOENT, "No such file or directory"), OSError(None, "Unable to open file (truncated "
                  "file: eof = 96)"), RuntimeError("Can't decrement id ref count"), ValueError("errno = 28")):
        assert as_disk_full(other, "x") is None
    assert isinstance(DiskFullError("x", errno.ENOSPC), UserError)


def test_staging_names_are_reported_as_their_outputs(tmp_path):
    out = tmp_path / "a.b.h5"
    assert output_name(staging_path(out)) == out and output_name(out) == out
    assert str(DiskFullError(staging_path(out), errno.ENOSPC)).startswith(f"{out}: cannot be written")


def _hold_for_writing(path: Path) -> subprocess.Popen:
    """A child process that keeps `path` open for writing with h5py (HDF5 file locking on) until killed."""
    code = ("import sys, time, h5py; f = h5py.File(sys.argv[1], 'a'); print('open', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    return holder


def test_a_file_held_open_for_writing_is_reported_as_locked(tmp_path, capsys):
    from crossmodal.data.h5writer import write_paired

    path = write_paired(tmp_path / "busy.h5", {"rgb": np.zeros((2, 8, 8, 3), np.uint8)}, class_names=None,
                        source="test")
    holder = _hold_for_writing(path)
    try:
        with pytest.raises(FormatError) as info:
            read_info(path)
        assert str(info.value).startswith(f"{path}: is locked by another process (HDF5 file locking: a program has "
                                          f"it open for writing")
        assert "corrupt" not in str(info.value) and "HDF5_USE_FILE_LOCKING" not in str(info.value)
        assert inspect_main([str(path)]) == 2
        err = capsys.readouterr().err
        assert f"error: {path}: is locked by another process" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    assert read_info(path).num_samples == 2  # readable again once the writer is gone


def test_a_file_system_without_locks_gets_the_locking_hint():
    """HDF5's wording when flock() is not supported (errno 38); the hint appears only then."""
    err = OSError(None, "Unable to synchronously open file (unable to lock file, errno = 38, error message = "
                        "'Function not implemented')")
    text = lock_problem("x.h5", err)
    assert text.startswith("x.h5: cannot be opened because its file system does not support file locks")
    assert text.endswith("set HDF5_USE_FILE_LOCKING=FALSE in the environment")
    assert lock_problem("x.h5", OSError(None, "Unable to open file (file signature not found)")) is None
