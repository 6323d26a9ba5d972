"""Paired multi-modal data on disk: the HDF5 format, its writers and a lazy torch Dataset."""
from crossmodal.data.h5format import (
    DEFAULT_MODALITY_ATTRS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FormatError,
    PairedDataset,
    PairedInfo,
    PairedWriter,
    read_info,
    write_paired,
)

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
