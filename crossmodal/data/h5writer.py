"""Writing the paired format of docs/data_format.md, validated against the format's rules.

Whole arrays are written at once by write_paired, or frame by frame by PairedWriter. Either stages the file beside
the output and renames it into place, with the per-frame content digests of crossmodal.data.content stored.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from crossmodal.atomic import temp_path_beside
from crossmodal.data.content import FrameHasher
from crossmodal.data.h5format import (
    DEFAULT_MODALITY_ATTRS,
    FORMAT_NAME,
    FORMAT_VERSION,
    RESERVED_ATTRS,
    FormatError,
    check_spec,
    encode_attr,
)
from crossmodal.diskspace import (
    WRITE_OPTIONS,
    abandon_h5,
    as_disk_full,
    check_conversion_space,
    frame_bytes,
    writing_h5,
)


def _check_values(path: Path, name: str, arr: np.ndarray, num_classes: int | None, where: str = "") -> None:
    """Check array values: finite non-negative depth, finite floats, label ids in range or ignore."""
    if arr.dtype == np.float32:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise FormatError(f"{path}: modality '{name}'{where} has {int(bad.sum())} non-finite values (NaN/inf); "
                              f"expected finite values (use 0 for 'no reading')")
        if name == "depth" or name.endswith("_depth"):
            neg = arr < 0
            if neg.any():
                raise FormatError(f"{path}: modality '{name}'{where} has {int(neg.sum())} negative values "
                                  f"(min {float(arr.min())}); expected metres >= 0 with 0 = no reading")
    if name == "label" and num_classes is not None:
        ignore = np.iinfo(arr.dtype).max
        bad = (arr >= num_classes) & (arr != ignore)
        if bad.any():
            raise FormatError(f"{path}: modality 'label'{where} has ids {sorted(np.unique(arr[bad]).tolist())[:10]} "
                              f"outside 0..{num_classes - 1} (len(class_names) = {num_classes}) and not the ignore "
                              f"value {ignore}")


def _check_class_names(path: Path, class_names: Sequence[str] | None) -> list[str] | None:
    """Class names must be a sequence of non-empty strings (or None)."""
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise FormatError(f"{path}: class_names must be a sequence of strings, got the single string {class_names!r}")
    names = list(class_names)
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n:
            raise FormatError(f"{path}: class_names[{i}] is {n!r}; expected a non-empty string")
    if not names:
        raise FormatError(f"{path}: class_names is empty; expected one name per label id")
    return names


def _merge_modality_attrs(path: Path, names: Sequence[str],
                          modality_attrs: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, Any]]:
    """Defaults plus caller attributes per modality; every modality must end up with units and channels."""
    extra = dict(modality_attrs or {})
    unknown = sorted(set(extra) - set(names))
    if unknown:
        raise FormatError(f"{path}: modality_attrs given for {unknown}, "
                          f"which are not among the modalities {list(names)}")
    merged: dict[str, dict[str, Any]] = {}
    for name in names:
        attrs = dict(DEFAULT_MODALITY_ATTRS.get(name, {}))
        attrs.update(extra.get(name, {}))
        missing = [k for k in ("units", "channels") if k not in attrs]
        if missing:
            raise FormatError(f"{path}: modality '{name}' needs attributes {missing}; pass them as "
                              f"modality_attrs={{'{name}': {{'units': ..., 'channels': ...}}}}")
        merged[name] = attrs
    return merged


def _root_attrs(path: Path, names: Sequence[str], num_samples: int, class_names: list[str] | None,
                source: str, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """All root attributes of a new file, encoded for h5py."""
    if not isinstance(source, str):
        raise FormatError(f"{path}: source must be a string saying where the data came from, got {source!r}")
    extra = dict(attrs or {})
    clash = sorted(set(extra) & set(RESERVED_ATTRS))
    if clash:
        raise FormatError(f"{path}: attrs may not set the reserved root attributes {clash}")
    out: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": np.int64(FORMAT_VERSION),
        "modalities": np.array(list(names), dtype=h5py.string_dtype("utf-8")),
        "source": source,
        "num_samples": np.int64(num_samples),
    }
    if class_names is not None:
        out["class_names"] = np.array(class_names, dtype=h5py.string_dtype("utf-8"))
    for key, value in extra.items():
        if not isinstance(key, str) or not key:
            raise FormatError(f"{path}: attribute name {key!r} must be a non-empty string")
        out[key] = encode_attr(key, value, path)
    return out


def _refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise FileExistsError naming `path` unless overwriting was asked for."""
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: output already exists (pass overwrite=True / --overwrite to replace it)")


def _create_datasets(f: h5py.File, specs: Mapping[str, tuple[tuple[int, ...], np.dtype]], num_samples: int,
                     mod_attrs: Mapping[str, Mapping[str, Any]], compression: str | None) -> None:
    """Create one chunk-per-sample dataset per modality with its attributes."""
    for name, (shape, dtype) in specs.items():
        ds = f.create_dataset(name, shape=(num_samples, *shape), dtype=dtype, chunks=(1, *shape),
                              compression=compression)
        for k, v in mod_attrs[name].items():
            ds.attrs[k] = encode_attr(k, v, Path(f.filename))


def _check_compression(path: Path, compression: str | None) -> None:
    """Only None, 'lzf' and 'gzip' are portable enough to offer."""
    if compression not in (None, "lzf", "gzip"):
        raise FormatError(f"{path}: compression {compression!r} is not supported; expected None, 'lzf' or 'gzip'")


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def write_paired(path: str | os.PathLike, data: Mapping[str, np.ndarray], *, class_names: Sequence[str] | None,
                 source: str, attrs: Mapping[str, Any] | None = None,
                 modality_attrs: Mapping[str, Mapping[str, str]] | None = None, overwrite: bool = False,
                 compression: str | None = None) -> Path:
    """Validate whole in-memory arrays and write them atomically (temp file, then rename) as one split."""
    path = Path(path)
    _refuse_existing(path, overwrite)
    _check_compression(path, compression)
    if not data:
        raise FormatError(f"{path}: no modalities given; expected e.g. {{'rgb': ..., 'depth': ...}}")
    names_cls = _check_class_names(path, class_names)
    num_classes = None if names_cls is None else len(names_cls)
    arrays = {}
    counts = {}
    for name, arr in data.items():
        if not isinstance(arr, np.ndarray):
            raise FormatError(f"{path}: modality {name!r} is a {type(arr).__name__}; expected a numpy array")
        if arr.ndim not in (3, 4):
            raise FormatError(f"{path}: modality {name!r} has shape {arr.shape}; expected (N, H, W) or (N, H, W, C)")
        check_spec(path, name, tuple(arr.shape[1:]), arr.dtype, num_classes)
        counts[name] = arr.shape[0]
        arrays[name] = arr
    if len(set(counts.values())) != 1:
        raise FormatError(f"{path}: modalities have different numbers of samples {counts}; expected the same N for all")
    num_samples = next(iter(counts.values()))
    if num_samples < 1:
        raise FormatError(f"{path}: no samples (N = 0); expected at least one")
    for name, arr in arrays.items():
        _check_values(path, name, arr, num_classes)
    mod_attrs = _merge_modality_attrs(path, list(arrays), modality_attrs)
    root = _root_attrs(path, list(arrays), num_samples, names_cls, source, attrs)

    check_conversion_space(path, num_samples, frame_bytes({n: (a.shape[1:], a.dtype) for n, a in arrays.items()}))
    tmp = temp_path_beside(path)
    try:
        with writing_h5(tmp, "w", shown=path) as f:  # a full disk: DiskFullError naming `path`, no HDF5 crash
            f.attrs.update(root)
            _create_datasets(f, {n: (a.shape[1:], a.dtype) for n, a in arrays.items()}, num_samples,
                             mod_attrs, compression)
            for name, arr in arrays.items():
                f[name][...] = arr
            FrameHasher.of(arrays).store(f)  # per-frame content digests (leakage checks, fingerprints)
        _refuse_existing(path, overwrite)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class PairedWriter:
    """Streaming writer: declare shapes up front, write sample by sample, rename into place on success."""

    def __init__(self, path: str | os.PathLike, num_samples: int,
                 specs: Mapping[str, tuple[tuple[int, ...], np.dtype]], *, class_names: Sequence[str] | None,
                 source: str, attrs: Mapping[str, Any] | None = None,
                 modality_attrs: Mapping[str, Mapping[str, str]] | None = None, overwrite: bool = False,
                 compression: str | None = None) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self._file: h5py.File | None = None
        self._tmp: Path | None = None
        _refuse_existing(self.path, overwrite)
        _check_compression(self.path, compression)
        if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise FormatError(f"{self.path}: num_samples is {num_samples!r}; expected an integer >= 1")
        if not specs:
            raise FormatError(f"{self.path}: no modalities in specs; expected e.g. {{'rgb': ((H, W, 3), np.uint8)}}")
        names_cls = _check_class_names(self.path, class_names)
        self.num_classes = None if names_cls is None else len(names_cls)
        self.specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for name, spec in specs.items():
            try:
                shape, dtype = tuple(int(s) for s in spec[0]), np.dtype(spec[1])
            except (TypeError, ValueError, IndexError) as err:
                raise FormatError(f"{self.path}: specs[{name!r}] is {spec!r}; "
                                  f"expected (per-sample shape, dtype)") from err
            check_spec(self.path, name, shape, dtype, self.num_classes)
            self.specs[name] = (shape, dtype)
        self.num_samples = int(num_samples)
        mod_attrs = _merge_modality_attrs(self.path, list(self.specs), modality_attrs)
        root = _root_attrs(self.path, list(self.specs), self.num_samples, names_cls, source, attrs)
        self._written = np.zeros(self.num_samples, dtype=bool)
        self._hasher = FrameHasher(list(self.specs), self.num_samples)
        check_conversion_space(self.path, self.num_samples, frame_bytes(self.specs))  # room for it, uncompressed
        self._tmp = temp_path_beside(self.path)
        try:
            self._file = h5py.File(self._tmp, "w", **WRITE_OPTIONS)  # a full disk raises in write(), not later
            self._file.attrs.update(root)
            _create_datasets(self._file, self.specs, self.num_samples, mod_attrs, compression)
        except BaseException:
            self.abort()
            raise

    def write(self, i: int, sample: Mapping[str, np.ndarray]) -> None:
        """Validate one sample (every modality, exact shape and dtype) and store it at row i."""
        if self._file is None:
            raise RuntimeError(f"{self.path}: writer is already closed")
        if not 0 <= int(i) < self.num_samples:
            raise IndexError(f"{self.path}: sample index {i} out of range 0..{self.num_samples - 1}")
        missing = sorted(set(self.specs) - set(sample))
        extra = sorted(set(sample) - set(self.specs))
        if missing or extra:
            raise FormatError(f"{self.path}: sample {i} has modalities {sorted(sample)}; expected {sorted(self.specs)}"
                              f" (missing {missing}, unexpected {extra})")
        for name, (shape, dtype) in self.specs.items():
            arr = sample[name]
            if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype:
                got = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise FormatError(f"{self.path}: sample {i} modality '{name}' is {got}; expected {dtype} {shape}")
            _check_values(self.path, name, arr, self.num_classes, where=f" (sample {i})")
        try:
            for name in self.specs:
                self._file[name][int(i)] = sample[name]
        except (OSError, RuntimeError) as err:  # a full disk (h5py's wording or errno): the file is discarded
            full = as_disk_full(err, self.path)
            if full is None:
                raise
            self.abort()
            raise full from err
        self._hasher.add(int(i), sample)
        self._written[int(i)] = True

    def close(self) -> Path:
        """Finish: all samples must have been written; flush and rename the temp file into place."""
        if self._file is None:
            raise RuntimeError(f"{self.path}: writer is already closed")
        if not self._written.all():
            todo = np.flatnonzero(~self._written)
            self.abort()
            raise FormatError(f"{self.path}: only {self.num_samples - todo.size} of {self.num_samples} samples were "
                              f"written (first missing: {todo[:5].tolist()}); nothing was saved")
        try:
            self._hasher.store(self._file)  # per-frame content digests (crossmodal.data.content)
            self._file.flush()  # a full disk shows here, while the file can still be abandoned cleanly
            self._file.close()
            self._file = None
            _refuse_existing(self.path, self.overwrite)
            os.replace(self._tmp, self.path)
            self._tmp = None
        except BaseException as err:
            self.abort()
            full = as_disk_full(err, self.path)
            if full is not None:
                raise full from err
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; nothing is left on disk."""
        if self._file is not None:
            try:
                abandon_h5(self._file)  # its last flush goes nowhere: the disk may be full, the file is deleted
            finally:
                self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> PairedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif self._file is not None:
            self.close()

    def __del__(self) -> None:
        if getattr(self, "_tmp", None) is not None:
            self.abort()
