"""The rare objects of --rare-objects: six classes with shapes of their own.

Each is drawn for only a few percent of rooms, so a small labeled split holds a handful of them while a large RGB
teacher split holds many. This is a long tail, as a real teacher trained on far more RGB data knows objects the
new sensor's few labels barely show."""
from __future__ import annotations

from typing import Callable

from data_tools.synthetic.scene import BATHTUB, DESK, FRIDGE, LAMP, TOILET, TV, Builder, box, jitter

CERAMIC = ((0.93, 0.93, 0.91), (0.88, 0.9, 0.92), (0.95, 0.94, 0.9))
METAL = ((0.75, 0.76, 0.78), (0.2, 0.2, 0.22), (0.55, 0.55, 0.57))


def _desk(b: Builder) -> list:
    """Top, a pedestal of drawers on one side and two legs on the other, and a back panel."""
    r = b.rng
    w, d, h = r.uniform(1.0, 1.6), r.uniform(0.55, 0.75), r.uniform(0.72, 0.78)
    pw = r.uniform(0.35, 0.5)
    m = b.wood_or_paint(DESK, 0.6)
    side = 1 if r.random() < 0.5 else -1
    px0, px1 = sorted((side * (w / 2 - pw), side * w / 2))
    parts = [box(-w / 2, -d / 2, h - 0.035, w / 2, d / 2, h, m),
             box(px0, -d / 2 + 0.02, 0, px1, d / 2 - 0.02, h - 0.035, m),
             box(-w / 2 + 0.02, -d / 2, 0.25, w / 2 - 0.02, -d / 2 + 0.02, h - 0.035, m)]
    lx = -side * (w / 2 - 0.05)
    for sy in (-1, 1):
        y = sy * (d / 2 - 0.05)
        parts.append(box(lx - 0.025, y - 0.025, 0, lx + 0.025, y + 0.025, h - 0.035, m))
    for k in range(int(r.integers(2, 4))):  # drawer fronts standing slightly proud of the pedestal
        z1 = h - 0.06 - k * (h - 0.1) / 3
        parts.append(box(px0 + 0.02, d / 2 - 0.02, z1 - (h - 0.1) / 3 + 0.02, px1 - 0.02, d / 2, z1, m))
    return parts


def _fridge(b: Builder) -> list:
    """A tall body with a freezer door above a fridge door (a gap between them) and vertical handles."""
    r = b.rng
    w, d, h = r.uniform(0.6, 0.85), r.uniform(0.6, 0.72), r.uniform(1.6, 1.95)
    body = b.paint(FRIDGE, "plain", CERAMIC + METAL[:1])
    handle = b.paint(FRIDGE, "plain", METAL)
    split = h * r.uniform(0.6, 0.72)
    hx = (w / 2 - 0.08) * (1 if r.random() < 0.5 else -1)
    return [box(-w / 2, -d / 2, 0.03, w / 2, d / 2 - 0.05, h, body),
            box(-w / 2, d / 2 - 0.05, 0.03, w / 2, d / 2, split - 0.015, body),
            box(-w / 2, d / 2 - 0.05, split + 0.015, w / 2, d / 2, h, body),
            box(hx - 0.015, d / 2, split - 0.55, hx + 0.015, d / 2 + 0.05, split - 0.1, handle),
            box(hx - 0.015, d / 2, split + 0.08, hx + 0.015, d / 2 + 0.05, split + 0.35, handle)]


def _television(b: Builder) -> list:
    """A flat screen on a neck and foot, standing on a low media bench."""
    r = b.rng
    w = r.uniform(0.8, 1.5)
    sh = w * r.uniform(0.56, 0.6)
    bench_h, bench_w, bench_d = r.uniform(0.35, 0.55), w + r.uniform(0.1, 0.5), r.uniform(0.35, 0.45)
    bench = b.wood_or_paint(TV, 0.6)
    screen = b.mat(TV, "plain", jitter(r, (0.05, 0.05, 0.06), 0.02))
    z0 = bench_h + r.uniform(0.06, 0.12)
    return [box(-bench_w / 2, -bench_d / 2, 0, bench_w / 2, bench_d / 2, bench_h, bench),
            box(-0.15, -0.12, bench_h, 0.15, 0.08, bench_h + 0.02, screen),
            box(-0.03, -0.06, bench_h, 0.03, -0.02, z0, screen),
            box(-w / 2, -0.04, z0, w / 2, 0.0, z0 + sh, screen)]


def _toilet(b: Builder) -> list:
    """A cistern against the wall (-y), a pedestal and a bowl with a seat in front of it."""
    r = b.rng
    m = b.paint(TOILET, "plain", CERAMIC)
    tw, td, th = r.uniform(0.36, 0.45), r.uniform(0.15, 0.2), r.uniform(0.75, 0.9)
    bw, bd, bh = r.uniform(0.34, 0.4), r.uniform(0.45, 0.55), r.uniform(0.38, 0.43)
    y0 = -0.3
    return [box(-tw / 2, y0, 0.35, tw / 2, y0 + td, th, m),
            box(-0.12, y0 + td - 0.02, 0, 0.12, y0 + td + bd * 0.7, bh - 0.12, m),
            box(-bw / 2, y0 + td, bh - 0.14, bw / 2, y0 + td + bd, bh - 0.02, m),
            box(-bw / 2 - 0.01, y0 + td, bh - 0.02, bw / 2 + 0.01, y0 + td + bd + 0.01, bh, m)]


def _lamp(b: Builder) -> list:
    """A floor lamp: a round-ish foot, a thin pole and a wide shade at the top."""
    r = b.rng
    h, sw = r.uniform(1.4, 1.8), r.uniform(0.3, 0.48)
    pole = b.paint(LAMP, "plain", METAL)
    shade = b.mat(LAMP, "fabric", jitter(r, ((0.95, 0.9, 0.78), (0.9, 0.88, 0.85), (0.8, 0.7, 0.55))[r.integers(3)],
                                         0.04))
    return [box(-0.14, -0.14, 0, 0.14, 0.14, 0.03, pole), box(-0.015, -0.015, 0.03, 0.015, 0.015, h - 0.2, pole),
            box(-sw / 2, -sw / 2, h - r.uniform(0.28, 0.38), sw / 2, sw / 2, h, shade)]


def _bathtub(b: Builder) -> list:
    """An open tub against the wall: floor, four rims around a hollow."""
    r = b.rng
    w, d, h, t = r.uniform(1.5, 1.8), r.uniform(0.7, 0.8), r.uniform(0.5, 0.6), r.uniform(0.06, 0.1)
    m = b.paint(BATHTUB, "plain", CERAMIC)
    return [box(-w / 2, -d / 2, 0, w / 2, d / 2, 0.15, m),
            box(-w / 2, -d / 2, 0.15, w / 2, -d / 2 + t, h, m), box(-w / 2, d / 2 - t, 0.15, w / 2, d / 2, h, m),
            box(-w / 2, -d / 2 + t, 0.15, -w / 2 + t, d / 2 - t, h, m),
            box(w / 2 - t, -d / 2 + t, 0.15, w / 2, d / 2 - t, h, m)]


RARE_FURNITURE: dict[str, tuple[Callable[[Builder], list], float, float]] = {
    # name: (builder, probability that a room gets one, probability of standing against a wall)
    "desk": (_desk, 0.14, 0.8), "refrigerator": (_fridge, 0.14, 1.0), "television": (_television, 0.2, 0.9),
    "toilet": (_toilet, 0.22, 1.0), "lamp": (_lamp, 0.2, 0.4), "bathtub": (_bathtub, 0.14, 1.0),
}
