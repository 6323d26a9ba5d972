"""Geometry of bag frames for data_tools.rosbag: one size per frame, and the intrinsics that follow.

The topics of one frame are brought to one size as --resize and --aspect say, the policy of data_tools.resize
that data_tools.pairs shares; the CameraInfo intrinsics follow the same crop and scale.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from data_tools.frames import is_depth
from data_tools.resize import NO_RESIZE, Resize, aspect_changes, aspect_text, fit, fit_intrinsics
from data_tools.ros_messages import BagError, Role

UNREGISTERED_HINT = ("A depth topic that is not registered to the colour camera (e.g. /camera/depth/image_rect_raw "
                     "instead of /camera/aligned_depth_to_color/image_raw) has the depth camera's own size and "
                     "aspect, and its pixels do not match the colour's: record and pair the registered one")


def fit_sizes(frame: dict[str, np.ndarray], roles: list[Role], resize: Resize, stamp: float
              ) -> dict[str, np.ndarray]:
    """Bring all modalities to one size as --resize says.

    A change of aspect ratio happens only as --aspect chooses.
    """
    sizes = {n: a.shape[:2] for n, a in frame.items()}
    if len(set(sizes.values())) == 1:
        return frame
    by = {r.name: r for r in roles}
    listed = ", ".join(f"{by[n].topic} {s[0]}x{s[1]}" for n, s in sizes.items())
    if resize.side == "none":
        raise BagError(f"frame with source stamp {stamp:.9f}: sizes differ ({listed}); pass --resize source or "
                       f"--resize target to resize one side to the other")
    source = next(r.name for r in roles if r.role == "source")
    targets = [r.name for r in roles if r.role == "target"]
    if resize.side == "source" and len({sizes[n] for n in targets}) > 1:
        raise BagError(f"frame with source stamp {stamp:.9f}: targets differ in size ({listed}); "
                       f"--resize source needs one target size")
    ref = sizes[source] if resize.side == "target" else sizes[targets[0]]
    resized = targets if resize.side == "target" else [source]
    return {n: fit(a, ref, resize.aspect, nearest=is_depth(n), error=BagError, hint=UNREGISTERED_HINT,
                   what=f"frame with source stamp {stamp:.9f}: {by[n].topic} ({n})") if n in resized else a
            for n, a in frame.items()}


def camera_intrinsics(info: Any, roles: list[Role], raw_sizes: dict, stored: tuple[int, int],
                      resize: Resize = NO_RESIZE, topic: str = "") -> list[float]:
    """fx, fy, cx, cy from a CameraInfo's K, brought to the stored size as the images were.

    K is for the CameraInfo's image size, or the source's when it states none. data_tools.resize.fit_intrinsics
    applies the change: a crop shifts cx, cy, then all four scale.
    """
    k = [float(v) for v in (info.k if hasattr(info, "k") else info.K)]  # ROS 2 names it k, ROS 1 K
    size = (int(info.height), int(info.width))
    if size[0] <= 0 or size[1] <= 0:
        src = next(r for r in roles if r.role == "source")
        size = raw_sizes[src.name][0]
    what = f"--camera-info {topic} (its K is for {size[0]}x{size[1]} images, stored {stored[0]}x{stored[1]})"
    if resize.side == "none" and aspect_changes(size, stored):
        raise BagError(f"--camera-info {topic}: its K is for {aspect_text(size)} images but the frames are "
                       f"{aspect_text(stored)} and nothing is resized: the camera info of another camera or mode? "
                       f"Name the colour camera's camera-info topic, or leave --camera-info out")
    return list(fit_intrinsics((k[0], k[4], k[2], k[5]), size, stored, resize.aspect, what, error=BagError))
