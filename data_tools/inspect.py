"""Describe a paired HDF5 file: sizes, value ranges, missing depth, class shares, a preview.

    python -m data_tools.inspect data/nyu40/test.h5 --preview test.png --num 4

The format is described in docs/data_format.md.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from crossmodal.data.h5format import FormatError, PairedInfo, read_info
from data_tools.common import int_at_least, tool_main, tool_parser
from data_tools.stamps import TIMING_ATTRS, timing_lines

PROG = "python -m data_tools.inspect"
MAX_LISTED_CLASSES = 60


def is_depth_like(name: str) -> bool:
    """Modalities where 0 means 'no reading' (depth, raw_depth, *_depth, ...)."""
    return name == "depth" or name.endswith("_depth") or name.startswith("depth")


def sample_indices(num: int, limit: int) -> np.ndarray:
    """All indices when num <= limit, else `limit` evenly spaced ones (first and last included)."""
    if num <= limit:
        return np.arange(num)
    return np.unique(np.linspace(0, num - 1, limit).round().astype(np.int64))


@dataclass
class ModalityStats:
    """Running value statistics of one modality over the inspected samples."""

    name: str
    channels: int
    lo: float = np.inf
    hi: float = -np.inf
    total: float = 0.0
    count: int = 0
    channel_sum: np.ndarray | None = None
    zeros: int = 0
    valid_sum: float = 0.0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, arr: np.ndarray, label_classes: int | None) -> None:
        """Fold one sample into the statistics."""
        a = arr.astype(np.float64, copy=False)
        self.lo, self.hi = min(self.lo, float(a.min())), max(self.hi, float(a.max()))
        self.total += float(a.sum())
        self.count += a.size
        if arr.ndim == 3:
            s = a.reshape(-1, arr.shape[-1]).sum(0)
            self.channel_sum = s if self.channel_sum is None else self.channel_sum + s
        if is_depth_like(self.name):
            zero = arr == 0
            self.zeros += int(zero.sum())
            self.valid_sum += float(a[~zero].sum())
        if label_classes is not None:
            counts = np.bincount(arr.ravel().astype(np.int64), minlength=label_classes)
            if counts.size > self.histogram.size:
                counts[: self.histogram.size] += self.histogram
                self.histogram = counts
            else:
                self.histogram[: counts.size] += counts


def _fmt(v: float) -> str:
    """Compact number: integers as such, else 4 significant digits."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:.4g}"


def _fmt_attr(value: Any, limit: int = 8) -> str:
    """Short text for an attribute value (long lists abbreviated with their length)."""
    if isinstance(value, list):
        flat = value
        shown = ", ".join(_fmt_attr(v) for v in flat[:limit])
        return f"[{shown}{', ...' if len(flat) > limit else ''}] ({len(flat)} values)" if len(flat) > limit \
            else f"[{shown}]"
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:200] + "...")
    return repr(value) if isinstance(value, str) else str(value)


def collect_stats(path: Path, info: PairedInfo, indices: np.ndarray) -> dict[str, ModalityStats]:
    """Read the chosen samples one by one and gather per-modality statistics."""
    stats = {m: ModalityStats(m, info.shapes[m][-1] if len(info.shapes[m]) == 3 else 1) for m in info.modalities}
    try:
        with h5py.File(path, "r") as f:
            for i in indices:
                for m in info.modalities:
                    is_label = m == "label"
                    stats[m].add(f[m][int(i)], max(info.num_classes, 1) if is_label else None)
    except (OSError, RuntimeError, KeyError) as err:
        raise FormatError(f"{path}: cannot read the samples (truncated or corrupt?): {err}") from None
    return stats


def describe(path: Path, max_frames: int = 200) -> str:
    """The full text report for one file."""
    info = read_info(path)
    indices = sample_indices(info.num_samples, max_frames)
    stats = collect_stats(path, info, indices)
    lines = [f"{path}", f"  {info.num_samples} samples, {info.height}x{info.width}, modalities: "
                        f"{', '.join(info.modalities)}"]
    if len(indices) == info.num_samples:
        lines.append(f"  statistics over all {info.num_samples} samples")
    else:
        lines.append(f"  statistics over {len(indices)} of {info.num_samples} samples (evenly spaced)")
    lines += ["", f"  {'modality':<12} {'dtype':<8} {'per-sample shape':<18} {'min':>9} {'max':>9} {'mean':>9}  notes"]
    for m in info.modalities:
        s = stats[m]
        notes = []
        if s.channel_sum is not None and s.channels <= 4:
            per = s.channel_sum / (s.count / s.channels)
            notes.append("channel means " + ", ".join(_fmt(v) for v in per))
        if is_depth_like(m):
            valid = s.count - s.zeros
            notes.append(f"missing (0): {100 * s.zeros / max(s.count, 1):.2f} %")
            if valid:
                notes.append(f"mean of valid {_fmt(s.valid_sum / valid)}")
        units = info.modality_attrs.get(m, {}).get("units")
        if units:
            notes.append(f"units {units}")
        shape = str(info.shapes[m])
        lines.append(f"  {m:<12} {str(info.dtypes[m]):<8} {shape:<18} {_fmt(s.lo):>9} {_fmt(s.hi):>9} "
                     f"{_fmt(s.total / max(s.count, 1)):>9}  {'; '.join(notes)}")
    if "label" in info.modalities:
        lines += ["", *_class_lines(info, stats["label"])]
    timing = _timing_lines(info.attrs)
    lines += timing + ["", "  root attributes:"]
    for key in sorted(info.attrs):
        if not (timing and key in TIMING_ATTRS):  # shown readably above
            lines.append(f"    {key} = {_fmt_attr(info.attrs[key])}")
    extra = _other_datasets(path, info)
    if extra:
        lines += ["", "  other datasets (not modalities): " + ", ".join(extra)]
    return "\n".join(lines)


def _timing_lines(attrs: dict[str, Any]) -> list[str]:
    """The stamp summary a converter stored: rates, gaps, unpaired frames, pairing offsets.

    data_tools.stamps wrote it.
    """
    limit = f" beyond max_dt {_fmt(float(attrs['max_dt']))} s" if isinstance(attrs.get("max_dt"), float) else ""
    found = timing_lines(attrs, limit)
    if not found:
        return []
    by = {"header": "header stamps", "receive": "bag receive times"}.get(str(attrs.get("pair_by", "")), "stamps")
    return ["", f"  timing (paired by {by}):", *(f"    {line}" for line in found)]


def _class_lines(info: PairedInfo, s: ModalityStats) -> list[str]:
    """Class histogram lines: pixel share per class (of all pixels), the ignore share, absent classes."""
    ignore = int(np.iinfo(info.dtypes["label"]).max)
    hist = s.histogram
    total = max(int(hist.sum()), 1)
    n = info.num_classes
    ignored = int(hist[ignore]) if hist.size > ignore else 0
    other = int(hist[n:].sum()) - ignored if hist.size > n else 0
    present = [k for k in range(min(n, hist.size)) if hist[k] > 0]
    lines = [f"  label: {n} classes, {len(present)} present; pixel share of all label pixels:"]
    listed = present if len(present) <= MAX_LISTED_CLASSES else \
        sorted(sorted(present, key=lambda k: -hist[k])[:MAX_LISTED_CLASSES])
    for k in listed:
        lines.append(f"    {k:>5}  {info.class_names[k]:<24} {100 * hist[k] / total:7.3f} %")
    if len(listed) < len(present):
        lines.append(f"    ... {len(present) - len(listed)} more classes with smaller shares")
    lines.append(f"    ignore ({ignore}): {100 * ignored / total:.3f} %")
    if other:
        lines.append(f"    ids outside 0..{n - 1} and not ignore: {100 * other / total:.3f} % (invalid file)")
    absent = [info.class_names[k] for k in range(n) if k >= hist.size or hist[k] == 0]
    if absent:
        shown = ", ".join(absent[:20]) + (", ..." if len(absent) > 20 else "")
        lines.append(f"    absent classes ({len(absent)}): {shown}")
    return lines


def _other_datasets(path: Path, info: PairedInfo) -> list[str]:
    """Datasets in the file that are not listed modalities (e.g. per-sample scene names or timestamps)."""
    out = []
    with h5py.File(path, "r") as f:
        for key in sorted(f.keys()):
            if key not in info.modalities and isinstance(f[key], h5py.Dataset):
                out.append(f"{key} {f[key].shape} {f[key].dtype}")
    return out


def _as_image(name: str, arr: np.ndarray, info: PairedInfo, depth_max: dict[str, float]) -> np.ndarray:
    """One sample of a modality as an RGB uint8 picture."""
    from crossmodal.colours import colorize_depth, colorize_label

    if name == "label":
        return colorize_label(arr, info.num_classes, ignore_index=int(np.iinfo(arr.dtype).max))
    if is_depth_like(name) and arr.ndim == 2:
        return colorize_depth(arr, max_depth=depth_max[name])
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    a = (arr if arr.ndim == 2 else arr[..., 0]).astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.round(255 * (a - lo) / (hi - lo if hi > lo else 1.0)).astype(np.uint8)


def write_preview(path: Path, png: Path, num: int) -> Path:
    """A sheet of `num` evenly spaced samples: one row each, columns rgb | depth-like | label | others."""
    from crossmodal.colours import class_palette
    from eval.plots.sheet import image_sheet

    info = read_info(path)
    order = [m for m in info.modalities if m == "rgb"] + [m for m in info.modalities if is_depth_like(m)] + \
        [m for m in info.modalities if m == "label"]
    order += [m for m in info.modalities if m not in order]
    idx = sample_indices(info.num_samples, num)
    try:
        with h5py.File(path, "r") as f:
            samples = [{m: f[m][int(i)] for m in order} for i in idx]
    except (OSError, RuntimeError, KeyError) as err:
        raise FormatError(f"{path}: cannot read the samples (truncated or corrupt?): {err}") from None
    depth_max = {}
    for m in order:
        if is_depth_like(m):
            vals = [float(s[m][s[m] > 0].max()) for s in samples if (s[m] > 0).any()]
            depth_max[m] = max(vals) if vals else 1.0
    rows = [[_as_image(m, s[m], info, depth_max) for m in order] for s in samples]
    legend = None
    if "label" in order:
        counts = np.zeros(info.num_classes, np.int64)
        for s in samples:
            ids = s["label"][s["label"] < info.num_classes]
            counts += np.bincount(ids.ravel().astype(np.int64), minlength=info.num_classes)[: info.num_classes]
        palette = class_palette(info.num_classes)
        top = [k for k in np.argsort(-counts, kind="stable")[:16] if counts[k] > 0]
        legend = [(info.class_names[k], tuple(int(v) for v in palette[k])) for k in sorted(top)]
    titles = [f"{m} (0-{depth_max[m]:.1f} m)" if m in depth_max else m for m in order]
    scale = max(1, min(4, 240 // max(info.height, 1)))
    return image_sheet(rows, png, column_titles=titles, row_titles=[f"sample {int(i)}" for i in idx], scale=scale,
                       legend=legend or None)


DESCRIPTION = (
    "Print what a paired HDF5 file holds: sample count, per-modality dtype, shape and value range (min/max/mean), the "
    "share of missing depth (0) for depth-like modalities, the class histogram (pixel share per class and the ignore "
    "share) and the root attributes; optionally draw a preview sheet (one row per sample: RGB | depth | label | other "
    "modalities)."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(PROG, DESCRIPTION, "example:\n  python -m data_tools.inspect data/nyu40/test.h5 "
                                       "--preview previews/nyu40_test.png --num 4")
    p.add_argument("file", type=Path, help="a paired HDF5 file (docs/data_format.md), e.g. data/synthetic/test.h5")
    p.add_argument("--preview", type=Path, default=None, help="write a PNG sheet of samples, e.g. preview.png")
    p.add_argument("--num", type=int_at_least(1), default=4, help="samples in the preview (default 4), e.g. 6")
    p.add_argument("--max-frames", type=int_at_least(1), default=200,
                   help="statistics over at most this many evenly spaced samples (default 200), e.g. 1000")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Print the report and write the preview, if asked; bad input raises.

    tool_main reports bad input in one line, exit 2.
    """
    print(describe(args.file, args.max_frames))
    if args.preview is not None:
        png = write_preview(args.file, args.preview, args.num)
        print(f"\n  preview: {png}")
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
