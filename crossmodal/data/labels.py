"""Label maps in files and in memory.

A paired file (and a label image) stores class ids as uint8 for up to 255 classes or uint16 for more, its ignore
value being the dtype's largest (255 or 65535). In memory every label map and tensor uses one ignore index,
IGNORE_INDEX = 65535, which is never a class id (the format holds at most 65535 classes): class 255 of a 300-class
file is a class like any other, and a uint8 file's 255 is ignored exactly as before.
"""
from __future__ import annotations

import numpy as np

IGNORE_INDEX = 65535  # the in-memory ignore index of every label map and tensor (losses, confusion matrices)
MAX_CLASSES = 65535  # class ids 0..65534 fit uint16 beside its ignore value 65535
UINT8_CLASSES = 255  # class ids 0..254 fit uint8 beside its ignore value 255
LABEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def label_dtype(num_classes: int) -> np.dtype:
    """The dtype that stores `num_classes` class ids and the ignore value.

    uint8 up to 255 classes, else uint16.
    """
    if not 1 <= int(num_classes) <= MAX_CLASSES:
        raise ValueError(f"{num_classes} classes: expected 1..{MAX_CLASSES} (uint16 labels, 65535 = ignore)")
    return np.dtype(np.uint8) if num_classes <= UINT8_CLASSES else np.dtype(np.uint16)


def file_ignore(dtype: np.dtype | type) -> int:
    """The ignore value of stored labels of this dtype: 255 for uint8, 65535 for uint16."""
    dtype = np.dtype(dtype)
    if dtype not in LABEL_DTYPES:
        raise ValueError(f"labels are stored as uint8 or uint16, not {dtype}")
    return int(np.iinfo(dtype).max)


def ignore_of(label: np.ndarray) -> int:
    """The ignore value a label array uses.

    Stored uint8/uint16 maps use their dtype's largest value; the wider integer maps of memory use IGNORE_INDEX. The
    two agree for uint16.
    """
    dtype = np.asarray(label).dtype
    return file_ignore(dtype) if dtype in LABEL_DTYPES else IGNORE_INDEX


def to_memory(label: np.ndarray) -> np.ndarray:
    """A stored uint8/uint16 label map as uint16 with its ignore value mapped to IGNORE_INDEX (ids kept)."""
    label = np.asarray(label)
    out = label.astype(np.uint16)
    if label.dtype == np.uint8:
        out[label == 255] = IGNORE_INDEX
    elif label.dtype != np.uint16:
        raise ValueError(f"labels are stored as uint8 or uint16, not {label.dtype}")
    return out
