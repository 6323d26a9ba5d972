"""Paired multi-modal data on disk: the HDF5 format, its writers and a lazy torch Dataset.

PairedDataset is imported on first use, so reading and checking files needs no torch.
"""
from typing import Any

from crossmodal.data.h5format import (
    DEFAULT_MODALITY_ATTRS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FormatError,
    PairedInfo,
    read_info,
)
from crossmodal.data.h5writer import PairedWriter, write_paired

__all__ = [
    "DEFAULT_MODALITY_ATTRS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FormatError",
    "PairedDataset",
    "PairedInfo",
    "PairedWriter",
    "read_info",
    "write_paired",
]


def __getattr__(name: str) -> Any:
    if name == "PairedDataset":
        from crossmodal.data.dataset import PairedDataset
        return PairedDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
