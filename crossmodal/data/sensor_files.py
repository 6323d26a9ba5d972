"""One sensor frame from a file, converted to what the paired format stores.

Reads 8/16-bit PNG, TIFF, also float, JPEG/BMP colour images and .npy arrays, as docs/data_format.md describes.
Shared by data_tools.pairs and crossmodal-predict, so both read files the same way and refuse the same things.
"""
from __future__ import annotations

from pathlib import Path
from tokenize import TokenError

import cv2
import numpy as np

from crossmodal.data.h5format import FormatError
from crossmodal.data.labels import MAX_CLASSES, label_dtype

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
SUFFIXES = IMAGE_SUFFIXES + (".npy",)
IGNORE = 255  # the ignore value of 8-bit label files (16-bit ones: 65535; crossmodal.data.labels)
# what np.load raises on a cut or corrupt .npy (its header is parsed as a Python literal)
NPY_ERRORS = (ValueError, OSError, EOFError, SyntaxError, TokenError)
# what integer depth files usually hold: no factor is assumed, so messages list these
DEPTH_FACTORS = ("0.001 (millimetres: Kinect, RealSense, ScanNet), 0.0001 (0.1 mm), 0.0002 (1/5000 m: TUM RGB-D), "
                 "or 1 if the values already are metres")


def imread(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """cv2.imread, but None for every file OpenCV cannot decode.

    OpenCV raises cv2.error instead for some files, such as a header claiming more pixels than
    CV_IO_MAX_IMAGE_PIXELS; returning None for them too lets the callers' 'cannot be decoded' errors cover them all.
    """
    try:
        return cv2.imread(str(path), flags)
    except cv2.error:
        return None


def imdecode(data: np.ndarray, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """cv2.imdecode of encoded bytes (uint8 array), None for empty, undecodable or oversized images."""
    if data.size == 0:
        return None
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:
        return None


def list_files(root: Path) -> dict[str, Path]:
    """Every readable frame file under root, keyed by its relative path without the suffix.

    Hidden files are skipped. A FormatError when two files give the same frame, such as 0001.png and 0001.npy.
    """
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in files:
            raise FormatError(f"{root}: two files for frame '{key}': {files[key].name} and {path.name}")
        files[key] = path
    return files


def read_file(path: Path) -> np.ndarray:
    """The array stored in an image or .npy file; errors name the file.

    Images are read with cv2.IMREAD_UNCHANGED, colour as RGB.
    """
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except NPY_ERRORS as err:
            raise FormatError(f"cannot read {path}: {err}") from None
    else:
        arr = imread(path)
        if arr is None:
            raise FormatError(f"cannot read {path} (not an image, unsupported or corrupt)")
        if arr.ndim == 3 and arr.shape[2] in (3, 4):  # BGR(A) -> RGB(A) by indexing: cvtColor refuses int8 TIFFs
            arr = np.ascontiguousarray(arr[..., [2, 1, 0, 3][: arr.shape[2]]])
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or arr.size == 0 or arr.dtype.kind not in "biuf":
        raise FormatError(f"{path}: {arr.dtype} array of shape {arr.shape}; "
                         f"expected a numeric (H, W) or (H, W, C) array")
    return arr


def to_source(arr: np.ndarray, path: Path) -> np.ndarray:
    """A colour image as uint8 RGB (H, W, 3): grey is repeated, alpha dropped."""
    if arr.dtype != np.uint8:
        raise FormatError(f"{path}: source images must be 8-bit, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] not in (3, 4):
        raise FormatError(f"{path}: source image has {arr.shape[2]} channels; expected 1, 3 or 4")
    return np.ascontiguousarray(arr[..., :3])


def to_target(arr: np.ndarray, path: Path, scale: float, nan_as_zero: bool) -> np.ndarray:
    """float32 raw values x scale; NaN/inf refused (naming the file) or set to 0 with nan_as_zero."""
    out = (arr.astype(np.float64) * scale).astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        if not nan_as_zero:
            raise FormatError(f"{path}: {int(bad.sum())} NaN/inf values (after scaling by {scale}); "
                             f"fix the file or pass --nan-as-zero to store them as 0")
        out[bad] = 0.0
    return out


def _label_ids(arr: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ids as int64, and the mask of the file's ignore value.

    The ignore value is the dtype's largest: 255 in 8-bit files, 65535 in 16-bit ones.
    """
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise FormatError(f"{path}: label must be a single-channel integer image of class ids, "
                         f"got {arr.dtype} with shape {arr.shape} (palette/colour label images need converting)")
    return arr.astype(np.int64), arr == np.iinfo(arr.dtype).max


def to_label(arr: np.ndarray, path: Path, num_classes: int | None) -> np.ndarray:
    """Class ids (H, W) as the paired format stores them.

    Up to 255 classes, or num_classes None, give uint8 with 255 = ignore; more give uint16 with 65535 = ignore. The
    file's ignore value, 255 in 8-bit files and 65535 in 16-bit ones, is ignored; so is 255 in a 16-bit file while
    the classes fit uint8 with ids 0..254, as ever. Other ids must be < num_classes.
    """
    ids, ignored = _label_ids(arr, path)
    dtype = np.dtype(np.uint8) if num_classes is None else label_dtype(num_classes)
    ignore = int(np.iinfo(dtype).max)
    if dtype == np.uint8:
        ignored |= ids == IGNORE
    limit = IGNORE if num_classes is None else num_classes
    bad = ((ids < 0) | (ids >= limit)) & ~ignored
    if bad.any():
        shown = sorted(np.unique(ids[bad]).tolist())[:10]
        raise FormatError(f"{path}: label ids {shown} are outside 0..{limit - 1}"
                         + (f" (--class-names lists {num_classes} classes)" if num_classes else "")
                         + f" and not the ignore value {np.iinfo(arr.dtype).max}"
                         + (" (or 255)" if dtype == np.uint8 and arr.dtype.itemsize > 1 else ""))
    ids[ignored] = ignore
    return ids.astype(dtype)


def largest_class_id(arr: np.ndarray, path: Path) -> int:
    """The largest class id in a label image, -1 when it has none.

    The file's ignore value, 255 or 65535, and 255 are left out, so 16-bit images that mark ignore with 255 keep
    meaning ids 0..254, as ever. Ids must lie in 0..65534: at most 65535 classes fit uint16 labels.
    """
    ids, ignored = _label_ids(arr, path)
    ignored |= ids == IGNORE
    bad = ((ids < 0) | (ids >= MAX_CLASSES)) & ~ignored
    if bad.any():
        shown = sorted(np.unique(ids[bad]).tolist())[:10]
        raise FormatError(f"{path}: label ids {shown} are outside 0..{MAX_CLASSES - 1} and not the ignore value "
                         f"{np.iinfo(arr.dtype).max}")
    kept = ids[~ignored]
    return int(kept.max()) if kept.size else -1
