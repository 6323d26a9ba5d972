"""PairedDataset: the torch view of one paired HDF5 file.

It is kept apart so that reading the format needs no torch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np
import torch.utils.data

from crossmodal.data.h5format import FormatError, open_paired, read_info
from crossmodal.data.labels import to_memory


class PairedDataset(torch.utils.data.Dataset):
    """Samples of chosen modalities from one paired file, opened lazily once per process.

    With `memory_labels`, `label` maps come as uint16 with the one in-memory ignore index,
    crossmodal.data.labels.IGNORE_INDEX, whatever the file stores: uint8 with 255 or uint16 with 65535. Losses and
    metrics then need no per-file ignore value.
    """

    def __init__(self, path: str | os.PathLike, modalities: Sequence[str],
                 transform: Callable[[dict], dict] | None = None, indices: Sequence[int] | None = None,
                 memory_labels: bool = False) -> None:
        self.path = Path(path)
        self.memory_labels = memory_labels
        self.info = read_info(self.path)
        if isinstance(modalities, str):
            modalities = [modalities]
        self.modalities = tuple(modalities)
        if not self.modalities:
            raise ValueError(f"{self.path}: no modalities requested; the file has {list(self.info.modalities)}")
        missing = [m for m in self.modalities if not self.info.holds(m)]
        if missing:
            raise FormatError(f"{self.path}: modality {missing[0]!r} is not in the file; "
                              f"it has {list(self.info.modalities)}")
        n = self.info.num_samples
        if indices is None:
            self.indices = np.arange(n, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
            bad = (self.indices < 0) | (self.indices >= n)
            if bad.any():
                raise IndexError(f"{self.path}: indices {self.indices[bad][:5].tolist()} are outside 0..{n - 1}")
        self.transform = transform
        self._file: h5py.File | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self.indices.size)

    def _handle(self) -> dict[str, h5py.Dataset]:
        """This process's open datasets (re-opened after a fork, so workers never share an h5py handle)."""
        if self._file is None or self._pid != os.getpid():
            self._file = open_paired(self.path)
            self._datasets = {m: self._file[m] for m in self.modalities}
            self._pid = os.getpid()
        return self._datasets

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: index {i} out of range for a dataset of {n} samples")
        i %= n
        datasets = self._handle()
        row = int(self.indices[i])
        try:
            sample: dict = {m: ds[row] for m, ds in datasets.items()}
        except (OSError, RuntimeError) as err:  # what h5py raises on cut or corrupt data chunks
            raise FormatError(f"{self.path}: cannot read sample {row} (truncated or corrupt?): {err}") from None
        if self.memory_labels and "label" in sample:
            sample["label"] = to_memory(sample["label"])
        sample["index"] = i
        return self.transform(sample) if self.transform is not None else sample

    def close(self) -> None:
        """Close this process's file handle (it is re-opened on the next access)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._datasets = {}
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_datasets"] = {}
        state["_pid"] = None
        return state
