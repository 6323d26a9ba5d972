"""The paired on-disk format: one HDF5 file per split, one dataset per modality (docs/data_format.md)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from crossmodal.atomic import temp_path_beside
from crossmodal.errors import UserError

FORMAT_NAME = "crossmodal-paired"
FORMAT_VERSION = 1

# Modality names: a letter, then letters, digits or underscores ("rgb", "raw_depth", "L", "ab").
MODALITY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
ALLOWED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
# Root attributes the format owns; callers' extra attributes may not reuse these names.
RESERVED_ATTRS = ("format", "format_version", "modalities", "class_names", "source", "num_samples")
# Keys PairedDataset adds to each sample, so no modality may use them.
RESERVED_MODALITIES = ("index",)

DEFAULT_MODALITY_ATTRS: dict[str, dict[str, str]] = {
    "rgb": {"units": "srgb-uint8", "channels": "R,G,B"},
    "depth": {"units": "metres", "channels": "depth (z along the optical axis); 0 = no reading"},
    "raw_depth": {"units": "metres", "channels": "raw sensor depth (z along the optical axis); 0 = no reading"},
    "label": {"units": "class-id", "channels": "class id; 255 = ignore"},
}


class FormatError(UserError):
    """A file or the data for one does not follow the paired format; the message names file and key."""


# ----------------------------------------------------------------------------------------------
# Attribute encoding / decoding
# ----------------------------------------------------------------------------------------------

def _decode(value: Any) -> Any:
    """Turn an h5py attribute value (bytes, numpy scalars, object arrays) into plain Python."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (str, np.str_)):  # h5py keeps undecodable bytes as surrogates, which cannot be printed
        return str(value).encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            decoded = [_decode(v) for v in value.ravel()]
            return decoded if value.ndim <= 1 else np.array(decoded, dtype=object).reshape(value.shape).tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode_names(value: Any) -> list[str]:
    """Decode a list-of-strings attribute (also accepts a single string)."""
    decoded = _decode(value)
    if isinstance(decoded, str):
        return [decoded]
    if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
        raise TypeError(f"expected a list of strings, got {decoded!r}")
    return decoded


def _encode(key: str, value: Any, path: Path) -> Any:
    """Convert a Python attribute value into something h5py stores portably (vlen utf-8 for text)."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind in "US" or (arr.dtype.kind == "O" and all(isinstance(v, (str, bytes)) for v in arr.ravel())):
            return np.array([_decode(v) for v in arr.ravel()], dtype=h5py.string_dtype("utf-8")).reshape(arr.shape)
        if arr.dtype.kind in "biuf":
            return arr
    raise FormatError(f"{path}: attribute '{key}' has unsupported value {value!r} "
                      f"(expected a string, a number, or a list/array of strings or numbers)")


# ----------------------------------------------------------------------------------------------
# Validation shared by write_paired and PairedWriter
# ----------------------------------------------------------------------------------------------

def _check_spec(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, num_classes: int | None) -> None:
    """Check one modality's per-sample shape and dtype against the format rules."""
    if not isinstance(name, str) or not MODALITY_NAME.fullmatch(name) or name in RESERVED_MODALITIES:
        raise FormatError(f"{path}: modality name {name!r} is invalid (expected letters, digits and "
                          f"underscores starting with a letter, not {', '.join(RESERVED_MODALITIES)})")
    if dtype not in ALLOWED_DTYPES:
        raise FormatError(f"{path}: modality '{name}' has dtype {dtype}; expected one of uint8, uint16, float32")
    if len(shape) not in (2, 3) or any(int(s) < 1 for s in shape):
        raise FormatError(f"{path}: modality '{name}' has per-sample shape {tuple(shape)}; "
                          f"expected (H, W) or (H, W, C)")
    if name == "rgb" and (dtype != np.uint8 or len(shape) != 3 or shape[2] != 3):
        raise FormatError(f"{path}: modality 'rgb' must be uint8 (N, H, W, 3); "
                          f"got {dtype} with per-sample shape {tuple(shape)}")
    if name in ("depth", "raw_depth") and (dtype != np.float32 or len(shape) != 2):
        raise FormatError(f"{path}: modality '{name}' must be float32 (N, H, W) in metres; "
                          f"got {dtype} with per-sample shape {tuple(shape)}")
    if name == "label":
        if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)) or len(shape) != 2:
            raise FormatError(f"{path}: modality 'label' must be uint8 or uint16 (N, H, W); "
                              f"got {dtype} with per-sample shape {tuple(shape)}")
        if num_classes is None:
            raise FormatError(f"{path}: modality 'label' needs class_names (one name per label id)")
        ignore = np.iinfo(dtype).max
        if num_classes > ignore:
            raise FormatError(f"{path}: modality 'label' is {dtype} but there are {num_classes} class_names; "
                              f"{dtype} holds at most {ignore} classes ({ignore} = ignore), use uint16")


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
        out[key] = _encode(key, value, path)
    return out


_temp_path = temp_path_beside


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
            ds.attrs[k] = _encode(k, v, Path(f.filename))


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
        _check_spec(path, name, tuple(arr.shape[1:]), arr.dtype, num_classes)
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

    tmp = _temp_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(root)
            _create_datasets(f, {n: (a.shape[1:], a.dtype) for n, a in arrays.items()}, num_samples,
                             mod_attrs, compression)
            for name, arr in arrays.items():
                f[name][...] = arr
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
            _check_spec(self.path, name, shape, dtype, self.num_classes)
            self.specs[name] = (shape, dtype)
        self.num_samples = int(num_samples)
        mod_attrs = _merge_modality_attrs(self.path, list(self.specs), modality_attrs)
        root = _root_attrs(self.path, list(self.specs), self.num_samples, names_cls, source, attrs)
        self._written = np.zeros(self.num_samples, dtype=bool)
        self._tmp = _temp_path(self.path)
        try:
            self._file = h5py.File(self._tmp, "w")
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
        for name in self.specs:
            self._file[name][int(i)] = sample[name]
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
            self._file.close()
            self._file = None
            _refuse_existing(self.path, self.overwrite)
            os.replace(self._tmp, self.path)
            self._tmp = None
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; nothing is left on disk."""
        if self._file is not None:
            try:
                self._file.close()
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


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairedInfo:
    """What a paired file holds: sizes, per-sample shapes and dtypes, class names and attributes."""

    path: Path
    num_samples: int
    modalities: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    class_names: tuple[str, ...]
    attrs: dict[str, Any]
    modality_attrs: dict[str, dict[str, Any]]
    image_class_names: tuple[str, ...] = ()  # names of the image-level classes in `class_id`, when it exists
    has_class_id: bool = False  # the file holds `class_id` (int64 (N,), -1 = none), e.g. from data_tools.lab

    def holds(self, name: str) -> bool:
        """True when samples can be read under `name`: a modality, or the image-level `class_id`."""
        return name in self.modalities or (name == "class_id" and self.has_class_id)

    @property
    def height(self) -> int:
        """Height of the first modality with at least two per-sample dimensions."""
        return self._spatial()[0]

    @property
    def width(self) -> int:
        """Width of the first modality with at least two per-sample dimensions."""
        return self._spatial()[1]

    @property
    def num_classes(self) -> int:
        """Number of class names (0 when the file has none)."""
        return len(self.class_names)

    def _spatial(self) -> tuple[int, int]:
        for m in self.modalities:
            if len(self.shapes[m]) >= 2:
                return self.shapes[m][0], self.shapes[m][1]
        raise FormatError(f"{self.path}: no modality has (H, W) samples; modalities {list(self.modalities)}")


def _read_attrs(obj: h5py.Group | h5py.Dataset, path: Path) -> dict[str, Any]:
    """All attributes of a group or dataset as stored; FormatError naming it when h5py cannot decode one."""
    try:
        return {k: obj.attrs[k] for k in obj.attrs}
    except (OSError, TypeError, ValueError, KeyError) as err:  # h5py on corrupt attribute headers
        raise FormatError(f"{path}: the attributes of '{obj.name}' cannot be read (truncated or corrupt?): "
                          f"{err}") from None


def _read_info(f: h5py.File, path: Path) -> PairedInfo:
    """Validate an open file and collect its PairedInfo."""
    root = _read_attrs(f, path)

    def attr(key: str) -> Any:
        if key not in root:
            raise FormatError(f"{path}: root attribute '{key}' is missing (not a {FORMAT_NAME} file?)")
        return root[key]

    fmt = _decode(attr("format"))
    if fmt != FORMAT_NAME:
        raise FormatError(f"{path}: root attribute 'format' is {fmt!r}; expected {FORMAT_NAME!r}")
    version = _decode(attr("format_version"))
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise FormatError(f"{path}: root attribute 'format_version' is {version!r}; "
                          f"this reader supports {FORMAT_VERSION}")
    try:
        modalities = _decode_names(attr("modalities"))
    except TypeError as err:
        raise FormatError(f"{path}: root attribute 'modalities': {err}") from err
    if not modalities:
        raise FormatError(f"{path}: root attribute 'modalities' is empty")
    bad = [m for m in modalities if not MODALITY_NAME.fullmatch(m) or m in RESERVED_MODALITIES]
    if bad:
        raise FormatError(f"{path}: root attribute 'modalities' has invalid names {bad}; expected letters, digits "
                          f"and underscores starting with a letter, not {', '.join(RESERVED_MODALITIES)}")
    num = _decode(attr("num_samples"))
    if not isinstance(num, int) or num < 1:
        raise FormatError(f"{path}: root attribute 'num_samples' is {num!r}; expected an integer >= 1")
    source = _decode(attr("source"))
    if not isinstance(source, str):
        raise FormatError(f"{path}: root attribute 'source' is {source!r}; expected a string")
    class_names: list[str] = []
    if "class_names" in root:
        try:
            class_names = _decode_names(root["class_names"])
        except TypeError as err:
            raise FormatError(f"{path}: root attribute 'class_names': {err}") from err
    if "label" in modalities and not class_names:
        raise FormatError(f"{path}: root attribute 'class_names' is missing or empty "
                          f"but the file has a 'label' dataset")

    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype] = {}
    mod_attrs: dict[str, dict[str, Any]] = {}
    for m in modalities:
        if m not in f:
            raise FormatError(f"{path}: modality '{m}' is listed in root attribute 'modalities' but has no dataset "
                              f"(datasets present: {sorted(f.keys())})")
        ds = f[m]
        if not isinstance(ds, h5py.Dataset):
            raise FormatError(f"{path}: '{m}' is a {type(ds).__name__}; expected a dataset")
        if ds.ndim not in (3, 4) or ds.shape[0] != num:
            raise FormatError(f"{path}: dataset '{m}' has shape {ds.shape}; expected ({num}, H, W[, C]) "
                              f"with num_samples = {num}")
        if ds.dtype not in ALLOWED_DTYPES:
            raise FormatError(f"{path}: dataset '{m}' has dtype {ds.dtype}; expected uint8, uint16 or float32")
        shapes[m] = tuple(int(s) for s in ds.shape[1:])
        dtypes[m] = np.dtype(ds.dtype)
        _check_spec(path, m, shapes[m], dtypes[m], len(class_names) or None)  # the writer's rules (rgb, depth, label)
        mod_attrs[m] = {k: _decode(v) for k, v in _read_attrs(ds, path).items()}
    image_names: list[str] = []
    has_class_id = "class_id" in f
    if has_class_id:
        ds = f["class_id"]
        if not isinstance(ds, h5py.Dataset) or ds.shape != (num,) or ds.dtype.kind not in "iu":
            raise FormatError(f"{path}: 'class_id' must be an integer dataset of shape ({num},); found "
                              f"{getattr(ds, 'shape', type(ds).__name__)} {getattr(ds, 'dtype', '')}")
        try:
            image_names = _decode_names(root["image_class_names"]) if "image_class_names" in root else []
        except TypeError as err:
            raise FormatError(f"{path}: root attribute 'image_class_names': {err}") from err
        ids = ds[()]
        if image_names and (ids.min() < -1 or ids.max() >= len(image_names)):
            raise FormatError(f"{path}: 'class_id' holds values {int(ids.min())}..{int(ids.max())}; expected -1 (none) "
                              f"or 0..{len(image_names) - 1} for the {len(image_names)} names in 'image_class_names'")
    extra = {k: _decode(v) for k, v in root.items()
             if k not in ("format", "format_version", "modalities", "class_names", "num_samples", "image_class_names")}
    return PairedInfo(path=path, num_samples=num, modalities=tuple(modalities), shapes=shapes, dtypes=dtypes,
                      class_names=tuple(class_names), attrs=extra, modality_attrs=mod_attrs,
                      image_class_names=tuple(image_names), has_class_id=has_class_id)


def _open(path: Path) -> h5py.File:
    """Open read-only, turning 'missing' and 'not HDF5 / truncated' into clear errors."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected a {FORMAT_NAME} HDF5 file)")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory; expected a {FORMAT_NAME} HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise FormatError(f"{path}: not an HDF5 file, or truncated or corrupt ({err})") from err


def read_info(path: str | os.PathLike) -> PairedInfo:
    """Open, validate and describe a paired file (its datasets are not read)."""
    path = Path(path)
    with _open(path) as f:
        try:
            return _read_info(f, path)
        except (OSError, KeyError, RuntimeError) as err:
            raise FormatError(f"{path}: not an HDF5 file, or truncated or corrupt ({err})") from err
