"""Furniture builders and their sampling table.

Each piece is a few boxes in its local frame, front = +y and floor at z = 0."""
from __future__ import annotations

from typing import Callable

import numpy as np

from data_tools.synthetic.scene import BED, BOOKS, BOOKSHELF, CABINET, CHAIR, SOFA, TABLE, Builder, box, jitter


def _bed(b: Builder) -> list:
    """Base, mattress, headboard (at the back, -y) and one or two pillows."""
    r = b.rng
    w, d, h = r.uniform(1.0, 2.0), r.uniform(1.9, 2.15), r.uniform(0.42, 0.62)
    frame = b.wood_or_paint(BED, 0.6)
    sheet = b.fabric(BED)
    pillow = b.mat(BED, "fabric", jitter(r, (0.88, 0.88, 0.86), 0.05))
    parts = [box(-w / 2, -d / 2, 0, w / 2, d / 2, h - 0.2, frame),
             box(-w / 2 + 0.02, -d / 2 + 0.02, h - 0.2, w / 2 - 0.02, d / 2 - 0.02, h, sheet),
             box(-w / 2 - 0.03, -d / 2 - 0.07, 0, w / 2 + 0.03, -d / 2, h + r.uniform(0.3, 0.7), frame)]
    n = 1 if w < 1.3 else 2
    pw = (w - 0.2) / n
    for i in range(n):
        x0 = -w / 2 + 0.1 + i * pw
        parts.append(box(x0 + 0.03, -d / 2 + 0.08, h, x0 + pw - 0.03, -d / 2 + 0.5, h + r.uniform(0.08, 0.15), pillow))
    return parts


def _table(b: Builder) -> list:
    """Dining or coffee table: top and four legs."""
    r = b.rng
    coffee = r.random() < 0.3
    w, d = (r.uniform(0.8, 1.3), r.uniform(0.45, 0.7)) if coffee else (r.uniform(0.8, 1.8), r.uniform(0.6, 1.0))
    h = r.uniform(0.38, 0.5) if coffee else r.uniform(0.68, 0.78)
    top_t, leg, inset = r.uniform(0.03, 0.06), r.uniform(0.04, 0.08), r.uniform(0.02, 0.08)
    m = b.wood_or_paint(TABLE, 0.75)
    parts = [box(-w / 2, -d / 2, h - top_t, w / 2, d / 2, h, m)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - inset - leg / 2), sy * (d / 2 - inset - leg / 2)
            parts.append(box(x - leg / 2, y - leg / 2, 0, x + leg / 2, y + leg / 2, h - top_t, m))
    return parts


def _chair(b: Builder) -> list:
    """Seat, back (at -y) and four legs."""
    r = b.rng
    w, d, sh = r.uniform(0.4, 0.5), r.uniform(0.4, 0.5), r.uniform(0.42, 0.48)
    leg, back_t, top = r.uniform(0.03, 0.045), r.uniform(0.03, 0.06), r.uniform(0.8, 1.0)
    if r.random() < 0.5:
        m = b.wood(CHAIR)
    else:
        m = b.mat(CHAIR, "plain", jitter(r, ((0.15, 0.15, 0.16), (0.6, 0.6, 0.6), (0.7, 0.2, 0.15),
                                               (0.2, 0.35, 0.6))[r.integers(4)], 0.05))
    seat = b.fabric(CHAIR) if r.random() < 0.4 else m
    parts = [box(-w / 2, -d / 2, sh - 0.05, w / 2, d / 2, sh, seat),
             box(-w / 2, -d / 2, sh, w / 2, -d / 2 + back_t, top, m)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - leg / 2), sy * (d / 2 - leg / 2)
            parts.append(box(x - leg / 2, y - leg / 2, 0, x + leg / 2, y + leg / 2, sh - 0.05, m))
    return parts


def _sofa(b: Builder) -> list:
    """Base, back, two arms, two or three seat cushions and feet."""
    r = b.rng
    w, d, sh = r.uniform(1.5, 2.4), r.uniform(0.8, 0.95), r.uniform(0.38, 0.46)
    bh, bt, aw, ah = r.uniform(0.75, 0.95), r.uniform(0.15, 0.25), r.uniform(0.12, 0.22), r.uniform(0.55, 0.68)
    m = b.fabric(SOFA)
    cushion = b.mat(SOFA, "fabric", np.clip(b.materials[m].colour * r.uniform(0.9, 1.15), 0, 1),
                    grid=b.materials[m].params["grid"])
    parts = [box(-w / 2, -d / 2, 0.06, w / 2, d / 2, sh - 0.12, m),
             box(-w / 2, -d / 2, 0.06, w / 2, -d / 2 + bt, bh, m),
             box(-w / 2, -d / 2, 0.06, -w / 2 + aw, d / 2, ah, m),
             box(w / 2 - aw, -d / 2, 0.06, w / 2, d / 2, ah, m)]
    n = int(r.integers(2, 4))
    cw = (w - 2 * aw) / n
    for i in range(n):
        x0 = -w / 2 + aw + i * cw
        parts.append(box(x0 + 0.008, -d / 2 + bt, sh - 0.12, x0 + cw - 0.008, d / 2 - 0.01, sh, cushion))
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)
            parts.append(box(x - 0.03, y - 0.03, 0, x + 0.03, y + 0.03, 0.06, m))
    return parts


def _cabinet(b: Builder) -> list:
    """Low dresser or tall wardrobe on a plinth, with doors/drawers drawn on its front."""
    r = b.rng
    tall = r.random() < 0.4
    w, d = r.uniform(0.4, 1.4), r.uniform(0.35, 0.6)
    h = r.uniform(1.5, 2.1) if tall else r.uniform(0.5, 0.95)
    drawers = 0 if tall else int(r.integers(0, 5))
    m = b.wood_or_paint(CABINET, 0.55, doors=2 if w > 0.65 else 1, drawers=drawers, x0=-w / 2, x1=w / 2,
                        z0=0.08, z1=h, handle=jitter(r, (0.5, 0.5, 0.52), 0.1))
    b.materials[m].params["pattern"] = "cabinet"
    parts = [box(-w / 2 + 0.02, -d / 2, 0, w / 2 - 0.02, d / 2 - 0.04, 0.08, m),
             box(-w / 2, -d / 2, 0.08, w / 2, d / 2, h, m)]
    if not tall:
        parts.append(box(-w / 2 - 0.02, -d / 2, h, w / 2 + 0.02, d / 2 + 0.02, h + 0.03, m))
    return parts


def _bookshelf(b: Builder) -> list:
    """Open frame with shelves, each holding a block of books set back from the front."""
    r = b.rng
    w, d, h, t = r.uniform(0.6, 1.4), r.uniform(0.25, 0.4), r.uniform(1.0, 2.2), r.uniform(0.018, 0.03)
    m = b.wood_or_paint(BOOKSHELF, 0.7)
    books = b.mat(BOOKSHELF, "books", np.zeros(3), width=r.uniform(0.025, 0.05),
                  palette=np.array([jitter(r, BOOKS[i], 0.06) for i in r.integers(0, len(BOOKS), 8)]))
    parts = [box(-w / 2, -d / 2, 0, -w / 2 + t, d / 2, h, m), box(w / 2 - t, -d / 2, 0, w / 2, d / 2, h, m),
             box(-w / 2, -d / 2, 0, w / 2, -d / 2 + t, h, m), box(-w / 2, -d / 2, h - t, w / 2, d / 2, h, m),
             box(-w / 2, -d / 2, 0, w / 2, d / 2, 0.06, m)]
    n = max(2, int(round((h - 0.06) / r.uniform(0.3, 0.42))))
    levels = np.linspace(0.06, h - t, n + 1)
    for i in range(n):
        z0, z1 = levels[i], levels[i + 1]
        if i > 0:
            parts.append(box(-w / 2, -d / 2, z0 - t, w / 2, d / 2, z0, m))
        if r.random() < 0.9:
            inner = w - 2 * t
            fill = r.uniform(0.45, 1.0) * inner
            x0 = -w / 2 + t + r.uniform(0, inner - fill)
            parts.append(box(x0, -d / 2 + t, z0, x0 + fill, d / 2 - r.uniform(0.02, 0.07),
                              z0 + (z1 - z0 - t) * r.uniform(0.6, 0.92), books))
    return parts


FURNITURE: dict[str, tuple[Callable[[Builder], list], float, float]] = {
    # name: (builder, sampling weight, probability of standing against a wall)
    "bed": (_bed, 0.13, 0.9), "table": (_table, 0.18, 0.3), "chair": (_chair, 0.18, 0.2),
    "sofa": (_sofa, 0.15, 0.7), "cabinet": (_cabinet, 0.19, 0.95), "bookshelf": (_bookshelf, 0.17, 1.0),
}
