"""Procedural indoor RGB-D frames with NYU-40 labels: the project's embedded default data (no downloads).

Rooms are boxes with furniture built from a few boxes, rendered by vectorised numpy ray casting through
a pinhole camera with the NYU Kinect RGB intrinsics. Depth gets a Kinect-like sensor model (noise growing
with z^2, disparity quantisation, parallax shadows, dropouts, no reading on glass or out of range).

    python -m data_tools.synthetic --out data/synthetic --num 2000 --size 120x160 --seed 0
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from data_tools.common import int_at_least, parse_size

# ----------------------------------------------------------------------------------------------
# Classes, splits, camera
# ----------------------------------------------------------------------------------------------

# (name, NYU-40 id); the label id is the position in this tuple.
CLASSES: tuple[tuple[str, int], ...] = (
    ("wall", 1), ("floor", 2), ("cabinet", 3), ("bed", 4), ("chair", 5), ("sofa", 6), ("table", 7),
    ("door", 8), ("window", 9), ("bookshelf", 10), ("picture", 11), ("ceiling", 22),
)
CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in CLASSES)
NYU40_IDS: tuple[int, ...] = tuple(nyu for _, nyu in CLASSES)
(WALL, FLOOR, CABINET, BED, CHAIR, SOFA, TABLE, DOOR, WINDOW, BOOKSHELF, PICTURE, CEILING) = range(len(CLASSES))

SPLITS: dict[str, int] = {"unlabeled": 0, "teacher": 1, "train": 2, "test": 3, "val": 4}

# NYU Depth v2 RGB camera at 640x480: fx, fy, cx, cy.
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)
NYU_SIZE = (480, 640)
MIN_DEPTH, MAX_DEPTH = 0.5, 10.0
KINECT_BASELINE = 0.075  # metres between IR projector and camera (parallax shadows)
KINECT_FB = 580.0 * KINECT_BASELINE  # focal length x baseline at the native resolution, pixel-metres


def intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    """NYU RGB intrinsics (fx, fy, cx, cy) scaled from 640x480 to width x height."""
    fx, fy, cx, cy = NYU_INTRINSICS
    sx, sy = width / NYU_SIZE[1], height / NYU_SIZE[0]
    return fx * sx, fy * sy, cx * sx, cy * sy


# ----------------------------------------------------------------------------------------------
# Scene description
# ----------------------------------------------------------------------------------------------

@dataclass
class Material:
    """Surface class and appearance: a texture kind, a base colour and kind-specific parameters."""

    cls: int
    kind: str
    colour: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Obj:
    """Boxes sharing one yawed frame (local x right, y front, z up) placed at (tx, ty) on the floor."""

    parts: list[tuple[np.ndarray, np.ndarray, int]]  # (lo, hi, material index) in local coordinates
    yaw: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    grounded: bool = True  # furniture darkens the floor around and under it; wall items do not

    def corners_world(self) -> np.ndarray:
        """All part corners in world coordinates, (8 * parts, 3)."""
        lo = np.array([p[0] for p in self.parts])
        hi = np.array([p[1] for p in self.parts])
        sel = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], bool)
        pts = np.where(sel[None], hi[:, None], lo[:, None]).reshape(-1, 3)
        return _to_world(pts, self.yaw, self.tx, self.ty)

    def footprint(self) -> tuple[float, float, float, float]:
        """World axis-aligned footprint (x0, y0, x1, y1)."""
        pts = self.corners_world()
        return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()


@dataclass
class Opening:
    """A recess behind a wall rectangle (door or window); the back plane may be glass (no depth)."""

    wall: int
    s0: float
    s1: float
    z0: float
    z1: float
    depth: float
    back_mat: int
    side_mat: int
    glass_mat: int = -1  # >= 0: back plane is glass except for a frame of width `frame`
    frame: float = 0.05
    bars: tuple[float, ...] = ()  # along-wall positions of vertical glazing bars


@dataclass
class Scene:
    """A room (box [0,L] x [0,W] x [0,H]), its contents, lighting and camera."""

    size: np.ndarray
    materials: list[Material]
    room_mats: tuple[int, int, int]  # wall, floor, ceiling
    objects: list[Obj]
    openings: list[Opening]
    light: np.ndarray
    light_power: float
    ambient: float
    tint: np.ndarray
    cam_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cam_rot: np.ndarray = field(default_factory=lambda: np.eye(3))


def _to_world(pts: np.ndarray, yaw: float, tx: float, ty: float) -> np.ndarray:
    """Rotate local points about z by yaw and translate by (tx, ty)."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = pts.copy()
    out[:, 0] = c * pts[:, 0] - s * pts[:, 1] + tx
    out[:, 1] = s * pts[:, 0] + c * pts[:, 1] + ty
    return out


def _box(x0: float, y0: float, z0: float, x1: float, y1: float, z1: float,
         mat: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A part: corners (lo, hi) in the object's local frame and its material."""
    return np.array([x0, y0, z0]), np.array([x1, y1, z1]), mat


def _jitter(rng: np.random.Generator, colour: tuple[float, float, float], amount: float = 0.08) -> np.ndarray:
    """A colour with per-channel and brightness jitter, clipped to [0.02, 1]."""
    c = np.array(colour) * rng.uniform(1 - amount * 2, 1 + amount * 2) + rng.normal(0, amount, 3)
    return np.clip(c, 0.02, 1.0)


WOODS = ((0.55, 0.36, 0.2), (0.68, 0.5, 0.32), (0.4, 0.25, 0.14), (0.78, 0.63, 0.45), (0.3, 0.18, 0.1))
PAINTS = ((0.86, 0.84, 0.79), (0.82, 0.74, 0.62), (0.72, 0.72, 0.72), (0.66, 0.73, 0.8), (0.72, 0.79, 0.66),
          (0.9, 0.83, 0.62), (0.88, 0.72, 0.62), (0.8, 0.8, 0.84))
FABRICS = ((0.5, 0.5, 0.52), (0.25, 0.3, 0.5), (0.55, 0.2, 0.18), (0.3, 0.45, 0.3), (0.7, 0.62, 0.5),
           (0.42, 0.28, 0.2), (0.18, 0.18, 0.2), (0.75, 0.75, 0.78))
BOOKS = ((0.7, 0.1, 0.1), (0.1, 0.2, 0.6), (0.1, 0.45, 0.2), (0.85, 0.75, 0.3), (0.9, 0.9, 0.85), (0.15, 0.15, 0.15),
         (0.6, 0.35, 0.15), (0.5, 0.2, 0.5), (0.2, 0.55, 0.6))


class _Builder:
    """Collects materials and objects for one scene."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.materials: list[Material] = []

    def mat(self, cls: int, kind: str, colour: np.ndarray, **params: Any) -> int:
        """Register a material (with its own noise grid) and return its index."""
        params.setdefault("grid", self.rng.random((16, 16)))
        params.setdefault("table", self.rng.random(64))
        self.materials.append(Material(cls, kind, np.asarray(colour, float), params))
        return len(self.materials) - 1

    def wood(self, cls: int, **params: Any) -> int:
        """A wood material with a random species colour and grain frequency."""
        return self.mat(cls, "wood", _jitter(self.rng, WOODS[self.rng.integers(len(WOODS))]),
                        freq=self.rng.uniform(6, 14), **params)

    def paint(self, cls: int, kind: str = "plain", colours: tuple = PAINTS, **params: Any) -> int:
        """A painted (flat, slightly mottled) material in one of `colours`."""
        return self.mat(cls, kind, _jitter(self.rng, colours[self.rng.integers(len(colours))], 0.05), **params)

    def fabric(self, cls: int, **params: Any) -> int:
        """An upholstery material with soft folds."""
        return self.mat(cls, "fabric", _jitter(self.rng, FABRICS[self.rng.integers(len(FABRICS))], 0.1), **params)

    def wood_or_paint(self, cls: int, p_wood: float, **params: Any) -> int:
        """Wood with probability p_wood, else a plain painted finish."""
        if self.rng.random() < p_wood:
            return self.wood(cls, **params)
        return self.paint(cls, "plain", **params)


# --- furniture, each in its local frame (front = +y, floor at z = 0) ---------------------------

def _bed(b: _Builder) -> list:
    """Base, mattress, headboard (at the back, -y) and one or two pillows."""
    r = b.rng
    w, d, h = r.uniform(1.0, 2.0), r.uniform(1.9, 2.15), r.uniform(0.42, 0.62)
    frame = b.wood_or_paint(BED, 0.6)
    sheet = b.fabric(BED)
    pillow = b.mat(BED, "fabric", _jitter(r, (0.88, 0.88, 0.86), 0.05))
    parts = [_box(-w / 2, -d / 2, 0, w / 2, d / 2, h - 0.2, frame),
             _box(-w / 2 + 0.02, -d / 2 + 0.02, h - 0.2, w / 2 - 0.02, d / 2 - 0.02, h, sheet),
             _box(-w / 2 - 0.03, -d / 2 - 0.07, 0, w / 2 + 0.03, -d / 2, h + r.uniform(0.3, 0.7), frame)]
    n = 1 if w < 1.3 else 2
    pw = (w - 0.2) / n
    for i in range(n):
        x0 = -w / 2 + 0.1 + i * pw
        parts.append(_box(x0 + 0.03, -d / 2 + 0.08, h, x0 + pw - 0.03, -d / 2 + 0.5, h + r.uniform(0.08, 0.15), pillow))
    return parts


def _table(b: _Builder) -> list:
    """Dining or coffee table: top and four legs."""
    r = b.rng
    coffee = r.random() < 0.3
    w, d = (r.uniform(0.8, 1.3), r.uniform(0.45, 0.7)) if coffee else (r.uniform(0.8, 1.8), r.uniform(0.6, 1.0))
    h = r.uniform(0.38, 0.5) if coffee else r.uniform(0.68, 0.78)
    top_t, leg, inset = r.uniform(0.03, 0.06), r.uniform(0.04, 0.08), r.uniform(0.02, 0.08)
    m = b.wood_or_paint(TABLE, 0.75)
    parts = [_box(-w / 2, -d / 2, h - top_t, w / 2, d / 2, h, m)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - inset - leg / 2), sy * (d / 2 - inset - leg / 2)
            parts.append(_box(x - leg / 2, y - leg / 2, 0, x + leg / 2, y + leg / 2, h - top_t, m))
    return parts


def _chair(b: _Builder) -> list:
    """Seat, back (at -y) and four legs."""
    r = b.rng
    w, d, sh = r.uniform(0.4, 0.5), r.uniform(0.4, 0.5), r.uniform(0.42, 0.48)
    leg, back_t, top = r.uniform(0.03, 0.045), r.uniform(0.03, 0.06), r.uniform(0.8, 1.0)
    if r.random() < 0.5:
        m = b.wood(CHAIR)
    else:
        m = b.mat(CHAIR, "plain", _jitter(r, ((0.15, 0.15, 0.16), (0.6, 0.6, 0.6), (0.7, 0.2, 0.15),
                                               (0.2, 0.35, 0.6))[r.integers(4)], 0.05))
    seat = b.fabric(CHAIR) if r.random() < 0.4 else m
    parts = [_box(-w / 2, -d / 2, sh - 0.05, w / 2, d / 2, sh, seat),
             _box(-w / 2, -d / 2, sh, w / 2, -d / 2 + back_t, top, m)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - leg / 2), sy * (d / 2 - leg / 2)
            parts.append(_box(x - leg / 2, y - leg / 2, 0, x + leg / 2, y + leg / 2, sh - 0.05, m))
    return parts


def _sofa(b: _Builder) -> list:
    """Base, back, two arms, two or three seat cushions and feet."""
    r = b.rng
    w, d, sh = r.uniform(1.5, 2.4), r.uniform(0.8, 0.95), r.uniform(0.38, 0.46)
    bh, bt, aw, ah = r.uniform(0.75, 0.95), r.uniform(0.15, 0.25), r.uniform(0.12, 0.22), r.uniform(0.55, 0.68)
    m = b.fabric(SOFA)
    cushion = b.mat(SOFA, "fabric", np.clip(b.materials[m].colour * r.uniform(0.9, 1.15), 0, 1),
                    grid=b.materials[m].params["grid"])
    parts = [_box(-w / 2, -d / 2, 0.06, w / 2, d / 2, sh - 0.12, m),
             _box(-w / 2, -d / 2, 0.06, w / 2, -d / 2 + bt, bh, m),
             _box(-w / 2, -d / 2, 0.06, -w / 2 + aw, d / 2, ah, m),
             _box(w / 2 - aw, -d / 2, 0.06, w / 2, d / 2, ah, m)]
    n = int(r.integers(2, 4))
    cw = (w - 2 * aw) / n
    for i in range(n):
        x0 = -w / 2 + aw + i * cw
        parts.append(_box(x0 + 0.008, -d / 2 + bt, sh - 0.12, x0 + cw - 0.008, d / 2 - 0.01, sh, cushion))
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)
            parts.append(_box(x - 0.03, y - 0.03, 0, x + 0.03, y + 0.03, 0.06, m))
    return parts


def _cabinet(b: _Builder) -> list:
    """Low dresser or tall wardrobe on a plinth, with doors/drawers drawn on its front."""
    r = b.rng
    tall = r.random() < 0.4
    w, d = r.uniform(0.4, 1.4), r.uniform(0.35, 0.6)
    h = r.uniform(1.5, 2.1) if tall else r.uniform(0.5, 0.95)
    drawers = 0 if tall else int(r.integers(0, 5))
    m = b.wood_or_paint(CABINET, 0.55, doors=2 if w > 0.65 else 1, drawers=drawers, x0=-w / 2, x1=w / 2,
                        z0=0.08, z1=h, handle=_jitter(r, (0.5, 0.5, 0.52), 0.1))
    b.materials[m].params["pattern"] = "cabinet"
    parts = [_box(-w / 2 + 0.02, -d / 2, 0, w / 2 - 0.02, d / 2 - 0.04, 0.08, m),
             _box(-w / 2, -d / 2, 0.08, w / 2, d / 2, h, m)]
    if not tall:
        parts.append(_box(-w / 2 - 0.02, -d / 2, h, w / 2 + 0.02, d / 2 + 0.02, h + 0.03, m))
    return parts


def _bookshelf(b: _Builder) -> list:
    """Open frame with shelves, each holding a block of books set back from the front."""
    r = b.rng
    w, d, h, t = r.uniform(0.6, 1.4), r.uniform(0.25, 0.4), r.uniform(1.0, 2.2), r.uniform(0.018, 0.03)
    m = b.wood_or_paint(BOOKSHELF, 0.7)
    books = b.mat(BOOKSHELF, "books", np.zeros(3), width=r.uniform(0.025, 0.05),
                  palette=np.array([_jitter(r, BOOKS[i], 0.06) for i in r.integers(0, len(BOOKS), 8)]))
    parts = [_box(-w / 2, -d / 2, 0, -w / 2 + t, d / 2, h, m), _box(w / 2 - t, -d / 2, 0, w / 2, d / 2, h, m),
             _box(-w / 2, -d / 2, 0, w / 2, -d / 2 + t, h, m), _box(-w / 2, -d / 2, h - t, w / 2, d / 2, h, m),
             _box(-w / 2, -d / 2, 0, w / 2, d / 2, 0.06, m)]
    n = max(2, int(round((h - 0.06) / r.uniform(0.3, 0.42))))
    levels = np.linspace(0.06, h - t, n + 1)
    for i in range(n):
        z0, z1 = levels[i], levels[i + 1]
        if i > 0:
            parts.append(_box(-w / 2, -d / 2, z0 - t, w / 2, d / 2, z0, m))
        if r.random() < 0.9:
            inner = w - 2 * t
            fill = r.uniform(0.45, 1.0) * inner
            x0 = -w / 2 + t + r.uniform(0, inner - fill)
            parts.append(_box(x0, -d / 2 + t, z0, x0 + fill, d / 2 - r.uniform(0.02, 0.07),
                              z0 + (z1 - z0 - t) * r.uniform(0.6, 0.92), books))
    return parts


FURNITURE: dict[str, tuple[Callable[[_Builder], list], float, float]] = {
    # name: (builder, sampling weight, probability of standing against a wall)
    "bed": (_bed, 0.13, 0.9), "table": (_table, 0.18, 0.3), "chair": (_chair, 0.18, 0.2),
    "sofa": (_sofa, 0.15, 0.7), "cabinet": (_cabinet, 0.19, 0.95), "bookshelf": (_bookshelf, 0.17, 1.0),
}


# --- room layout --------------------------------------------------------------------------------

def _wall_frame(wall: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (s = 0), along-wall unit vector, inward normal and length of wall 0..3 (x=0, x=L, y=0, y=W)."""
    lx, ly = size[0], size[1]
    if wall == 0:
        return np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), ly
    if wall == 1:
        return np.array([lx, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), ly
    if wall == 2:
        return np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), lx
    return np.array([0.0, ly]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), lx


def _facing_yaw(normal: np.ndarray) -> float:
    """Yaw that turns local +y (front) to the given world direction."""
    return math.atan2(-normal[0], normal[1])


def _overlaps(a: tuple, b: tuple, margin: float) -> bool:
    """Whether rectangles (x0, y0, x1, y1) come closer than margin."""
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


class _Layout:
    """Places wall items and furniture without collisions (per-wall rectangles, floor footprints)."""

    def __init__(self, b: _Builder, size: np.ndarray) -> None:
        self.b, self.size = b, size
        self.rng = b.rng
        self.wall_rects: list[list[tuple[float, float, float, float, bool]]] = [[], [], [], []]  # s0,z0,s1,z1,door
        self.footprints: list[tuple[float, float, float, float]] = []
        self.objects: list[Obj] = []
        self.openings: list[Opening] = []

    def _free_on_wall(self, wall: int, s0: float, z0: float, s1: float, z1: float, margin: float = 0.1) -> bool:
        for r in self.wall_rects[wall]:
            if _overlaps((s0, z0, s1, z1), r[:4], margin):
                return False
        return True

    def _wall_point(self, wall: int, s: float) -> tuple[np.ndarray, np.ndarray, float]:
        origin, along, normal, _ = _wall_frame(wall, self.size)
        return origin + along * s, normal, _facing_yaw(normal)

    def wall_item(self, kind: str) -> None:
        """Try to place a door, window or picture on a random wall."""
        r = self.rng
        height = self.size[2]
        for _ in range(20):
            wall = int(r.integers(4))
            length = _wall_frame(wall, self.size)[3]
            if kind == "door":
                w, z0, z1 = r.uniform(0.75, 1.0), 0.0, min(r.uniform(1.95, 2.15), height - 0.2)
            elif kind == "window":
                w, z0 = r.uniform(0.6, 2.0), r.uniform(0.6, 1.1)
                z1 = min(z0 + r.uniform(0.8, 1.5), height - 0.15)
            else:
                w, hh, zc = r.uniform(0.3, 1.2), r.uniform(0.25, 0.9), r.uniform(1.2, 1.8)
                z0, z1 = zc - hh / 2, min(zc + hh / 2, height - 0.2)
            if w > length - 0.4:
                continue
            s0 = r.uniform(0.15, length - 0.15 - w)
            s1 = s0 + w
            if not self._free_on_wall(wall, s0 - 0.08, z0, s1 + 0.08, z1 + 0.08):
                continue
            self.wall_rects[wall].append((s0 - 0.08, z0, s1 + 0.08, z1 + 0.08, kind == "door"))
            getattr(self, f"_{kind}")(wall, s0, s1, z0, z1)
            return

    def _door(self, wall: int, s0: float, s1: float, z0: float, z1: float) -> None:
        r, b = self.rng, self.b
        panel = b.wood_or_paint(DOOR, 0.5)
        trim = b.paint(DOOR, "plain", ((0.9, 0.9, 0.88), (0.8, 0.78, 0.72), (0.45, 0.3, 0.2)))
        leaf = b.materials[panel].params
        leaf.update(pattern="door", handle=_jitter(r, (0.55, 0.55, 0.55), 0.1))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        w, tw, tt = s1 - s0, r.uniform(0.05, 0.09), r.uniform(0.008, 0.02)
        parts = [_box(-w / 2 - tw, 0, 0, -w / 2, tt, z1 + tw, trim), _box(w / 2, 0, 0, w / 2 + tw, tt, z1 + tw, trim),
                 _box(-w / 2, 0, z1, w / 2, tt, z1 + tw, trim)]
        if r.random() < 0.5:  # recessed panel
            leaf.update(s0=s0, s1=s1, z1=z1, world=True)
            self.openings.append(Opening(wall, s0, s1, z0, z1, r.uniform(0.02, 0.07), panel, trim))
        else:  # panel standing proud of the wall
            leaf.update(s0=-w / 2, s1=w / 2, z1=z1, world=False)
            parts.append(_box(-w / 2, 0, 0, w / 2, r.uniform(0.015, 0.04), z1, panel))
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def _window(self, wall: int, s0: float, s1: float, z0: float, z1: float) -> None:
        r, b = self.rng, self.b
        frame = b.paint(WINDOW, "plain", ((0.92, 0.92, 0.9), (0.85, 0.85, 0.85), (0.4, 0.28, 0.18), (0.3, 0.3, 0.32)))
        glass = b.mat(WINDOW, "glass", _jitter(r, (1.0, 1.0, 1.0), 0.04), sky=_jitter(r, (0.7, 0.82, 1.0), 0.05),
                      ground=_jitter(r, (0.45, 0.55, 0.35), 0.1), horizon=z0 + (z1 - z0) * r.uniform(0.2, 0.6))
        w = s1 - s0
        bars = tuple(np.linspace(s0, s1, int(w // 0.7) + 2)[1:-1]) if w > 0.9 else ()
        self.openings.append(Opening(wall, s0, s1, z0, z1, r.uniform(0.08, 0.25), frame, frame, glass,
                                     r.uniform(0.03, 0.07), bars))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        sill = r.uniform(0.02, 0.06)
        parts = [_box(-w / 2 - 0.05, 0, z0 - 0.04, w / 2 + 0.05, sill, z0, frame)]
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def _picture(self, wall: int, s0: float, s1: float, z0: float, z1: float) -> None:
        r, b = self.rng, self.b
        w = s1 - s0
        frames = ((0.1, 0.1, 0.1), (0.75, 0.6, 0.3), (0.45, 0.3, 0.2), (0.9, 0.9, 0.9))
        m = b.mat(PICTURE, "art", _jitter(r, frames[r.integers(4)], 0.05),
                  x0=-w / 2, x1=w / 2, z0=z0, z1=z1, border=r.uniform(0.015, 0.06),
                  waves=r.uniform(2, 12, (3, 2)), phase=r.uniform(0, 6.3, 3),
                  colours=np.array([_jitter(r, tuple(r.random(3)), 0.0) for _ in range(3)]))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        parts = [_box(-w / 2, 0, z0, w / 2, r.uniform(0.01, 0.04), z1, m)]  # 1-4 cm proud of the wall
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def furniture(self, name: str) -> Obj | None:
        """Try to place one piece of furniture against a wall or free-standing; None when it does not fit."""
        build, _, p_wall = FURNITURE[name]
        r = self.rng
        n_mats = len(self.b.materials)
        parts = build(self.b)
        lo = np.min([p[0] for p in parts], axis=0)
        hi = np.max([p[1] for p in parts], axis=0)
        for _ in range(25):
            wall = None
            if r.random() < p_wall:
                wall = int(r.integers(4))
                length = _wall_frame(wall, self.size)[3]
                half = (hi[0] - lo[0]) / 2
                if length < 2 * half + 0.1:
                    continue
                s = r.uniform(half + 0.05, length - half - 0.05)
                point, normal, yaw = self._wall_point(wall, s)
                pos = point + normal * (-lo[1] + r.uniform(0.005, 0.05))
                rect = (s - half, 0.0, s + half, hi[2])
                if not self._free_on_wall(wall, *rect, margin=0.05):
                    continue  # never in front of a door, window or picture
            else:
                yaw = r.uniform(0, 2 * math.pi)
                pos = np.array([r.uniform(0.5, self.size[0] - 0.5), r.uniform(0.5, self.size[1] - 0.5)])
            obj = Obj(parts, yaw, pos[0], pos[1])
            fp = obj.footprint()
            if fp[0] < 0 or fp[1] < 0 or fp[2] > self.size[0] or fp[3] > self.size[1]:
                continue
            if any(_overlaps(fp, other, 0.12) for other in self.footprints):
                continue
            if not self._door_clear(fp):
                continue
            if wall is not None:
                self.wall_rects[wall].append((*rect, False))
            self.footprints.append(fp)
            self.objects.append(obj)
            return obj
        del self.b.materials[n_mats:]
        return None

    def _door_clear(self, fp: tuple) -> bool:
        """Keep a 0.6 m deep free area in front of every door."""
        for wall, rects in enumerate(self.wall_rects):
            origin, along, normal, _ = _wall_frame(wall, self.size)
            for s0, _, s1, _, door in rects:
                if not door:
                    continue
                pts = np.array([origin + along * s0, origin + along * s1, origin + along * s0 + normal * 0.6,
                                origin + along * s1 + normal * 0.6])
                zone = (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
                if _overlaps(fp, zone, 0.0):
                    return False
        return True

    def chairs_around(self, table: Obj) -> None:
        """Add one to three chairs facing a table (they may tuck under its top, not into anything else)."""
        r = self.rng
        table_fp = table.footprint()
        for _ in range(int(r.integers(1, 4))):
            side = r.integers(4)
            ang = table.yaw + side * math.pi / 2
            hi = np.max([p[1] for p in table.parts], axis=0)
            reach = (hi[1] if side % 2 == 0 else hi[0]) + r.uniform(0.15, 0.35)
            direction = np.array([-math.sin(ang), math.cos(ang)])  # local +y rotated by ang
            pos = np.array([table.tx, table.ty]) + direction * reach
            n_mats = len(self.b.materials)
            chair = Obj(_chair(self.b), math.atan2(direction[0], -direction[1]) + r.normal(0, 0.2), pos[0], pos[1])
            fp = chair.footprint()
            ok = fp[0] >= 0 and fp[1] >= 0 and fp[2] <= self.size[0] and fp[3] <= self.size[1]
            ok = ok and self._door_clear(fp)
            ok = ok and not any(_overlaps(fp, other, 0.02) for other in self.footprints if other != table_fp)
            if ok:
                self.objects.append(chair)
                self.footprints.append(fp)
            else:
                del self.b.materials[n_mats:]


def _floor_material(b: _Builder) -> int:
    """Wooden planks, tiles or carpet."""
    r = b.rng
    kind = r.choice(["planks", "tiles", "carpet"], p=[0.5, 0.25, 0.25])
    if kind == "planks":
        return b.mat(FLOOR, "planks", _jitter(r, WOODS[r.integers(len(WOODS))]), width=r.uniform(0.1, 0.22),
                     length=r.uniform(0.8, 1.6), axis=int(r.integers(2)), freq=r.uniform(6, 12))
    if kind == "tiles":
        return b.mat(FLOOR, "tiles", _jitter(r, ((0.8, 0.78, 0.74), (0.55, 0.55, 0.55), (0.75, 0.65, 0.5),
                                                  (0.3, 0.3, 0.3))[r.integers(4)], 0.05),
                     size=r.uniform(0.3, 0.6), grout=_jitter(r, (0.6, 0.6, 0.58), 0.1))
    return b.mat(FLOOR, "carpet", _jitter(r, ((0.45, 0.42, 0.38), (0.3, 0.35, 0.5), (0.55, 0.45, 0.35),
                                               (0.35, 0.35, 0.35), (0.6, 0.25, 0.2))[r.integers(5)], 0.06))


def build_scene(rng: np.random.Generator) -> Scene:
    """A random room with furniture, doors, windows and pictures, plus light and camera pose."""
    b = _Builder(rng)
    size = np.array([rng.uniform(3, 7.5), rng.uniform(3, 7.5), rng.uniform(2.4, 3.2)])
    wall = b.paint(WALL, "paint")
    floor = _floor_material(b)
    ceiling = b.mat(CEILING, "plain", _jitter(rng, (0.92, 0.92, 0.9), 0.03))
    lay = _Layout(b, size)
    for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
        lay.wall_item("door")
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        lay.wall_item("window")
    names = list(FURNITURE)
    weights = np.array([FURNITURE[n][1] for n in names])
    for _ in range(int(rng.integers(3, 10))):
        name = names[rng.choice(len(names), p=weights / weights.sum())]
        obj = lay.furniture(name)
        if obj is not None and name == "table" and rng.random() < 0.6 and lay.footprints:
            lay.chairs_around(obj)
    for _ in range(int(rng.integers(0, 5))):
        lay.wall_item("picture")
    light = np.array([rng.uniform(0.8, size[0] - 0.8), rng.uniform(0.8, size[1] - 0.8),
                      size[2] - rng.uniform(0.3, 0.7)])
    scene = Scene(size, b.materials, (wall, floor, ceiling), lay.objects, lay.openings, light,
                  light_power=rng.uniform(3.0, 8.0), ambient=rng.uniform(0.25, 0.45),
                  tint=_jitter(rng, (1.0, 0.95, 0.85), 0.04))
    _place_camera(scene, lay.footprints, rng)
    return scene


def _place_camera(scene: Scene, footprints: list, rng: np.random.Generator) -> None:
    """Camera 1.0-1.7 m high in free floor space, looking at furniture or across the room, tilted down."""
    size = scene.size
    pos = None
    for attempt in range(200):
        clearance = 0.45 if attempt < 150 else 0.1
        p = np.array([rng.uniform(0.35, size[0] - 0.35), rng.uniform(0.35, size[1] - 0.35)])
        if all(not _overlaps((p[0], p[1], p[0], p[1]), fp, clearance) for fp in footprints):
            pos = p
            break
    if pos is None:  # hopelessly cluttered: stand in the middle and drop the furniture around that spot
        pos = size[:2] / 2
        spot = (pos[0], pos[1], pos[0], pos[1])
        scene.objects = [o for o in scene.objects if not (o.grounded and _overlaps(o.footprint(), spot, 0.3))]
    targets = [np.array([(fp[0] + fp[2]) / 2, (fp[1] + fp[3]) / 2]) for fp in footprints]
    targets = [t for t in targets if np.linalg.norm(t - pos) > 1.3]
    if targets and rng.random() < 0.75:
        target = targets[rng.integers(len(targets))]
    else:  # the far side of the room
        far = np.array([size[0] - pos[0] if pos[0] < size[0] / 2 else -pos[0],
                        size[1] - pos[1] if pos[1] < size[1] / 2 else -pos[1]])
        target = pos + far * rng.uniform(0.5, 1.0, 2)
    d = target - pos
    yaw = math.atan2(d[1], d[0]) + rng.normal(0, 0.3)
    pitch = float(np.clip(rng.normal(0.15, 0.13), -0.12, 0.5))
    roll = rng.normal(0, 0.03)
    scene.cam_pos = np.array([pos[0], pos[1], rng.uniform(1.0, 1.7)])
    scene.cam_rot = camera_rotation(yaw, pitch, roll)


def camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation (camera x right, y down, z forward; world z up), pitch > 0 looks down."""
    r0 = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    c, s = math.cos(yaw), math.sin(yaw)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    c, s = math.cos(pitch), math.sin(pitch)
    ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    c, s = math.cos(roll), math.sin(roll)
    rr = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return rz @ ry @ r0 @ rr


# ----------------------------------------------------------------------------------------------
# Ray casting
# ----------------------------------------------------------------------------------------------

class _Hits:
    """Per-pixel nearest hit: z-depth, material, local point and face, world normal."""

    def __init__(self, h: int, w: int) -> None:
        self.z = np.full((h, w), np.inf)
        self.mat = np.zeros((h, w), np.int16)
        self.local = np.zeros((h, w, 3))
        self.axis = np.zeros((h, w), np.int8)
        self.sign = np.zeros((h, w), np.int8)
        self.normal = np.zeros((h, w, 3))


def _cast_room(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: _Hits) -> np.ndarray:
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


def _cast_openings(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: _Hits, wall_id: np.ndarray,
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


def _cast_objects(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: _Hits, k: tuple) -> None:
    """Z-buffered ray/box intersection for every object part, each within its screen rectangle."""
    h, w = hits.z.shape
    part_id = np.full((h, w), -1, np.int32)
    table = []  # per part: c, s, tx, ty, lo(3), hi(3), mat
    for obj in scene.objects:
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        ox, oy = origin[0] - obj.tx, origin[1] - obj.ty
        o_local = (c * ox + s * oy, -s * ox + c * oy, origin[2])
        rects = []
        for lo, hi, mat in obj.parts:
            rects.append(_screen_rect(_to_world(np.where(_CORNERS, hi, lo), obj.yaw, obj.tx, obj.ty),
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


# ----------------------------------------------------------------------------------------------
# Appearance
# ----------------------------------------------------------------------------------------------

def _noise(grid: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] from a periodic random grid (one cell per unit of u, v)."""
    g = grid.shape[0]
    x, y = np.mod(u, g), np.mod(v, g)
    i, j = x.astype(np.int64), y.astype(np.int64)
    fx, fy = x - i, y - j
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    i1, j1 = (i + 1) % g, (j + 1) % g
    a, b, c, d = grid[j, i], grid[j, i1], grid[j1, i], grid[j1, i1]
    return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy


def _wood(m: Material, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Wood grain: bands across v distorted by noise, streaks along u."""
    g = m.params["grid"]
    ring = 0.5 + 0.5 * np.sin(2 * np.pi * (v * m.params["freq"] + 2.0 * _noise(g, u * 1.5, v * 3)))
    streak = _noise(g, u * 2 + 7.3, v * 25)
    shade = 0.78 + 0.14 * ring ** 3 + 0.12 * streak
    return m.colour * shade[:, None]


def _albedo(m: Material, u: np.ndarray, v: np.ndarray, axis: np.ndarray, sign: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Surface colour (linear RGB, n x 3) of material m at tangent coordinates (u, v) in metres."""
    kind, g, prm = m.kind, m.params["grid"], m.params
    front = (axis == 1) & (sign > 0)
    if kind == "wood":
        out = _wood(m, u, v)
        pattern = prm.get("pattern")
        if pattern == "cabinet":
            out = _cabinet_front(m, out, front, p)
        elif pattern == "door":
            out = _door_face(m, out, u, v, p)
        return out
    if kind in ("plain", "paint"):
        amp = 0.05 if kind == "plain" else 0.035
        out = m.colour * (1 + amp * (_noise(g, u * 1.3, v * 1.3) - 0.5) * 2)[:, None]
        if prm.get("pattern") == "cabinet":
            out = _cabinet_front(m, out, front, p)
        elif prm.get("pattern") == "door":
            out = _door_face(m, out, u, v, p)
        return out
    if kind == "fabric":
        folds = _noise(g, u * 3, v * 3)
        return m.colour * (0.8 + 0.3 * folds)[:, None]
    if kind == "carpet":
        return m.colour * (0.85 + 0.15 * _noise(g, u * 4, v * 4) + 0.1 * _noise(g, u * 20 + 3, v * 20))[:, None]
    if kind == "planks":
        along, across = (u, v) if prm["axis"] == 0 else (v, u)
        row = np.floor(across / prm["width"])
        offset = prm["table"][row.astype(np.int64) % 64] * prm["length"]
        col = np.floor((along + offset) / prm["length"])
        tone = 0.75 + 0.35 * prm["table"][(row.astype(np.int64) * 7 + col.astype(np.int64) * 13) % 64]
        wood = _wood(m, along * 0.4, across * 3) * tone[:, None]
        fa = (across / prm["width"]) % 1.0
        fl = ((along + offset) / prm["length"]) % 1.0
        seam = (fa < 0.06) | (fl < 0.015)
        return np.where(seam[:, None], wood * 0.55, wood)
    if kind == "tiles":
        size = prm["size"]
        fu, fv = (u / size) % 1.0, (v / size) % 1.0
        idx = (np.floor(u / size) * 5 + np.floor(v / size) * 11).astype(np.int64) % 64
        tile = m.colour * (0.92 + 0.16 * prm["table"][idx] + 0.05 * _noise(g, u * 6, v * 6))[:, None]
        grout = (fu < 0.025) | (fv < 0.025)
        return np.where(grout[:, None], prm["grout"], tile)
    if kind == "books":
        idx = np.floor(u / prm["width"] + 0.3 * _noise(g, u * 5, v * 0.1)).astype(np.int64)
        col = prm["palette"][idx % len(prm["palette"])] * (0.8 + 0.3 * prm["table"][idx % 64])[:, None]
        top = 0.6 + 0.3 * _noise(g, u * 30, v * 30)
        return np.where(front[:, None], col, np.array([0.85, 0.82, 0.75]) * top[:, None])
    if kind == "art":
        x, z = p[:, 0], p[:, 2]
        waves, ph, cols = prm["waves"], prm["phase"], prm["colours"]
        out = np.zeros((len(x), 3))
        for i in range(3):
            out += cols[i] * (0.5 + 0.5 * np.sin(waves[i, 0] * x + waves[i, 1] * z + ph[i]))[:, None]
        out = np.clip(out / 1.6 + 0.1 * (_noise(g, x * 8, z * 8) - 0.5)[:, None], 0.02, 1)
        bd = prm["border"]
        frame = (x < prm["x0"] + bd) | (x > prm["x1"] - bd) | (z < prm["z0"] + bd) | (z > prm["z1"] - bd)
        return np.where((front & ~frame)[:, None], out, m.colour)
    if kind == "glass":
        return m.colour * np.ones((len(u), 1))
    raise ValueError(f"unknown material kind {kind!r}")


def _cabinet_front(m: Material, out: np.ndarray, front: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Door and drawer seams plus handles on the front face of a cabinet."""
    prm = m.params
    x, z = p[:, 0], p[:, 2]
    seam = np.zeros(len(x), bool)
    handle = np.zeros(len(x), bool)
    z0, z1 = prm["z0"], prm["z1"]
    if prm["drawers"]:
        levels = np.linspace(z0, z1, prm["drawers"] + 1)
        for zl in levels[1:-1]:
            seam |= np.abs(z - zl) < 0.006
        for a, bb in zip(levels[:-1], levels[1:]):
            zc = (a + bb) / 2
            handle |= (np.abs(z - zc) < 0.015) & (np.abs(x) < 0.06)
    else:
        if prm["doors"] == 2:
            seam |= np.abs(x) < 0.005
            handle |= (np.abs(np.abs(x) - 0.05) < 0.012) & (np.abs(z - min(z1 - 0.15, 1.0)) < 0.06)
        else:
            handle |= (np.abs(x - (prm["x1"] - 0.06)) < 0.012) & (np.abs(z - min(z1 - 0.15, 1.0)) < 0.06)
    out = np.where((front & seam)[:, None], out * 0.45, out)
    return np.where((front & handle)[:, None], prm["handle"], out)


def _door_face(m: Material, out: np.ndarray, u: np.ndarray, v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inset panel lines and a handle on a door leaf."""
    prm = m.params
    s = u if prm["world"] else p[:, 0]
    s0, s1, z1 = prm["s0"], prm["s1"], prm["z1"]
    z = p[:, 2]
    m1, m2 = 0.1, 0.012
    inside = (s > s0 + m1) & (s < s1 - m1)
    line = ((np.abs(s - (s0 + m1)) < m2) | (np.abs(s - (s1 - m1)) < m2)) & (z > 0.15) & (z < z1 - 0.15)
    line |= inside & ((np.abs(z - 0.15) < m2) | (np.abs(z - (z1 - 0.15)) < m2) | (np.abs(z - 1.15) < m2))
    handle = (np.abs(s - (s1 - 0.07)) < 0.02) & (np.abs(z - 1.0) < 0.02)
    out = np.where(line[:, None], out * 0.75, out)
    return np.where(handle[:, None], prm["handle"], out)


def _tangent(p: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two in-plane coordinates of a hit on a face with the given normal axis."""
    u = np.where(axis == 0, p[:, 1], p[:, 0])
    v = np.where(axis == 2, p[:, 1], p[:, 2])
    return u, v


def _shade(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: _Hits, glass: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Textured Lambertian shading from a point light plus ambient; exposure, vignetting, noise -> uint8."""
    h, w = hits.z.shape
    albedo = np.zeros((h * w, 3))
    mat = hits.mat.ravel()
    local = hits.local.reshape(-1, 3)
    axis, sign = hits.axis.ravel(), hits.sign.ravel()
    order = np.argsort(mat, kind="stable")
    bounds = np.searchsorted(mat[order], np.arange(len(scene.materials) + 1))
    for mi, material in enumerate(scene.materials):
        idx = order[bounds[mi]:bounds[mi + 1]]
        if idx.size == 0:
            continue
        p = local[idx]
        u, v = _tangent(p, axis[idx])
        albedo[idx] = _albedo(material, u, v, axis[idx], sign[idx], p)
    albedo = albedo.reshape(h, w, 3)
    z = hits.z
    to_light = [scene.light[ax] - origin[ax] - z * dirs[..., ax] for ax in range(3)]
    dist2 = to_light[0] ** 2 + to_light[1] ** 2 + to_light[2] ** 2
    cos = sum(hits.normal[..., ax] * to_light[ax] for ax in range(3))
    irradiance = (scene.ambient + scene.light_power * np.maximum(cos, 0) / (np.sqrt(dist2) * (1.0 + dist2)))
    irradiance *= _occlusion(scene, hits)
    radiance = albedo * (irradiance[..., None] * scene.tint)
    radiance[glass] = _glass_radiance(scene, hits, glass)
    lum = radiance.mean(-1)
    exposure = 0.8 / max(float(np.percentile(lum[~glass] if (~glass).any() else lum, 95)), 1e-3)
    img = radiance * (exposure * _vignette(h, w))[..., None]
    img = np.clip(img.astype(np.float32), 0, 1) ** (1 / 2.2)
    img = cv2.GaussianBlur(img, (3, 3), 0.5)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 0.012
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _occlusion(scene: Scene, hits: _Hits) -> np.ndarray:
    """Cheap ambient occlusion: darker room corners and soft contact shadows around and under furniture."""
    size = scene.size
    room = np.isin(hits.mat, scene.room_mats)
    p, axis = hits.local, hits.axis
    dmin = np.full(hits.z.shape, np.inf)
    for a in range(3):
        d = np.minimum(p[..., a], size[a] - p[..., a])
        dmin = np.where(axis == a, dmin, np.minimum(dmin, d))
    ao = np.where(room, 1 - 0.3 * np.exp(-dmin / 0.2), 1.0)
    floor = hits.mat == scene.room_mats[1]
    if floor.any():
        fx, fy = p[..., 0][floor], p[..., 1][floor]
        occ = np.zeros(fx.shape)
        for obj in scene.objects:
            if not obj.grounded:
                continue
            lo = np.min([q[0] for q in obj.parts], axis=0)
            hi = np.max([q[1] for q in obj.parts], axis=0)
            c, s = math.cos(obj.yaw), math.sin(obj.yaw)
            dx, dy = fx - obj.tx, fy - obj.ty
            lx, ly = c * dx + s * dy, c * dy - s * dx
            outside = np.maximum(np.maximum(lo[0] - lx, lx - hi[0]), np.maximum(lo[1] - ly, ly - hi[1]))
            occ = np.maximum(occ, np.clip(0.7 - outside / 0.35, 0, 1))
        ao[floor] *= 1 - 0.55 * occ
    return ao


_VIGNETTE: dict[tuple[int, int], np.ndarray] = {}


def _vignette(h: int, w: int) -> np.ndarray:
    """Mild radial fall-off (1 at the centre, 0.7 in the corners)."""
    if (h, w) not in _VIGNETTE:
        yy, xx = np.mgrid[0:h, 0:w]
        r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        _VIGNETTE[(h, w)] = 1 - 0.3 * r2
    return _VIGNETTE[(h, w)]


def _glass_radiance(scene: Scene, hits: _Hits, glass: np.ndarray) -> np.ndarray:
    """Bright outdoor view through windows: sky above a horizon, greenery below."""
    out = np.zeros((int(glass.sum()), 3))
    if not out.size:
        return out
    mats = hits.mat[glass]
    z = hits.local[glass][:, 2]
    for mi in np.unique(mats):
        m = scene.materials[mi]
        sel = mats == mi
        above = (z[sel] > m.params["horizon"])[:, None]
        out[sel] = np.where(above, m.params["sky"] * 3.0, m.params["ground"] * 1.5)
    return out


# ----------------------------------------------------------------------------------------------
# Depth sensor
# ----------------------------------------------------------------------------------------------

def kinect_depth(z: np.ndarray, normal: np.ndarray, dirs: np.ndarray, glass: np.ndarray, fx: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Kinect-like depth from true z: parallax shadows, grazing-angle and blob dropouts, noise, quantisation."""
    h, w = z.shape
    # Parallax shadow: the projector sits KINECT_BASELINE to the right; a pixel is dark when a nearer surface
    # to its right covers it in projector coordinates (u - disparity).
    disparity = fx * KINECT_BASELINE / z
    proj = np.arange(w)[None, :] - disparity
    right_min = np.minimum.accumulate(proj[:, ::-1], axis=1)[:, ::-1]
    shadow = np.zeros_like(z, bool)
    shadow[:, :-1] = right_min[:, 1:] < proj[:, :-1] - 0.3
    # Grazing angles return nothing (specular loss of the IR pattern).
    cosang = np.abs((normal * dirs).sum(-1)) / np.linalg.norm(dirs, axis=-1)
    grazing = cosang < rng.uniform(0.08, 0.16) * (0.5 + rng.random(z.shape))
    # A few random dropout blobs (dark or shiny surfaces).
    blobs = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.uniform(0.01, 0.06) * w) + 1, int(rng.uniform(0.01, 0.05) * h) + 1)
        cv2.ellipse(blobs, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    speckle = rng.random(z.shape) < 0.004
    sigma = 0.0012 + 0.0019 * (z - 0.4) ** 2
    noisy = z + rng.normal(0, 1, z.shape) * sigma
    step = 1.0 / 8.0  # Kinect disparity resolution in pixels at 640 wide
    d = np.round(KINECT_FB / np.maximum(noisy, 1e-3) / step) * step
    out = KINECT_FB / np.maximum(d, step)
    bad = glass | shadow | grazing | blobs.astype(bool) | speckle
    bad |= (out < MIN_DEPTH) | (out > MAX_DEPTH) | ~np.isfinite(out)
    return np.where(bad, 0.0, out).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Frames and splits
# ----------------------------------------------------------------------------------------------

_RAY_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _camera_rays(height: int, width: int) -> np.ndarray:
    """Per-pixel camera-frame directions (x, y, 1), so the ray parameter equals z-depth."""
    key = (height, width)
    if key not in _RAY_CACHE:
        fx, fy, cx, cy = intrinsics(height, width)
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        _RAY_CACHE[key] = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1)
    return _RAY_CACHE[key]


def generate_frame(rng: np.random.Generator, height: int, width: int) -> dict[str, np.ndarray]:
    """One random room rendered as {'rgb': uint8 HxWx3, 'depth': float32 HxW metres, 'label': uint8 HxW}."""
    scene = build_scene(rng)
    k = intrinsics(height, width)
    dirs = _camera_rays(height, width) @ scene.cam_rot.T
    origin = scene.cam_pos
    hits = _Hits(height, width)
    glass = np.zeros((height, width), bool)
    wall_id = _cast_room(scene, origin, dirs, hits)
    _cast_openings(scene, origin, dirs, hits, wall_id, glass)
    _cast_objects(scene, origin, dirs, hits, k)
    # A box in front of a window hides its glass.
    glass &= np.array([m.kind == "glass" for m in scene.materials])[hits.mat]
    rgb = _shade(scene, origin, dirs, hits, glass, rng)
    depth = kinect_depth(hits.z, hits.normal, dirs, glass, k[0], rng)
    classes = np.array([m.cls for m in scene.materials], np.uint8)
    return {"rgb": rgb, "depth": depth, "label": classes[hits.mat]}


def _frame_task(args: tuple[int, int, int, int, int]) -> dict[str, np.ndarray]:
    height, width, seed, split_id, k = args
    return generate_frame(np.random.default_rng([seed, split_id, k]), height, width)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def worker_pool(workers: int) -> Any:
    """A process pool for rendering. Spawned, not forked: a fork of a process whose OpenCV or torch thread pools
    are running can deadlock in the child."""
    return mp.get_context("spawn").Pool(workers, initializer=_init_worker)


def generate_split(num: int, height: int, width: int, seed: int, split_id: int, workers: int,
                   *, desc: str | None = None, pool: Any = None) -> dict[str, np.ndarray]:
    """Frames 0..num-1 of a split (frame k from default_rng([seed, split_id, k])), stacked per modality.

    `pool` (from worker_pool) is reused when given; otherwise one is made for this call when workers > 1.
    """
    if num < 1 or height < 8 or width < 8 or workers < 1 or seed < 0 or split_id < 0:
        raise ValueError(f"generate_split: need num >= 1, height/width >= 8, workers >= 1, seed >= 0 and "
                         f"split_id >= 0; got num={num}, size={height}x{width}, workers={workers}, seed={seed}, "
                         f"split_id={split_id}")
    out = {"rgb": np.empty((num, height, width, 3), np.uint8), "depth": np.empty((num, height, width), np.float32),
           "label": np.empty((num, height, width), np.uint8)}
    tasks = [(height, width, seed, split_id, k) for k in range(num)]
    bar = None
    if desc is not None:
        from tqdm import tqdm
        bar = tqdm(total=num, desc=desc, unit="frame", file=sys.stderr)

    def store(k: int, frame: dict[str, np.ndarray]) -> None:
        for key, arr in frame.items():
            out[key][k] = arr
        if bar is not None:
            bar.update(1)

    try:
        if workers == 1 or num < 8:
            for k, task in enumerate(tasks):
                store(k, _frame_task(task))
        else:
            own = pool is None
            pool = worker_pool(workers) if own else pool
            try:
                chunk = max(1, min(16, num // (workers * 8)))
                for k, frame in enumerate(pool.imap(_frame_task, tasks, chunksize=chunk)):
                    store(k, frame)
            finally:
                if own:
                    pool.terminate()
    finally:
        if bar is not None:
            bar.close()
    return out


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def _size(text: str) -> tuple[int, int]:
    """HEIGHTxWIDTH with both sides >= 16 (the rooms need some pixels)."""
    return parse_size(text, minimum=16, example="120x160")


_positive = int_at_least(1)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_tools.synthetic",
        description="Render procedural indoor RGB-D rooms with NYU-40 labels into five paired HDF5 files "
                    "(unlabeled.h5: rgb+depth pairs; teacher.h5, train.h5, val.h5, test.h5: rgb, depth, label; "
                    "every split from its own random stream, so no frame is in two).",
        epilog="example: python -m data_tools.synthetic --out data/synthetic --num 2000 --size 120x160 --seed 0 "
               "--workers 2")
    p.add_argument("--out", required=True, help="output folder (created), e.g. data/synthetic")
    p.add_argument("--num", type=_positive, default=2000, help="unlabeled paired frames (default 2000), e.g. 2000")
    p.add_argument("--size", type=_size, default=(120, 160), help="HEIGHTxWIDTH (default 120x160), e.g. 96x128")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0); same seed = identical files")
    p.add_argument("--num-teacher", type=_positive, default=2400,
                   help="labeled frames for the RGB teacher (default 2400)")
    p.add_argument("--num-train", type=_positive, default=150, help="small labeled fine-tuning split (default 150)")
    p.add_argument("--num-test", type=_positive, default=300, help="labeled test frames (default 300)")
    p.add_argument("--num-val", type=_positive, default=150,
                   help="labeled validation frames, where every choice of a study is made (default 150)")
    p.add_argument("--workers", type=_positive, default=2,
                   help="processes (default 2; 1 = inline); the output does not depend on it")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def main(argv: list[str] | None = None) -> int:
    """Generate the five synthetic split files; returns the exit code (2 for bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): report, don't exit the caller
        return exc.code if isinstance(exc.code, int) else 2
    out = Path(args.out)
    height, width = args.size
    paths = {split: out / f"{split}.h5" for split in SPLITS}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: output already exists: {', '.join(existing)} (pass --overwrite to replace)",
              file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: cannot write to --out {str(out)!r}: {err}", file=sys.stderr)
        return 2
    from crossmodal.data.h5format import write_paired

    counts = {"unlabeled": args.num, "teacher": args.num_teacher, "train": args.num_train, "test": args.num_test,
              "val": args.num_val}
    fx, fy, cx, cy = intrinsics(height, width)
    pool = worker_pool(args.workers) if args.workers > 1 else None
    try:
        for split, num in counts.items():
            data = generate_split(num, height, width, args.seed, SPLITS[split], args.workers, desc=split, pool=pool)
            if split == "unlabeled":
                data = {"rgb": data["rgb"], "depth": data["depth"]}
            write_paired(paths[split], data, class_names=CLASS_NAMES,
                         source=f"data_tools.synthetic seed={args.seed} size={height}x{width} split={split}",
                         attrs={"intrinsics": np.array([fx, fy, cx, cy]), "nyu40_ids": np.array(NYU40_IDS, np.int64),
                                "seed": int(args.seed), "split": split},
                         overwrite=args.overwrite)
            print(f"wrote {paths[split]} ({num} frames, {height}x{width})", file=sys.stderr)
    finally:
        if pool is not None:
            pool.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
