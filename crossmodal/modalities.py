"""Modalities: how a stored array (docs/data_format.md) becomes a network input, and paired augmentation."""
from __future__ import annotations

from typing import Any, Mapping

import albumentations as A
import cv2
import numpy as np
import torch

from crossmodal.config.encodings import (  # noqa: F401 (re-exported: the encodings are part of this module's interface)
    DEPTH_ENCODINGS,
    ENCODINGS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LOG_DEPTH_MEAN,
    LOG_DEPTH_STD,
    Encoding,
    InputSpec,
    check_encoding,
    encoding_channels,
)

# OpenCV's own thread pool, once started, can deadlock DataLoader workers forked from this process; augmentation
# of one sample is cheap, so OpenCV runs single-threaded here (the usual advice for cv2 inside PyTorch loaders).
cv2.setNumThreads(0)


class PairTransform:
    """Applies one random geometric augmentation to every modality of a sample, then encodes them.

    Images and other continuous maps (thermal, HHA, L/ab) use bilinear resampling; depth and labels nearest,
    so holes and class ids stay exact.
    The randomness of sample i in epoch e depends only on (seed, e, i): the same for any number of
    workers or processes, and after a resume.
    """

    def __init__(self, encodings: Mapping[str, str | InputSpec], size: tuple[int, int], train: bool,
                 hflip: bool = True, scale_jitter: float = 0.25, seed: int = 0) -> None:
        self.encodings = {k: v if isinstance(v, InputSpec) else InputSpec(v) for k, v in encodings.items()}
        self.seed = seed
        self.epoch = 0
        self.ops: list[Any] = []
        if train and scale_jitter > 0:
            aspect = size[1] / size[0]
            self.ops.append(A.RandomResizedCrop(size=size, scale=(1.0 - scale_jitter, 1.0),
                                                ratio=(aspect * 0.9, aspect * 1.1), p=1.0))
        if train and hflip:
            self.ops.append(A.HorizontalFlip(p=0.5))
        self._aug: tuple[tuple[str, ...], A.Compose] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which with the seed and the sample index fixes each sample's augmentation."""
        self.epoch = epoch

    def augment_seed(self, index: int) -> int:
        """The seed of sample `index`'s augmentation in this epoch."""
        return int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])

    def _compose(self, keys: tuple[str, ...]) -> A.Compose:
        """One Compose for this set of stored keys: labels and depth are masks, everything else an image."""
        if self._aug is None or self._aug[0] != keys:
            targets = {k: "mask" if k not in self.encodings or self.encodings[k].encoding in DEPTH_ENCODINGS
                       else "image" for k in keys}
            self._aug = (keys, A.Compose(self.ops, additional_targets=targets))
        return self._aug[1]

    def __call__(self, sample: dict) -> dict:
        arrays = {k: v for k, v in sample.items() if isinstance(v, np.ndarray)}
        if self.ops:
            keys = tuple(arrays)
            h, w = arrays[keys[0]].shape[:2]
            compose = self._compose(keys)
            compose.set_random_seed(self.augment_seed(int(sample["index"])))
            out = compose(image=np.zeros((h, w, 1), np.uint8), **arrays)
            arrays = {k: out[k] for k in keys}
        result: dict = {"index": sample["index"]}
        if "class_id" in sample:  # an image-level class: untouched by geometry
            result["class_id"] = int(sample["class_id"])
        for key, value in arrays.items():
            if key == "label":
                result["label"] = torch.from_numpy(np.ascontiguousarray(value).astype(np.int64))
            elif key in self.encodings:
                result[key] = torch.from_numpy(np.ascontiguousarray(self.encodings[key](value)))
        return result


class ViewTransform(PairTransform):
    """Paired augmentation restricted to `views` fixed views per sample, for a run with a cached teacher.

    View v of sample i is the augmentation a PairTransform seeded `view_seed` gives it in epoch v: the one the
    teacher's cached outputs were computed on (crossmodal.stages.teacher_cache). Which view sample i gets in
    epoch e depends only on (seed, e, i), as the live augmentation does; the sample says it under `view`.
    """

    def __init__(self, encodings: Mapping[str, str | InputSpec], size: tuple[int, int], views: int, view_seed: int,
                 hflip: bool = True, scale_jitter: float = 0.25, seed: int = 0) -> None:
        super().__init__(encodings, size, train=True, hflip=hflip, scale_jitter=scale_jitter, seed=seed)
        self.views, self.view_seed = views, view_seed

    def view_of(self, index: int) -> int:
        """The view sample `index` gets in this epoch."""
        return int(np.random.SeedSequence([self.seed, self.epoch, index, 1]).generate_state(1)[0]) % self.views

    def augment_seed(self, index: int) -> int:
        stream = np.random.SeedSequence([self.view_seed, self.view_of(index), index])
        return int(stream.generate_state(1)[0])

    def __call__(self, sample: dict) -> dict:
        result = super().__call__(sample)
        result["view"] = self.view_of(int(sample["index"]))
        return result
