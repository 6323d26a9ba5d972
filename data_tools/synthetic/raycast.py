"""Vectorised ray casting through the pinhole camera.

It covers the room box, the recesses of doors and windows, and every object part z-buffered within its screen
rectangle."""
from __future__ import annotations

import math

import numpy as np

from data_tools.camera import RGB_INTRINSICS_4DP, intrinsics_at_size
from data_tools.synthetic.scene import Scene, to_world


def intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    """NYU RGB intrinsics (fx, fy, cx, cy, data_tools.camera to four decimals) scaled from 640x480 to width x height."""
    return intrinsics_at_size(RGB_INTRINSICS_4DP, height, width)


_RAY_CACHE: dict[tuple[int, int], np.ndarray] = {}


def camera_rays(height: int, width: int) -> np.ndarray:
    """Per-pixel camera-frame directions (x, y, 1), so the ray parameter equals z-depth."""
    key = (height, width)
    if key not in _RAY_CACHE:
        fx, fy, cx, cy = intrinsics(height, width)
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        _RAY_CACHE[key] = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1)
    return _RAY_CACHE[key]


class Hits:
    """Per-pixel nearest hit: z-depth, material, local point and face, world normal."""

    def __init__(self, h: int, w: int) -> None:
        self.z = np.full((h, w), np.inf)
        self.mat = np.zeros((h, w), np.int16)
        self.local = np.zeros((h, w, 3))
        self.axis = np.zeros((h, w), np.int8)
        self.sign = np.zeros((h, w), np.int8)
        self.normal = np.zeros((h, w, 3))


def _cast_room(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: Hits) -> np.ndarray:
    """Exit of every ray from the room box (walls, floor, ceiling); returns the wall id (-1 floor/ceiling)."""
    t, positive = [], []
    for ax in range(3):
        d = dirs[..., ax]
        pos = d > 0
        d = np.where(d == 0, 1e-12, d)
        t.append(np.where(pos, scene.size[ax] - origin[ax], -origin[ax]) / d)
        positive.append(pos)
    axis = np.where(t[0] <= t[1], np.where(t[0] <= t[2], 0, 2), np.where(t[1] <= t[2], 1, 2))
    tz = np.minimum(np.minimum(t[0], t[1]), t[2])
    pos = np.choose(axis, positive)
    wall_mat, floor_mat, ceil_mat = scene.room_mats
    hits.z[...] = tz
    hits.mat[...] = np.where(axis == 2, np.where(pos, ceil_mat, floor_mat), wall_mat)
    hits.local[...] = origin + tz[..., None] * dirs
    hits.axis[...] = axis
    hits.sign[...] = np.where(pos, -1, 1)
    for ax in range(3):
        hits.normal[..., ax] = np.where(axis == ax, np.where(pos, -1.0, 1.0), 0.0)
    return np.where(axis == 2, -1, axis * 2 + pos)


def _cast_openings(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: Hits, wall_id: np.ndarray,
                   glass: np.ndarray) -> None:
    """Rays hitting a door/window rectangle continue into its recess; glass is flagged (no depth)."""
    lx, ly = scene.size[0], scene.size[1]
    for op in scene.openings:
        s_axis = 1 if op.wall < 2 else 0
        s = hits.local[..., s_axis]
        z = hits.local[..., 2]
        sel = (wall_id == op.wall) & (s >= op.s0) & (s <= op.s1) & (z >= op.z0) & (z <= op.z1)
        if not sel.any():
            continue
        lo, hi = np.empty(3), np.empty(3)
        n_axis = 1 - s_axis
        plane = (0.0, lx, 0.0, ly)[op.wall]
        outward = -1.0 if op.wall in (0, 2) else 1.0
        lo[s_axis], hi[s_axis], lo[2], hi[2] = op.s0, op.s1, op.z0, op.z1
        lo[n_axis], hi[n_axis] = sorted((plane, plane + outward * op.depth))
        d = dirs[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t = np.maximum((lo - origin) * inv, (hi - origin) * inv)
        axis = t.argmin(-1)
        tz = t[np.arange(len(t)), axis]
        p = origin + tz[:, None] * d
        back = axis == n_axis
        mat = np.where(back, op.back_mat, op.side_mat)
        if op.glass_mat >= 0:
            ps, pz = p[:, s_axis], p[:, 2]
            f = op.frame
            inner = (ps > op.s0 + f) & (ps < op.s1 - f) & (pz > op.z0 + f) & (pz < op.z1 - f)
            for bar in op.bars:
                inner &= np.abs(ps - bar) > op.frame * 0.6
            is_glass = back & inner
            mat = np.where(is_glass, op.glass_mat, mat)
            g = glass[sel]
            g[is_glass] = True
            glass[sel] = g
        normal = np.zeros_like(p)
        d_ax = d[np.arange(len(d)), axis]
        normal[np.arange(len(d)), axis] = np.where(d_ax > 0, -1.0, 1.0)
        hits.z[sel] = tz
        hits.mat[sel] = mat
        hits.local[sel] = p
        hits.axis[sel] = axis
        hits.sign[sel] = np.where(d_ax > 0, -1, 1)
        hits.normal[sel] = normal


_CORNERS = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], bool)
_EDGES = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
_NEAR = 0.05


def _screen_rect(corners: np.ndarray, origin: np.ndarray, rot: np.ndarray, k: tuple, h: int, w: int) -> tuple | None:
    """Pixel rectangle (v0, v1, u0, u1) covering a box's projection (edges clipped at the near plane)."""
    cam = (corners - origin) @ rot
    z = cam[:, 2]
    front = z > _NEAR
    if not front.any():
        return None
    pts = cam[front]
    if not front.all():
        extra = [cam[a] + (cam[b] - cam[a]) * ((_NEAR - z[a]) / (z[b] - z[a]))
                 for a, b in _EDGES if front[a] != front[b]]
        pts = np.concatenate([pts, np.array(extra)])
    fx, fy, cx, cy = k
    u = fx * pts[:, 0] / pts[:, 2] + cx
    v = fy * pts[:, 1] / pts[:, 2] + cy
    u0, u1 = max(int(math.floor(u.min())) - 1, 0), min(int(math.ceil(u.max())) + 2, w)
    v0, v1 = max(int(math.floor(v.min())) - 1, 0), min(int(math.ceil(v.max())) + 2, h)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _cast_objects(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: Hits, k: tuple) -> None:
    """Z-buffered ray/box intersection for every object part, each within its screen rectangle."""
    h, w = hits.z.shape
    part_id = np.full((h, w), -1, np.int32)
    table = []  # per part: c, s, tx, ty, lo(3), hi(3), mat
    for obj in scene.objects:
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        ox, oy = origin[0] - obj.tx, origin[1] - obj.ty
        o_local = (c * ox + s * oy, -s * ox + c * oy, origin[2])
        rects = []
        for lo, hi, _mat in obj.parts:
            rects.append(_screen_rect(to_world(np.where(_CORNERS, hi, lo), obj.yaw, obj.tx, obj.ty),
                                      origin, scene.cam_rot, k, h, w))
        shown = [r for r in rects if r is not None]
        if not shown:
            table.extend((c, s, obj.tx, obj.ty, *lo, *hi, mat) for lo, hi, mat in obj.parts)
            continue
        v0, v1 = min(r[0] for r in shown), max(r[1] for r in shown)
        u0, u1 = min(r[2] for r in shown), max(r[3] for r in shown)
        dx, dy, dz = dirs[v0:v1, u0:u1, 0], dirs[v0:v1, u0:u1, 1], dirs[v0:v1, u0:u1, 2]
        with np.errstate(divide="ignore"):
            inv = (1.0 / (c * dx + s * dy), 1.0 / (c * dy - s * dx), 1.0 / dz)
        for (lo, hi, mat), rect in zip(obj.parts, rects):
            pid = len(table)
            table.append((c, s, obj.tx, obj.ty, *lo, *hi, mat))
            if rect is None:
                continue
            a0, a1, b0, b1 = rect[0] - v0, rect[1] - v0, rect[2] - u0, rect[3] - u0
            tnear = tfar = None
            with np.errstate(invalid="ignore"):
                for ax in range(3):
                    iv = inv[ax][a0:a1, b0:b1]
                    t1, t2 = (lo[ax] - o_local[ax]) * iv, (hi[ax] - o_local[ax]) * iv
                    lo_t, hi_t = np.minimum(t1, t2), np.maximum(t1, t2)
                    tnear = lo_t if tnear is None else np.maximum(tnear, lo_t)
                    tfar = hi_t if tfar is None else np.minimum(tfar, hi_t)
            zb = hits.z[rect[0]:rect[1], rect[2]:rect[3]]
            hit = (tnear <= tfar) & (tnear > 1e-6) & (tnear < zb)
            zb[hit] = tnear[hit]
            part_id[rect[0]:rect[1], rect[2]:rect[3]][hit] = pid
    sel = part_id >= 0
    if not sel.any():
        return
    parts = np.array(table)[part_id[sel]]
    c, s, tx, ty = parts[:, 0], parts[:, 1], parts[:, 2], parts[:, 3]
    lo, hi = parts[:, 4:7], parts[:, 7:10]
    world = origin + hits.z[sel][:, None] * dirs[sel]
    px, py = world[:, 0] - tx, world[:, 1] - ty
    local = np.stack([c * px + s * py, c * py - s * px, world[:, 2]], -1)
    gaps = np.concatenate([np.abs(local - lo), np.abs(local - hi)], 1)
    face = gaps.argmin(1)
    axis, sign = face % 3, np.where(face >= 3, 1, -1)
    n_local = np.zeros_like(local)
    n_local[np.arange(len(axis)), axis] = sign
    hits.mat[sel] = parts[:, 10].astype(np.int16)
    hits.local[sel] = local
    hits.axis[sel] = axis
    hits.sign[sel] = sign
    hits.normal[sel] = np.stack([c * n_local[:, 0] - s * n_local[:, 1], s * n_local[:, 0] + c * n_local[:, 1],
                                 n_local[:, 2]], -1)


def cast(scene: Scene, dirs: np.ndarray, k: tuple[float, float, float, float]) -> tuple[Hits, np.ndarray]:
    """Nearest hit of every ray from the scene's camera (directions HxWx3, intrinsics k) and the glass mask."""
    height, width = dirs.shape[:2]
    origin = scene.cam_pos
    hits = Hits(height, width)
    glass = np.zeros((height, width), bool)
    wall_id = _cast_room(scene, origin, dirs, hits)
    _cast_openings(scene, origin, dirs, hits, wall_id, glass)
    _cast_objects(scene, origin, dirs, hits, k)
    # A box in front of a window hides its glass.
    glass &= np.array([m.kind == "glass" for m in scene.materials])[hits.mat]
    return hits, glass
