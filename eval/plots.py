"""Report figures drawn with OpenCV and numpy only (no matplotlib): curves, bar charts, label/depth colouring, image sheets.

Images are RGB uint8 everywhere in this module; they are converted to BGR only when a PNG is
written, and every PNG is written atomically (temp file in the same folder, then ``os.replace``).
Sizes are ``(width, height)`` in pixels, as in OpenCV.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

from crossmodal.atomic import atomic_path
from crossmodal.colours import class_palette, colorize_depth, colorize_label  # re-exported: the figures' colours

__all__ = [
    "bar_chart",
    "class_palette",
    "colorize_depth",
    "colorize_label",
    "grouped_bar_chart",
    "image_sheet",
    "line_plot",
]

PathLike = str | os.PathLike
RGB = tuple[int, int, int]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_AA = cv2.LINE_AA
_WHITE: RGB = (255, 255, 255)
_INK: RGB = (34, 34, 34)
_MUTED: RGB = (96, 96, 96)
_GRID: RGB = (230, 230, 230)
_FRAME: RGB = (150, 150, 150)
_BAR: RGB = (76, 114, 176)
_HIGHLIGHT: RGB = (221, 132, 82)
# Tableau-10 (matplotlib's default cycle), RGB.
_SERIES: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


# ----------------------------------------------------------------------------- colours


def _series_colors(n: int) -> list[RGB]:
    """Tableau-10 first, then distinct palette colours, so any number of curves stays tellable apart."""
    if n <= len(_SERIES):
        return list(_SERIES[:n])
    extra = [tuple(int(v) for v in c) for c in class_palette(n + len(_SERIES))]
    out = list(_SERIES)
    for c in extra:
        if len(out) == n:
            break
        if c not in out:
            out.append(c)  # type: ignore[arg-type]
    return out


# ----------------------------------------------------------------------------- text


def _tsize(text: str, scale: float, thick: int) -> tuple[int, int, int]:
    """(width, height above baseline, depth below baseline) of `text`; '±' measures like '+'."""
    (w, h), base = cv2.getTextSize(text.replace("±", "+"), _FONT, scale, thick)
    return w, h, base


def _text(img: np.ndarray, text: str, x: float, y: float, scale: float, color: RGB | int = _INK,
          thick: int = 1, ha: str = "left", va: str = "baseline") -> None:
    """Draw anti-aliased text aligned on (x, y); ha in left/center/right, va in top/center/baseline/bottom."""
    w, h, base = _tsize(text, scale, thick)
    x -= {"left": 0.0, "center": w / 2, "right": float(w)}[ha]
    y += {"top": float(h), "center": h / 2, "baseline": 0.0, "bottom": -float(base)}[va]
    color = color if isinstance(color, int) else tuple(int(c) for c in color)
    for i, part in enumerate(text.split("±")):
        if i:  # Hershey fonts have no '±': draw '+' with a bar under it
            pw = _tsize("+", scale, thick)[0]
            cv2.putText(img, "+", (round(x), round(y - h * 0.15)), _FONT, scale, color, thick, _AA)
            yb = round(y)
            cv2.line(img, (round(x + pw * 0.18), yb), (round(x + pw * 0.82), yb), color, thick, _AA)
            x += pw
        if part:
            cv2.putText(img, part, (round(x), round(y)), _FONT, scale, color, thick, _AA)
            x += _tsize(part, scale, thick)[0]


def _blend(img: np.ndarray, mask: np.ndarray, x0: int, y0: int, color: RGB) -> None:
    """Alpha-blend a uint8 coverage mask of `color` into `img` at top-left (x0, y0), clipped to the image."""
    ih, iw = img.shape[:2]
    mh, mw = mask.shape
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + mw, iw), min(y0 + mh, ih)
    if xa >= xb or ya >= yb:
        return
    a = mask[ya - y0:yb - y0, xa - x0:xb - x0, None].astype(np.float32) / 255.0
    roi = img[ya:yb, xa:xb].astype(np.float32)
    img[ya:yb, xa:xb] = (roi * (1 - a) + np.asarray(color, np.float32) * a + 0.5).astype(np.uint8)


def _text_rotated(img: np.ndarray, text: str, x: float, y: float, scale: float, color: RGB, thick: int,
                  angle: float, ha: str = "center", va: str = "center") -> None:
    """Draw text rotated `angle` degrees counter-clockwise so that its (ha, va) point lands on (x, y)."""
    w, h, base = _tsize(text, scale, thick)
    pad = 2 + thick
    cw, ch = w + 2 * pad, h + base + 2 * pad
    mask = np.zeros((ch, cw), np.uint8)
    _text(mask, text, pad, pad + h, scale, 255, thick)
    ax = pad + {"left": 0.0, "center": w / 2, "right": float(w)}[ha]
    ay = pad + h + {"top": -float(h), "center": -h / 2, "baseline": 0.0, "bottom": float(base)}[va]
    if angle == 90:  # exact and crisp: (x, y) -> (y, cw - 1 - x)
        rot = cv2.rotate(mask, cv2.ROTATE_90_COUNTERCLOCKWISE)
        rx, ry = ay, cw - 1 - ax
    else:
        m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.0)
        corners = np.array([[0, 0, 1], [cw, 0, 1], [0, ch, 1], [cw, ch, 1]], np.float64) @ m.T
        lo, hi = np.floor(corners.min(0)), np.ceil(corners.max(0))
        m[:, 2] -= lo
        rot = cv2.warpAffine(mask, m, (int(hi[0] - lo[0]), int(hi[1] - lo[1])), flags=cv2.INTER_LINEAR)
        rx, ry = m @ np.array([ax, ay, 1.0])
    _blend(img, rot, round(x - rx), round(y - ry), color)


def _ellipsize(text: str, max_w: float, scale: float, thick: int) -> str:
    """Shorten `text` with '...' until it fits in `max_w` pixels."""
    if _tsize(text, scale, thick)[0] <= max_w:
        return text
    while text and _tsize(text + "...", scale, thick)[0] > max_w:
        text = text[:-1]
    return text.rstrip(" _-") + "..."


def _wrap(text: str, max_w: float, scale: float, thick: int, max_lines: int) -> list[str] | None:
    """Greedy word-wrap at spaces, '_', '-', '/', '+' into at most `max_lines` lines of `max_w` px, else None."""
    tokens = [t for t in re.split(r"(?<=[ _\-/+])", text) if t]
    lines: list[str] = []
    cur = ""
    for tok in tokens:
        cand = cur + tok
        if cur and _tsize(cand.rstrip(), scale, thick)[0] > max_w:
            lines.append(cur.rstrip())
            cur = tok
        else:
            cur = cand
    lines.append(cur.rstrip())
    if len(lines) > max_lines or any(_tsize(s, scale, thick)[0] > max_w for s in lines):
        return None
    return lines


# ----------------------------------------------------------------------------- axes and ticks


def _nice_step(span: float, intervals: int) -> float:
    """Smallest 1/2/2.5/5 x 10^k step that cuts `span` into at most `intervals` pieces."""
    raw = span / max(intervals, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw * (1 - 1e-9):
            return m * mag
    return 10.0 * mag


def _pad_degenerate(lo: float, hi: float) -> tuple[float, float]:
    """Widen an empty range (one point, or a constant series) around its value."""
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.1 or 1.0
    return lo - pad, hi + pad


def _linear_ticks(lo: float, hi: float, max_ticks: int, expand: bool = True) -> tuple[float, float, list[float], float]:
    """Nice ticks for [lo, hi]; with `expand` the range grows to the enclosing ticks. Returns (lo, hi, ticks, step)."""
    lo, hi = _pad_degenerate(lo, hi)
    step = _nice_step(hi - lo, max(max_ticks - 1, 1))
    if expand:
        lo = math.floor(lo / step + 1e-9) * step
        hi = math.ceil(hi / step - 1e-9) * step
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        t = first + k * step
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        k += 1
    return lo, hi, ticks, step


def _decimals(step: float) -> int:
    """Decimals needed to print multiples of `step` exactly."""
    for d in range(0, 12):
        if abs(round(step, d) - step) <= 1e-9 * abs(step):
            return d
    return 12


def _linear_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Tick labels with just enough decimals; thousands shown as k / M / G."""
    big = max(abs(t) for t in ticks)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if big >= 10 * div and step >= div / 10:
            d = _decimals(step / div)
            return [f"{t / div:.{d}f}{suffix}" if t else "0" for t in ticks]
    if 0 < big < 1e-3:
        return [f"{t:.2g}" for t in ticks]
    d = _decimals(step)
    return [f"{t:.{d}f}" for t in ticks]


def _log_ticks(lo: float, hi: float, max_ticks: int) -> tuple[float, float, list[float]]:
    """Ticks on the 1-2-5 sequence (or powers of ten for wide ranges); range snapped to the enclosing ticks."""
    e0, e1 = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    for mantissas in ((1.0, 2.0, 5.0), (1.0,)):
        cands = [m * 10.0 ** e for e in range(e0, e1 + 1) for m in mantissas]
        below = [c for c in cands if c <= lo * (1 + 1e-9)]
        above = [c for c in cands if c >= hi * (1 - 1e-9)]
        a, b = below[-1], above[0]
        if a == b:  # constant series: one tick each side
            a, b = below[-2], above[1]
        ticks = [c for c in cands if a * (1 - 1e-9) <= c <= b * (1 + 1e-9)]
        if len(ticks) <= max_ticks:
            return a, b, ticks
    stride = math.ceil(len(ticks) / max_ticks)
    return a, b, ticks[::stride]


def _log_label(t: float) -> str:
    """Compact label for a log-axis tick."""
    if 1e-3 <= t < 1e5:
        return f"{t:g}"
    e = math.floor(math.log10(t) + 1e-9)
    m = round(t / 10.0 ** e)
    return f"1e{e}" if m == 1 else f"{m}e{e}"


class _Style:
    """Font scales and line widths for one figure size."""

    def __init__(self, width: int, height: int) -> None:
        f = min(max(min(width / 900.0, height / 540.0), 0.75), 3.0)
        self.f = f
        self.th = max(1, round(f))  # thin strokes and small text
        self.tick = 0.5 * f
        self.label = 0.6 * f
        self.title = 0.75 * f
        self.title_th = max(2, round(2 * f))
        self.value = 0.45 * f
        self.pad = round(12 * f)
        self.tick_len = round(5 * f)

    def px(self, v: float) -> int:
        """Scale a pixel length defined for a 900 x 540 figure."""
        return max(1, round(v * self.f))


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    """Validate a (width, height) figure size."""
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    w, h = int(size[0]), int(size[1])
    if w < 240 or h < 160:
        raise ValueError(f"figure size {w}x{h} is too small to lay out (minimum 240x160)")
    return w, h


def _draw_title(img: np.ndarray, title: str, st: _Style) -> int:
    """Draw the centred title; returns the y just below it."""
    w = img.shape[1]
    title = _ellipsize(title, w - 2 * st.pad, st.title, st.title_th)
    _, th, base = _tsize(title, st.title, st.title_th)
    _text(img, title, w / 2, st.pad, st.title, _INK, st.title_th, ha="center", va="top")
    return st.pad + th + base


def _y_axis_width(labels: Sequence[str], ylabel: str, st: _Style) -> int:
    """Left margin needed for y tick labels and the rotated y-axis label."""
    tick_w = max(_tsize(s, st.tick, st.th)[0] for s in labels)
    _, lh, lb = _tsize(ylabel or "Ag", st.label, st.th)
    return st.pad + (lh + lb + st.px(10) if ylabel else 0) + tick_w + st.px(6) + st.tick_len


def _draw_y_axis(img: np.ndarray, rect: tuple[int, int, int, int], ticks: Sequence[float], labels: Sequence[str],
                 to_y: Callable[[float], float], ylabel: str, st: _Style) -> None:
    """Horizontal grid lines, tick marks, tick labels and the rotated y-axis label."""
    x0, y0, x1, y1 = rect
    for t, s in zip(ticks, labels):
        y = round(to_y(t))
        if y0 <= y <= y1:
            cv2.line(img, (x0, y), (x1, y), _GRID, 1, _AA)
            cv2.line(img, (x0 - st.tick_len, y), (x0, y), _FRAME, 1, _AA)
            _text(img, s, x0 - st.tick_len - st.px(4), y, st.tick, _MUTED, st.th, ha="right", va="center")
    if ylabel:
        label = _ellipsize(ylabel, y1 - y0, st.label, st.th)
        _text_rotated(img, label, st.pad, (y0 + y1) / 2, st.label, _INK, st.th, 90, ha="center", va="top")


def _draw_frame(img: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """Plot-area border."""
    x0, y0, x1, y1 = rect
    cv2.rectangle(img, (x0, y0), (x1, y1), _FRAME, 1, cv2.LINE_8)


def _fill_alpha(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: RGB, alpha: float) -> None:
    """Fill a rectangle with `color` at opacity `alpha`."""
    x0, y0 = max(p0[0], 0), max(p0[1], 0)
    x1, y1 = min(p1[0], img.shape[1]), min(p1[1], img.shape[0])
    if x0 < x1 and y0 < y1:
        roi = img[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] = (roi * (1 - alpha) + np.asarray(color, np.float32) * alpha + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------- output


def _save_png(img: np.ndarray, path: PathLike) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are written as PNG; path must end in .png, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


# ----------------------------------------------------------------------------- line plot


def _split_runs(arr: np.ndarray, ok: np.ndarray) -> list[np.ndarray]:
    """Contiguous runs of usable points; a skipped point breaks the curve."""
    runs, start = [], None
    for i, good in enumerate(list(ok) + [False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            runs.append(arr[start:i])
            start = None
    return runs


def _densify(px: np.ndarray, step: float = 4.0) -> np.ndarray:
    """Points every `step` pixels along a pixel-space polyline (for legend placement)."""
    if len(px) < 2:
        return px
    seg = np.hypot(*np.diff(px, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0.0, cum[-1], int(min(max(cum[-1] / step, 2), 20000)))
    return np.stack([np.interp(s, cum, px[:, 0]), np.interp(s, cum, px[:, 1])], 1)


def line_plot(series: Mapping[str, Sequence[tuple[float, float]]], path: PathLike, *, title: str, xlabel: str,
              ylabel: str, size: tuple[int, int] = (900, 540), log_y: bool = False, log_x: bool = False,
              yerr: Mapping[str, Sequence[float | None]] | None = None) -> Path:
    """Plot named (x, y) curves, e.g. training loss per method, to a PNG; NaN points (and y <= 0 with log_y, x <= 0
    with log_x) are skipped. `yerr` draws a ± error bar at each point of a series (None: no bar)."""
    width, height = _check_size(size)
    if not series:
        raise ValueError("series is empty: nothing to plot")
    runs: dict[str, list[np.ndarray]] = {}
    for name, pts in series.items():
        arr = np.asarray(list(pts), dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"series {name!r} must be a sequence of (x, y) pairs, got shape {arr.shape}")
        ok = np.isfinite(arr).all(axis=1)
        if log_y:
            ok &= arr[:, 1] > 0
        if log_x:
            ok &= arr[:, 0] > 0
        runs[str(name)] = _split_runs(arr, ok)
    pts_all = [r for rs in runs.values() for r in rs]
    if not pts_all:
        raise ValueError("no finite points to plot" + (" (log_y needs y > 0)" if log_y else ""))
    allp = np.concatenate(pts_all)
    bars = [(float(x), float(y), float(e)) for name, pts in series.items()
            for (x, y), e in zip(pts, (yerr or {}).get(name, ())) if e is not None and np.isfinite([x, y, e]).all()]
    if bars:  # the y range holds the bars too
        ext = np.array([[x, y + sign * e] for x, y, e in bars for sign in (-1, 1)])
        allp = np.concatenate([allp, ext[(ext[:, 1] > 0) if log_y else slice(None)]])

    st = _Style(width, height)
    img = np.full((height, width, 3), 255, np.uint8)
    top = _draw_title(img, title, st) + st.px(14)
    _, xh, xb = _tsize("0", st.tick, st.th)
    _, lh, lb = _tsize(xlabel or "Ag", st.label, st.th)
    bottom = height - (st.tick_len + st.px(6) + xh + xb + (st.px(10) + lh + lb if xlabel else 0) + st.pad)

    # y axis
    max_y_ticks = max(3, (bottom - top) // st.px(55) + 1)
    if log_y:
        ylo, yhi, yticks = _log_ticks(float(allp[:, 1].min()), float(allp[:, 1].max()), max_y_ticks)
        ylabels = [_log_label(t) for t in yticks]
        ty = math.log10
    else:
        ylo, yhi, yticks, ystep = _linear_ticks(float(allp[:, 1].min()), float(allp[:, 1].max()), max_y_ticks)
        ylabels = _linear_labels(yticks, ystep)
        ty = float
    left = _y_axis_width(ylabels, ylabel, st)
    tlo, thi = ty(ylo), ty(yhi)
    inset = st.px(10)  # like matplotlib's margins: points at the range ends stay off the frame

    def to_y(v: float) -> float:
        return bottom - inset - (ty(v) - tlo) / (thi - tlo) * (bottom - top - 2 * inset)

    # x axis: as many ticks as fit without labels touching
    right = width - 2 * st.pad
    tx = math.log10 if log_x else float
    for _ in range(2):
        n = max(2, (right - left - 2 * inset) // st.px(90) + 1)
        while True:
            if log_x:
                xlo, xhi, xticks = _log_ticks(float(allp[:, 0].min()), float(allp[:, 0].max()), n)
                xlabels = [_log_label(t) for t in xticks]
            else:
                xlo, xhi, xticks, xstep = _linear_ticks(float(allp[:, 0].min()), float(allp[:, 0].max()), n)
                xlabels = _linear_labels(xticks, xstep)
            widest = max(_tsize(s, st.tick, st.th)[0] for s in xlabels)
            if n <= 2 or (widest + st.px(24)) * len(xticks) <= (right - left - 2 * inset):
                break
            n -= 1
        right = width - max(2 * st.pad, st.pad + _tsize(xlabels[-1], st.tick, st.th)[0] // 2 - inset)
    rect = (left, top, right, bottom)

    def to_x(v: float) -> float:
        return left + inset + (tx(v) - tx(xlo)) / (tx(xhi) - tx(xlo)) * (right - left - 2 * inset)

    _draw_y_axis(img, rect, yticks, ylabels, to_y, ylabel, st)
    for t, s in zip(xticks, xlabels):
        x = round(to_x(t))
        cv2.line(img, (x, top), (x, bottom), _GRID, 1, _AA)
        cv2.line(img, (x, bottom), (x, bottom + st.tick_len), _FRAME, 1, _AA)
        _text(img, s, x, bottom + st.tick_len + st.px(6), st.tick, _MUTED, st.th, ha="center", va="top")
    if xlabel:
        _text(img, _ellipsize(xlabel, right - left, st.label, st.th), (left + right) / 2, height - st.pad,
              st.label, _INK, st.th, ha="center", va="bottom")
    _draw_frame(img, rect)

    # curves
    colors = dict(zip(runs, _series_colors(len(runs))))
    lw = st.px(2)
    for name, pts in series.items():
        for (x, y), e in zip(pts, (yerr or {}).get(name, ())):
            if e is None or not np.isfinite([x, y, e]).all() or (log_x and x <= 0):
                continue
            xp, y0, y1 = round(to_x(x)), round(to_y(max(y - e, ylo) if log_y else y - e)), round(to_y(y + e))
            cv2.line(img, (xp, y0), (xp, y1), colors[str(name)], st.px(1.5), _AA)
            for yy in (y0, y1):
                cv2.line(img, (xp - st.px(4), yy), (xp + st.px(4), yy), colors[str(name)], st.px(1.5), _AA)
    samples = []
    for name, rs in runs.items():
        n_pts = sum(len(r) for r in rs)
        for r in rs:
            px = np.stack([[to_x(x) for x in r[:, 0]], [to_y(y) for y in r[:, 1]]], 1)
            samples.append(_densify(px))
            fixed = np.round(px * 16).astype(np.int32)
            if len(r) > 1:
                cv2.polylines(img, [fixed.reshape(-1, 1, 2)], False, colors[name], lw, _AA, shift=4)
            if len(r) == 1 or n_pts <= 30:
                for p in fixed:
                    cv2.circle(img, (int(p[0]), int(p[1])), st.px(3.5) * 16, colors[name], -1, _AA, shift=4)
    _draw_legend_box(img, list(runs), colors, rect, np.concatenate(samples), st)
    return _save_png(img, path)


def _draw_legend_box(img: np.ndarray, names: list[str], colors: Mapping[str, RGB], rect: tuple[int, int, int, int],
                     samples: np.ndarray, st: _Style) -> None:
    """Legend inside the plot, in the corner that hides the fewest curve pixels."""
    x0, y0, x1, y1 = rect
    scale = st.tick * 1.05
    names_fit = [_ellipsize(n, (x1 - x0) * 0.45, scale, st.th) for n in names]
    _, th, tb = _tsize("Ag", scale, st.th)
    row_h = th + tb + st.px(8)
    swatch = st.px(26)
    bw = st.px(10) + swatch + st.px(8) + max(_tsize(n, scale, st.th)[0] for n in names_fit) + st.px(10)
    bh = st.px(8) + row_h * len(names_fit) + st.px(2)
    m = st.px(10)
    corners = [(x1 - m - bw, y0 + m), (x0 + m, y0 + m), (x1 - m - bw, y1 - m - bh), (x0 + m, y1 - m - bh)]

    def hidden(c: tuple[int, int]) -> int:
        bx, by = c
        inside = (samples[:, 0] >= bx - 4) & (samples[:, 0] <= bx + bw + 4)
        inside &= (samples[:, 1] >= by - 4) & (samples[:, 1] <= by + bh + 4)
        return int(inside.sum())

    bx, by = min(corners, key=hidden)  # min() keeps the first corner on ties: top right
    _fill_alpha(img, (bx, by), (bx + bw, by + bh), _WHITE, 0.9)
    cv2.rectangle(img, (bx, by), (bx + bw, by + bh), (200, 200, 200), 1, cv2.LINE_8)
    for i, (name, label) in enumerate(zip(names, names_fit)):
        cy = by + st.px(8) + row_h * i + row_h // 2 - st.px(3)
        cv2.line(img, (bx + st.px(10), cy), (bx + st.px(10) + swatch, cy), colors[name], st.px(2.5), _AA)
        _text(img, label, bx + st.px(10) + swatch + st.px(8), cy, scale, _INK, st.th, va="center")


# ----------------------------------------------------------------------------- bar charts


def _value_decimals(values: Sequence[float], sig: int = 3) -> int:
    """Decimals that show about `sig` significant digits of the largest value (0.734, 73.4, 734)."""
    big = max((abs(v) for v in values), default=0.0)
    if big == 0:
        return 2
    return int(min(max(sig - 1 - math.floor(math.log10(big)), 0), 4))


def _xlabel_layout(names: Sequence[str], slot: float, st: _Style, bold: set[str] | None = None
                   ) -> tuple[str, list[list[str]], int]:
    """How category labels fit under slots of `slot` px: ('flat'|'wrap'|'rot', lines per label, height in px)."""
    bold = bold or set()
    th_of = {n: (st.th + 1 if n in bold else st.th) for n in names}
    _, h, b = _tsize("Ag", st.tick, st.th)
    avail = slot - st.px(8)
    if all(_tsize(n, st.tick, th_of[n])[0] <= avail for n in names):
        return "flat", [[n] for n in names], h + b
    wrapped = [_wrap(n, avail, st.tick, th_of[n], 3) for n in names]
    if all(w is not None for w in wrapped):
        lines = max(len(w) for w in wrapped)  # type: ignore[arg-type]
        return "wrap", wrapped, lines * (h + b + st.px(4))  # type: ignore[return-value]
    short = [_ellipsize(n, st.px(170), st.tick, th_of[n]) for n in names]
    diag = max(_tsize(s, st.tick, th_of[n])[0] for s, n in zip(short, names)) * math.sqrt(0.5) + (h + b) * 1.2
    return "rot", [[s] for s in short], int(math.ceil(diag))


def _draw_xlabels(img: np.ndarray, layout: tuple[str, list[list[str]], int], names: Sequence[str],
                  centers: Sequence[float], y: int, st: _Style, bold: set[str] | None = None) -> None:
    """Draw category labels below the axis at the given slot centres."""
    mode, lines, _ = layout
    bold = bold or set()
    _, h, b = _tsize("Ag", st.tick, st.th)
    for name, ls, cx in zip(names, lines, centers):
        th = st.th + 1 if name in bold else st.th
        if mode == "rot":
            _text_rotated(img, ls[0], cx + st.px(4), y, st.tick, _INK, th, 45, ha="right", va="top")
        else:
            for k, line in enumerate(ls):
                _text(img, line, cx, y + k * (h + b + st.px(4)), st.tick, _INK, th, ha="center", va="top")


def _auto_range(lows: Sequence[float], highs: Sequence[float], head_px: float, foot_px: float, plot_h: int,
                max_ticks: int) -> tuple[float, float, list[float], float]:
    """Nice y range covering 0 and all bars, with `head_px` / `foot_px` spare above / below them for value labels."""
    lo, hi = min(0.0, *lows), max(0.0, *highs)
    dlo, dhi = lo, hi
    for _ in range(8):
        lo2, hi2, ticks, step = _linear_ticks(dlo, dhi, max_ticks)
        px_per = plot_h / (hi2 - lo2)
        need_hi = hi + (head_px / px_per if hi > 0 else 0.0)
        need_lo = lo - (foot_px / px_per if lo < 0 else 0.0)
        if need_hi <= hi2 + 1e-12 and need_lo >= lo2 - 1e-12:
            return lo2, hi2, ticks, step
        dlo, dhi = min(dlo, need_lo), max(dhi, need_hi)
    return lo2, hi2, ticks, step


def _fixed_range(lo: float, hi: float, max_ticks: int) -> tuple[float, float, list[float], float]:
    """Nice ticks inside a caller-given y range."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"ylim must be (low, high) with low < high, got {(lo, hi)}")
    _, _, ticks, step = _linear_ticks(lo, hi, max_ticks, expand=False)
    return lo, hi, ticks, step


def _darker(c: RGB, k: float = 0.72) -> RGB:
    """A darker shade for outlines."""
    return tuple(int(v * k) for v in c)  # type: ignore[return-value]


def bar_chart(groups: Mapping[str, tuple[float, float | None]], path: PathLike, *, title: str, ylabel: str,
              ylim: tuple[float, float] | None = None, size: tuple[int, int] = (900, 540),
              highlight: str | None = None) -> Path:
    """One bar per name at its mean with an optional ±std error bar and the value printed on top, e.g. mIoU by method."""
    width, height = _check_size(size)
    if not groups:
        raise ValueError("groups is empty: nothing to plot")
    names = [str(n) for n in groups]
    means, stds = [], []
    for name, val in groups.items():
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise ValueError(f"groups[{name!r}] must be (mean, std or None), got {val!r}")
        m, s = float(val[0]), None if val[1] is None else float(val[1])
        if not math.isfinite(m) or (s is not None and not (math.isfinite(s) and s >= 0)):
            raise ValueError(f"groups[{name!r}] needs a finite mean and a finite std >= 0, got {val!r}")
        means.append(m)
        stds.append(s)
    if highlight is not None and highlight not in groups:
        raise ValueError(f"highlight {highlight!r} is not one of the groups {names}")

    st = _Style(width, height)
    img = np.full((height, width, 3), 255, np.uint8)
    top = _draw_title(img, title, st) + st.px(14)
    dec = _value_decimals(means)
    vals = [f"{m:.{dec}f}" for m in means]
    errs = [None if s is None else f"± {s:.{dec}f}" for s in stds]
    _, vh, vb = _tsize("0", st.value, st.th)
    bold = {highlight} if highlight else set()

    # Two passes: the left margin depends on the y labels, the slot width on the left margin.
    left, bottom = st.px(70), height - st.px(60)
    for _ in range(2):
        slot = (width - 2 * st.pad - left) / len(names)
        singles = [v + ("  " + e if e else "") for v, e in zip(vals, errs)]
        one_line = all(_tsize(t, st.value, st.th + 1)[0] <= slot * 0.85 for t in singles)
        n_lines = 1 if one_line or not any(errs) else 2
        head = st.px(6) + n_lines * (vh + vb + st.px(3))
        layout = _xlabel_layout(names, slot, st, bold)
        bottom = height - (st.tick_len + st.px(8) + layout[2] + st.pad)
        max_ticks = max(3, (bottom - top) // st.px(55) + 1)
        lows = [m - (s or 0.0) for m, s in zip(means, stds)]
        highs = [m + (s or 0.0) for m, s in zip(means, stds)]
        if ylim is None:
            ylo, yhi, yticks, ystep = _auto_range(lows, highs, head, head, bottom - top, max_ticks)
        else:
            ylo, yhi, yticks, ystep = _fixed_range(float(ylim[0]), float(ylim[1]), max_ticks)
        ylabels = _linear_labels(yticks, ystep)
        left = _y_axis_width(ylabels, ylabel, st)
    right = width - 2 * st.pad
    rect = (left, top, right, bottom)

    def to_y(v: float) -> float:
        return bottom - (min(max(v, ylo), yhi) - ylo) / (yhi - ylo) * (bottom - top)

    _draw_y_axis(img, rect, yticks, ylabels, to_y, ylabel, st)
    centers = [left + (i + 0.5) * slot for i in range(len(names))]
    bar_w = min(slot * 0.62, st.px(130))
    zero = to_y(0.0)
    for i, (m, s) in enumerate(zip(means, stds)):
        color = _HIGHLIGHT if names[i] == highlight else _BAR
        xa, xb = round(centers[i] - bar_w / 2), round(centers[i] + bar_w / 2)
        ya, yb = sorted((round(zero), round(to_y(m))))
        cv2.rectangle(img, (xa, ya), (xb, yb), color, -1, cv2.LINE_8)
        cv2.rectangle(img, (xa, ya), (xb, yb), _darker(color), 1, cv2.LINE_8)
        tip = m
        if s is not None and s > 0:
            e_lo, e_hi = round(to_y(m - s)), round(to_y(m + s))
            cx, cap = round(centers[i]), max(st.px(5), round(bar_w * 0.15))
            ecol, ew = (40, 40, 40), st.px(1.5)
            cv2.line(img, (cx, e_lo), (cx, e_hi), ecol, ew, _AA)
            cv2.line(img, (cx - cap, e_lo), (cx + cap, e_lo), ecol, ew, _AA)
            cv2.line(img, (cx - cap, e_hi), (cx + cap, e_hi), ecol, ew, _AA)
            tip = m + s if m >= 0 else m - s
        lines = [singles[i]] if n_lines == 1 else [vals[i]] + ([errs[i]] if errs[i] else [])
        step = vh + vb + st.px(3)
        if m >= 0:
            ytop = max(to_y(tip) - st.px(6) - step * len(lines) + vh, top + vh + st.px(3))
        else:
            ytop = min(to_y(tip) + st.px(6) + vh, bottom - step * (len(lines) - 1) - vb - st.px(3))
        for k, line in enumerate(lines):
            col = _INK if k == 0 else _MUTED
            bold_value = k == 0 and names[i] == highlight
            _text(img, line, centers[i], ytop + k * step, st.value, col, st.th + bold_value, ha="center")
    if ylo < 0 < yhi:
        cv2.line(img, (left, round(zero)), (right, round(zero)), _FRAME, 1, cv2.LINE_8)
    _draw_frame(img, rect)
    _draw_xlabels(img, layout, names, centers, bottom + st.tick_len + st.px(6), st, bold)
    return _save_png(img, path)


def _legend_row(img: np.ndarray, entries: Sequence[tuple[str, RGB | None]], y: int, x0: int, x1: int, st: _Style,
                scale: float, draw: bool = True) -> int:
    """Centred lines of (name, colour) swatches between x0 and x1 from y (None: grey cross); returns the height used."""
    _, th, tb = _tsize("Ag", scale, st.th)
    sw, gap, row_h = st.px(14), st.px(22), th + tb + st.px(8)
    items = [(n, c, sw + st.px(6) + _tsize(n, scale, st.th)[0]) for n, c in entries]
    lines: list[list[tuple[str, RGB | None, int]]] = [[]]
    used = 0
    for it in items:
        if lines[-1] and used + gap + it[2] > x1 - x0:
            lines.append([])
            used = 0
        used += (gap if lines[-1] else 0) + it[2]
        lines[-1].append(it)
    if draw:
        for k, line in enumerate(lines):
            total = sum(w for _, _, w in line) + gap * (len(line) - 1)
            x = (x0 + x1 - total) / 2
            cy = y + k * row_h + row_h // 2
            for name, color, w in line:
                xa, ya = round(x), cy - sw // 2
                if color is None:
                    d = sw // 2 - st.px(2)
                    c = (xa + sw // 2, cy)
                    cv2.line(img, (c[0] - d, c[1] - d), (c[0] + d, c[1] + d), _MUTED, st.px(1.5), _AA)
                    cv2.line(img, (c[0] - d, c[1] + d), (c[0] + d, c[1] - d), _MUTED, st.px(1.5), _AA)
                else:
                    cv2.rectangle(img, (xa, ya), (xa + sw, ya + sw), color, -1, cv2.LINE_8)
                    cv2.rectangle(img, (xa, ya), (xa + sw, ya + sw), _darker(color), 1, cv2.LINE_8)
                _text(img, name, x + sw + st.px(6), cy, scale, _INK, st.th, va="center")
                x += w + gap
    return row_h * len(lines)


def grouped_bar_chart(groups: Mapping[str, Mapping[str, float | None]], path: PathLike, *, title: str, ylabel: str,
                      size: tuple[int, int] = (1200, 560)) -> Path:
    """Bars grouped by outer key (x axis, e.g. class) with one coloured bar per inner key (e.g. method); None = missing."""
    width, height = _check_size(size)
    if not groups:
        raise ValueError("groups is empty: nothing to plot")
    names = [str(n) for n in groups]
    methods: list[str] = []
    for g, inner in groups.items():
        if not isinstance(inner, Mapping):
            raise ValueError(f"groups[{g!r}] must map method names to values, got {type(inner).__name__}")
        for k, v in inner.items():
            if v is not None and not math.isfinite(float(v)):
                raise ValueError(f"groups[{g!r}][{k!r}] must be a finite number or None, got {v!r}")
            if str(k) not in methods:
                methods.append(str(k))
    table: list[list[float | None]] = [
        [None if inner.get(mt) is None else float(inner[mt]) for mt in methods]  # type: ignore[arg-type]
        for inner in groups.values()
    ]
    present = [v for row in table for v in row if v is not None]
    if not present:
        raise ValueError("grouped_bar_chart needs at least one value that is not None")
    missing = any(v is None for row in table for v in row)

    st = _Style(width, height)
    img = np.full((height, width, 3), 255, np.uint8)
    y = _draw_title(img, title, st) + st.px(10)
    lscale = st.tick * 1.05
    entries: list[tuple[str, RGB | None]] = list(zip(methods, _series_colors(len(methods))))
    if missing:
        entries.append(("missing", None))
    y += _legend_row(img, entries, y, st.pad, width - st.pad, st, lscale) + st.px(8)
    top = y
    dec = _value_decimals(present, sig=2)
    _, vh, vb = _tsize("0", st.value * 0.85, st.th)

    left, bottom = st.px(70), height - st.px(60)
    for _ in range(2):
        slot = (width - 2 * st.pad - left) / len(names)
        bar_w = slot * 0.8 / len(methods)
        show_vals = all(_tsize(f"{v:.{dec}f}", st.value * 0.85, st.th)[0] <= bar_w + st.px(2) for v in present)
        head = st.px(4) + vh + vb if show_vals else st.px(6)
        layout = _xlabel_layout(names, slot, st)
        bottom = height - (st.tick_len + st.px(8) + layout[2] + st.pad)
        max_ticks = max(3, (bottom - top) // st.px(55) + 1)
        ylo, yhi, yticks, ystep = _auto_range(present, present, head, head, bottom - top, max_ticks)
        ylabels = _linear_labels(yticks, ystep)
        left = _y_axis_width(ylabels, ylabel, st)
    right = width - 2 * st.pad
    rect = (left, top, right, bottom)

    def to_y(v: float) -> float:
        return bottom - (v - ylo) / (yhi - ylo) * (bottom - top)

    _draw_y_axis(img, rect, yticks, ylabels, to_y, ylabel, st)
    zero = round(to_y(0.0))
    colors = _series_colors(len(methods))
    centers = [left + (i + 0.5) * slot for i in range(len(names))]
    for i, row in enumerate(table):
        for j, v in enumerate(row):
            xa = round(centers[i] - slot * 0.4 + j * bar_w)
            xb = round(centers[i] - slot * 0.4 + (j + 1) * bar_w) - (1 if bar_w >= 6 else 0)
            cx = (xa + xb) / 2
            if v is None:
                d = max(2, min(round(bar_w * 0.3), st.px(5)))
                c = (round(cx), zero - d - st.px(3))
                cv2.line(img, (c[0] - d, c[1] - d), (c[0] + d, c[1] + d), _MUTED, st.px(1.5), _AA)
                cv2.line(img, (c[0] - d, c[1] + d), (c[0] + d, c[1] - d), _MUTED, st.px(1.5), _AA)
                continue
            ya, yb = sorted((zero, round(to_y(v))))
            cv2.rectangle(img, (xa, ya), (xb, yb), colors[j], -1, cv2.LINE_8)
            if bar_w >= 6:
                cv2.rectangle(img, (xa, ya), (xb, yb), _darker(colors[j]), 1, cv2.LINE_8)
            if show_vals:
                ty = to_y(v) - st.px(4) if v >= 0 else to_y(v) + st.px(4) + vh
                _text(img, f"{v:.{dec}f}", cx, ty, st.value * 0.85, _MUTED, st.th, ha="center")
    if ylo < 0 < yhi:
        cv2.line(img, (left, zero), (right, zero), _FRAME, 1, cv2.LINE_8)
    for i in range(1, len(names)):  # faint separators between groups
        x = round(left + i * slot)
        cv2.line(img, (x, bottom - st.px(4)), (x, bottom), _FRAME, 1, cv2.LINE_8)
    _draw_frame(img, rect)
    _draw_xlabels(img, layout, names, centers, bottom + st.tick_len + st.px(6), st)
    return _save_png(img, path)


# ----------------------------------------------------------------------------- image sheet


def _as_rgb(img: np.ndarray, where: str) -> np.ndarray:
    """Check a uint8 (H, W), (H, W, 1) or (H, W, 3) image and return it as (H, W, 3)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"{where}: images must be uint8 RGB, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{where}: expected an (H, W, 3) or (H, W) image, got shape {np.asarray(img).shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def image_sheet(rows: Sequence[Sequence[np.ndarray]], path: PathLike, *, column_titles: Sequence[str],
                row_titles: Sequence[str] | None = None, scale: int = 2,
                legend: Sequence[tuple[str, tuple[int, int, int]]] | None = None) -> Path:
    """A titled grid of RGB images (e.g. RGB | depth | GT | predictions), upscaled crisply, with an optional legend."""
    if not rows:
        raise ValueError("rows is empty: nothing to draw")
    n_cols = len(column_titles)
    if n_cols == 0:
        raise ValueError("column_titles is empty")
    for r, row in enumerate(rows):
        if len(row) != n_cols:
            raise ValueError(f"row {r} has {len(row)} images but there are {n_cols} column titles")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"{len(row_titles)} row titles for {len(rows)} rows")
    if int(scale) < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    cells = [[_as_rgb(im, f"row {r}, column {c}") for c, im in enumerate(row)] for r, row in enumerate(rows)]
    col_hw = []
    for c in range(n_cols):
        shapes = {cells[r][c].shape[:2] for r in range(len(cells))}
        if len(shapes) != 1:
            raise ValueError(f"column {c} ({column_titles[c]!r}) mixes image sizes {sorted(shapes)}")
        h, w = shapes.pop()
        col_hw.append((h * scale, w * scale))

    st = _Style(900, 540)
    pad, gap = st.px(14), st.px(8)
    tscale, tth = 0.6, 2
    _, th, tb = _tsize("Ag", tscale, tth)
    line_h = th + tb + st.px(5)
    col_titles = [
        _wrap(str(t), w - 4, tscale, tth, 2) or [_ellipsize(str(t), w - 4, tscale, tth)]
        for t, (_, w) in zip(column_titles, col_hw)
    ]
    title_h = max(len(t) for t in col_titles) * line_h
    row_h = max(h for h, _ in col_hw)
    rscale, rth = 0.55, 1
    row_w = 0
    row_lines: list[list[str]] = []
    if row_titles is not None:
        max_rw = st.px(180)
        for t in row_titles:
            ls = _wrap(str(t), max_rw, rscale, rth, 4) or [_ellipsize(str(t), max_rw, rscale, rth)]
            row_lines.append(ls)
            row_w = max(row_w, *(_tsize(s, rscale, rth)[0] for s in ls))
        row_w += gap
    grid_w = sum(w for _, w in col_hw) + gap * (n_cols - 1)
    width = pad + row_w + grid_w + pad
    grid_top = pad + title_h + st.px(4)
    height = grid_top + len(cells) * row_h + (len(cells) - 1) * gap + pad
    lg_scale = 0.5
    if legend:
        width = max(width, st.px(320))
        lg_h = _legend_row(np.zeros((1, 1, 3), np.uint8), [(str(n), tuple(int(v) for v in c)) for n, c in legend],
                           0, pad, width - pad, st, lg_scale, draw=False)
        height += lg_h + st.px(6)
    img = np.full((height, width, 3), 255, np.uint8)

    x = pad + row_w
    for c, ((h, w), lines) in enumerate(zip(col_hw, col_titles)):
        for k, s in enumerate(lines):
            yk = pad + (title_h - len(lines) * line_h) + k * line_h
            _text(img, s, x + w / 2, yk, tscale, _INK, tth, ha="center", va="top")
        for r in range(len(cells)):
            y = grid_top + r * (row_h + gap) + (row_h - h) // 2
            big = cv2.resize(cells[r][c], (w, h), interpolation=cv2.INTER_NEAREST) if scale > 1 else cells[r][c]
            img[y:y + h, x:x + w] = big
            cv2.rectangle(img, (x - 1, y - 1), (x + w, y + h), (205, 205, 205), 1, cv2.LINE_8)
        x += w + gap
    for r, lines in enumerate(row_lines):
        _, rh, rb = _tsize("Ag", rscale, rth)
        step = rh + rb + st.px(4)
        cy = grid_top + r * (row_h + gap) + row_h / 2 - (len(lines) - 1) * step / 2
        for k, s in enumerate(lines):
            _text(img, s, pad + row_w - gap, cy + k * step, rscale, _INK, rth, ha="right", va="center")
    if legend:
        y = grid_top + len(cells) * row_h + (len(cells) - 1) * gap + st.px(12)
        _legend_row(img, [(str(n), tuple(int(v) for v in c)) for n, c in legend], y, pad, width - pad, st, lg_scale)
    return _save_png(img, path)
