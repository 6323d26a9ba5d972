"""Scene description: the classes, materials, boxed objects, openings and the room, and the material builder."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# (name, NYU-40 id); the label id is the position in this tuple.
CLASSES: tuple[tuple[str, int], ...] = (
    ("wall", 1), ("floor", 2), ("cabinet", 3), ("bed", 4), ("chair", 5), ("sofa", 6), ("table", 7),
    ("door", 8), ("window", 9), ("bookshelf", 10), ("picture", 11), ("ceiling", 22),
)
CLASS_NAMES: tuple[str, ...] = tuple(name for name, _ in CLASSES)
NYU40_IDS: tuple[int, ...] = tuple(nyu for _, nyu in CLASSES)
(WALL, FLOOR, CABINET, BED, CHAIR, SOFA, TABLE, DOOR, WINDOW, BOOKSHELF, PICTURE, CEILING) = range(len(CLASSES))

# The rare objects (--rare-objects): six more classes, each in a few percent of frames, after the twelve above.
RARE_CLASSES: tuple[tuple[str, int], ...] = (
    ("desk", 14), ("refrigerator", 24), ("television", 25), ("toilet", 33), ("lamp", 35), ("bathtub", 36),
)
(DESK, FRIDGE, TV, TOILET, LAMP, BATHTUB) = range(len(CLASSES), len(CLASSES) + len(RARE_CLASSES))


def class_table(rare_objects: bool) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Class names and NYU-40 ids of the data set with or without the rare objects."""
    classes = CLASSES + RARE_CLASSES if rare_objects else CLASSES
    return tuple(name for name, _ in classes), tuple(nyu for _, nyu in classes)


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
        return to_world(pts, self.yaw, self.tx, self.ty)

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


def to_world(pts: np.ndarray, yaw: float, tx: float, ty: float) -> np.ndarray:
    """Rotate local points about z by yaw and translate by (tx, ty)."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = pts.copy()
    out[:, 0] = c * pts[:, 0] - s * pts[:, 1] + tx
    out[:, 1] = s * pts[:, 0] + c * pts[:, 1] + ty
    return out


def box(x0: float, y0: float, z0: float, x1: float, y1: float, z1: float,
         mat: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A part: corners (lo, hi) in the object's local frame and its material."""
    return np.array([x0, y0, z0]), np.array([x1, y1, z1]), mat


def jitter(rng: np.random.Generator, colour: tuple[float, float, float], amount: float = 0.08) -> np.ndarray:
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


class Builder:
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
        return self.mat(cls, "wood", jitter(self.rng, WOODS[self.rng.integers(len(WOODS))]),
                        freq=self.rng.uniform(6, 14), **params)

    def paint(self, cls: int, kind: str = "plain", colours: tuple = PAINTS, **params: Any) -> int:
        """A painted (flat, slightly mottled) material in one of `colours`."""
        return self.mat(cls, kind, jitter(self.rng, colours[self.rng.integers(len(colours))], 0.05), **params)

    def fabric(self, cls: int, **params: Any) -> int:
        """An upholstery material with soft folds."""
        return self.mat(cls, "fabric", jitter(self.rng, FABRICS[self.rng.integers(len(FABRICS))], 0.1), **params)

    def wood_or_paint(self, cls: int, p_wood: float, **params: Any) -> int:
        """Wood with probability p_wood, else a plain painted finish."""
        if self.rng.random() < p_wood:
            return self.wood(cls, **params)
        return self.paint(cls, "plain", **params)
