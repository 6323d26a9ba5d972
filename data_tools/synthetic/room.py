"""Room layout: build_scene places the room's contents, the light and the camera.

Doors, windows, pictures and furniture are placed without collisions, then the floor, the light and the camera
pose are chosen."""
from __future__ import annotations

import math

import numpy as np

from data_tools.synthetic.furniture import FURNITURE
from data_tools.synthetic.rare import RARE_FURNITURE
from data_tools.synthetic.scene import (
    CEILING,
    DOOR,
    FLOOR,
    PICTURE,
    WALL,
    WINDOW,
    WOODS,
    Builder,
    Obj,
    Opening,
    Scene,
    box,
    jitter,
)


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

    def __init__(self, b: Builder, size: np.ndarray) -> None:
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
        leaf.update(pattern="door", handle=jitter(r, (0.55, 0.55, 0.55), 0.1))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        w, tw, tt = s1 - s0, r.uniform(0.05, 0.09), r.uniform(0.008, 0.02)
        parts = [box(-w / 2 - tw, 0, 0, -w / 2, tt, z1 + tw, trim), box(w / 2, 0, 0, w / 2 + tw, tt, z1 + tw, trim),
                 box(-w / 2, 0, z1, w / 2, tt, z1 + tw, trim)]
        if r.random() < 0.5:  # recessed panel
            leaf.update(s0=s0, s1=s1, z1=z1, world=True)
            self.openings.append(Opening(wall, s0, s1, z0, z1, r.uniform(0.02, 0.07), panel, trim))
        else:  # panel standing proud of the wall
            leaf.update(s0=-w / 2, s1=w / 2, z1=z1, world=False)
            parts.append(box(-w / 2, 0, 0, w / 2, r.uniform(0.015, 0.04), z1, panel))
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def _window(self, wall: int, s0: float, s1: float, z0: float, z1: float) -> None:
        r, b = self.rng, self.b
        frame = b.paint(WINDOW, "plain", ((0.92, 0.92, 0.9), (0.85, 0.85, 0.85), (0.4, 0.28, 0.18), (0.3, 0.3, 0.32)))
        glass = b.mat(WINDOW, "glass", jitter(r, (1.0, 1.0, 1.0), 0.04), sky=jitter(r, (0.7, 0.82, 1.0), 0.05),
                      ground=jitter(r, (0.45, 0.55, 0.35), 0.1), horizon=z0 + (z1 - z0) * r.uniform(0.2, 0.6))
        w = s1 - s0
        bars = tuple(np.linspace(s0, s1, int(w // 0.7) + 2)[1:-1]) if w > 0.9 else ()
        self.openings.append(Opening(wall, s0, s1, z0, z1, r.uniform(0.08, 0.25), frame, frame, glass,
                                     r.uniform(0.03, 0.07), bars))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        sill = r.uniform(0.02, 0.06)
        parts = [box(-w / 2 - 0.05, 0, z0 - 0.04, w / 2 + 0.05, sill, z0, frame)]
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def _picture(self, wall: int, s0: float, s1: float, z0: float, z1: float) -> None:
        r, b = self.rng, self.b
        w = s1 - s0
        frames = ((0.1, 0.1, 0.1), (0.75, 0.6, 0.3), (0.45, 0.3, 0.2), (0.9, 0.9, 0.9))
        m = b.mat(PICTURE, "art", jitter(r, frames[r.integers(4)], 0.05),
                  x0=-w / 2, x1=w / 2, z0=z0, z1=z1, border=r.uniform(0.015, 0.06),
                  waves=r.uniform(2, 12, (3, 2)), phase=r.uniform(0, 6.3, 3),
                  colours=np.array([jitter(r, tuple(r.random(3)), 0.0) for _ in range(3)]))
        centre, _, yaw = self._wall_point(wall, (s0 + s1) / 2)
        parts = [box(-w / 2, 0, z0, w / 2, r.uniform(0.01, 0.04), z1, m)]  # 1-4 cm proud of the wall
        self.objects.append(Obj(parts, yaw, centre[0], centre[1], grounded=False))

    def furniture(self, name: str) -> Obj | None:
        """Try to place one piece of furniture against a wall or free-standing; None when it does not fit."""
        build, _, p_wall = FURNITURE[name] if name in FURNITURE else RARE_FURNITURE[name]
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
            parts = FURNITURE["chair"][0](self.b)  # built before the yaw is drawn (random stream order)
            chair = Obj(parts, math.atan2(direction[0], -direction[1]) + r.normal(0, 0.2), pos[0], pos[1])
            fp = chair.footprint()
            ok = fp[0] >= 0 and fp[1] >= 0 and fp[2] <= self.size[0] and fp[3] <= self.size[1]
            ok = ok and self._door_clear(fp)
            ok = ok and not any(_overlaps(fp, other, 0.02) for other in self.footprints if other != table_fp)
            if ok:
                self.objects.append(chair)
                self.footprints.append(fp)
            else:
                del self.b.materials[n_mats:]


def _floor_material(b: Builder) -> int:
    """Wooden planks, tiles or carpet."""
    r = b.rng
    kind = r.choice(["planks", "tiles", "carpet"], p=[0.5, 0.25, 0.25])
    if kind == "planks":
        return b.mat(FLOOR, "planks", jitter(r, WOODS[r.integers(len(WOODS))]), width=r.uniform(0.1, 0.22),
                     length=r.uniform(0.8, 1.6), axis=int(r.integers(2)), freq=r.uniform(6, 12))
    if kind == "tiles":
        return b.mat(FLOOR, "tiles", jitter(r, ((0.8, 0.78, 0.74), (0.55, 0.55, 0.55), (0.75, 0.65, 0.5),
                                                  (0.3, 0.3, 0.3))[r.integers(4)], 0.05),
                     size=r.uniform(0.3, 0.6), grout=jitter(r, (0.6, 0.6, 0.58), 0.1))
    return b.mat(FLOOR, "carpet", jitter(r, ((0.45, 0.42, 0.38), (0.3, 0.35, 0.5), (0.55, 0.45, 0.35),
                                               (0.35, 0.35, 0.35), (0.6, 0.25, 0.2))[r.integers(5)], 0.06))


def build_scene(rng: np.random.Generator, rare_objects: bool = False) -> Scene:
    """A random room with furniture, doors, windows and pictures, plus light and camera pose.

    With rare_objects, each rare object of data_tools.synthetic.rare is placed first with its own small
    probability."""
    b = Builder(rng)
    size = np.array([rng.uniform(3, 7.5), rng.uniform(3, 7.5), rng.uniform(2.4, 3.2)])
    wall = b.paint(WALL, "paint")
    floor = _floor_material(b)
    ceiling = b.mat(CEILING, "plain", jitter(rng, (0.92, 0.92, 0.9), 0.03))
    lay = _Layout(b, size)
    for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
        lay.wall_item("door")
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        lay.wall_item("window")
    if rare_objects:
        for name, (_, p_room, _) in RARE_FURNITURE.items():
            if rng.random() < p_room:
                lay.furniture(name)
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
                  tint=jitter(rng, (1.0, 0.95, 0.85), 0.04))
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
