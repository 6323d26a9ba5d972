"""Per-frame content digests of crossmodal/data/content.py and the content fingerprint made of them.

Both writers store them; they equal those computed and cached for a file written without them, and are checked
against the data.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import crossmodal.data.content as content
from crossmodal.data.content import CONSTANT_DATASET, HASH_DATASET, content_fingerprint, file_hashes
from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.h5writer import PairedWriter, write_paired
from data_tools.inspect import describe

N, H, W = 5, 6, 8
NAMES = ["wall", "floor", "chair"]

pytestmark = pytest.mark.usefixtures("own_cache")  # every test gets an empty check cache of its own


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {"rgb": rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8),
            "depth": rng.uniform(0.5, 5.0, (N, H, W)).astype(np.float32),
            "label": rng.integers(0, 3, (N, H, W)).astype(np.uint8)}
    data["rgb"][3] = 0  # one frame black in rgb only, one all-zero depth
    data["depth"][3] = 0
    return data


def _strip(path: Path, out: Path) -> Path:
    """A copy of `path` as a writer without content digests would have left it."""
    shutil.copyfile(path, out)
    with h5py.File(out, "r+") as f:
        del f[HASH_DATASET], f[CONSTANT_DATASET]
    return out


def test_both_writers_store_the_digests_an_older_file_gets_computed(tmp_path: Path, monkeypatch) -> None:
    data = _arrays()
    whole = write_paired(tmp_path / "whole.h5", data, class_names=NAMES, source="test")
    specs = {k: (a.shape[1:], a.dtype) for k, a in data.items()}
    with PairedWriter(tmp_path / "streamed.h5", N, specs, class_names=NAMES, source="test") as writer:
        for i in reversed(range(N)):  # any order
            writer.write(i, {k: a[i] for k, a in data.items()})
    with h5py.File(whole, "r") as f:
        stored = f[HASH_DATASET][()]
        assert stored.shape == (N, 3, 16) and stored.dtype == np.uint8
        assert [n.decode() if isinstance(n, bytes) else n for n in f[HASH_DATASET].attrs["modalities"]] == \
            ["rgb", "depth", "label"]
        assert f[CONSTANT_DATASET][()].tolist() == [[0, 0, 0]] * 3 + [[1, 1, 0]] + [[0, 0, 0]]
    assert read_info(whole).modalities == ("rgb", "depth", "label")  # not modalities, like frame_name
    shown = "other datasets (not modalities): frame_constant (5, 3) uint8, frame_hash (5, 3, 16) uint8"
    assert shown in describe(whole)  # data_tools.inspect lists them as it lists frame_name
    old = _strip(whole, tmp_path / "old.h5")
    written, streamed, computed = (file_hashes(read_info(p)) for p in (whole, tmp_path / "streamed.h5", old))
    for got in (streamed, computed):
        assert np.array_equal(got.digests, written.digests) and np.array_equal(got.constant, written.constant)
    assert np.array_equal(written.digests[:, 0], np.stack([content.frame_digest(f) for f in data["rgb"]]))
    assert len({content_fingerprint(p) for p in (whole, tmp_path / "streamed.h5", old)}) == 1
    # the older file's digests are computed once per version of it: the second time they come from the cache
    monkeypatch.setattr(content, "_compute", lambda ds: pytest.fail("hashed the frames again"))
    assert np.array_equal(file_hashes(read_info(old)).digests, written.digests)


def test_digests_a_tool_made_stale_are_not_trusted(tmp_path: Path) -> None:
    path = write_paired(tmp_path / "x.h5", _arrays(), class_names=NAMES, source="test")
    before = content_fingerprint(path)
    with h5py.File(path, "r+") as f:  # a modality rewritten in place after the writer closed the file
        f["depth"][...] = f["depth"][()] * 2
    hashes = file_hashes(read_info(path))
    with h5py.File(path, "r") as f:
        assert np.array_equal(hashes.columns(["depth"])[0][:, 0], np.stack([content.frame_digest(d)
                                                                            for d in f["depth"][()]]))
    assert content_fingerprint(path) != before


def test_the_fingerprint_follows_the_content_not_the_path(tmp_path: Path) -> None:
    data = _arrays()
    path = write_paired(tmp_path / "a.h5", data, class_names=NAMES, source="test")
    first = content_fingerprint(path)
    moved = tmp_path / "elsewhere" / "b.h5"
    moved.parent.mkdir()
    shutil.copyfile(path, moved)
    assert content_fingerprint(moved) == first
    changed = dict(data, label=data["label"].copy())
    changed["label"][4, 1, 1] = (changed["label"][4, 1, 1] + 1) % 3  # one label pixel, at the same path
    write_paired(path, changed, class_names=NAMES, source="test", overwrite=True)
    assert content_fingerprint(path) != first
    write_paired(path, data, class_names=["wall", "floor", "sofa"], source="test", overwrite=True)
    assert content_fingerprint(path) != first  # a class name
    write_paired(path, data, class_names=NAMES, source="test", overwrite=True, attrs={"intrinsics": [1, 1, 2, 2]})
    assert content_fingerprint(path) != first  # a root attribute
    write_paired(path, data, class_names=NAMES, source="test", overwrite=True)
    assert content_fingerprint(path) == first


def test_the_digest_names_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="modality name 'frame_hash' is invalid"):
        write_paired(tmp_path / "x.h5", {"frame_hash": np.zeros((1, 2, 2), np.uint8)}, class_names=None,
                     source="test", modality_attrs={"frame_hash": {"units": "u", "channels": "c"}})
