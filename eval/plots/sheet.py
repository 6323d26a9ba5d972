"""Example-image sheets: a titled grid of RGB images, upscaled crisply, with an optional colour legend.

Laid out with numpy and drawn with OpenCV's Hershey font; no matplotlib.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from eval.plots.chart import INK, RGB, PathLike, save_png

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PAD, _GAP = 14, 8
_TITLE_SCALE, _TITLE_THICK, _ROW_SCALE, _LEGEND_SCALE = 0.6, 2, 0.55, 0.5


def _tsize(text: str, scale: float, thick: int) -> tuple[int, int, int]:
    """(width, height above baseline, depth below baseline) of `text` in OpenCV's Hershey font."""
    (w, h), base = cv2.getTextSize(text, _FONT, scale, thick)
    return w, h, base


def _text(img: np.ndarray, text: str, x: float, y: float, scale: float, thick: int = 1, ha: str = "left",
          va: str = "baseline") -> None:
    """Draw anti-aliased dark text aligned on (x, y); ha in left/center/right, va in top/center/baseline."""
    w, h, _ = _tsize(text, scale, thick)
    x -= {"left": 0.0, "center": w / 2, "right": float(w)}[ha]
    y += {"top": float(h), "center": h / 2, "baseline": 0.0}[va]
    cv2.putText(img, text, (round(x), round(y)), _FONT, scale, INK, thick, cv2.LINE_AA)


def _ellipsize(text: str, max_w: float, scale: float, thick: int) -> str:
    """Shorten `text` with '...' until it fits in `max_w` pixels."""
    if _tsize(text, scale, thick)[0] <= max_w:
        return text
    while text and _tsize(text + "...", scale, thick)[0] > max_w:
        text = text[:-1]
    return text.rstrip(" _-") + "..."


def _wrap(text: str, max_w: float, scale: float, thick: int, max_lines: int) -> list[str]:
    """`text` word-wrapped into at most `max_lines` lines of `max_w` px, else one shortened line.

    Greedy: a line may break after a space, '_', '-', '/' or '+'.
    """
    lines, cur = [], ""
    for tok in (t for t in re.split(r"(?<=[ _\-/+])", text) if t):
        if cur and _tsize((cur + tok).rstrip(), scale, thick)[0] > max_w:
            lines.append(cur.rstrip())
            cur = tok
        else:
            cur += tok
    lines.append(cur.rstrip())
    if len(lines) > max_lines or any(_tsize(s, scale, thick)[0] > max_w for s in lines):
        return [_ellipsize(text, max_w, scale, thick)]
    return lines


def _legend_rows(entries: Sequence[tuple[str, RGB]], width: int, scale: float) -> list[list[tuple[str, RGB, int]]]:
    """(name, colour) swatch entries broken into centred lines that fit in `width` px."""
    lines: list[list[tuple[str, RGB, int]]] = [[]]
    used = 0
    for name, color in entries:
        w = 20 + _tsize(name, scale, 1)[0]
        if lines[-1] and used + 22 + w > width:
            lines.append([])
            used = 0
        used += (22 if lines[-1] else 0) + w
        lines[-1].append((name, color, w))
    return lines


def _draw_legend(img: np.ndarray, lines: list[list[tuple[str, RGB, int]]], y: int, x0: int, x1: int,
                 scale: float, row_h: int) -> None:
    """Draw the legend lines from `_legend_rows`, each centred between x0 and x1."""
    for k, line in enumerate(lines):
        x = (x0 + x1 - sum(w for _, _, w in line) - 22 * (len(line) - 1)) / 2
        cy = y + k * row_h + row_h // 2
        for name, color, w in line:
            xa, ya = round(x), cy - 7
            cv2.rectangle(img, (xa, ya), (xa + 14, ya + 14), color, -1, cv2.LINE_8)
            cv2.rectangle(img, (xa, ya), (xa + 14, ya + 14), tuple(int(v * 0.72) for v in color), 1, cv2.LINE_8)
            _text(img, name, x + 20, cy, scale, va="center")
            x += w + 22


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


def _checked_cells(rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str],
                   row_titles: Sequence[str] | None, scale: int
                   ) -> tuple[list[list[np.ndarray]], list[tuple[int, int]]]:
    """The images as RGB and each column's upscaled (height, width).

    A ValueError names what keeps the sheet from being laid out.
    """
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
    cells = [[_as_rgb(im, f"row {r}, column {c}") for c, im in enumerate(row)] for r, row in enumerate(rows)]
    col_hw = []
    for c in range(n_cols):
        shapes = {cells[r][c].shape[:2] for r in range(len(cells))}
        if len(shapes) != 1:
            raise ValueError(f"column {c} ({column_titles[c]!r}) mixes image sizes {sorted(shapes)}")
        h, w = shapes.pop()
        col_hw.append((h * int(scale), w * int(scale)))
    return cells, col_hw


def _draw_columns(img: np.ndarray, cells: list[list[np.ndarray]], col_hw: list[tuple[int, int]],
                  col_titles: list[list[str]], x: int, line_h: int, grid_top: int, row_h: int, scale: int) -> None:
    """Each column's title lines and its images, framed, one row after another."""
    title_h = max(len(t) for t in col_titles) * line_h
    for c, ((h, w), lines) in enumerate(zip(col_hw, col_titles)):
        for k, s in enumerate(lines):
            _text(img, s, x + w / 2, _PAD + (title_h - len(lines) * line_h) + k * line_h, _TITLE_SCALE, _TITLE_THICK,
                  "center", "top")
        for r in range(len(cells)):
            y = grid_top + r * (row_h + _GAP) + (row_h - h) // 2
            big = cv2.resize(cells[r][c], (w, h), interpolation=cv2.INTER_NEAREST) if scale > 1 else cells[r][c]
            img[y:y + h, x:x + w] = big
            cv2.rectangle(img, (x - 1, y - 1), (x + w, y + h), (205, 205, 205), 1, cv2.LINE_8)
        x += w + _GAP


def _draw_row_titles(img: np.ndarray, row_lines: list[list[str]], right: int, grid_top: int, row_h: int) -> None:
    """Each row's title lines, right-aligned before the grid and centred on the row."""
    _, rh, rb = _tsize("Ag", _ROW_SCALE, 1)
    for r, lines in enumerate(row_lines):
        cy = grid_top + r * (row_h + _GAP) + row_h / 2 - (len(lines) - 1) * (rh + rb + 4) / 2
        for k, s in enumerate(lines):
            _text(img, s, right, cy + k * (rh + rb + 4), _ROW_SCALE, 1, "right", "center")


def image_sheet(rows: Sequence[Sequence[np.ndarray]], path: PathLike, *, column_titles: Sequence[str],
                row_titles: Sequence[str] | None = None, scale: int = 2,
                legend: Sequence[tuple[str, tuple[int, int, int]]] | None = None) -> Path:
    """A titled grid of RGB images, e.g. RGB | depth | GT | predictions, upscaled crisply, with an optional legend."""
    cells, col_hw = _checked_cells(rows, column_titles, row_titles, scale)
    scale = int(scale)
    _, th, tb = _tsize("Ag", _TITLE_SCALE, _TITLE_THICK)
    line_h = th + tb + 5
    col_titles = [_wrap(str(t), w - 4, _TITLE_SCALE, _TITLE_THICK, 2) for t, (_, w) in zip(column_titles, col_hw)]
    title_h = max(len(t) for t in col_titles) * line_h
    row_h = max(h for h, _ in col_hw)
    row_lines = [_wrap(str(t), 180, _ROW_SCALE, 1, 4) for t in row_titles] if row_titles is not None else []
    row_w = max((_tsize(s, _ROW_SCALE, 1)[0] for ls in row_lines for s in ls), default=-_GAP) + _GAP
    width = _PAD + row_w + sum(w for _, w in col_hw) + _GAP * (len(col_hw) - 1) + _PAD
    grid_top = _PAD + title_h + 4
    grid_bottom = grid_top + len(cells) * row_h + (len(cells) - 1) * _GAP
    height = grid_bottom + _PAD
    _, lh, lb = _tsize("Ag", _LEGEND_SCALE, 1)
    lg_row_h = lh + lb + 8
    if legend:
        width = max(width, 320)
        lg_lines = _legend_rows([(str(n), tuple(int(v) for v in c)) for n, c in legend], width - 2 * _PAD,
                                _LEGEND_SCALE)
        height += lg_row_h * len(lg_lines) + 6
    img = np.full((height, width, 3), 255, np.uint8)
    _draw_columns(img, cells, col_hw, col_titles, _PAD + row_w, line_h, grid_top, row_h, scale)
    _draw_row_titles(img, row_lines, _PAD + row_w - _GAP, grid_top, row_h)
    if legend:
        _draw_legend(img, lg_lines, grid_bottom + 12, _PAD, width - _PAD, _LEGEND_SCALE, lg_row_h)
    return save_png(img, path)
