"""Tests for the paired HDF5 format: round trip, atomic writes, validation, corrupt files, streaming, loading."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from crossmodal.data.dataset import PairedDataset
from crossmodal.data.h5format import FORMAT_NAME, FORMAT_VERSION, FormatError, read_info
from crossmodal.data.h5writer import PairedWriter, write_paired

CLASSES = ["wall", "floor", "chair"]


def _data(n: int = 5, h: int = 6, w: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 10, (n, h, w)).astype(np.float32)
    depth[:, 0, 0] = 0.0
    label = rng.integers(0, len(CLASSES), (n, h, w)).astype(np.uint8)
    label[:, -1, -1] = 255
    return {
        "rgb": rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        "depth": depth,
        "label": label,
        "thermal": rng.integers(0, 65535, (n, h, w, 2), dtype=np.uint16),
    }


def _write(path: Path, data: dict[str, np.ndarray] | None = None, **kw) -> Path:
    kw.setdefault("class_names", CLASSES)
    kw.setdefault("source", "unit test")
    kw.setdefault("modality_attrs", {"thermal": {"units": "kelvin-centi", "channels": "lwir,mwir"}})
    return write_paired(path, _data() if data is None else data, **kw)


def test_round_trip(tmp_path: Path) -> None:
    data = _data()
    attrs = {"intrinsics": [1.5, 2.5, 3.0, 4.0], "nyu40_ids": np.array([1, 2, 5]), "seed": 7, "note": "héllo",
             "tags": ["a", "b"]}
    path = _write(tmp_path / "split.h5", data, attrs=attrs)
    info = read_info(path)
    assert info.path == path and info.num_samples == 5
    assert info.modalities == ("rgb", "depth", "label", "thermal")
    assert info.shapes == {"rgb": (6, 8, 3), "depth": (6, 8), "label": (6, 8), "thermal": (6, 8, 2)}
    assert info.dtypes["depth"] == np.float32 and info.dtypes["thermal"] == np.uint16
    assert info.class_names == tuple(CLASSES) and (info.height, info.width) == (6, 8)
    assert info.attrs == {"source": "unit test", "intrinsics": [1.5, 2.5, 3.0, 4.0], "nyu40_ids": [1, 2, 5],
                          "seed": 7, "note": "héllo", "tags": ["a", "b"]}
    assert info.modality_attrs["thermal"] == {"units": "kelvin-centi", "channels": "lwir,mwir"}
    assert info.modality_attrs["depth"]["units"] == "metres"
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT_NAME and f.attrs["format_version"] == FORMAT_VERSION
        assert f["rgb"].chunks == (1, 6, 8, 3) and f["depth"].compression is None

    ds = PairedDataset(path, ["rgb", "depth", "label", "thermal"])
    assert len(ds) == 5 and ds.info.num_samples == 5
    for i in range(5):
        sample = ds[i]
        assert sample["index"] == i
        for key, arr in data.items():
            assert sample[key].dtype == arr.dtype
            np.testing.assert_array_equal(sample[key], arr[i])

    sub = PairedDataset(path, "depth", transform=lambda s: {**s, "twice": s["depth"] * 2}, indices=[4, 1])
    assert len(sub) == 2 and sub[0]["index"] == 0
    np.testing.assert_array_equal(sub[0]["depth"], data["depth"][4])
    np.testing.assert_array_equal(sub[-1]["twice"], data["depth"][1] * 2)
    with pytest.raises(IndexError):
        sub[2]


def test_existing_output_is_refused_and_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.h5")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="a.h5"):
        _write(path, _data(seed=1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.h5"]
    _write(path, _data(n=3, seed=1), overwrite=True)
    assert read_info(path).num_samples == 3
    assert os.listdir(tmp_path) == ["a.h5"]


def _bad(kind: str) -> tuple[dict[str, np.ndarray], dict, str]:
    data = _data()
    kw: dict = {}
    if kind == "mismatched N":
        data["depth"] = data["depth"][:4]
        key = "depth"
    elif kind == "label without class_names":
        kw["class_names"] = None
        key = "label"
    elif kind == "NaN depth":
        data["depth"][2, 1, 1] = np.nan
        key = "depth"
    elif kind == "negative depth":
        data["depth"][2, 1, 1] = -1
        key = "depth"
    elif kind == "wrong dtype":
        data["rgb"] = data["rgb"].astype(np.float32)
        key = "rgb"
    elif kind == "label out of range":
        data["label"][0, 0, 0] = 3
        key = "label"
    elif kind == "float64":
        data["thermal"] = data["thermal"].astype(np.float64)
        key = "thermal"
    else:  # missing units/channels for a modality without defaults
        kw["modality_attrs"] = {}
        key = "thermal"
    return data, kw, key


@pytest.mark.parametrize("kind", ["mismatched N", "label without class_names", "NaN depth", "negative depth",
                                  "wrong dtype", "label out of range", "float64", "no units"])
def test_validation_errors_name_the_key(tmp_path: Path, kind: str) -> None:
    data, kw, key = _bad(kind)
    with pytest.raises(FormatError) as err:
        _write(tmp_path / "bad.h5", data, **kw)
    assert key in str(err.value) and "bad.h5" in str(err.value)
    assert os.listdir(tmp_path) == []


def test_reserved_attribute_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="num_samples"):
        _write(tmp_path / "x.h5", attrs={"num_samples": 3})


def test_truncated_missing_and_foreign_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.h5")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(FormatError, match="truncated or corrupt") as err:
        read_info(path)
    assert "cut.h5" in str(err.value)
    with pytest.raises(FormatError, match="cut.h5"):
        PairedDataset(path, ["rgb"])

    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n" * 100)
    with pytest.raises(FormatError, match="not an HDF5 file"):
        read_info(text)
    with pytest.raises(FileNotFoundError, match="nothere.h5"):
        read_info(tmp_path / "nothere.h5")


def test_wrong_format_attributes(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FormatError, match="format_version"):
        read_info(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        del f["thermal"]
    with pytest.raises(FormatError, match="'thermal'"):
        read_info(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = b"something-else"
    with pytest.raises(FormatError, match="'format'"):
        read_info(other)


def test_paired_dataset_missing_modality_lists_available(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.h5")
    with pytest.raises(FormatError) as err:
        PairedDataset(path, ["rgb", "lidar"])
    assert "lidar" in str(err.value) and "'thermal'" in str(err.value) and "m.h5" in str(err.value)


def _specs() -> dict:
    return {"rgb": ((6, 8, 3), np.uint8), "depth": ((6, 8), np.float32), "label": ((6, 8), np.uint8)}


def test_paired_writer_streams_in_any_order(tmp_path: Path) -> None:
    data = _data()
    path = tmp_path / "stream.h5"
    with PairedWriter(path, 5, _specs(), class_names=CLASSES, source="stream", attrs={"seed": 3}) as writer:
        assert not path.exists()
        for i in [3, 0, 4, 1, 2]:
            writer.write(i, {k: data[k][i] for k in ("rgb", "depth", "label")})
    info = read_info(path)
    assert info.num_samples == 5 and info.attrs["seed"] == 3 and info.attrs["source"] == "stream"
    ds = PairedDataset(path, ["rgb", "depth", "label"])
    for i in range(5):
        np.testing.assert_array_equal(ds[i]["depth"], data["depth"][i])
    assert os.listdir(tmp_path) == ["stream.h5"]


def test_paired_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    data = _data()
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with PairedWriter(path, 5, _specs(), class_names=CLASSES, source="x") as writer:
            writer.write(0, {k: data[k][0] for k in ("rgb", "depth", "label")})
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []

    with pytest.raises(FormatError, match="only 1 of 5 samples"):
        with PairedWriter(path, 5, _specs(), class_names=CLASSES, source="x") as writer:
            writer.write(0, {k: data[k][0] for k in ("rgb", "depth", "label")})
    assert os.listdir(tmp_path) == []

    with PairedWriter(path, 5, _specs(), class_names=CLASSES, source="x") as writer:
        with pytest.raises(FormatError, match="'depth'"):
            writer.write(0, {"rgb": data["rgb"][0], "depth": data["depth"][0, :3], "label": data["label"][0]})
        with pytest.raises(FormatError, match="missing"):
            writer.write(0, {"rgb": data["rgb"][0]})
        writer.abort()
    assert os.listdir(tmp_path) == []


def test_dataloader_with_workers(tmp_path: Path) -> None:
    data = _data(n=12)
    path = _write(tmp_path / "dl.h5", data)
    ds = PairedDataset(path, ["rgb", "depth"])
    ds[0]  # opens a handle in this process; pickling and forked workers must not reuse it
    pickle.loads(pickle.dumps(ds))[1]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    seen = []
    for batch in loader:
        for j, idx in enumerate(batch["index"].tolist()):
            np.testing.assert_array_equal(batch["depth"][j].numpy(), data["depth"][idx])
            np.testing.assert_array_equal(batch["rgb"][j].numpy(), data["rgb"][idx])
            seen.append(idx)
    assert seen == list(range(12))


def _with_class_id(path: Path, ids, names) -> Path:
    _write(path)
    with h5py.File(path, "a") as f:
        f.create_dataset("class_id", data=np.asarray(ids))
        if names is not None:
            f.attrs["image_class_names"] = names
    return path


def test_class_id_is_read_and_checked(tmp_path: Path) -> None:
    path = _with_class_id(tmp_path / "ok.h5", np.array([0, 1, -1, 1, 0], np.int64), ["cat", "dog"])
    info = read_info(path)
    assert info.has_class_id and info.image_class_names == ("cat", "dog")
    ds = PairedDataset(path, ["rgb", "class_id"])
    assert [int(ds[i]["class_id"]) for i in range(5)] == [0, 1, -1, 1, 0]
    assert not read_info(_write(tmp_path / "plain.h5")).has_class_id
    with pytest.raises(FormatError, match="'class_id' holds values -1..2; expected -1 .* 0..1"):
        read_info(_with_class_id(tmp_path / "range.h5", np.array([0, 1, 2, 1, -1]), ["cat", "dog"]))
    with pytest.raises(FormatError, match=r"'class_id' must be an integer dataset of shape \(5,\)"):
        read_info(_with_class_id(tmp_path / "shape.h5", np.zeros(4, np.int64), ["cat"]))
    with pytest.raises(FormatError, match="'class_id' must be an integer"):
        read_info(_with_class_id(tmp_path / "float.h5", np.zeros(5, np.float32), ["cat"]))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_respect_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """HDF5 files get what open() would give any other output (0666 less the umask), not mkstemp's 0600."""
    from crossmodal.atomic import write_text_atomic

    data = _data()
    old = os.umask(umask)
    try:
        whole = _write(tmp_path / "whole.h5")
        with PairedWriter(tmp_path / "stream.h5", 5, _specs(), class_names=CLASSES, source="stream") as writer:
            for i in range(5):
                writer.write(i, {k: data[k][i] for k in ("rgb", "depth", "label")})
        write_text_atomic(tmp_path / "note.txt", "x")
    finally:
        os.umask(old)
    for path in (whole, tmp_path / "stream.h5", tmp_path / "note.txt"):
        assert path.stat().st_mode & 0o777 == mode, path


# ----------------------------------------------------------------------------------------------
# A full disk while writing (a real EFBIG: a file-size limit in a child process)
# ----------------------------------------------------------------------------------------------

_FULL_DISK_CHILD = """
import sys
import numpy as np
from crossmodal.data.h5writer import PairedWriter, write_paired
from crossmodal.diskspace import DiskFullError

folder = sys.argv[1]
rgb = np.random.default_rng(0).integers(0, 256, (40, 64, 64, 3)).astype(np.uint8)
try:
    write_paired(folder + "/whole.h5", {"rgb": rgb}, class_names=None, source="test")
except DiskFullError as err:
    print("write_paired:", err)
try:
    with PairedWriter(folder + "/stream.h5", 40, {"rgb": ((64, 64, 3), np.uint8)}, class_names=None,
                      source="test") as writer:
        for i in range(40):
            writer.write(i, {"rgb": rgb[i]})
except DiskFullError as err:
    print("PairedWriter:", err)
"""


def test_a_full_disk_while_writing_is_disk_full_error_and_the_process_exits_cleanly(tmp_path):
    """Writing past a 200 kB file-size limit gives DiskFullError and a clean exit.

    write_paired and PairedWriter raise DiskFullError naming the output, the temp file is removed, and no HDF5 error
    is printed while objects are freed, nor is there a crash at exit; h5py used to segfault.
    """
    import resource
    import signal
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run([sys.executable, "-c", _FULL_DISK_CHILD, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, preexec_fn=limit)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-3000:]
    reason = ("cannot be written: the file-size limit of this process is reached (EFBIG, `ulimit -f`); raise the "
              "limit (`ulimit -f unlimited`) or write smaller files (the partly written file was removed)")
    assert proc.stdout.splitlines() == [f"write_paired: {tmp_path / 'whole.h5'}: {reason}",
                                        f"PairedWriter: {tmp_path / 'stream.h5'}: {reason}"]
    assert list(tmp_path.iterdir()) == []
