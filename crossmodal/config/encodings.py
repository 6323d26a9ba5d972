"""Encodings: how a stored array (docs/data_format.md) becomes network input channels.

NumPy only, so configs naming an encoding are checked before torch is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from crossmodal.errors import UserError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Log-depth statistics for indoor scenes (0.5-10 m); fixed so every split is encoded alike.
LOG_DEPTH_MEAN = 0.9
LOG_DEPTH_STD = 0.6


@dataclass(frozen=True)
class Encoding:
    """A named way to turn one stored modality into a float (C, H, W) array."""

    channels: int
    fn: Callable[[np.ndarray], np.ndarray]
    description: str


def _rgb(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0
    return ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def _logdepth_valid(d: np.ndarray) -> np.ndarray:
    valid = d > 0
    logd = np.where(valid, (np.log(np.where(valid, d, 1.0)) - LOG_DEPTH_MEAN) / LOG_DEPTH_STD, 0.0)
    return np.stack([logd, valid]).astype(np.float32)


def _metres(d: np.ndarray) -> np.ndarray:
    return ((d - 3.0) / 2.0 * (d > 0))[None].astype(np.float32)


DEPTH_ENCODINGS = ("logdepth_valid", "metres")  # resampled nearest: holes (0) must not blend into valid depth


def _generic(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x[None]
    else:
        x = x.transpose(2, 0, 1)
    return x


ENCODINGS: dict[str, Encoding] = {
    "rgb": Encoding(3, _rgb, "uint8 RGB scaled to [0, 1] and normalised with ImageNet mean/std"),
    "logdepth_valid": Encoding(2, _logdepth_valid, "standardised log-depth (0 at holes) and a validity mask"),
    "metres": Encoding(1, _metres, "depth in metres, centred at 3 m and scaled by 1/2; holes 0"),
    "raw": Encoding(0, _generic, "the stored array as float32, channels first (channel count from the data)"),
    # HHA (crossmodal.data.hha, docs/hha.md): stored uint8 (H, W, 3) -> [0, 1] -> minus 0.5 per channel (fixed, no
    # data statistics)
    "hha": Encoding(3, lambda x: _generic(x) / np.float32(255.0) - np.float32(0.5),
                    "uint8 HHA (disparity, height, angle) scaled to [0, 1] and centred: x / 255 - 0.5"),
}


@dataclass(frozen=True)
class InputSpec:
    """How one stored modality becomes a network input: an encoding, then optional per-channel standardisation."""

    encoding: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = ENCODINGS[self.encoding].fn(x)
        if self.mean:
            shape = (-1, 1, 1)
            mean = np.asarray(self.mean, np.float32).reshape(shape)
            out = (out - mean) / np.asarray(self.std, np.float32).reshape(shape)
        return out.astype(np.float32, copy=False)


def encoding_channels(name: str, stored_shape: Sequence[int]) -> int:
    """Input channels a network needs for `name` applied to samples of `stored_shape`."""
    enc = ENCODINGS[name]
    if enc.channels:
        return enc.channels
    return 1 if len(stored_shape) == 2 else int(stored_shape[-1])


def check_encoding(name: str, modality: str, stored_shape: Sequence[int], path: str,
                   mean: Sequence[float] = (), std: Sequence[float] = ()) -> None:
    """Fail early when an encoding and its standardisation do not fit what the file stores.

    The stored shape is checked first, as the root cause; only then the mean/std lengths that follow from it.
    """
    if name in ("rgb", "hha") and (len(stored_shape) != 3 or stored_shape[-1] != 3):
        raise UserError(f"{path}: modality '{modality}' has per-sample shape {tuple(stored_shape)}; encoding "
                        f"'{name}' needs (H, W, 3)")
    if name in DEPTH_ENCODINGS and len(stored_shape) != 2:
        raise UserError(f"{path}: modality '{modality}' has per-sample shape {tuple(stored_shape)}; encoding "
                        f"'{name}' needs (H, W) depth in metres")
    channels = encoding_channels(name, stored_shape)
    if len(mean) != len(std) or (mean and len(mean) != channels):
        raise UserError(f"{path}: modality '{modality}' with encoding '{name}' has {channels} channel(s); its "
                         f"mean/std lists must both have {channels} values (got {len(mean)} and {len(std)})")
    if any(v <= 0 for v in std):
        raise UserError(f"{path}: modality '{modality}': std values must be > 0, got {list(std)}")
