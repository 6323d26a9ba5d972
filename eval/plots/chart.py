"""The matplotlib frame every chart shares.

The style, the series colours, one titled figure rendered to a PNG of an exact size, text measuring, and the
category axis whose names wrap, shorten or rotate to fit.
"""
from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

from crossmodal.atomic import atomic_path
from crossmodal.colours import class_palette

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PathLike = str | os.PathLike
RGB = tuple[int, int, int]

DPI = 150
INK: RGB = (34, 34, 34)
MUTED: RGB = (96, 96, 96)
BAR: RGB = (76, 114, 176)
HIGHLIGHT: RGB = (221, 132, 82)
# Tableau-10 (matplotlib's default cycle), RGB.
SERIES: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
# Font sizes in points that read at 150 dpi on a figure some 900 px wide; light grid, no top/right frame.
STYLE = {
    "font.size": 8.0, "figure.titlesize": 10.5, "figure.titleweight": "bold", "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "legend.fontsize": 7.5, "axes.titlesize": 9.0,
    "axes.edgecolor": "#969696", "axes.linewidth": 0.8, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "axes.axisbelow": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.7,
    "xtick.color": "#606060", "ytick.color": "#606060", "xtick.labelcolor": "#222222",
    "ytick.labelcolor": "#222222", "axes.formatter.useoffset": False, "legend.framealpha": 0.9,
    "legend.edgecolor": "#c8c8c8", "figure.facecolor": "white", "axes.facecolor": "white",
    "figure.constrained_layout.h_pad": 0.06, "figure.constrained_layout.w_pad": 0.08,
}
VALUE_PT = 7.0  # numbers printed on bars


def series_colors(n: int) -> list[RGB]:
    """Colours for `n` curves: Tableau-10 first, then distinct palette colours."""
    if n <= len(SERIES):
        return list(SERIES[:n])
    out = list(SERIES)
    for c in (tuple(int(v) for v in c) for c in class_palette(n + len(SERIES))):
        if len(out) == n:
            break
        if c not in out:
            out.append(c)  # type: ignore[arg-type]
    return out


def rgb01(c: RGB, k: float = 1.0) -> tuple[float, float, float]:
    """An RGB uint8 colour as matplotlib's 0..1 floats, darkened by `k` (below 1 for outlines)."""
    return (c[0] * k / 255.0, c[1] * k / 255.0, c[2] * k / 255.0)


def shorten(text: str, n: int) -> str:
    """`text` cut to at most `n` characters with an ellipsis."""
    return text if len(text) <= n else text[:n - 1].rstrip(" _-") + "…"


def wrap_chars(text: str, width: int, max_lines: int = 3) -> str | None:
    """`text` wrapped into lines of at most `width` characters, or None if it does not fit.

    Greedy: a line may break after a space, '_', '-', '/' or '+'.
    """
    lines, cur = [], ""
    for tok in (t for t in re.split(r"(?<=[ _\-/+])", text) if t):
        if cur and len((cur + tok).rstrip()) > width:
            lines.append(cur.rstrip())
            cur = tok
        else:
            cur += tok
    lines.append(cur.rstrip())
    return None if len(lines) > max_lines or any(len(s) > width for s in lines) else "\n".join(lines)


def check_size(size: Sequence[int]) -> tuple[int, int]:
    """Validate a (width, height) figure size."""
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    w, h = int(size[0]), int(size[1])
    if w < 240 or h < 160:
        raise ValueError(f"figure size {w}x{h} is too small to lay out (minimum 240x160)")
    return w, h


def png_path(path: PathLike) -> Path:
    """The output path, which must name a PNG."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are written as PNG; path must end in .png, got {path}")
    return path


def save_png(img: np.ndarray, path: PathLike) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp file in the same folder, then os.replace)."""
    path = png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


@contextmanager
def chart(path: PathLike, size: tuple[int, int], title: str) -> Iterator[tuple[Figure, Axes]]:
    """A titled figure of `size` pixels with one axes; when the block ends it is rendered and saved to `path`."""
    width, height = check_size(size)
    path = png_path(path)
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with rc_context(STYLE):
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        try:
            fig.suptitle(title, wrap=True)
            yield fig, fig.add_subplot()
            canvas.draw()
            img = np.asarray(canvas.buffer_rgba())[..., :3]
            if img.shape[:2] != (height, width):  # never seen; would be a rounding of the figure size in inches
                img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            save_png(img, path)
        finally:
            fig.clear()  # figures live on no global list (no pyplot); clearing drops the artists at once


def text_width(fig: Figure, text: str, points: float, bold: bool = False) -> float:
    """Width in pixels of `text` set at `points` on this figure."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=points, weight="bold" if bold else "normal")
    return fig.canvas.get_renderer().get_text_width_height_descent(text, prop, ismath=False)[0]


def category_axis(fig: Figure, ax: Axes, names: Sequence[str], bold: frozenset[str] = frozenset()) -> float:
    """Category names under slots 0..n-1; returns the slot width in pixels after layout.

    The names stay flat if they fit, else wrap onto up to 3 lines, else are shortened and rotated.
    """
    n = len(names)
    ax.set_xlim(-0.5, n - 0.5)

    def place(labels: Sequence[str], **kw: object) -> tuple[list[float], float]:
        ax.set_xticks(range(n), labels, **kw)
        for t, name in zip(ax.get_xticklabels(), names):
            t.set_fontweight("bold" if name in bold else "normal")
        fig.canvas.draw()  # lays the figure out, so that labels and the axes can be measured
        r = fig.canvas.get_renderer()
        return [t.get_window_extent(r).width for t in ax.get_xticklabels()], ax.get_window_extent().width / n

    widths, slot = place(names)
    if max(widths) <= 0.92 * slot:
        return slot
    wrapped = [s if w <= 0.92 * slot else wrap_chars(s, max(3, int(0.92 * slot * len(s) / w)))
               for s, w in zip(names, widths)]
    if all(wrapped):
        widths, slot = place(wrapped)  # type: ignore[arg-type]
        if max(widths) <= slot:
            return slot
    return place([shorten(s, 28) for s in names], rotation=40, ha="right", rotation_mode="anchor")[1]


def value_decimals(values: Sequence[float], sig: int = 3) -> int:
    """Decimals that show about `sig` significant digits of the largest value (0.734, 73.4, 734)."""
    big = max((abs(v) for v in values), default=0.0)
    if big == 0:
        return 2
    return int(min(max(sig - 1 - math.floor(math.log10(big)), 0), 4))


def legend_columns(fig: Figure, handles: Sequence[object]) -> int:
    """How many legend entries to set side by side: as many as fit across the figure, spread evenly over the rows."""
    pt = float(STYLE["legend.fontsize"])
    widest = max(text_width(fig, h.get_label(), pt) for h in handles)  # type: ignore[attr-defined]
    fit = max(1, min(len(handles), int(fig.bbox.width * 0.95 // (widest + 40))))
    return math.ceil(len(handles) / math.ceil(len(handles) / fit))  # rows as full as each other
