"""Line plots: named (x, y) curves such as training loss per method, with optional error bars and log axes."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from eval.plots.chart import PathLike, chart, check_size, legend_columns, rgb01, series_colors, shorten

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _curves(series: Mapping[str, Sequence[tuple[float, float]]], log_x: bool, log_y: bool
            ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each series as ((x, y) with NaN where a point is skipped, which points are kept)."""
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
    return curves


def line_plot(series: Mapping[str, Sequence[tuple[float, float]]], path: PathLike, *, title: str, xlabel: str,
              ylabel: str, size: tuple[int, int] = (900, 540), log_y: bool = False, log_x: bool = False,
              yerr: Mapping[str, Sequence[float | None]] | None = None, dodge: float = 0.0) -> Path:
    """Plot named (x, y) curves, e.g. training loss per method, to a PNG.

    NaN points are skipped and break the curve, as are y <= 0 with log_y and x <= 0 with log_x. `yerr` draws a ±
    error bar at each point of a series; None at a point draws none there. `dodge` shifts the series sideways
    from each other by that fraction of the x range (of decades on a log axis), so error bars at a shared x do not
    cover each other; the ticks stay at the data's values.
    """
    check_size(size)
    if not series:
        raise ValueError("series is empty: nothing to plot")
    curves = _curves(series, log_x, log_y)
    ticks = np.concatenate([xy for xy, _ in curves.values()])
    if dodge:
        curves = _dodged(curves, dodge, log_x)

    with chart(path, size, title) as (fig, ax):
        colors = dict(zip(curves, (rgb01(c) for c in series_colors(len(curves)))))
        for (name, (xy, ok)), errs in zip(curves.items(), (list((yerr or {}).get(n, ())) for n in series)):
            # markers where points are few, and on any point with no neighbour to draw a line to
            alone = ok & ~np.r_[False, ok[:-1]] & ~np.r_[ok[1:], False]
            every = None if ok.sum() <= 30 else np.flatnonzero(alone).tolist()
            ax.plot(xy[:, 0], xy[:, 1], color=colors[name], lw=1.6, label=shorten(name, 40), ms=3.5,
                    marker="o" if every is None or every else None, markevery=every)
            bars = np.array([(x, y, e) for (x, y), e in zip(xy, errs)
                             if e is not None and np.isfinite([x, y, e]).all()]).reshape(-1, 3)
            if len(bars):
                low = np.minimum(bars[:, 2], bars[:, 1] * 0.999) if log_y else bars[:, 2]  # stay above 0 on log y
                ax.errorbar(bars[:, 0], bars[:, 1], yerr=[low, bars[:, 2]], fmt="none", ecolor=colors[name],
                            elinewidth=1.1, capsize=3, capthick=1.1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _line_ticks(ax, ticks, log_x, log_y)
        if len(curves) <= 6:
            ax.legend(loc="best")
        else:  # many curves: under the plot, never over it
            handles = ax.get_legend_handles_labels()[0]
            fig.legend(loc="outside lower center", ncols=legend_columns(fig, handles), frameon=False)
    return Path(path)


def _dodged(curves: dict[str, tuple[np.ndarray, np.ndarray]], dodge: float, log_x: bool
            ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The curves shifted sideways, symmetric about the data: series k of n by (k - (n - 1) / 2) * dodge."""
    xs = np.concatenate([xy[ok, 0] for xy, ok in curves.values()])
    span = float(np.ptp(np.log10(xs) if log_x else xs)) if xs.size else 0.0
    out = {}
    for k, (name, (xy, ok)) in enumerate(curves.items()):
        step = (k - (len(curves) - 1) / 2) * dodge * (span or 1.0)
        x = xy[:, 0] * 10 ** step if log_x else xy[:, 0] + step
        out[name] = (np.column_stack([x, xy[:, 1]]), ok)
    return out


def _line_ticks(ax: Axes, pts: np.ndarray, log_x: bool, log_y: bool) -> None:
    """Axis scales and ticks, log axes labelled with plain numbers.

    A log x axis with few data values is ticked at those values (label counts, say); other log axes get the 1-2-5
    sequence over up to three decades and powers of ten beyond. Integer x data (steps, counts) gets integer ticks.
    """
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
