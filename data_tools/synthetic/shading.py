"""Appearance: albedo, lighting and the camera's response.

Procedural albedo per material kind, point-light and ambient lighting with cheap occlusion, vignetting, the view
through windows, and the camera's exposure, blur and noise."""
from __future__ import annotations

import math

import cv2
import numpy as np

from data_tools.synthetic.raycast import Hits
from data_tools.synthetic.scene import Material, Scene


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
    if kind in ("wood", "plain", "paint"):
        if kind == "wood":
            out = _wood(m, u, v)
        else:
            amp = 0.05 if kind == "plain" else 0.035
            out = m.colour * (1 + amp * (_noise(g, u * 1.3, v * 1.3) - 0.5) * 2)[:, None]
        pattern = prm.get("pattern")
        if pattern == "cabinet":
            out = _cabinet_front(m, out, front, p)
        elif pattern == "door":
            out = _door_face(m, out, u, v, p)
        return out
    if kind == "fabric":
        folds = _noise(g, u * 3, v * 3)
        return m.colour * (0.8 + 0.3 * folds)[:, None]
    if kind == "carpet":
        return m.colour * (0.85 + 0.15 * _noise(g, u * 4, v * 4) + 0.1 * _noise(g, u * 20 + 3, v * 20))[:, None]
    if kind == "planks":
        return _planks(m, u, v)
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
        return _art(m, front, p)
    if kind == "glass":
        return m.colour * np.ones((len(u), 1))
    raise ValueError(f"unknown material kind {kind!r}")


def _planks(m: Material, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Floor planks: staggered wooden boards of one tone each, with dark seams between them."""
    prm = m.params
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


def _art(m: Material, front: np.ndarray, p: np.ndarray) -> np.ndarray:
    """A picture: three colour waves over the canvas inside a border of the frame's colour."""
    prm, g = m.params, m.params["grid"]
    x, z = p[:, 0], p[:, 2]
    waves, ph, cols = prm["waves"], prm["phase"], prm["colours"]
    out = np.zeros((len(x), 3))
    for i in range(3):
        out += cols[i] * (0.5 + 0.5 * np.sin(waves[i, 0] * x + waves[i, 1] * z + ph[i]))[:, None]
    out = np.clip(out / 1.6 + 0.1 * (_noise(g, x * 8, z * 8) - 0.5)[:, None], 0.02, 1)
    bd = prm["border"]
    frame = (x < prm["x0"] + bd) | (x > prm["x1"] - bd) | (z < prm["z0"] + bd) | (z > prm["z1"] - bd)
    return np.where((front & ~frame)[:, None], out, m.colour)


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


def shade(scene: Scene, origin: np.ndarray, dirs: np.ndarray, hits: Hits, glass: np.ndarray,
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


def _occlusion(scene: Scene, hits: Hits) -> np.ndarray:
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


def _glass_radiance(scene: Scene, hits: Hits, glass: np.ndarray) -> np.ndarray:
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
