"""Are the stored values plausible? Checked before any training, by the tools and by the run.

The data tools check the frames they write; the run's data check checks its split files. Depth stored as metres
whose median lies outside [0.05, 20] m is refused, naming the likely unit: a unit mistake, such as millimetres
stored with scale 1. Frames that are all zero, constant or saturated are counted and named, not refused, since a
dark frame can be real. The per-frame rules live here, once; the run's results are cached by the file's
fingerprint through crossmodal.data.checks.cached. h5py and numpy only, like crossmodal.data.files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import h5py
import numpy as np

from crossmodal.data.checks import BLOCK_BYTES, cached, describe_row
from crossmodal.data.h5format import FormatError, PairedInfo

DEPTH_RANGE = (0.05, 20.0)  # metres: a median depth outside this is a unit mistake, not a scene
TYPICAL_DEPTH = 2.0  # metres: the unit guess picks the factor that brings the median nearest to this
TYPICAL = (1.0, 10.0)  # metres: a second unit giving a median in this range is named as the alternative
SATURATED_SHARE = 0.99  # a frame with more than this share of every channel's values at one value is saturated
SAMPLE_FRAMES = 64  # frames the run reads for the depth median
MAX_NAMED = 10  # frames named per kind of fault
# Units depth is commonly delivered in, and the factor that turns them into metres.
UNIT_GUESSES = (("millimetres", 0.001), ("0.1 mm", 0.0001), ("1/5000 m (5000 counts per metre)", 0.0002),
                ("centimetres", 0.01), ("metres divided by 1000 once too often", 1000.0))
METRES = "metres"


# ----------------------------------------------------------------------------------------------
# The per-frame rules (shared with the data tools)
# ----------------------------------------------------------------------------------------------

def _shown(values: np.ndarray) -> str:
    """One value per channel as the user reads it: '655.35' or '(255, 255, 255)'."""
    items = [f"{float(v):.6g}" for v in np.ravel(values)]
    return items[0] if len(items) == 1 else "(" + ", ".join(items) + ")"


def frame_faults(block: np.ndarray, ceiling: float | None = None) -> list[tuple[int, str, str]]:
    """(index in block, kind, detail) for each all-zero, constant or saturated frame of a block.

    The block is (B, H, W) or (B, H, W, C). Saturated means more than 99% of each channel's values at one value, such
    as `ceiling`, the stored dtype's maximum.
    """
    b = block.shape[0]
    if block.size == 0:
        return []
    c = block.shape[3] if block.ndim == 4 else 1
    x = np.ascontiguousarray(block.reshape(b, -1, c).transpose(0, 2, 1))  # (B, C, pixels)
    most, shares = _modes(x)
    share = shares.min(axis=1)
    zero = ~x.reshape(b, -1).any(axis=1)
    out = []
    for i in np.flatnonzero(zero | (share > SATURATED_SHARE)):
        at_max = ceiling is not None and bool((most[i] == ceiling).all())
        if zero[i]:
            out.append((int(i), "all-zero", "every value 0"))
        elif share[i] == 1.0:
            out.append((int(i), "saturated" if at_max else "constant",
                        f"every value {_shown(most[i])}" + (" (the maximum)" if at_max else "")))
        else:
            out.append((int(i), "saturated", f"{share[i]:.1%} of the values at {_shown(most[i])}"
                        + (" (the maximum)" if at_max else "")))
    return out


def _modes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and channel of x (B, C, pixels): the most frequent value and its share of the pixels.

    The value is exact for 8/16-bit data; otherwise it is the median, which is that value whenever one value holds
    more than half the pixels.
    """
    if x.dtype.kind == "u" and x.dtype.itemsize <= 2:  # counting is much faster than sorting here
        counts = [[np.bincount(ch) for ch in frame] for frame in x]
        most = np.array([[cn.argmax() for cn in frame] for frame in counts], x.dtype)
        return most, np.array([[cn.max() for cn in frame] for frame in counts]) / x.shape[2]
    mid = x.shape[2] // 2
    most = np.partition(x, mid, axis=2)[:, :, mid]
    return most, (x == most[:, :, None]).mean(axis=2)


def _median(values: np.ndarray) -> float:
    """The median of a 1-D array by partial sorting.

    np.median is several times slower on frame-sized arrays.
    """
    n = values.size
    part = np.partition(values, n // 2)  # the upper middle value in place, the smaller ones before it
    upper = float(part[n // 2])
    return upper if n % 2 else (float(part[:n // 2].max()) + upper) / 2


def valid_medians(block: np.ndarray) -> np.ndarray:
    """Per frame of a depth block (B, H, W), the median over valid pixels; NaN when none is valid.

    Valid pixels are > 0 and finite.
    """
    out = np.full(block.shape[0], np.nan)
    for i, frame in enumerate(block.reshape(block.shape[0], -1)):
        valid = frame[np.isfinite(frame) & (frame > 0)]
        if valid.size:
            out[i] = _median(valid)
    return out


def depth_median(medians: Iterable[float]) -> float | None:
    """The median depth of a set of frames: the median of their per-frame valid-pixel medians.

    None when no pixel anywhere is valid.
    """
    m = np.asarray([v for v in medians if v is not None and np.isfinite(v)], np.float64)
    return float(np.median(m)) if m.size else None


def implausible(median: float | None, scale: float | None) -> tuple[str, float | None] | None:
    """None when a depth median in metres is plausible; else the problem and the --scale to fix it.

    The problem is given in words. That --scale is the current scale times the likely unit's factor; None when no
    common unit fits.
    """
    lo, hi = DEPTH_RANGE
    if median is None or lo <= median <= hi:
        return None
    fits = sorted((abs(np.log(median * f / TYPICAL_DEPTH)), unit, f) for unit, f in UNIT_GUESSES
                  if lo <= median * f <= hi)
    what = f"its median depth over valid pixels is {median:.6g}, outside [{lo:g}, {hi:g}] m"
    if not fits:
        return what + "; no common depth unit explains it (check the values and the scale)", None
    (_, unit, factor), others = fits[0], [f for f in fits[1:] if TYPICAL[0] <= median * f[2] <= TYPICAL[1]]
    fix = (scale if scale is not None else 1.0) * factor
    alt = f"; or {others[0][1]}: x {others[0][2]:g} gives {median * others[0][2]:.3g} m" if others else ""
    return f"{what}; that looks like {unit} (x {factor:g} gives {median * factor:.3g} m{alt})", float(f"{fix:.6g}")


# ----------------------------------------------------------------------------------------------
# The run's check of its split files
# ----------------------------------------------------------------------------------------------

def _read_error(path: Path, name: str, err: Exception) -> FormatError:
    return FormatError(f"{path}: dataset '{name}' cannot be read: truncated or corrupt ({err})")


def sampled_depth_median(path: Path, name: str, frames: int = SAMPLE_FRAMES) -> float | None:
    """The median depth of up to `frames` frames spread evenly over the file (None: no valid pixel)."""
    try:
        with h5py.File(path, "r") as f:
            ds = f[name]
            rows = np.unique(np.linspace(0, ds.shape[0] - 1, min(frames, ds.shape[0])).round().astype(np.int64))
            medians = [float(valid_medians(ds[int(r):int(r) + 1])[0]) for r in rows]
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, name, err) from err
    return depth_median(medians)


def scan_faults(path: Path, name: str) -> list[list[Any]]:
    """[row, kind, detail] for every all-zero, constant or saturated frame of one modality.

    The whole modality is read, in blocks of BLOCK_BYTES.
    """
    out: list[list[Any]] = []
    try:
        with h5py.File(path, "r") as f:
            ds = f[name]
            ceiling = float(np.iinfo(ds.dtype).max) if ds.dtype.kind in "iu" else None
            per_row = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
            step = max(1, BLOCK_BYTES // per_row)
            for start in range(0, ds.shape[0], step):
                out += [[start + i, kind, detail] for i, kind, detail in frame_faults(ds[start:start + step], ceiling)]
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, name, err) from err
    return out


def _frame_names(path: Path, rows: Sequence[int]) -> dict[int, str]:
    """Each row as the user knows it: 'sample i (frame NAME)' when the file records frame names."""
    try:
        with h5py.File(path, "r") as f:
            return {r: describe_row(f, r) for r in rows}
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, "frame_name", err) from err


def describe_faults(faults: Sequence[Sequence[Any]], total: int, names: Mapping[int, str]) -> str:
    """'2 of 30 frames: all-zero: frame 3 ('0003'); saturated: ...' with at most MAX_NAMED frames per kind."""
    by_kind: dict[str, list[str]] = {}
    for row, kind, detail in faults:
        by_kind.setdefault(kind, []).append(f"{names.get(int(row), f'sample {row}')}: {detail}")
    parts = []
    for kind, items in by_kind.items():
        more = f" ... and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else ""
        parts.append(f"{kind} {len(items)}: " + ", ".join(items[:MAX_NAMED]) + more)
    return f"{len(faults)} of {total} frames look wrong (" + "; ".join(parts) + ")"


def check_depth_units(info: PairedInfo, split: str, name: str) -> None:
    """FormatError when a modality stored in metres has an implausible median depth (sampled, cached)."""
    median = cached(info.path, f"depth_median:{name}", lambda: sampled_depth_median(info.path, name))
    if median is not None and not isinstance(median, (int, float)):  # a cache entry this version did not write
        median = sampled_depth_median(info.path, name)
    scale = info.modality_attrs.get(name, {}).get("scale")
    scale = float(scale) if isinstance(scale, (int, float)) else None
    problem = implausible(median, scale)
    if problem is None:
        return
    text, fix = problem
    how = (f"reconvert it with --scale {name}={fix:g}" + (f" (it was written with scale {scale:g})" if scale else "")
           if fix is not None else "reconvert it in metres")
    raise FormatError(f"{info.path}: modality '{name}' (data.{split}) is stored as {METRES} but {text}; {how}")


def frame_warnings(info: PairedInfo, split: str, name: str) -> str | None:
    """The warning naming the all-zero, constant and saturated frames of one modality; None if none."""
    faults = cached(info.path, f"frame_faults:{name}", lambda: scan_faults(info.path, name))
    if not isinstance(faults, list):  # a cache entry this version did not write
        faults = scan_faults(info.path, name)
    if not faults:
        return None
    names = _frame_names(info.path, sorted({int(f[0]) for f in faults}))
    return (f"{info.path} (data.{split}): modality '{name}': "
            + describe_faults(faults, info.num_samples, names)
            + "; not refused (a dark frame can be real), but check them")


def _print_warning(line: str) -> None:
    print(f"warning: {line}", flush=True)


def check_plausibility(infos: Mapping[str, PairedInfo], modalities: Sequence[str],
                       log: Callable[[str], None] = _print_warning) -> list[str]:
    """Refuse depth in metres with an implausible median; return a line per modality with faulty frames.

    The FormatError names file, modality, median and fix. Faulty frames are all-zero, constant or saturated; the
    lines are also passed to `log`, which by default prints them as 'warning: ...'.
    """
    lines = []
    for split, info in infos.items():
        for name in dict.fromkeys(modalities):
            if name not in info.modalities:
                continue
            if info.modality_attrs.get(name, {}).get("units") == METRES:
                check_depth_units(info, split, name)
            line = frame_warnings(info, split, name)
            if line is not None:
                lines.append(line)
                log(line)
    return lines


def log_data_warnings(data: Any, modalities: Sequence[str], log: Callable[[str], None]) -> None:
    """Pass the run's frame warnings (from the cache open_data filled) to the run's log (e.g. log.warning)."""
    infos = {s: getattr(data, s, None) for s in ("unlabeled", "teacher", "train", "val", "test")}
    check_plausibility({s: i for s, i in infos.items() if i is not None}, modalities, log)
