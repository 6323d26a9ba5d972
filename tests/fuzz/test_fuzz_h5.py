"""Fuzzing the paired HDF5 reader (docs/data_format.md): valid tiny files, then cut, bytes flipped, datasets and
attributes deleted, renamed or replaced with wrong dtypes, shapes and values. Whatever the file, the run's checks
(read_info, open_data), its sample reader (PairedDataset) and data_tools.inspect either succeed or raise the
project's FormatError / UserError naming the file; never another exception type, a crash or a hang."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzz_support import FUZZ, check_error, no_hang
from hypothesis import example, given
from hypothesis import strategies as st

from crossmodal.config import load_config
from crossmodal.data.content import content_fingerprint
from crossmodal.data.files import open_data
from crossmodal.data.h5format import ALLOWED_DTYPES, MODALITY_NAME, PairedInfo, read_info
from crossmodal.data.h5writer import write_paired
from crossmodal.errors import ConfigError, UserError
from data_tools.inspect import describe

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["wall", "floor", "chair"]
N, H, W = 3, 4, 5
ROOT_ATTRS = ("format", "format_version", "modalities", "class_names", "source", "num_samples",
              "image_class_names")


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """rgb, depth and label of N tiny frames (one missing depth reading, one ignored label pixel)."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 5, (N, H, W)).astype(np.float32)
    depth[:, 0, 0] = 0.0
    label = rng.integers(0, len(CLASSES), (N, H, W)).astype(np.uint8)
    label[:, -1, -1] = 255
    return {"rgb": rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8), "depth": depth, "label": label}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid files: plain, gzip-compressed (so flipped bytes hit the decompressor) and with image-level class ids."""
    importlib.import_module("crossmodal.data.dataset")  # torch is imported once here, not inside a timed example

    root = tmp_path_factory.mktemp("fuzz_h5")
    plain = write_paired(root / "plain.h5", _arrays(), class_names=CLASSES, source="fuzz")
    gzip = write_paired(root / "gzip.h5", _arrays(1), class_names=CLASSES, source="fuzz", compression="gzip",
                        attrs={"intrinsics": [1.0, 2.0, 3.0, 4.0], "seed": 0})
    ids = root / "class_id.h5"
    shutil.copy(plain, ids)
    with h5py.File(ids, "r+") as f:
        f.create_dataset("class_id", data=np.array([0, 1, -1], np.int64))
        f.attrs["image_class_names"] = np.array(["a", "b"], dtype=h5py.string_dtype("utf-8"))
    return {"plain": plain, "gzip": gzip, "class_id": ids}


def _config(path: Path):
    """A segmentation config whose every split is `path` (what a run given that file would check)."""
    splits = [f"data.{s}={path}" for s in ("unlabeled", "teacher", "train", "test", "val")]
    return load_config(REPO / "configs" / "smoke.yaml", [*splits, "data.synthetic.enabled=false",
                                                         "finetune.label_counts=[]", "methods=[none]"])


def _follows_format(info: PairedInfo) -> None:
    """What read_info accepts follows docs/data_format.md: valid modality names, (N, H, W[, C]) of allowed dtypes."""
    assert info.num_samples >= 1 and info.modalities
    for m in info.modalities:
        assert MODALITY_NAME.fullmatch(m) and m != "index", m
        assert len(info.shapes[m]) in (2, 3) and info.dtypes[m] in ALLOWED_DTYPES, (m, info.shapes[m], info.dtypes[m])


def read_everything(path: Path) -> None:
    """Every way the product reads a paired file; each must succeed or raise a UserError naming the file."""
    def attempt(what: str, fn) -> None:
        with no_hang(f"{what} on {path.name}"):
            try:
                fn()
            except Exception as err:  # noqa: BLE001 - the check re-raises anything but the project's errors
                check_error(err, (UserError,), str(path))

    def samples() -> None:
        from crossmodal.data.dataset import PairedDataset

        info = read_info(path)
        ds = PairedDataset(path, info.modalities + (("class_id",) if info.has_class_id else ()))
        try:
            for i in range(len(ds)):
                ds[i]
        finally:
            ds.close()

    attempt("read_info", lambda: _follows_format(read_info(path)))
    attempt("open_data", lambda: open_data(_config(path)))
    attempt("content_fingerprint", lambda: content_fingerprint(path))  # the frames' digests, stored or computed
    attempt("PairedDataset", samples)
    attempt("data_tools.inspect", lambda: describe(path))


# ----------------------------------------------------------------------------------------------- byte mutations

byte_edits = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=8)


@FUZZ
@given(kind=st.sampled_from(["plain", "gzip", "class_id"]), cut=st.none() | st.floats(0, 1, exclude_max=True),
       flips=st.none() | byte_edits)
@example(kind="plain", cut=None, flips=[(0.8331555259845763, 1)])  # found: OSError from PairedDataset's read
@example(kind="class_id", cut=None, flips=[(0.07972371183335714, 2)])  # found: TypeError reading an attribute
@example(kind="plain", cut=None, flips=[(0.34545350566584077, 128)])  # found: an attribute name as bytes (fingerprint)
def test_cut_or_flipped_bytes(originals: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, kind: str,
                              cut: float | None, flips: list[tuple[float, int]] | None) -> None:
    """A file cut at any offset or with bytes flipped anywhere: success or a FormatError naming it."""
    raw = bytearray(originals[kind].read_bytes())
    for where, xor in flips or []:
        raw[int(where * len(raw))] ^= xor
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = tmp_path_factory.mktemp("bytes") / "mutated.h5"
    path.write_bytes(bytes(raw))
    read_everything(path)


# ------------------------------------------------------------------------------------------ structure mutations

attr_values = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=6), st.binary(max_size=6), st.lists(st.text(min_size=0, max_size=4), max_size=3),
    st.lists(st.integers(-3, 3), max_size=3), st.just(h5py.Empty("f4")),
    st.sampled_from([np.zeros((2, 2), np.int32), np.array([], np.float64), np.array([["a", "b"]], dtype=object),
                     np.uint8(1), np.float32(1.0), "crossmodal-paired", 1, N, 0, -1]))
dtypes = st.sampled_from(["u1", "u2", "f4", "i8", "f8", "?", "i1", "c8", "S3"])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
names = st.sampled_from(["rgb", "depth", "label", "class_id", "thermal"])
operations = st.one_of(
    st.tuples(st.just("del"), names),
    st.tuples(st.just("rename"), names, names),
    st.tuples(st.just("group"), names),
    st.tuples(st.just("dataset"), names, dtypes, shapes | st.sampled_from([(N,), (N, H, W), (N, H, W, 3)])),
    st.tuples(st.just("del_attr"), st.sampled_from(ROOT_ATTRS)),
    st.tuples(st.just("attr"), st.sampled_from(ROOT_ATTRS), attr_values),
    st.tuples(st.just("ds_attr"), names, st.sampled_from(["units", "channels"]), attr_values),
    st.tuples(st.just("values"), names, st.sampled_from([np.nan, -1.0, 254, 255, 7, 65535, 1e30])),
)


def _apply(f: h5py.File, op: tuple) -> None:
    """One structural edit of an open file (edits h5py itself refuses are skipped: they cannot be on disk)."""
    kind, name = op[0], op[1]
    try:
        if kind == "del" and name in f:
            del f[name]
        elif kind == "rename" and name in f and op[2] not in f:
            f.move(name, op[2])
        elif kind == "group":
            if name in f:
                del f[name]
            f.create_group(name)
        elif kind == "dataset":
            if name in f:
                del f[name]
            f.create_dataset(name, data=np.ones(op[3], np.dtype(op[2])))
        elif kind == "del_attr" and name in f.attrs:
            del f.attrs[name]
        elif kind == "attr":
            f.attrs[name] = op[2]
        elif kind == "ds_attr" and isinstance(f.get(name), h5py.Dataset):
            f[name].attrs[op[2]] = op[3]
        elif kind == "values" and isinstance(f.get(name), h5py.Dataset) and f[name].size:
            ds = f[name]
            arr = ds[()]
            with np.errstate(invalid="ignore", over="ignore"):
                arr.flat[0] = np.array(op[2]).astype(ds.dtype)
            ds[()] = arr
    except (TypeError, ValueError, OSError, KeyError, RuntimeError):
        pass


@FUZZ
@given(kind=st.sampled_from(["plain", "gzip", "class_id"]), ops=st.lists(operations, min_size=1, max_size=4))
@example(kind="plain", ops=[("attr", "modalities", b"\x80")])  # found: UnicodeEncodeError looking up the name
@example(kind="plain", ops=[("attr", "modalities", "/rgb")])  # found: accepted as a modality named '/rgb'
@example(kind="plain", ops=[("dataset", "label", "f4", (3, 4, 5))])  # found: float labels passed, inspect crashed
def test_wrong_structure(originals: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, kind: str,
                         ops: list[tuple]) -> None:
    """Datasets and attributes deleted, renamed, retyped, reshaped or set to odd values: success or FormatError."""
    path = tmp_path_factory.mktemp("structure") / "mutated.h5"
    shutil.copy(originals[kind], path)
    with h5py.File(path, "r+") as f:
        for op in ops:
            _apply(f, op)
    read_everything(path)


def test_originals_read(originals: dict[str, Path]) -> None:
    """The unmutated files pass every reader (so the fuzz tests start from valid files)."""
    for path in originals.values():
        info = read_info(path)
        assert info.num_samples == N and f"{N} samples, {H}x{W}" in describe(path)
        with pytest.raises(ConfigError, match="are the same file"):  # every check passed but the last: no leakage
            open_data(_config(path))
