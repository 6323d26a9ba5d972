"""Report figures: line plots and bar charts drawn with matplotlib, example-image sheets laid out with numpy and
OpenCV, and the class and depth colouring (crossmodal/colours.py, re-exported) that they share.

matplotlib is imported inside the chart functions and used through ``Figure`` + ``FigureCanvasAgg`` (no pyplot, no
global backend, nothing kept between calls), so importing this module, or checking a config, never loads it.
Charts render at 150 dpi to exactly the requested size. Sizes are ``(width, height)`` in pixels, images RGB uint8;
every PNG is written atomically (temp file in the same folder, then ``os.replace``).
"""
from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import cv2
import numpy as np

from crossmodal.atomic import atomic_path
from crossmodal.colours import class_palette, colorize_depth, colorize_label  # re-exported: the figures' colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["bar_chart", "class_palette", "colorize_depth", "colorize_label", "grouped_bar_chart", "image_sheet",
           "line_plot"]

PathLike = str | os.PathLike
RGB = tuple[int, int, int]

DPI = 150
_INK: RGB = (34, 34, 34)
_MUTED: RGB = (96, 96, 96)
_BAR: RGB = (76, 114, 176)
_HIGHLIGHT: RGB = (221, 132, 82)
# Tableau-10 (matplotlib's default cycle), RGB.
_SERIES: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
# Font sizes in points that read at 150 dpi on a figure some 900 px wide; light grid, no top/right frame.
_STYLE = {
    "font.size": 8.0, "figure.titlesize": 10.5, "figure.titleweight": "bold", "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "legend.fontsize": 7.5, "axes.titlesize": 9.0,
    "axes.edgecolor": "#969696", "axes.linewidth": 0.8, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "axes.axisbelow": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.7,
    "xtick.color": "#606060", "ytick.color": "#606060", "xtick.labelcolor": "#222222",
    "ytick.labelcolor": "#222222", "axes.formatter.useoffset": False, "legend.framealpha": 0.9,
    "legend.edgecolor": "#c8c8c8", "figure.facecolor": "white", "axes.facecolor": "white",
    "figure.constrained_layout.h_pad": 0.06, "figure.constrained_layout.w_pad": 0.08,
}
_VALUE_PT = 7.0  # numbers printed on bars


def _series_colors(n: int) -> list[RGB]:
    """Tableau-10 first, then distinct palette colours, so any number of curves stays tellable apart."""
    if n <= len(_SERIES):
        return list(_SERIES[:n])
    out = list(_SERIES)
    for c in (tuple(int(v) for v in c) for c in class_palette(n + len(_SERIES))):
        if len(out) == n:
            break
        if c not in out:
            out.append(c)  # type: ignore[arg-type]
    return out


def _rgb01(c: RGB, k: float = 1.0) -> tuple[float, float, float]:
    """An RGB uint8 colour as matplotlib's 0..1 floats, darkened by `k` (< 1: outlines)."""
    return (c[0] * k / 255.0, c[1] * k / 255.0, c[2] * k / 255.0)


def _shorten(text: str, n: int) -> str:
    """`text` cut to at most `n` characters with an ellipsis."""
    return text if len(text) <= n else text[:n - 1].rstrip(" _-") + "…"


def _wrap_chars(text: str, width: int, max_lines: int = 3) -> str | None:
    """Greedy wrap after spaces, '_', '-', '/', '+' into lines of at most `width` characters, or None if it won't."""
    lines, cur = [], ""
    for tok in (t for t in re.split(r"(?<=[ _\-/+])", text) if t):
        if cur and len((cur + tok).rstrip()) > width:
            lines.append(cur.rstrip())
            cur = tok
        else:
            cur += tok
    lines.append(cur.rstrip())
    return None if len(lines) > max_lines or any(len(s) > width for s in lines) else "\n".join(lines)


# ----------------------------------------------------------------------------- checks and output


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    """Validate a (width, height) figure size."""
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    w, h = int(size[0]), int(size[1])
    if w < 240 or h < 160:
        raise ValueError(f"figure size {w}x{h} is too small to lay out (minimum 240x160)")
    return w, h


def _png_path(path: PathLike) -> Path:
    """The output path, which must name a PNG."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are written as PNG; path must end in .png, got {path}")
    return path


def _save_png(img: np.ndarray, path: PathLike) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp file in the same folder, then os.replace)."""
    path = _png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


@contextmanager
def _chart(path: PathLike, size: tuple[int, int], title: str) -> Iterator[tuple[Figure, Axes]]:
    """A titled figure of `size` pixels with one axes; when the block ends it is rendered and saved to `path`."""
    width, height = _check_size(size)
    path = _png_path(path)
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with rc_context(_STYLE):
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        try:
            fig.suptitle(title, wrap=True)
            yield fig, fig.add_subplot()
            canvas.draw()
            img = np.asarray(canvas.buffer_rgba())[..., :3]
            if img.shape[:2] != (height, width):  # never seen; would be a rounding of the figure size in inches
                img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            _save_png(img, path)
        finally:
            fig.clear()  # figures live on no global list (no pyplot); clearing drops the artists at once


def _text_width(fig: Figure, text: str, points: float, bold: bool = False) -> float:
    """Width in pixels of `text` set at `points` on this figure."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=points, weight="bold" if bold else "normal")
    return fig.canvas.get_renderer().get_text_width_height_descent(text, prop, ismath=False)[0]


def _category_axis(fig: Figure, ax: Axes, names: Sequence[str], bold: frozenset[str] = frozenset()) -> float:
    """Category names under slots 0..n-1: flat if they fit, else wrapped onto up to 3 lines, else shortened and
    rotated. Returns the slot width in pixels (after layout)."""
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
    wrapped = [s if w <= 0.92 * slot else _wrap_chars(s, max(3, int(0.92 * slot * len(s) / w)))
               for s, w in zip(names, widths)]
    if all(wrapped):
        widths, slot = place(wrapped)  # type: ignore[arg-type]
        if max(widths) <= slot:
            return slot
    return place([_shorten(s, 28) for s in names], rotation=40, ha="right", rotation_mode="anchor")[1]


def _value_decimals(values: Sequence[float], sig: int = 3) -> int:
    """Decimals that show about `sig` significant digits of the largest value (0.734, 73.4, 734)."""
    big = max((abs(v) for v in values), default=0.0)
    if big == 0:
        return 2
    return int(min(max(sig - 1 - math.floor(math.log10(big)), 0), 4))


# ----------------------------------------------------------------------------- line plot


def line_plot(series: Mapping[str, Sequence[tuple[float, float]]], path: PathLike, *, title: str, xlabel: str,
              ylabel: str, size: tuple[int, int] = (900, 540), log_y: bool = False, log_x: bool = False,
              yerr: Mapping[str, Sequence[float | None]] | None = None) -> Path:
    """Plot named (x, y) curves, e.g. training loss per method, to a PNG; NaN points (and y <= 0 with log_y, x <= 0
    with log_x) are skipped and break the curve. `yerr` draws a ± error bar at each point of a series (None: none)."""
    _check_size(size)
    if not series:
        raise ValueError("series is empty: nothing to plot")
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
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
        curves[str(name)] = (np.where(ok[:, None], arr, np.nan), ok)
    if not any(ok.any() for _, ok in curves.values()):
        raise ValueError("no finite points to plot" + (" (log_y needs y > 0)" if log_y else ""))

    with _chart(path, size, title) as (fig, ax):
        colors = dict(zip(curves, (_rgb01(c) for c in _series_colors(len(curves)))))
        for (name, (xy, ok)), errs in zip(curves.items(), (list((yerr or {}).get(n, ())) for n in series)):
            # markers where points are few, and on any point with no neighbour to draw a line to
            alone = ok & ~np.r_[False, ok[:-1]] & ~np.r_[ok[1:], False]
            every = None if ok.sum() <= 30 else np.flatnonzero(alone).tolist()
            ax.plot(xy[:, 0], xy[:, 1], color=colors[name], lw=1.6, label=_shorten(name, 40), ms=3.5,
                    marker="o" if every is None or every else None, markevery=every)
            bars = np.array([(x, y, e) for (x, y), e in zip(xy, errs)
                             if e is not None and np.isfinite([x, y, e]).all()]).reshape(-1, 3)
            if len(bars):
                low = np.minimum(bars[:, 2], bars[:, 1] * 0.999) if log_y else bars[:, 2]  # stay above 0 on log y
                ax.errorbar(bars[:, 0], bars[:, 1], yerr=[low, bars[:, 2]], fmt="none", ecolor=colors[name],
                            elinewidth=1.1, capsize=3, capthick=1.1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _line_ticks(ax, np.concatenate([xy for xy, _ in curves.values()]), log_x, log_y)
        if len(curves) <= 6:
            ax.legend(loc="best")
        else:  # many curves: under the plot, never over it
            handles = ax.get_legend_handles_labels()[0]
            fig.legend(loc="outside lower center", ncols=_legend_columns(fig, handles), frameon=False)
    return Path(path)


def _line_ticks(ax: Axes, pts: np.ndarray, log_x: bool, log_y: bool) -> None:
    """Axis scales and ticks: log axes labelled with plain numbers (x at the data's own values when there are few,
    e.g. label counts; else the 1-2-5 sequence over up to three decades, powers of ten beyond); integer x data
    (steps, counts) gets integer ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator

    for axis, set_scale, values, log, at_data in ((ax.xaxis, ax.set_xscale, pts[:, 0], log_x, True),
                                                  (ax.yaxis, ax.set_yscale, pts[:, 1], log_y, False)):
        values = np.unique(values[np.isfinite(values)])
        if not log:
            if at_data and np.all(values == np.round(values)):
                axis.set_major_locator(MaxNLocator(integer=True))
            continue
        set_scale("log")
        if at_data and len(values) <= 8:
            axis.set_major_locator(FixedLocator(values))
        else:
            wide = math.log10(values[-1] / values[0]) > 3
            axis.set_major_locator(LogLocator(subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_locator(NullLocator())


# ----------------------------------------------------------------------------- bar charts


def bar_chart(groups: Mapping[str, tuple[float, float | None]], path: PathLike, *, title: str, ylabel: str,
              ylim: tuple[float, float] | None = None, size: tuple[int, int] = (900, 540),
              highlight: str | None = None) -> Path:
    """One bar per name at its mean with an optional ±std error bar and the value printed on top, e.g. mIoU by method."""
    _check_size(size)
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
    if ylim is not None:
        lo, hi = float(ylim[0]), float(ylim[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"ylim must be (low, high) with low < high, got {(lo, hi)}")
    else:  # cover 0 and every error bar, with room above (below) for the printed values
        lo = min(0.0, *(m - (s or 0.0) for m, s in zip(means, stds)))
        hi = max(0.0, *(m + (s or 0.0) for m, s in zip(means, stds)))
        span = (hi - lo) or 1.0
        lo, hi = lo - (0.14 * span if lo < 0 else 0.0), hi + (0.14 * span if hi > 0 or lo == 0 else 0.0)

    with _chart(path, size, title) as (fig, ax):
        x = np.arange(len(names))
        colors = [_HIGHLIGHT if n == highlight else _BAR for n in names]
        ax.bar(x, means, width=0.62, color=[_rgb01(c) for c in colors],
               edgecolor=[_rgb01(c, 0.72) for c in colors], linewidth=0.8)
        has = [i for i, s in enumerate(stds) if s]
        if has:
            ax.errorbar(x[has], [means[i] for i in has], yerr=[stds[i] for i in has], fmt="none",
                        ecolor=_rgb01((40, 40, 40)), elinewidth=1.2, capsize=4, capthick=1.2)
        ax.set_ylim(lo, hi)
        if lo < 0 < hi:
            ax.axhline(0.0, color="#969696", lw=0.8)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(ylabel)
        slot = _category_axis(fig, ax, names, frozenset({highlight} if highlight else ()))
        dec = _value_decimals(means)
        vals = [f"{m:.{dec}f}" for m in means]
        errs = ["" if s is None else f"± {s:.{dec}f}" for s in stds]
        singles = [v + (f" {e}" if e else "") for v, e in zip(vals, errs)]
        two = any(_text_width(fig, t, _VALUE_PT, True) > 0.92 * slot for t in singles)
        pt = _VALUE_PT
        while pt > 5.0 and any(_text_width(fig, t, pt, True) > 0.95 * slot for t in (vals + errs if two else singles)):
            pt -= 0.5
        for i, (m, s) in enumerate(zip(means, stds)):
            tip = min(max(m + (s or 0.0) if m >= 0 else m - (s or 0.0), lo), hi)
            text = f"{vals[i]}\n{errs[i]}" if two and errs[i] else singles[i]
            ax.annotate(text, (i, tip), xytext=(0, 3 if m >= 0 else -3), textcoords="offset points", ha="center",
                        va="bottom" if m >= 0 else "top", fontsize=pt, color=_rgb01(_INK), linespacing=1.1,
                        fontweight="bold" if names[i] == highlight else "normal", annotation_clip=False)
    return Path(path)


def grouped_bar_chart(groups: Mapping[str, Mapping[str, float | None]], path: PathLike, *, title: str, ylabel: str,
                      size: tuple[int, int] = (1200, 560)) -> Path:
    """Bars grouped by outer key (x axis, e.g. class) with one coloured bar per inner key (e.g. method); None = missing."""
    _check_size(size)
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
    rows = [{str(k): v for k, v in inner.items()} for inner in groups.values()]
    table = np.array([[np.nan if r.get(mt) is None else float(r[mt]) for mt in methods] for r in rows])
    if np.isnan(table).all():
        raise ValueError("grouped_bar_chart needs at least one value that is not None")

    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    with _chart(path, size, title) as (fig, ax):
        bar_w = 0.8 / len(methods)
        colors = _series_colors(len(methods))
        x = np.arange(len(names))
        handles = []
        for j, (method, c) in enumerate(zip(methods, colors)):
            xs = x - 0.4 + (j + 0.5) * bar_w
            have = ~np.isnan(table[:, j])
            handles.append(ax.bar(xs[have], table[have, j], width=bar_w, color=_rgb01(c), label=method,
                                  edgecolor="white", linewidth=0.4))
        ax.grid(axis="x", visible=False)
        ax.set_xticks(x[:-1] + 0.5, minor=True)  # short marks between the groups
        ax.tick_params(axis="x", which="minor", length=6, color="#969696")
        ax.tick_params(axis="x", which="major", length=0)
        ax.set_ylabel(ylabel)
        lows, highs = np.nanmin(table), np.nanmax(table)
        span = (max(highs, 0.0) - min(lows, 0.0)) or 1.0
        ax.set_ylim(min(lows, 0.0) - (0.07 * span if lows < 0 else 0.0), max(highs, 0.0) + 0.06 * span)
        if lows < 0 < highs:
            ax.axhline(0.0, color="#969696", lw=0.8)
        if np.isnan(table).any():  # a grey cross just above zero where a value is missing
            i, j = np.nonzero(np.isnan(table))
            ax.plot(x[i] - 0.4 + (j + 0.5) * bar_w, np.zeros(len(i)), ls="none", marker="x", ms=4, mew=1.2,
                    color=_rgb01(_MUTED), clip_on=False, transform=offset_copy(ax.transData, fig=fig, y=5,
                                                                              units="points"))
            handles.append(Line2D([], [], ls="none", marker="x", ms=5, mew=1.2, color=_rgb01(_MUTED),
                                  label="missing"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=_legend_columns(fig, handles),
                  frameon=False, borderaxespad=0.3)  # above the bars, below the title
        slot = _category_axis(fig, ax, names)
        dec = _value_decimals(table[~np.isnan(table)].tolist())
        cells = [(i, j, table[i, j]) for i, j in np.argwhere(~np.isnan(table))]
        if max(_text_width(fig, f"{v:.{dec}f}", _VALUE_PT - 1) for _, _, v in cells) <= slot * bar_w + 2:
            for i, j, v in cells:  # values on the bars, only where they fit
                ax.annotate(f"{v:.{dec}f}", (x[i] - 0.4 + (j + 0.5) * bar_w, v), xytext=(0, 2 if v >= 0 else -2),
                            textcoords="offset points", ha="center", va="bottom" if v >= 0 else "top",
                            fontsize=_VALUE_PT - 1, color=_rgb01(_MUTED))
    return Path(path)


def _legend_columns(fig: Figure, handles: Sequence[object]) -> int:
    """How many legend entries to set side by side: as many as fit across the figure, spread evenly over the rows."""
    pt = float(_STYLE["legend.fontsize"])
    widest = max(_text_width(fig, h.get_label(), pt) for h in handles)  # type: ignore[attr-defined]
    fit = max(1, min(len(handles), int(fig.bbox.width * 0.95 // (widest + 40))))
    return math.ceil(len(handles) / math.ceil(len(handles) / fit))  # rows as full as each other


# ----------------------------------------------------------------------------- image sheet

_FONT = cv2.FONT_HERSHEY_SIMPLEX


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
    cv2.putText(img, text, (round(x), round(y)), _FONT, scale, _INK, thick, cv2.LINE_AA)


def _ellipsize(text: str, max_w: float, scale: float, thick: int) -> str:
    """Shorten `text` with '...' until it fits in `max_w` pixels."""
    if _tsize(text, scale, thick)[0] <= max_w:
        return text
    while text and _tsize(text + "...", scale, thick)[0] > max_w:
        text = text[:-1]
    return text.rstrip(" _-") + "..."


def _wrap(text: str, max_w: float, scale: float, thick: int, max_lines: int) -> list[str]:
    """Greedy word-wrap at spaces, '_', '-', '/', '+' into at most `max_lines` lines of `max_w` px, else one
    shortened line."""
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

    pad, gap = 14, 8
    tscale, tth, rscale, lg_scale = 0.6, 2, 0.55, 0.5
    _, th, tb = _tsize("Ag", tscale, tth)
    line_h = th + tb + 5
    col_titles = [_wrap(str(t), w - 4, tscale, tth, 2) for t, (_, w) in zip(column_titles, col_hw)]
    title_h = max(len(t) for t in col_titles) * line_h
    row_h = max(h for h, _ in col_hw)
    row_lines = [_wrap(str(t), 180, rscale, 1, 4) for t in row_titles] if row_titles is not None else []
    row_w = max((_tsize(s, rscale, 1)[0] for ls in row_lines for s in ls), default=-gap) + gap
    grid_w = sum(w for _, w in col_hw) + gap * (n_cols - 1)
    width = pad + row_w + grid_w + pad
    grid_top = pad + title_h + 4
    height = grid_top + len(cells) * row_h + (len(cells) - 1) * gap + pad
    _, lh, lb = _tsize("Ag", lg_scale, 1)
    lg_row_h = lh + lb + 8
    if legend:
        width = max(width, 320)
        lg_lines = _legend_rows([(str(n), tuple(int(v) for v in c)) for n, c in legend], width - 2 * pad, lg_scale)
        height += lg_row_h * len(lg_lines) + 6
    img = np.full((height, width, 3), 255, np.uint8)

    x = pad + row_w
    for c, ((h, w), lines) in enumerate(zip(col_hw, col_titles)):
        for k, s in enumerate(lines):
            _text(img, s, x + w / 2, pad + (title_h - len(lines) * line_h) + k * line_h, tscale, tth, "center", "top")
        for r in range(len(cells)):
            y = grid_top + r * (row_h + gap) + (row_h - h) // 2
            big = cv2.resize(cells[r][c], (w, h), interpolation=cv2.INTER_NEAREST) if scale > 1 else cells[r][c]
            img[y:y + h, x:x + w] = big
            cv2.rectangle(img, (x - 1, y - 1), (x + w, y + h), (205, 205, 205), 1, cv2.LINE_8)
        x += w + gap
    _, rh, rb = _tsize("Ag", rscale, 1)
    for r, lines in enumerate(row_lines):
        cy = grid_top + r * (row_h + gap) + row_h / 2 - (len(lines) - 1) * (rh + rb + 4) / 2
        for k, s in enumerate(lines):
            _text(img, s, pad + row_w - gap, cy + k * (rh + rb + 4), rscale, 1, "right", "center")
    if legend:
        y = grid_top + len(cells) * row_h + (len(cells) - 1) * gap + 12
        _draw_legend(img, lg_lines, y, pad, width - pad, lg_scale, lg_row_h)
    return _save_png(img, path)
