"""How the data tools bring two sensors' frames to one size (--resize source|target) without silently changing the
picture's geometry: a resize that changes the aspect ratio by more than 1% is refused unless --aspect says how
(crop: centre-crop the resized side to the other side's aspect first; stretch: scale x and y differently), and
the camera intrinsics follow the same choice. Shared by data_tools.pairs and data_tools.rosbag."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from math import gcd

import cv2
import numpy as np

from data_tools.camera import crop_intrinsics, scale_intrinsics

ASPECT_TOLERANCE = 0.01  # relative aspect-ratio difference a resize may make without an explicit --aspect
SIDES = ("none", "source", "target")
ASPECTS = ("refuse", "crop", "stretch")

Size = tuple[int, int]
Intrinsics = tuple[float, float, float, float]


@dataclass(frozen=True)
class Resize:
    """--resize (which side is resized to the other's size) and --aspect (what a resize that changes the aspect
    ratio does: refuse, crop or stretch)."""

    side: str = "none"
    aspect: str = "refuse"

    def attrs(self) -> dict[str, str]:
        """Root attributes recording the choice (none when nothing is resized)."""
        if self.side == "none":
            return {}
        return {"resize": self.side, "aspect": "kept (a change refused)" if self.aspect == "refuse" else self.aspect}


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--resize and --aspect, as data_tools.pairs and data_tools.rosbag offer them; `what` says what is resized
    with nearest neighbours."""
    parser.add_argument("--resize", choices=SIDES, default="none",
                        help="when sizes differ: resize the source to the target size or the targets to the source "
                             f"size (images area/bilinear, {what} nearest); default none = refuse")
    parser.add_argument("--aspect", choices=ASPECTS[1:], default=None,
                        help="when --resize would change the aspect ratio (by more than 1%%, refused by default): "
                             "crop = centre-crop the resized side to the other side's aspect, then resize; "
                             "stretch = resize anyway, distorting the picture. Intrinsics follow the choice")


def from_args(args: argparse.Namespace) -> Resize:
    """The Resize the command line asks for."""
    if args.aspect is not None and args.resize == "none":
        raise ValueError(f"--aspect {args.aspect} chooses what --resize does to the aspect ratio; give --resize "
                         f"source or --resize target too")
    return Resize(args.resize, args.aspect or "refuse")


def aspect_text(hw: Size) -> str:
    """'480x640 (aspect 4:3)': a size and its width:height ratio, reduced when the numbers stay small."""
    h, w = hw
    d = gcd(h, w)
    ratio = f"{w // d}:{h // d}" if w // d <= 64 and h // d <= 64 else f"{w / h:.3f}"
    return f"{h}x{w} (aspect {ratio})"


def aspect_changes(src: Size, dst: Size) -> bool:
    """True when resizing src (H, W) to dst changes the aspect ratio by more than ASPECT_TOLERANCE."""
    return abs((src[1] / src[0]) / (dst[1] / dst[0]) - 1.0) > ASPECT_TOLERANCE


def crop_box(src: Size, dst: Size) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred window of src with dst's aspect ratio (the whole of src when
    the aspects agree within ASPECT_TOLERANCE)."""
    h, w = src
    if not aspect_changes(src, dst):
        return 0, 0, h, w
    if w * dst[0] > h * dst[1]:  # src is wider than dst: keep every row, fewer columns
        cw = max(1, min(w, round(h * dst[1] / dst[0])))
        return 0, (w - cw) // 2, h, cw
    ch = max(1, min(h, round(w * dst[0] / dst[1])))
    return (h - ch) // 2, 0, ch, w


def refusal(what: str, src: Size, dst: Size, hint: str = "") -> str:
    """The one-line error for a resize that would change the aspect ratio: both sizes, and the options."""
    top, left, ch, cw = crop_box(src, dst)
    return (f"{what}: resizing {aspect_text(src)} to {aspect_text(dst)} would change the aspect ratio; choose "
            f"--aspect crop (centre-crop it to {ch}x{cw}, then resize) or --aspect stretch (distort it)"
            + (f". {hint}" if hint else ""))


def resized(arr: np.ndarray, size: Size, nearest: bool) -> np.ndarray:
    """arr resized to size (H, W): nearest for depth/labels, else area when shrinking, bilinear when enlarging."""
    h, w = size
    if arr.shape[:2] == (h, w):
        return arr
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
    out = cv2.resize(arr, (w, h), interpolation=interp)
    return out[..., None] if arr.ndim == 3 and out.ndim == 2 else out


def fit(arr: np.ndarray, size: Size, aspect: str, nearest: bool, what: str, hint: str = "",
        error: type[ValueError] = ValueError) -> np.ndarray:
    """arr brought to size (H, W) as `aspect` says; `error` (naming `what`) when the aspect ratio would change
    and aspect is 'refuse'."""
    src = arr.shape[:2]
    if aspect_changes(src, size):
        if aspect == "refuse":
            raise error(refusal(what, src, size, hint))
        if aspect == "crop":
            top, left, ch, cw = crop_box(src, size)
            arr = np.ascontiguousarray(arr[top:top + ch, left:left + cw])
    return resized(arr, size, nearest)


def fit_intrinsics(k: Intrinsics, src: Size, dst: Size, aspect: str, what: str, hint: str = "",
                   error: type[ValueError] = ValueError) -> Intrinsics:
    """fx, fy, cx, cy of a src-sized image after fit() to dst: crop shifts cx, cy by the crop offset and then
    scales; stretch (or an unchanged aspect) scales x and y by their own factors (data_tools.camera)."""
    if tuple(src) == tuple(dst):
        return k
    if aspect_changes(src, dst):
        if aspect == "refuse":
            raise error(refusal(what, src, dst, hint))
        if aspect == "crop":
            top, left, ch, cw = crop_box(src, dst)
            k, src = crop_intrinsics(k, top, left), (ch, cw)
    return scale_intrinsics(k, src, dst)
