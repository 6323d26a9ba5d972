"""DataLoaders over paired HDF5 files (the files themselves are found and checked in crossmodal.data.files)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from crossmodal.config import Config
from crossmodal.data.dataset import PairedDataset
from crossmodal.data.h5format import PairedInfo
from crossmodal.modalities import InputSpec, PairTransform, ViewTransform
from crossmodal.signals import ignore_stop_signals


def input_spec(cfg: Config, side: str) -> InputSpec:
    """The encoding and standardisation of data.source or data.target."""
    d = cfg.data
    return InputSpec(getattr(d, f"{side}_encoding"), tuple(getattr(d, f"{side}_mean")),
                     tuple(getattr(d, f"{side}_std")))


class EpochSampler(Sampler[int]):
    """Shuffles with a permutation fixed by (seed, epoch) alone, and can start part-way through an epoch.

    The order of epoch e is the same in a fresh run, a resumed run and any number of processes (Accelerate
    splits each global batch), which is what makes resuming exact. `skip(k)` drops the first k samples of
    the next pass only.
    """

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip(self, num: int) -> None:
        self.start = max(0, min(num, self.num_samples))

    def __len__(self) -> int:
        return self.num_samples - self.start

    def __iter__(self):
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]))
        order = torch.randperm(self.num_samples, generator=g)[self.start:].tolist()
        self.start = 0
        yield from order


def make_loader(info: PairedInfo, encodings: dict[str, InputSpec], *, train: bool, batch_size: int, num_workers: int,
                seed: int, label: str | None = None, hflip: bool = True, scale_jitter: float = 0.25,
                indices: list[int] | None = None, views: tuple[int, int] | None = None) -> DataLoader:
    """A loader yielding dicts of encoded tensors plus `index`, augmented jointly when training.

    `label` names the labels it yields too: per-pixel `label`, with the in-memory ignore index IGNORE_INDEX of
    crossmodal.data.labels, or image-level `class_id`. `indices` restricts it to those frames. `views`, (V, view
    seed), limits a training loader's augmentation to V fixed views per frame and yields `view` too (ViewTransform).
    """
    size = (info.height, info.width)
    if views is not None and train:
        transform: PairTransform = ViewTransform(encodings, size, views[0], views[1], hflip=hflip,
                                                 scale_jitter=scale_jitter, seed=seed)
    else:
        transform = PairTransform(encodings, size, train=train, hflip=hflip, scale_jitter=scale_jitter, seed=seed)
    modalities = list(encodings) + ([label] if label else [])
    dataset = PairedDataset(info.path, modalities, transform=transform, indices=indices, memory_labels=True)
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(len(dataset), seed) if train else None,
                      drop_last=train and len(dataset) >= batch_size, num_workers=num_workers,
                      pin_memory=torch.cuda.is_available(),
                      worker_init_fn=ignore_stop_signals if num_workers else None)  # a stop is the main process's


def _epoch_sampler(loader: DataLoader) -> EpochSampler | None:
    """The EpochSampler under a loader, also when Accelerate has wrapped its batch sampler."""
    node = getattr(loader, "batch_sampler", None)
    for _ in range(4):
        if node is None:
            return None
        sampler = getattr(node, "sampler", None)
        if isinstance(sampler, EpochSampler):
            return sampler
        node = getattr(node, "batch_sampler", None)
    return None


def set_loader_epoch(loader: DataLoader, epoch: int, skip_batches: int = 0) -> None:
    """Tell the sampler and the augmentation which epoch this is, and how many of its batches were consumed.

    Both derive their randomness from the epoch. The batches are global ones consumed before a resume.
    """
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    sampler = _epoch_sampler(loader)
    if sampler is not None:
        sampler.set_epoch(epoch)
        sampler.skip(skip_batches * loader.total_batch_size if hasattr(loader, "total_batch_size") else
                     skip_batches * loader.batch_size)
    elif skip_batches:
        raise ValueError("cannot skip batches of a loader without an EpochSampler")
    transform = getattr(loader.dataset, "transform", None)
    if hasattr(transform, "set_epoch"):
        transform.set_epoch(epoch)
