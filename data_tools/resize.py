"""How the data tools bring two sensors' frames to one size without silently changing the geometry.

--resize source|target resizes one side to the other's size. A resize that changes the aspect ratio by more than
1% is refused unless --aspect says how: crop centre-crops the resized side to the other side's aspect first,
stretch scales x and y differently. The camera intrinsics follow the same choice. Shared by data_tools.pairs and
data_tools.rosbag; data_tools.tum, nyu_raw, sunrgbd, scannet and lab apply the same policy to --size HxW.
"""
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
    """The --resize and --aspect choice: which side is resized, and what a change of aspect ratio does.

    `side` is none, source or target: the side resized to the other's size. `aspect` is refuse, crop or stretch.
    """

    side: str = "none"
    aspect: str = "refuse"

    def attrs(self) -> dict[str, str]:
        """Root attributes recording the choice (none when nothing is resized)."""
        if self.side == "none":
            return {}
        return {"resize": self.side, "aspect": "kept (a change refused)" if self.aspect == "refuse" else self.aspect}


NO_RESIZE = Resize()  # nothing resized; the default of the converters' Python functions


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """Add --resize and --aspect, as data_tools.pairs and data_tools.rosbag offer them.

    `what` says what is resized with nearest neighbours.
    """
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
    """(top, left, height, width) of the centred window of src with dst's aspect ratio.

    It is the whole of src when the aspects agree within ASPECT_TOLERANCE.
    """
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


def resized(arr: np.ndarray, size: Size, nearest: bool, exact: bool = False) -> np.ndarray:
    """arr resized to size (H, W): nearest for depth and labels, else area or bilinear.

    Area is used when shrinking, bilinear when enlarging. `exact` picks OpenCV's INTER_NEAREST_EXACT, aligned on
    pixel centres, for nearest. The tools that have always used it, tum and sunrgbd, keep it; those that used
    INTER_NEAREST, pairs, rosbag and scannet, keep theirs.
    """
    h, w = size
    if arr.shape[:2] == (h, w):
        return arr
    if nearest:
        interp = cv2.INTER_NEAREST_EXACT if exact else cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
    out = cv2.resize(arr, (w, h), interpolation=interp)
    return out[..., None] if arr.ndim == 3 and out.ndim == 2 else out


def fit(arr: np.ndarray, size: Size, aspect: str, nearest: bool, what: str, hint: str = "",
        error: type[ValueError] = ValueError) -> np.ndarray:
    """arr brought to size (H, W) as `aspect` says.

    Raises `error`, naming `what`, when the aspect ratio would change and aspect is 'refuse'.
    """
    window = crop_window(arr.shape[:2], size, aspect, what, hint, error)
    return resized(crop_to(arr, window, arr.shape[:2]), size, nearest)


def fit_intrinsics(k: Intrinsics, src: Size, dst: Size, aspect: str, what: str, hint: str = "",
                   error: type[ValueError] = ValueError) -> Intrinsics:
    """fx, fy, cx, cy of a src-sized image after fit() to dst.

    A crop shifts cx, cy by the crop offset and then scales; stretch, or an unchanged aspect, scales x and y by their
    own factors, as data_tools.camera does.
    """
    if tuple(src) == tuple(dst):
        return k
    if aspect_changes(src, dst):
        if aspect == "refuse":
            raise error(refusal(what, src, dst, hint))
        if aspect == "crop":
            top, left, ch, cw = crop_box(src, dst)
            k, src = crop_intrinsics(k, top, left), (ch, cw)
    return scale_intrinsics(k, src, dst)


# ------------------------------------------------------------------------------------------------ --size HxW

def add_aspect_argument(parser: argparse.ArgumentParser) -> None:
    """--aspect for a converter whose --size HxW resizes every frame (tum, nyu_raw, sunrgbd, scannet, lab)."""
    parser.add_argument("--aspect", choices=ASPECTS[1:], default=None,
                        help="when --size would change a frame's aspect ratio (by more than 1%%, refused by "
                             "default): crop = centre-crop the frame to the --size aspect, then resize; stretch = "
                             "resize anyway, distorting the picture. Intrinsics follow the choice")


def size_aspect(size: Size | None, aspect: str | None) -> str:
    """The aspect policy for --size and --aspect: 'refuse' unless --aspect chose crop or stretch.

    ValueError when --aspect comes without --size, which it would not act on.
    """
    if aspect not in (None, "refuse") and size is None:
        raise ValueError(f"--aspect {aspect} chooses what --size does to a frame's aspect ratio; give --size HxW too")
    if (aspect or "refuse") not in ASPECTS:
        raise ValueError(f"--aspect {aspect!r}: expected one of {', '.join(ASPECTS[1:])}")
    return aspect or "refuse"


def size_attrs(size: Size | None, aspect: str) -> dict[str, str]:
    """Root attributes recording what --size did to the aspect ratio.

    They are written as Resize.attrs are; none without --size.
    """
    if size is None:
        return {}
    return {"aspect": "kept (a change refused)" if aspect == "refuse" else aspect}


def crop_window(src: Size, dst: Size, aspect: str, what: str, hint: str = "",
                error: type[ValueError] = ValueError) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a src-sized frame that is then resized to dst.

    It is the centred crop_box when aspect is 'crop' and the aspect changes, else the whole frame. Raises `error`,
    naming `what`, when the aspect changes and aspect is 'refuse'. Tools call it once per frame size, before anything
    is written.
    """
    if aspect_changes(tuple(src), tuple(dst)):
        if aspect == "refuse":
            raise error(refusal(what, tuple(src), tuple(dst), hint))
        if aspect == "crop":
            return crop_box(tuple(src), tuple(dst))
    return 0, 0, int(src[0]), int(src[1])


def crop_to(arr: np.ndarray, window: tuple[int, int, int, int], ref: Size) -> np.ndarray:
    """arr cut to window; arr itself when the window is the whole frame.

    The window is in ref-sized (H, W) coordinates and is scaled when arr has another size: a colour image or label
    map beside the depth frame the window was chosen for.
    """
    top, left, ch, cw = window
    if (top, left, ch, cw) == (0, 0, ref[0], ref[1]):
        return arr
    h, w = arr.shape[:2]
    if (h, w) != tuple(ref):
        sy, sx = h / ref[0], w / ref[1]
        top, left = round(top * sy), round(left * sx)
        ch, cw = max(1, min(h - top, round(ch * sy))), max(1, min(w - left, round(cw * sx)))
    return np.ascontiguousarray(arr[top:top + ch, left:left + cw])
