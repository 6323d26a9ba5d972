"""A heatmap of values by row and column (per-class IoU by method), each cell annotated, sized so no text overlaps.

Grouped bars stop being readable past a handful of series: 15 methods x 18 classes make 270 thin bars. Here each
method is one row, each class one column, the value printed in its cell on a colour scale with a colourbar. The
reference rows (the teacher's) come last, set apart by a gap and named in italics. A missing value is a hatched cell
with a dash. The figure's size follows from the number of rows and columns and from the measured text.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from eval.plots.chart import DPI, INK, MUTED, STYLE, VALUE_PT, PathLike, chart, check_size, rgb01, shorten

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh
    from matplotlib.colors import Colormap, Normalize
    from matplotlib.figure import Figure

CMAP = "viridis"
GAP = 0.45  # the space between the rows and the reference rows, in rows
ANGLE = 45  # degrees the column names are turned
NAME_CHARS = 28  # column names are cut to this many characters, row names to 40
MISSING = "–"


def _table(rows: Mapping[str, Mapping[str, float | None]], reference: Sequence[str]
           ) -> tuple[list[str], list[str], np.ndarray, int]:
    """Row names (reference rows last), column names in first-seen order, the values (NaN where missing), and how
    many rows are not references."""
    columns: list[str] = []
    for r, inner in rows.items():
        if not isinstance(inner, Mapping):
            raise ValueError(f"rows[{r!r}] must map column names to values, got {type(inner).__name__}")
        for c, v in inner.items():
            if v is not None and not math.isfinite(float(v)):
                raise ValueError(f"rows[{r!r}][{c!r}] must be a finite number or None, got {v!r}")
            if str(c) not in columns:
                columns.append(str(c))
    unknown = [r for r in reference if r not in rows]
    if unknown:
        raise ValueError(f"reference rows {unknown} are not among the rows {list(rows)}")
    names = [str(r) for r in rows if r not in reference] + [str(r) for r in rows if r in reference]
    by_name = {str(r): {str(c): v for c, v in inner.items()} for r, inner in rows.items()}
    table = np.array([[np.nan if by_name[r].get(c) is None else float(by_name[r][c]) for c in columns]
                      for r in names], dtype=np.float64).reshape(len(names), len(columns))
    if np.isnan(table).all():
        raise ValueError("heatmap needs at least one value that is not None")
    return names, columns, table, len(names) - sum(1 for r in rows if r in reference)


def cell_decimals(shown: np.ndarray) -> int:
    """0 decimals, or 1 when whole numbers would hide the differences (all values within 10 of each other)."""
    vals = shown[~np.isnan(shown)]
    return 1 if float(vals.max() - vals.min()) < 10 else 0


def _text_px(texts: Sequence[str], points: float, italic: bool = False, bold: bool = False) -> tuple[float, float]:
    """The widest of `texts` and one line's height, in pixels at DPI, measured with the charts' fonts."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    with rc_context(STYLE):
        prop = FontProperties(size=points, style="italic" if italic else "normal", weight="bold" if bold else "normal")
        r = RendererAgg(10, 10, DPI)
        w = max((r.get_text_width_height_descent(t, prop, ismath=False)[0] for t in texts), default=0.0)
        return w, r.get_text_width_height_descent("Ag", prop, ismath=False)[1]


def heatmap_size(row_names: Sequence[str], col_names: Sequence[str], value_texts: Sequence[str], n_ref: int,
                 title: str) -> tuple[tuple[int, int], tuple[float, float]]:
    """The figure's (width, height) and a cell's (width, height) in pixels, so that every text fits beside the next.

    A cell holds its printed value with a margin; a column is wide enough for its turned name not to touch the next;
    the margins take the longest row name and the turned column names; the colourbar and title get fixed room.
    """
    tick = float(STYLE["xtick.labelsize"])
    val_w, val_h = _text_px(value_texts, VALUE_PT, bold=True)
    row_w, line_h = _text_px([shorten(n, 40) for n in row_names], tick, italic=True)
    col_w, _ = _text_px([shorten(n, NAME_CHARS) for n in col_names], tick)
    cell_w = max(val_w + 12, 1.35 * line_h / math.sin(math.radians(ANGLE)), 30.0)
    cell_h = max(val_h + 12, line_h + 8, 24.0)
    n_rows, n_cols = len(row_names), len(col_names)
    grid_w, grid_h = n_cols * cell_w, (n_rows + (GAP if 0 < n_ref < n_rows else 0.0)) * cell_h
    below = col_w * math.sin(math.radians(ANGLE)) + line_h * math.cos(math.radians(ANGLE)) + 16
    left = max(row_w + 24, col_w * math.cos(math.radians(ANGLE)) - cell_w / 2 + 16)
    title_w, title_h = _text_px([title], float(STYLE["figure.titlesize"]), bold=True)
    width = max(left + grid_w + 100, min(title_w + 40, 900), 240)  # 100: the colourbar, its numbers and label
    lines = math.ceil((title_w + 40) / width)  # a longer title wraps
    height = max(lines * title_h * 1.25 + 28 + grid_h + below + 16, 160)
    return (int(math.ceil(width)), int(math.ceil(height))), (cell_w, cell_h)


def _row_edges(n_rows: int, n_main: int) -> np.ndarray:
    """Lower and upper y of each row: rows 0..n_main-1 touch, the reference rows sit a GAP below them."""
    gap = GAP if 0 < n_main < n_rows else 0.0
    tops = np.arange(n_rows, dtype=np.float64) + np.where(np.arange(n_rows) >= n_main, gap, 0.0)
    return np.stack([tops, tops + 1.0], axis=1)


def _cells(ax: Axes, table: np.ndarray, n_main: int, cmap: Colormap, norm: Normalize) -> QuadMesh:
    """The coloured cells, a white line between them, and a hatched grey cell with a dash where a value is missing."""
    from matplotlib.patches import Rectangle

    edges = _row_edges(table.shape[0], n_main)
    meshes = []
    for lo, hi in ((0, n_main), (n_main, table.shape[0])):
        if hi > lo:
            x, y = np.arange(table.shape[1] + 1), np.r_[edges[lo:hi, 0], edges[hi - 1, 1]]
            meshes.append(ax.pcolormesh(x, y, np.ma.masked_invalid(table[lo:hi]), cmap=cmap, norm=norm,
                                        edgecolors="white", linewidth=1.0))
    for i, j in np.argwhere(np.isnan(table)):
        ax.add_patch(Rectangle((j, edges[i, 0]), 1.0, 1.0, facecolor="#f2f2f2", edgecolor="#bdbdbd", hatch="////",
                               linewidth=0.0))
        ax.add_patch(Rectangle((j, edges[i, 0]), 1.0, 1.0, fill=False, edgecolor="white", linewidth=1.0))
        ax.text(j + 0.5, edges[i].mean(), MISSING, ha="center", va="center", fontsize=VALUE_PT, color=rgb01(MUTED),
                fontweight="bold", bbox={"boxstyle": "square,pad=0.1", "facecolor": "#f2f2f2", "linewidth": 0})
    return meshes[0]


def _values(ax: Axes, shown: np.ndarray, n_main: int, dec: int, pt: float, cmap: Colormap, norm: Normalize) -> None:
    """Each value in its cell, white on dark colours and black on light ones.

    With three rows or more (not counting the references) the best of each column is set in bold.
    """
    edges = _row_edges(shown.shape[0], n_main)
    rounded = np.round(shown, dec)
    main = rounded[:n_main]
    best = (np.max(np.where(np.isnan(main), -np.inf, main), axis=0) if n_main >= 3
            else np.full(shown.shape[1], np.inf))  # a best of two is half the cells: no bold then
    for i, j in np.argwhere(~np.isnan(shown)):
        r, g, b, _ = cmap(norm(shown[i, j]))
        light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.56  # viridis above ~63%: black reads better
        ax.text(j + 0.5, edges[i].mean(), f"{shown[i, j]:.{dec}f}", ha="center", va="center", fontsize=pt,
                color=rgb01(INK) if light else "white",
                fontweight="bold" if i < n_main and rounded[i, j] == best[j] else "normal")


def _labels(ax: Axes, names: Sequence[str], columns: Sequence[str], n_main: int) -> None:
    """Row names on the left (the reference rows in italics), column names turned below, no frame or grid."""
    edges = _row_edges(len(names), n_main)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(edges[-1, 1], 0)  # first row on top
    ax.set_yticks(edges.mean(axis=1), [shorten(n, 40) for n in names])
    for k, t in enumerate(ax.get_yticklabels()):
        t.set_fontstyle("italic" if k >= n_main else "normal")
    ax.set_xticks(np.arange(len(columns)) + 0.5, [shorten(c, NAME_CHARS) for c in columns], rotation=ANGLE,
                  ha="right", rotation_mode="anchor")
    ax.tick_params(length=0, pad=3)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)


def _colorbar(fig: Figure, ax: Axes, mesh: QuadMesh, label: str, grid_px: tuple[float, float]) -> None:
    """A slim colourbar to the right of the cells, as tall as they are, with a tick every 30 pixels or more."""
    from matplotlib.ticker import MaxNLocator

    cb = fig.colorbar(mesh, ax=ax, fraction=14.0 / grid_px[0], aspect=max(grid_px[1] / 14.0, 2.0), pad=0.015)
    if grid_px[1] < 60:  # a row or two: the two ends only
        cb.set_ticks([mesh.norm.vmin, mesh.norm.vmax])
    else:
        cb.locator = MaxNLocator(nbins=max(2, int(grid_px[1] // 30)), steps=[1, 2, 2.5, 5, 10])
        cb.update_ticks()
    cb.outline.set_visible(False)
    cb.ax.tick_params(length=2, labelsize=float(STYLE["ytick.labelsize"]))
    cb.set_label(label)


def heatmap(rows: Mapping[str, Mapping[str, float | None]], path: PathLike, *, title: str, label: str,
            scale: float = 100.0, limits: tuple[float, float] | None = (0.0, 1.0), reference: Sequence[str] = (),
            size: tuple[int, int] | None = None) -> Path:
    """One row per outer key (e.g. method), one column per inner key (e.g. class), each cell coloured and annotated.

    Values are shown times `scale` (IoU as a percentage), with 0 decimals or 1 when they lie within 10 of each other.
    The colours span `limits` (in the values' units; None: their range), so figures of the same metric compare. The
    `reference` rows go last, below a gap, named in italics, and are not in the running when the best of each column
    is set in bold (with three other rows or more).
    None is a hatched cell with a dash. Without `size` the figure is sized from the rows, columns and texts.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    names, columns, table, n_main = _table(rows, reference)
    shown = table * float(scale)
    dec = cell_decimals(shown)
    if limits is None:
        lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
        lo, hi = (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)
    elif not (math.isfinite(limits[0]) and math.isfinite(limits[1]) and limits[1] > limits[0]):
        raise ValueError(f"limits must be (low, high) with low < high, got {tuple(limits)}")
    else:
        lo, hi = limits[0] * scale, limits[1] * scale
    texts = [f"{v:.{dec}f}" for v in shown[~np.isnan(shown)]] + [f"{hi:.{dec}f}"]
    auto, (cell_w, cell_h) = heatmap_size(names, columns, texts, len(names) - n_main, title)
    size = check_size(size) if size is not None else auto

    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    cmap, norm = colormaps[CMAP], Normalize(lo, hi, clip=True)
    with chart(path, size, title) as (fig, ax):
        mesh = _cells(ax, shown, n_main, cmap, norm)
        _labels(ax, names, columns, n_main)
        rows_span = len(names) + (GAP if 0 < n_main < len(names) else 0.0)
        _colorbar(fig, ax, mesh, label, (len(columns) * cell_w, rows_span * cell_h))
        fig.canvas.draw()  # lay out, then fit the values to the cells as drawn
        box = ax.get_window_extent()
        slot = min(box.width / len(columns) - 6, (box.height / rows_span - 4) * 3)
        pt = VALUE_PT
        while pt > 4.5 and _text_px(texts, pt, bold=True)[0] > slot:
            pt -= 0.5
        _values(ax, shown, n_main, dec, pt, cmap, norm)
    return Path(path)
