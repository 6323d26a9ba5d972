"""Bar charts: one bar per name with its spread (mIoU by method), and bars grouped by class with one per method."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from eval.plots.chart import (
    BAR,
    HIGHLIGHT,
    INK,
    MUTED,
    VALUE_PT,
    PathLike,
    category_axis,
    chart,
    check_size,
    legend_columns,
    rgb01,
    series_colors,
    text_width,
    value_decimals,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _means_and_stds(groups: Mapping[str, tuple[float, float | None]]) -> tuple[list[float], list[float | None]]:
    """The checked (mean, std or None) of each bar."""
    means, stds = [], []
    for name, val in groups.items():
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise ValueError(f"groups[{name!r}] must be (mean, std or None), got {val!r}")
        m, s = float(val[0]), None if val[1] is None else float(val[1])
        if not math.isfinite(m) or (s is not None and not (math.isfinite(s) and s >= 0)):
            raise ValueError(f"groups[{name!r}] needs a finite mean and a finite std >= 0, got {val!r}")
        means.append(m)
        stds.append(s)
    return means, stds


def _bar_limits(means: list[float], stds: list[float | None], ylim: tuple[float, float] | None
                ) -> tuple[float, float]:
    """The y range: `ylim` checked, or one that covers 0 and every error bar with room for the printed values."""
    if ylim is not None:
        lo, hi = float(ylim[0]), float(ylim[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"ylim must be (low, high) with low < high, got {(lo, hi)}")
        return lo, hi
    lo = min(0.0, *(m - (s or 0.0) for m, s in zip(means, stds)))
    hi = max(0.0, *(m + (s or 0.0) for m, s in zip(means, stds)))
    span = (hi - lo) or 1.0
    return lo - (0.14 * span if lo < 0 else 0.0), hi + (0.14 * span if hi > 0 or lo == 0 else 0.0)


def _bar_values(fig: Figure, ax: Axes, names: list[str], means: list[float], stds: list[float | None],
                slot: float, limits: tuple[float, float], highlight: str | None) -> None:
    """Print each bar's value (and ± std) above it, on two lines or smaller when one line does not fit."""
    lo, hi = limits
    dec = value_decimals(means)
    vals = [f"{m:.{dec}f}" for m in means]
    errs = ["" if s is None else f"± {s:.{dec}f}" for s in stds]
    singles = [v + (f" {e}" if e else "") for v, e in zip(vals, errs)]
    two = any(text_width(fig, t, VALUE_PT, True) > 0.92 * slot for t in singles)
    pt = VALUE_PT
    while pt > 5.0 and any(text_width(fig, t, pt, True) > 0.95 * slot for t in (vals + errs if two else singles)):
        pt -= 0.5
    for i, (m, s) in enumerate(zip(means, stds)):
        tip = min(max(m + (s or 0.0) if m >= 0 else m - (s or 0.0), lo), hi)
        text = f"{vals[i]}\n{errs[i]}" if two and errs[i] else singles[i]
        ax.annotate(text, (i, tip), xytext=(0, 3 if m >= 0 else -3), textcoords="offset points", ha="center",
                    va="bottom" if m >= 0 else "top", fontsize=pt, color=rgb01(INK), linespacing=1.1,
                    fontweight="bold" if names[i] == highlight else "normal", annotation_clip=False)


def bar_chart(groups: Mapping[str, tuple[float, float | None]], path: PathLike, *, title: str, ylabel: str,
              ylim: tuple[float, float] | None = None, size: tuple[int, int] = (900, 540),
              highlight: str | None = None) -> Path:
    """One bar per name at its mean, e.g. mIoU by method.

    Each bar has an optional ± std error bar and its value printed on top.
    """
    check_size(size)
    if not groups:
        raise ValueError("groups is empty: nothing to plot")
    names = [str(n) for n in groups]
    means, stds = _means_and_stds(groups)
    if highlight is not None and highlight not in groups:
        raise ValueError(f"highlight {highlight!r} is not one of the groups {names}")
    lo, hi = _bar_limits(means, stds, ylim)

    with chart(path, size, title) as (fig, ax):
        x = np.arange(len(names))
        colors = [HIGHLIGHT if n == highlight else BAR for n in names]
        ax.bar(x, means, width=0.62, color=[rgb01(c) for c in colors],
               edgecolor=[rgb01(c, 0.72) for c in colors], linewidth=0.8)
        has = [i for i, s in enumerate(stds) if s]
        if has:
            ax.errorbar(x[has], [means[i] for i in has], yerr=[stds[i] for i in has], fmt="none",
                        ecolor=rgb01((40, 40, 40)), elinewidth=1.2, capsize=4, capthick=1.2)
        ax.set_ylim(lo, hi)
        if lo < 0 < hi:
            ax.axhline(0.0, color="#969696", lw=0.8)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(ylabel)
        slot = category_axis(fig, ax, names, frozenset({highlight} if highlight else ()))
        _bar_values(fig, ax, names, means, stds, slot, (lo, hi), highlight)
    return Path(path)


def _grouped_table(groups: Mapping[str, Mapping[str, float | None]]) -> tuple[list[str], np.ndarray]:
    """The inner keys in first-seen order and the (group, inner key) table of values, NaN where missing."""
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
    return methods, table


def _mark_missing(fig: Figure, ax: Axes, x: np.ndarray, table: np.ndarray, bar_w: float, handles: list) -> None:
    """A grey cross just above zero where a value is missing, and a legend entry for it."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    i, j = np.nonzero(np.isnan(table))
    ax.plot(x[i] - 0.4 + (j + 0.5) * bar_w, np.zeros(len(i)), ls="none", marker="x", ms=4, mew=1.2,
            color=rgb01(MUTED), clip_on=False, transform=offset_copy(ax.transData, fig=fig, y=5, units="points"))
    handles.append(Line2D([], [], ls="none", marker="x", ms=5, mew=1.2, color=rgb01(MUTED), label="missing"))


def _grouped_values(fig: Figure, ax: Axes, x: np.ndarray, table: np.ndarray, bar_w: float, slot: float) -> None:
    """The values on the bars, only where every one of them fits."""
    dec = value_decimals(table[~np.isnan(table)].tolist())
    cells = [(i, j, table[i, j]) for i, j in np.argwhere(~np.isnan(table))]
    if max(text_width(fig, f"{v:.{dec}f}", VALUE_PT - 1) for _, _, v in cells) <= slot * bar_w + 2:
        for i, j, v in cells:
            ax.annotate(f"{v:.{dec}f}", (x[i] - 0.4 + (j + 0.5) * bar_w, v), xytext=(0, 2 if v >= 0 else -2),
                        textcoords="offset points", ha="center", va="bottom" if v >= 0 else "top",
                        fontsize=VALUE_PT - 1, color=rgb01(MUTED))


def grouped_bar_chart(groups: Mapping[str, Mapping[str, float | None]], path: PathLike, *, title: str, ylabel: str,
                      size: tuple[int, int] = (1200, 560)) -> Path:
    """Bars grouped by outer key on the x axis (e.g. class), one coloured bar per inner key (e.g. method).

    A value of None is drawn as missing.
    """
    check_size(size)
    if not groups:
        raise ValueError("groups is empty: nothing to plot")
    names = [str(n) for n in groups]
    methods, table = _grouped_table(groups)

    with chart(path, size, title) as (fig, ax):
        bar_w = 0.8 / len(methods)
        x = np.arange(len(names))
        handles = []
        for j, (method, c) in enumerate(zip(methods, series_colors(len(methods)))):
            xs = x - 0.4 + (j + 0.5) * bar_w
            have = ~np.isnan(table[:, j])
            handles.append(ax.bar(xs[have], table[have, j], width=bar_w, color=rgb01(c), label=method,
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
        if np.isnan(table).any():
            _mark_missing(fig, ax, x, table, bar_w, handles)
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=legend_columns(fig, handles),
                  frameon=False, borderaxespad=0.3)  # above the bars, below the title
        _grouped_values(fig, ax, x, table, bar_w, category_axis(fig, ax, names))
    return Path(path)
