"""The paired on-disk format: one HDF5 file per split, one dataset per modality (docs/data_format.md)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crossmodal.data.content import CONSTANT_DATASET, HASH_DATASET
from crossmodal.data.locking import lock_problem
from crossmodal.errors import UserError

FORMAT_NAME = "crossmodal-paired"
FORMAT_VERSION = 1

# Modality names: a letter, then letters, digits or underscores ("rgb", "raw_depth", "L", "ab").
MODALITY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
ALLOWED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
# Root attributes the format owns; callers' extra attributes may not reuse these names.
RESERVED_ATTRS = ("format", "format_version", "modalities", "class_names", "source", "num_samples")
# Keys PairedDataset adds to each sample, and the per-frame content digests (crossmodal.data.content): no modality
# may use them.
RESERVED_MODALITIES = ("index", HASH_DATASET, CONSTANT_DATASET)

DEFAULT_MODALITY_ATTRS: dict[str, dict[str, str]] = {
    "rgb": {"units": "srgb-uint8", "channels": "R,G,B"},
    "depth": {"units": "metres", "channels": "depth (z along the optical axis); 0 = no reading"},
    "raw_depth": {"units": "metres", "channels": "raw sensor depth (z along the optical axis); 0 = no reading"},
    "label": {"units": "class-id", "channels": "class id; 255 = ignore (65535 in uint16 labels)"},
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


def encode_attr(key: str, value: Any, path: Path) -> Any:
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
# The per-modality rules (the writer's and the reader's)
# ----------------------------------------------------------------------------------------------

def check_spec(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, num_classes: int | None) -> None:
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
                              f"{dtype} holds at most {ignore} classes ({ignore} = ignore)"
                              + (", use uint16" if dtype == np.uint8 else ""))


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


def _root_attr(root: dict[str, Any], key: str, path: Path) -> Any:
    """A required root attribute as stored; FormatError when it is missing."""
    if key not in root:
        raise FormatError(f"{path}: root attribute '{key}' is missing (not a {FORMAT_NAME} file?)")
    return root[key]


def _names_attr(value: Any, key: str, path: Path) -> list[str]:
    """A root attribute holding a list of names, decoded; FormatError naming it when it is not one."""
    try:
        return _decode_names(value)
    except TypeError as err:
        raise FormatError(f"{path}: root attribute '{key}': {err}") from err


def _check_root(root: dict[str, Any], path: Path) -> tuple[list[str], int, list[str]]:
    """The modalities, sample count and class names the root attributes state, checked."""
    fmt = _decode(_root_attr(root, "format", path))
    if fmt != FORMAT_NAME:
        raise FormatError(f"{path}: root attribute 'format' is {fmt!r}; expected {FORMAT_NAME!r}")
    version = _decode(_root_attr(root, "format_version", path))
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise FormatError(f"{path}: root attribute 'format_version' is {version!r}; "
                          f"this reader supports {FORMAT_VERSION}")
    modalities = _names_attr(_root_attr(root, "modalities", path), "modalities", path)
    if not modalities:
        raise FormatError(f"{path}: root attribute 'modalities' is empty")
    bad = [m for m in modalities if not MODALITY_NAME.fullmatch(m) or m in RESERVED_MODALITIES]
    if bad:
        raise FormatError(f"{path}: root attribute 'modalities' has invalid names {bad}; expected letters, digits "
                          f"and underscores starting with a letter, not {', '.join(RESERVED_MODALITIES)}")
    num = _decode(_root_attr(root, "num_samples", path))
    if not isinstance(num, int) or num < 1:
        raise FormatError(f"{path}: root attribute 'num_samples' is {num!r}; expected an integer >= 1")
    source = _decode(_root_attr(root, "source", path))
    if not isinstance(source, str):
        raise FormatError(f"{path}: root attribute 'source' is {source!r}; expected a string")
    class_names = _names_attr(root["class_names"], "class_names", path) if "class_names" in root else []
    if "label" in modalities and not class_names:
        raise FormatError(f"{path}: root attribute 'class_names' is missing or empty "
                          f"but the file has a 'label' dataset")
    return modalities, num, class_names


def _read_modality(f: h5py.File, path: Path, m: str, num: int, num_classes: int | None
                   ) -> tuple[tuple[int, ...], np.dtype, dict[str, Any]]:
    """Per-sample shape, dtype and attributes of one listed modality, checked against the format rules."""
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
    shape, dtype = tuple(int(s) for s in ds.shape[1:]), np.dtype(ds.dtype)
    check_spec(path, m, shape, dtype, num_classes)  # the writer's rules (rgb, depth, label)
    return shape, dtype, {k: _decode(v) for k, v in _read_attrs(ds, path).items()}


def _read_class_id(f: h5py.File, root: dict[str, Any], path: Path, num: int) -> list[str]:
    """The names of the image-level classes, after checking the `class_id` dataset against them."""
    ds = f["class_id"]
    if not isinstance(ds, h5py.Dataset) or ds.shape != (num,) or ds.dtype.kind not in "iu":
        raise FormatError(f"{path}: 'class_id' must be an integer dataset of shape ({num},); found "
                          f"{getattr(ds, 'shape', type(ds).__name__)} {getattr(ds, 'dtype', '')}")
    names = _names_attr(root["image_class_names"], "image_class_names", path) if "image_class_names" in root else []
    ids = ds[()]
    if names and (ids.min() < -1 or ids.max() >= len(names)):
        raise FormatError(f"{path}: 'class_id' holds values {int(ids.min())}..{int(ids.max())}; expected -1 (none) "
                          f"or 0..{len(names) - 1} for the {len(names)} names in 'image_class_names'")
    return names


def _read_info(f: h5py.File, path: Path) -> PairedInfo:
    """Validate an open file and collect its PairedInfo."""
    root = _read_attrs(f, path)
    modalities, num, class_names = _check_root(root, path)
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype] = {}
    mod_attrs: dict[str, dict[str, Any]] = {}
    for m in modalities:
        shapes[m], dtypes[m], mod_attrs[m] = _read_modality(f, path, m, num, len(class_names) or None)
    has_class_id = "class_id" in f
    image_names = _read_class_id(f, root, path, num) if has_class_id else []
    extra = {k: _decode(v) for k, v in root.items()
             if k not in ("format", "format_version", "modalities", "class_names", "num_samples", "image_class_names")}
    return PairedInfo(path=path, num_samples=num, modalities=tuple(modalities), shapes=shapes, dtypes=dtypes,
                      class_names=tuple(class_names), attrs=extra, modality_attrs=mod_attrs,
                      image_class_names=tuple(image_names), has_class_id=has_class_id)


def open_paired(path: Path) -> h5py.File:
    """Open a paired file read-only, with clear errors for a missing, locked or corrupt file."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected a {FORMAT_NAME} HDF5 file)")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory; expected a {FORMAT_NAME} HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise FormatError(lock_problem(path, err) or f"{path}: not an HDF5 file, or truncated or corrupt ({err})") \
            from err


def read_info(path: str | os.PathLike) -> PairedInfo:
    """Open, validate and describe a paired file (its datasets are not read)."""
    path = Path(path)
    with open_paired(path) as f:
        try:
            return _read_info(f, path)
        except (OSError, KeyError, RuntimeError) as err:
            raise FormatError(f"{path}: not an HDF5 file, or truncated or corrupt ({err})") from err
